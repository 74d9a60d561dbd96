"""Many workers, one study (issue 6): real ``nascomp search`` processes sharing a PostgreSQL or journal study.

Each test starts 3 worker processes on one study (``tests/_fake_worker.py``: the real command with a stand-in for
training that sleeps ``FAKE_TRAIN_S`` per trial), SIGKILLs one of them while it trains, lets the others finish, and
checks from the storage alone: exactly ``TRIALS`` trials count (all COMPLETE here), no trial is left RUNNING or
WAITING, the killed trial is FAIL and retried once (same point, Optuna's ``failed_trial`` attribute), no two
complete trials share a point, and the training log shows no architecture trained to the end twice. The
PostgreSQL test needs a server: ``NASCOMP_TEST_POSTGRES_URL`` (``.ci/run`` starts one with
``.ci/start_postgres.sh``); without it the test skips locally and fails in CI.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests._fake_worker import start_worker, worker_env, write_grid_recipe
from tests.conftest import require_service
TRIALS = 5
FAKE_TRAIN_S = 1.5

def _training(log: Path, pid: int) -> bool:
    if not log.exists():
        return False
    lines = log.read_text(encoding="utf-8").splitlines()
    started = sum(line.startswith(f"start {pid} ") for line in lines)
    ended = sum(line.startswith(f"end {pid} ") for line in lines)
    return started > ended


def run_pool_with_a_kill(tmp_path: Path, storage: str, study_name: str) -> tuple[optuna.Study, Path, int]:
    """3 workers on one study; worker 0 is SIGKILLed in its first training. Returns the study, the log, its pid."""
    recipe = write_grid_recipe(tmp_path / "recipe dir", trials=TRIALS)
    log = tmp_path / "train.log"
    env = worker_env(log, train_s=FAKE_TRAIN_S, heartbeat_s=1.0)  # stale after 6 s without a beat
    workers = [start_worker(recipe, storage, study_name, tmp_path / f"out {i}", env) for i in range(3)]
    victim = workers[0]
    try:
        deadline = time.monotonic() + 90
        while not _training(log, victim.pid):
            assert victim.poll() is None, f"worker 0 ended before training:\n{victim.stdout.read()}"
            assert time.monotonic() < deadline, "worker 0 never started training"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        outputs = [w.communicate(timeout=150)[0] for w in workers[1:]]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    for w, out in zip(workers[1:], outputs):
        assert w.returncode == 0, out
    return optuna.load_study(study_name=study_name, storage=_open(storage)), log, victim.pid


def _open(storage: str):
    from nascomp.search.workers.storage import open_storage

    return open_storage(storage)


def check_nothing_lost_nothing_twice(study: optuna.Study, log: Path, victim: int) -> None:
    trials = study.get_trials(deepcopy=False)
    states = collections.Counter(t.state for t in trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    summary = "\n".join(f"{t.number} {t.state.name} {t.params} {t.user_attrs.get('reason', '')} {t.system_attrs}"
                        for t in trials)
    # exactly TRIALS finished with a result, none left running or queued
    assert len(complete) == TRIALS, summary
    assert states[TrialState.RUNNING] == 0 and states[TrialState.WAITING] == 0, summary
    # the killed worker's trial: failed (no result), then retried once on the same point, and the retry completed
    lost = [t for t in trials if t.state == TrialState.FAIL and t.params]
    assert len(lost) == 1, summary
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == lost[0].number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, summary
    assert retries[0].params == lost[0].params, summary
    # every other FAIL is a slot or a draw given back before anything was stored or trained
    for t in trials:
        if t.state == TrialState.FAIL and t is not lost[0]:
            assert t.user_attrs.get("withdrawn") and not t.params, summary
    # no architecture trained twice: distinct points among complete trials, and in the training log no
    # architecture trained to the end twice, nor by a survivor after another trial already finished it
    points = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(points)) == len(points), summary
    lines = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    ended = collections.Counter(arch for kind, pid, arch in lines if kind == "end")
    assert all(n == 1 for n in ended.values()), ended
    assert len(ended) == TRIALS, ended
    started_by_victim = [arch for kind, pid, arch in lines if kind == "start" and int(pid) == victim]
    assert started_by_victim and started_by_victim[-1] not in [a for k, p, a in lines if k == "end"
                                                               and int(p) == victim]


def check_report_from_storage(storage: str, study: optuna.Study, out: Path) -> None:
    """``nascomp report``'s work, in process: the output files again, from the storage alone."""
    import csv

    from nascomp.search.outputs.regenerate import regenerate_outputs

    files = regenerate_outputs(storage, study.study_name, out)
    assert sorted(p.name for p in files) == ["best.yaml", "history.png", "pareto.png", "trials.csv"]
    rows = list(csv.DictReader((out / "trials.csv").open(encoding="utf-8")))
    assert [int(r["number"]) for r in rows] == [t.number for t in study.get_trials(deepcopy=False)]
    assert sum(r["state"] == "COMPLETE" for r in rows) == TRIALS


