"""Issue 12 on ``nascomp search`` and ``nascomp report``: output folders checked before any work, study names of one
path component, storage passwords never printed or written, a resume mismatch refused before the census, SIGTERM
handled like Ctrl-C, a killed run's trial failed at once on resume, and no pruning at a trial's last epoch."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from tests._cli import _command, assert_one_line_error, run_cli
from tests._search import tiny_recipe, trained_trials, write_tiny_space

ENV = {"OMP_NUM_THREADS": "1", "COLUMNS": "160"}
SECRET = "SECRET-pw-4711"
PG_URL = f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db"  # nothing listens on port 1


def _quiet():
    from nascomp.search.outputs.report import Reporter

    return Reporter(console=Console(file=open(os.devnull, "w"), width=160), bars=False)


def _tiny_args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    space = write_tiny_space(tmp_path / "spaces")
    return ["search", "--space", str(space), "--budget", "300KMACs", "--input-shape", "3x16x16", "--epochs", "1",
            "--image-size", "8", "--census", "5", "--out", str(out), "--no-progress", "--device", "cpu",
            "--data", "digits", "--pruner", "median", *extra]


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


# -- output folders ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["under a file", "under /proc"])
def test_search_refuses_an_unwritable_out_before_any_work(tmp_path, where):
    (tmp_path / "a file").write_text("x")
    out = tmp_path / "a file" / "run" if where == "under a file" else Path("/proc/nascomp-test/run")
    result = run_cli(*_tiny_args(tmp_path, out), cwd=tmp_path, env=ENV)
    line = assert_one_line_error(result, f"--out {out}: cannot write there", "choose a writable folder")
    assert "census" not in result.stdout and result.stdout == ""  # refused before the census is taken
    assert "Traceback" not in line


def test_search_default_runs_folder_in_an_unwritable_working_directory(tmp_path):
    # cwd is /proc (read-only for root too): the default runs/<study> cannot be created
    space = write_tiny_space(tmp_path / "spaces")
    result = run_cli("search", "--space", str(space), "--budget", "300KMACs", "--input-shape", "3x16x16",
                     "--census", "5", cwd=Path("/proc"), env=ENV)
    assert_one_line_error(result, "runs/tiny space-300KMACs-fashion-mnist", "cannot write there")


def test_report_refuses_an_unwritable_out_before_reading_the_storage(tmp_path):
    (tmp_path / "f").write_text("x")
    result = run_cli("report", "--storage", f"sqlite:///{tmp_path / 'none.db'}", "--study-name", "s", "--out",
                     str(tmp_path / "f" / "out"), cwd=tmp_path)
    assert_one_line_error(result, "--out", "cannot write there")
    assert not (tmp_path / "none.db").exists()


# -- study names ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", ".."])
def test_study_names_are_one_path_component(tmp_path, name):
    result = run_cli(*_tiny_args(tmp_path, tmp_path / "out"), "--study-name", name, cwd=tmp_path, env=ENV)
    assert_one_line_error(result, "is not allowed", "one folder name", "no '/'")
    assert _files(tmp_path) == _files(tmp_path) & set((tmp_path / "spaces").rglob("*")) | {tmp_path / "spaces"}
    report = run_cli("report", "--storage", "journal:x.log", "--study-name", name, cwd=tmp_path)
    assert_one_line_error(report, "is not allowed")
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "x").exists()


def test_check_study_name_refuses_control_characters():
    from nascomp.errors import SearchError
    from nascomp.search.study_identity import check_study_name

    assert check_study_name("se_resnext-4GMACs-digits") == "se_resnext-4GMACs-digits"
    for bad in ("a\x00b", "tab\there", "x\n", "a/b", "a\\b", "..", ".", "", " "):
        with pytest.raises(SearchError, match="one folder name"):
            check_study_name(bad)


# -- credentials ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["search", "report"])
def test_a_storage_password_is_never_printed_or_written(tmp_path, command):
    if command == "search":
        result = run_cli(*_tiny_args(tmp_path, tmp_path / "out"), "--storage", PG_URL, cwd=tmp_path, env=ENV)
    else:
        result = run_cli("report", "--storage", PG_URL, "--study-name", "s", "--out", str(tmp_path / "out"),
                         cwd=tmp_path)
    line = assert_one_line_error(result, "cannot open storage 'postgresql+psycopg://u:***@127.0.0.1:1/db'")
    assert SECRET not in result.stdout + result.stderr, line
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def test_describe_storage_masks_like_sqlalchemy():
    from sqlalchemy.engine import make_url

    from nascomp.search.workers.storage import describe_storage, hide_password

    for url in (PG_URL, "postgresql://u:p%40ss@h/db", "mysql+pymysql://root:x@h:3306/d"):
        assert describe_storage(url) == make_url(url).render_as_string(hide_password=True)
        assert "***" in describe_storage(url)
    assert describe_storage("journal:/tmp/x.log") == "journal:/tmp/x.log"
    assert hide_password(f"failed: password {SECRET} rejected for {PG_URL}", PG_URL) == (
        "failed: password *** rejected for postgresql+psycopg://u:***@127.0.0.1:1/db")


@pytest.mark.parametrize("command", ["search", "report"])
def test_a_raw_at_in_the_password_is_refused_without_printing_any_of_it(tmp_path, command):
    """Issue 22: 'nascomp:top@secret@host' printed 'nascomp:***@secret@host' and "failed to resolve host
    'secret@127.0.0.1'"."""
    url = "postgresql+psycopg://nascomp:top@sec-4711@127.0.0.1:1/db"
    if command == "search":
        result = run_cli(*_tiny_args(tmp_path, tmp_path / "out"), "--storage", url, cwd=tmp_path, env=ENV)
    else:
        result = run_cli("report", "--storage", url, "--study-name", "s", "--out", str(tmp_path / "out"), cwd=tmp_path)
    line = assert_one_line_error(result, "cannot open storage 'postgresql+psycopg://nascomp:***@127.0.0.1:1/db'",
                                 "raw '@'", "%40", "docs/distributed.md")
    assert "sec-4711" not in result.stdout + result.stderr and "top" not in line


def test_mask_credentials_masks_up_to_the_last_at():
    from nascomp._secrets import mask_credentials, raw_at_in_credentials
    from nascomp.search.workers.storage import describe_storage

    assert mask_credentials("at 'postgresql://nascomp:top@secret@127.0.0.1:5432/db' now") == (
        "at 'postgresql://nascomp:***@127.0.0.1:5432/db' now")
    assert mask_credentials("mysql://me@corp.example:pw@h/d and sqlite:///a@b/c.db") == (
        "mysql://***@h/d and sqlite:///a@b/c.db")
    assert mask_credentials("postgresql://u:a/b@h/d") == "postgresql://u:***@h/d"
    assert describe_storage("postgresql://u:p@q@h/db") == "postgresql://u:***@h/db"
    assert raw_at_in_credentials("postgresql://u:p@q@h/db")
    assert not raw_at_in_credentials("postgresql://u:p%40q@h/db") and not raw_at_in_credentials("sqlite:///a@b.db")


# -- resume mismatch before the census ----------------------------------------------------------------------------

@pytest.mark.slow  # two CLI runs
def test_a_resume_mismatch_is_refused_before_the_census_is_printed(tmp_path):
    out = tmp_path / "out"
    first = run_cli(*_tiny_args(tmp_path, out), "--trials", "1", "--study-name", "s", cwd=tmp_path, env=ENV)
    assert first.returncode == 0, first.stderr
    # the split seed belongs to the study (a worker's own --seed may differ: tests/search/test_worker_seeds.py)
    second = run_cli(*_tiny_args(tmp_path, out), "--trials", "2", "--study-name", "s", "--split-seed", "5",
                     cwd=tmp_path, env=ENV)
    assert_one_line_error(second, "study 's'", "split_seed")
    assert second.stdout == ""  # no census table printed before the refusal


# -- signals ------------------------------------------------------------------------------------------------------

def _signal_args(tmp_path: Path, out: Path, epochs: str, trials: str = "3") -> list[str]:
    args = _tiny_args(tmp_path, out, "--trials", trials, "--study-name", "s")
    args[args.index("--epochs") + 1] = epochs
    args[args.index("--budget") + 1] = "2MMACs"
    return args