@pytest.mark.slow
def test_three_workers_on_a_journal_file_one_killed(tmp_path):
    storage = f"journal:{tmp_path / 'study journal.log'}"
    study, log, victim = run_pool_with_a_kill(tmp_path, storage, "grid-journal")
    check_nothing_lost_nothing_twice(study, log, victim)
    check_report_from_storage(storage, study, tmp_path / "report out")


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_on_postgresql_one_killed(tmp_path):
    url = os.environ.get("NASCOMP_TEST_POSTGRES_URL", "")
    require_service(_postgres_up(url), "PostgreSQL (NASCOMP_TEST_POSTGRES_URL)")
    with _fresh_database(url) as fresh:  # the workers create Optuna's tables at once (a race they must survive)
        study, log, victim = run_pool_with_a_kill(tmp_path, fresh, f"grid-{uuid.uuid4().hex[:8]}")
        check_nothing_lost_nothing_twice(study, log, victim)
        check_report_from_storage(fresh, study, tmp_path / "report out")


@contextlib.contextmanager
def _fresh_database(url: str):
    """A new empty database next to ``url``'s (dropped afterwards), or ``url`` itself without CREATEDB rights."""
    import sqlalchemy

    name = f"nascomp_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.ProgrammingError:  # no CREATEDB privilege: share the given database
        admin.dispose()
        yield url
        return
    try:
        yield str(sqlalchemy.engine.make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _postgres_up(url: str) -> bool:
    if not url:
        return False
    try:
        import sqlalchemy

        with sqlalchemy.create_engine(url).connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means: no usable server
        return False


# -- the protocol in one process (fast): stale trials, counting, SQLite warning -------------------------------------

def _journal_study(tmp_path: Path, name: str = "s") -> optuna.Study:
    from nascomp.search.workers.storage import open_storage

    return optuna.create_study(study_name=name, storage=open_storage(f"journal:{tmp_path / 'j.log'}"))


def test_a_trial_that_never_beats_is_failed_once_and_retried_on_the_same_point(tmp_path):
    from nascomp.search.workers.coordinator import Coordinator, counted, lost_numbers

    study = _journal_study(tmp_path)
    dead = study.ask()
    dead.suggest_int("x", 0, 9)
    alive = study.ask()
    alive.suggest_int("x", 0, 9)
    notes = []
    watchers = [Coordinator(study, "journal:", ["x"], note=notes.append, interval=0.05) for _ in range(2)]
    me = Coordinator(study, "journal:", ["x"], note=notes.append, interval=0.05)  # beats, and watches too
    with me.heartbeat(alive):
        for w in watchers:
            assert w.fail_stale() == []  # first look: nothing is stale yet
        time.sleep(0.4)  # > 6 beats of 0.05 s
        failed = [n for w in watchers for n in w.fail_stale()]
        assert study.get_trials(deepcopy=False)[alive.number].state == TrialState.RUNNING  # it beats: alive
    assert failed in ([dead.number], [])  # the heartbeat thread of `me` may have been first
    # of the three watchers exactly one failed the dead trial and queued its retry
    assert sum("stopped beating" in n for n in notes) == 1, notes
    trials = study.get_trials(deepcopy=False)
    retry = [t for t in trials if t.state == TrialState.WAITING]
    assert len(retry) == 1 and retry[0].params == trials[dead.number].params
    assert retry[0].system_attrs["failed_trial"] == dead.number
    assert lost_numbers(trials) == {dead.number}
    assert counted(trials) == []


def test_counted_excludes_withdrawn_interrupted_and_lost_but_not_real_failures(tmp_path):
    from nascomp.search.workers.coordinator import counted

    study = _journal_study(tmp_path)
    for attrs in ({"reason": "NaN loss"}, {"reason": "x", "withdrawn": True}, {"reason": "x", "interrupted": True},
                  {}):
        t = study.ask()
        for k, v in attrs.items():
            t.set_user_attr(k, v)
        study.tell(t, state=TrialState.FAIL)
    t = study.ask()
    study.tell(t, 0.5)
    assert [t.number for t in counted(study.get_trials())] == [0, 4]


def test_a_worker_on_a_busy_sqlite_study_is_told_to_use_journal_or_postgresql(tmp_path):
    from nascomp.search.workers.coordinator import Coordinator

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=url)
    other = study.ask()  # another worker's running trial, on this machine, alive (the test runner's parent)
    other.set_user_attr("worker", f"{socket.gethostname()}:{os.getppid()}")
    notes = []
    coordinator = Coordinator(study, url, ["x"], note=notes.append, interval=10)
    assert coordinator.claim(target=5, should_stop=iter([False, True]).__next__) is not None
    assert any("SQLite is for one process" in n and "journal:" in n for n in notes)