def _start_search(tmp_path: Path, out: Path, epochs: str) -> subprocess.Popen:
    return subprocess.Popen([*_command(), *_signal_args(tmp_path, out, epochs)], cwd=tmp_path,
                            env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_training(out: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Until a trial has a point (it is training): the study.db exists and holds a RUNNING trial with params."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if (out / "study.db").exists():
            try:
                study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
                if any(t.state == TrialState.RUNNING and t.params for t in study.get_trials(deepcopy=False)):
                    return
            except Exception:  # noqa: BLE001 - the study is being created
                pass
        time.sleep(0.3)
    raise AssertionError(f"the search never started training: {proc.poll()}")


@pytest.mark.slow  # a real SIGTERM to a running search
def test_sigterm_records_the_trial_as_interrupted_writes_outputs_and_exits_143(tmp_path):
    out = tmp_path / "out"
    proc = _start_search(tmp_path, out, epochs="200")
    try:
        _wait_for_training(out, proc)
        time.sleep(1.0)  # inside the trial's epochs
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, (stdout, stderr)
    assert "Traceback" not in stderr
    assert "SIGTERM: stopping after the current step" in stdout
    assert stderr.strip().splitlines()[-1].startswith("nascomp search: interrupted by SIGTERM: stopped with")
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    last = study.trials[-1]
    assert last.state == TrialState.FAIL and last.user_attrs["interrupted"] is True
    assert last.user_attrs["reason"].startswith("interrupted by SIGTERM, interrupted at epoch 1")
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert rows[-1]["state"] == "FAIL" and rows[-1]["reason"].startswith("interrupted by SIGTERM")
    # the interrupted trial is drawn in history.png; no trial has an accuracy, so no (empty) pareto.png
    assert (out / "history.png").is_file() and not (out / "pareto.png").exists()
    assert not any(t.state == TrialState.RUNNING for t in study.trials)


@pytest.mark.slow  # kill -9, then a resume
def test_a_resume_after_sigkill_fails_the_dead_trial_at_once_with_a_reason(tmp_path):
    out = tmp_path / "out"
    proc = _start_search(tmp_path, out, epochs="10")
    try:
        _wait_for_training(out, proc)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    dead = next(t for t in study.trials if t.state == TrialState.RUNNING)
    started = time.monotonic()
    resumed = run_cli(*_signal_args(tmp_path, out, "10", trials="1"), cwd=tmp_path,
                      env={**ENV, "NASCOMP_HEARTBEAT_S": "60"})  # grace 6 minutes: waiting for it would time out
    assert resumed.returncode == 0, resumed.stderr
    assert time.monotonic() - started < 200
    assert f"trial {dead.number}: left RUNNING by a run that stopped without finishing" in resumed.stdout
    rows = {int(r["number"]): r for r in csv.DictReader(open(out / "trials.csv"))}
    assert rows[dead.number]["state"] == "FAIL"
    assert rows[dead.number]["reason"].startswith("lost: the worker stopped without finishing (killed?); retried as "
                                                  "trial ")
    retry = int(rows[dead.number]["reason"].rsplit(" ", 1)[1])
    assert rows[retry]["state"] == "COMPLETE"
    assert rows[retry]["width"] == rows[dead.number]["width"] and rows[retry]["depth"] == rows[dead.number]["depth"]


# -- pruning ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("epochs", [1, 2])
def test_never_pruned_at_the_last_epoch(tmp_path, monkeypatch, epochs):
    """A pruner that always says prune: with 2 epochs every trial stops after epoch 1 (before its last), with 1
    epoch none is pruned: a fully trained candidate is always complete."""
    from nascomp.search import run_search

    monkeypatch.setattr(optuna.pruners.MedianPruner, "prune", lambda self, study, trial: True)
    result = run_search(tiny_recipe(tmp_path, trials=3, epochs=epochs), reporter=_quiet())
    study = optuna.load_study(study_name="tiny", storage=result.storage)
    trained = trained_trials(study)
    assert trained
    if epochs == 1:
        assert all(t.state == TrialState.COMPLETE for t in trained)
    else:
        assert all(t.state == TrialState.PRUNED for t in trained)
        assert all(max(t.intermediate_values) == 0 for t in trained)
        assert all(t.user_attrs["reason"].startswith("pruned after epoch 1 ") for t in trained)


def test_pruned_points_are_drawn_apart_and_never_on_the_front():
    from nascomp.search.outputs.study_files import history_figure, pareto_figure

    study = optuna.create_study(study_name="plots", directions=["maximize"])
    for macs, accuracy, state in ((100, 0.5, TrialState.COMPLETE), (200, 0.7, TrialState.COMPLETE),
                                  (50, 0.9, TrialState.PRUNED)):
        t = study.ask()
        t.set_user_attr("macs", macs)
        if state == TrialState.PRUNED:
            t.report(accuracy, 0)
            study.tell(t, state=TrialState.PRUNED)
        else:
            study.tell(t, accuracy)
    fig = pareto_figure(study, budget=300)
    ax = fig.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "pruned or paused (partial training)" in labels and "complete" in labels
    front = next(line for line in ax.get_lines() if line.get_label().startswith("Pareto front"))
    assert list(front.get_ydata()) == [0.5, 0.7]  # the pruned 0.9 at 50 MACs would dominate both: not on it
    pruned = next(c for c in ax.collections if c.get_label() == "pruned or paused (partial training)")
    assert pruned.get_facecolors().size == 0 or pruned.get_facecolors()[0][3] == 0  # hollow
    history = history_figure(study).axes[0]
    assert "pruned or paused (partial training)" in [text.get_text() for text in history.get_legend().get_texts()]


def test_a_refused_search_leaves_no_folder_behind_not_even_runs(tmp_path):
    space = write_tiny_space(tmp_path / "spaces")
    result = run_cli("search", "--space", str(space), "--budget", "1KMACs", "--input-shape", "3x16x16",
                     "--census", "5", cwd=tmp_path, env=ENV)
    assert_one_line_error(result, "fits the budget")
    assert not (tmp_path / "runs").exists()
    report = run_cli("report", "--storage", "journal:missing.log", "--study-name", "s", cwd=tmp_path)
    assert_one_line_error(report, "no study storage")
    assert not (tmp_path / "runs").exists()