def test_a_lost_trial_whose_retry_never_came_stops_holding_its_slot(tmp_path):
    """The watcher that failed a stale trial died before queueing its retry: the pool must not wait for ever."""
    from nascomp.search.workers.coordinator import Coordinator

    study = _journal_study(tmp_path)
    orphan = study.ask()
    study.tell(orphan, state=TrialState.FAIL)  # failed as stale (no reason), and no retry queued
    notes = []
    coordinator = Coordinator(study, "journal:", ["x"], note=notes.append, interval=0.05)  # grace 0.3 s
    started = time.monotonic()
    trial = coordinator.claim(target=1, should_stop=lambda: time.monotonic() - started > 5)
    assert trial is not None and trial.number == orphan.number + 1
    assert 0.6 <= time.monotonic() - started < 5  # after two grace periods, not before
    assert any(n.startswith("waiting:") for n in notes)


def test_a_resumed_sqlite_study_fails_a_killed_runs_trial_at_once_with_a_reason(tmp_path):
    """SQLite runs one process at a time: a trial left RUNNING by a killed run (its process is gone) is failed and
    retried on the first look, not after the heartbeat's grace period; trials.csv says why."""
    import csv
    import subprocess
    import sys

    from nascomp.search.outputs.study_files import write_trials_csv
    from nascomp.search.workers.coordinator import Coordinator

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=url)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = study.ask()
    killed.suggest_int("x", 0, 9)
    killed.set_user_attr("worker", f"{socket.gethostname()}:{int(gone.stdout)}")  # that process has exited
    unknown = study.ask()  # died before it recorded its worker
    notes = []
    coordinator = Coordinator(study, url, ["x"], note=notes.append, interval=60)  # grace 6 minutes
    started = time.monotonic()
    assert sorted(coordinator.fail_stale()) == [killed.number, unknown.number]
    assert time.monotonic() - started < 5
    trials = study.get_trials(deepcopy=False)
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state == TrialState.WAITING and retry.params == trials[killed.number].params
    assert sum("left RUNNING by a run that stopped without finishing" in n for n in notes) == 2, notes
    rows = {int(r["number"]): r for r in csv.DictReader(open(write_trials_csv(study, ["x"], tmp_path / "t.csv")))}
    assert rows[killed.number]["state"] == "FAIL"
    assert rows[killed.number]["reason"] == (f"lost: the worker stopped without finishing (killed?); retried as "
                                             f"trial {retry.number}")


def test_a_shared_storage_waits_for_the_heartbeat_and_says_how_long(tmp_path):
    from nascomp.search.workers.coordinator import Coordinator

    study = _journal_study(tmp_path)
    study.ask().set_user_attr("worker", "elsewhere:1")
    notes = []
    coordinator = Coordinator(study, "journal:", ["x"], note=notes.append, interval=10)
    assert coordinator.fail_stale() == []  # not without the grace period
    assert any("heartbeat stops for 60 s" in n for n in notes), notes
