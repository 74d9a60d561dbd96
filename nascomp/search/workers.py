"""Many workers, one study: how ``nascomp search`` processes that share an Optuna storage stay out of each other's way.

Start the same ``nascomp search --storage URL --study-name NAME --trials T`` on W processes or machines and they
share one study. Three guarantees, each enforced through the storage alone (no worker talks to another, no extra
service, public Optuna API except where noted):

**Exactly T.** A trial *claims a slot* from the moment it exists (``RUNNING``/``WAITING``) until it ends; a finished
trial keeps its slot if it *counts* (:func:`counted`). Before asking for a trial, a worker waits while the claims
already fill the target (other workers' trials will finish it). Two workers can still pass that check at once, so
once :meth:`Coordinator.claim` has its trial it ranks it: a trial with T claims ahead of it in slot order
(:func:`slot_key`: the trial number, or for a retry the number of the trial it replaces) is given back at once:
``FAIL`` with the user attribute ``withdrawn``, no parameters, nothing trained, never counted. Only trials created
before it can be ahead of it, so no two workers can both take the last slot. (Optuna's ``MaxTrialsCallback`` counts
finished trials only, so W workers near the end would each start one more.)

**Nothing stuck RUNNING.** A worker beats while its trial runs: a thread writes the wall-clock time to the trial's
user attribute ``nascomp_heartbeat`` every ``NASCOMP_HEARTBEAT_S`` seconds (default 10). Every worker watches the
other running trials; one whose beat has not changed for ``GRACE_BEATS`` intervals *on the watcher's own clock*
(so clocks of different machines never matter) is failed (``study.tell(number, state=FAIL)``; of two watchers
only one succeeds) and re-queued by Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback` (same
point, ``WAITING``, at most ``MAX_RETRY`` times), which the next ``study.ask()`` anywhere pops. The same mechanism
serves every storage. Optuna 5's own heartbeat exists for :class:`~optuna.storages.RDBStorage` only (there is none
for :class:`~optuna.storages.JournalStorage`), and it never fails a trial that died before its first beat (while
the budget sampler was still drawing its point: seconds on a busy machine); such a trial would stay RUNNING for
ever. Here a trial that never beat is stale too.

**Not trained twice.** The budget sampler skips points the study has a result for
(:func:`nascomp.search.sampler.evaluated_points`), which two workers drawing the same point at the same moment both
pass (workers started with the same ``--seed`` draw the same points in lockstep). So right after the draw, before
any parameter is stored, a trial publishes its point (user attribute ``nascomp_point``), looks for a running trial
with the same point that is earlier in slot order or already confirmed, confirms (``nascomp_point_confirmed``),
and looks once more for an earlier confirmed one. A trial that finds one goes back to the queue (``WAITING``; it has
no parameter yet) and its worker, reseeded, draws again: this race leaves no trace in the study. A retry keeps its
stored point; if another worker is running that point meanwhile, :meth:`Coordinator.await_twins` makes the later
one wait and reuse the result (``duplicate_of``, as the search does for any evaluated point). The one way a point is
trained twice: a worker declared dead while alive (its heartbeat thread starved for the whole grace period), whose
trial is retried while it still runs.

SQLite: one process only. Several processes writing one SQLite file can fail with "database is locked"; a worker
that finds other running trials in an SQLite study says so and names the alternatives (``journal:PATH`` on one
machine, PostgreSQL across machines). Since one process runs at a time there, a trial left RUNNING in an SQLite study
by a killed run (``kill -9``, out of memory) is failed and retried at once when the study is resumed, without waiting
for the grace period; the one exception is a trial whose worker, on this machine, is still alive. On shared storages
the heartbeat decides, and the worker says how long that takes.

A lost trial records no reason of its own (it could not); :func:`lost_reason` words one for ``trials.csv``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from nascomp.errors import SearchError

__all__ = [
    "Coordinator",
    "counted",
    "lost_numbers",
    "lost_reason",
    "slot_key",
    "heartbeat_interval",
    "HEARTBEAT_ATTR",
    "TRAINING_ATTR",
    "WITHDRAWN_ATTR",
    "WORKER_ATTR",
    "GRACE_BEATS",
    "MAX_RETRY",
]

HEARTBEAT_ATTR = "nascomp_heartbeat"
TRAINING_ATTR = "nascomp_training"
POINT_ATTR = "nascomp_point"
CONFIRMED_ATTR = "nascomp_point_confirmed"
WITHDRAWN_ATTR = "withdrawn"
WORKER_ATTR = "worker"
#: A running trial whose beat has not changed for this many heartbeat intervals is failed and retried.
GRACE_BEATS = 6
#: A point whose worker dies this many times in a row is recorded as failed instead of retried again.
MAX_RETRY = 2
_HEARTBEAT_ENV = "NASCOMP_HEARTBEAT_S"


def heartbeat_interval() -> float:
    """Seconds between heartbeats: ``NASCOMP_HEARTBEAT_S`` (default 10; a worker is stale after 6 of them).

    Raises:
        SearchError: the variable is set to something that is not a positive number.
    """
    text = os.environ.get(_HEARTBEAT_ENV, "").strip()
    if not text:
        return 10.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise SearchError(f"{_HEARTBEAT_ENV}={text!r}: expected a positive number of seconds, e.g. 10")
    return value


def _retry_history(trial: FrozenTrial) -> list[int]:
    return list(trial.system_attrs.get("retry_history", []))


def lost_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Trials that failed because their worker died (failed by a heartbeat watcher), which will be or were retried.

    A nascomp trial that fails for a reason of its own (NaN loss, out of memory, over budget) always records
    ``reason`` before it is told ``FAIL``; a trial failed as stale has none. One whose retries are used up
    (:data:`MAX_RETRY`) is not lost: it stands as the point's failure.
    """
    retried = {n for t in trials for n in _retry_history(t)}
    lost = set()
    for t in trials:
        if t.state != TrialState.FAIL:
            continue
        if t.number in retried:
            lost.add(t.number)
        elif "reason" not in t.user_attrs and len(_retry_history(t)) < MAX_RETRY:
            lost.add(t.number)
    return lost


def lost_reason(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> str:
    """Why a trial that failed with its worker (no reason of its own) failed, for ``trials.csv``; ``""`` for any
    other trial."""
    if trial.state != TrialState.FAIL or "reason" in trial.user_attrs:
        return ""
    retry = next((t.number for t in trials if t.system_attrs.get("failed_trial") == trial.number), None)
    if retry is not None:
        return f"lost: the worker stopped without finishing (killed?); retried as trial {retry}"
    if len(_retry_history(trial)) >= MAX_RETRY:
        return (f"lost: the worker stopped without finishing (killed?), {MAX_RETRY + 1} times on this point; "
                f"not retried again")
    return "lost: the worker stopped without finishing (killed?); retry pending"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def counted(trials: Sequence[FrozenTrial], lost: set[int] | None = None) -> list[FrozenTrial]:
    """Trials that count toward the study's total: finished, and not stopped by Ctrl-C, not surplus, not lost."""
    lost = lost_numbers(trials) if lost is None else lost
    return [
        t for t in trials
        if t.state.is_finished() and not t.user_attrs.get("interrupted") and not t.user_attrs.get(WITHDRAWN_ATTR)
        and t.number not in lost
    ]


def slot_key(trial: FrozenTrial) -> int:
    """The slot order of a trial: its number, or for a retry the number of the trial it replaces."""
    history = _retry_history(trial)
    return history[0] if history else trial.number


def _pending_retry(trials: Sequence[FrozenTrial]) -> set[int]:
    """Lost trials whose retry is not queued yet (the watcher that failed them queues it a moment later)."""
    lost = lost_numbers(trials)
    queued = {n for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING) for n in _retry_history(t)}
    return {t.number for t in trials if t.number in lost and t.number not in queued
            and not _retried_and_done(t, trials)}


def _claims(trials: Sequence[FrozenTrial], forgotten: set[int] = frozenset()) -> list[FrozenTrial]:
    """Trials holding a slot: running or queued, counted, or lost and waiting for their retry to be queued (unless
    ``forgotten``: the watcher died before queueing it)."""
    lost = lost_numbers(trials)
    queued = {n for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING) for n in _retry_history(t)}
    done = {t.number for t in counted(trials, lost)}
    return [
        t for t in trials
        if t.state in (TrialState.RUNNING, TrialState.WAITING) or t.number in done
        or (t.number in lost and t.number not in queued and not _retried_and_done(t, trials)
            and t.number not in forgotten)
    ]


def _retried_and_done(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> bool:
    return any(trial.number in _retry_history(t) for t in trials if t.state.is_finished())


def _jsonable(values: list) -> list:
    """A point as it reads back from any storage's JSON user attributes (floats stay floats, ints ints)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def _point_of(trial: FrozenTrial, dimensions: Sequence[str]) -> tuple | None:
    if not all(d in trial.params for d in dimensions):
        return None
    return tuple(trial.params[d] for d in dimensions)


class Coordinator:
    """One worker's side of the protocol above, for one study.

    Args:
        study: The shared study.
        storage_url: Its storage URL (only used to warn about SQLite).
        note: Where to say what the worker waits for.
        interval: Heartbeat interval in seconds (default :func:`heartbeat_interval`).
        poll: Seconds between looks at the storage while waiting.

    Example:
        >>> coordinator = Coordinator(study, "journal:/tmp/study.log", ["width", "depth"])
        >>> trial = coordinator.claim(target=20, should_stop=lambda: False)
        >>> with coordinator.heartbeat(trial):
        ...     ...  # suggest, train, tell
    """

    def __init__(self, study: optuna.Study, storage_url: str, dimensions: Sequence[str], *,
                 note: Callable[[str], None] = print, interval: float | None = None, poll: float | None = None):
        self.study = study
        self.dimensions = list(dimensions)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"  # recorded on each trial it runs
        self.note = note
        self.interval = heartbeat_interval() if interval is None else interval
        self.grace = GRACE_BEATS * self.interval
        self.poll = poll if poll is not None else min(2.0, max(0.2, self.interval / 2))
        self._sqlite = storage_url.startswith("sqlite")
        self._warned_sqlite = False
        self._said_grace = False
        self._seen: dict[int, tuple[Any, float]] = {}  # running trial number -> (last beat seen, local time seen)
        self._pending: dict[int, float] = {}  # lost trial without a queued retry -> local time first seen so
        self._lock = threading.Lock()  # fail_stale runs in the main thread and in the heartbeat thread
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)

    # -- stale trials -----------------------------------------------------------------------------------------
    def fail_stale(self, mine: int | None = None) -> list[int]:
        """Fail (and queue a retry of) every running trial whose beat has not changed for the grace period.

        Called while waiting for a slot or a twin, and by the heartbeat thread at every beat, so a busy worker
        notices a dead one within about the grace period.

        Returns:
            Numbers of the trials this worker failed.
        """
        with self._lock:
            return self._fail_stale(mine)

    def _fail_stale(self, mine: int | None) -> list[int]:
        now = time.monotonic()
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        failed = []
        for t in running:
            if t.number == mine:
                continue
            beat = t.user_attrs.get(HEARTBEAT_ATTR)
            seen = self._seen.get(t.number)
            orphan = self._orphan(t)
            if not orphan:
                if seen is None or seen[0] != beat:
                    self._seen[t.number] = (beat, now)
                    if not self._said_grace and not self._sqlite:
                        self._said_grace = True
                        self.note(f"trial {t.number} is running in another worker: a trial whose heartbeat stops "
                                  f"for {self.grace:.0f} s ({GRACE_BEATS} x {_HEARTBEAT_ENV}={self.interval:g}) "
                                  f"is failed and retried")
                    continue
                if now - seen[1] < self.grace:
                    continue
            try:
                self.study.tell(t.number, state=TrialState.FAIL)
            except (ValueError, UpdateFinishedTrialError):  # another watcher failed it first, or it just ended
                continue
            frozen = next(x for x in self.study.get_trials(deepcopy=False) if x.number == t.number)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._retry(self.study, frozen)
            failed.append(t.number)
            if orphan:
                self.note(f"trial {t.number}: left RUNNING by a run that stopped without finishing (killed?); "
                          f"failed it and queued a retry of the same point")
            else:
                self.note(f"trial {t.number}: its worker stopped beating {now - seen[1]:.0f} s ago; failed it and "
                          f"queued a retry of the same point")
        alive = {t.number for t in running}
        self._seen = {n: v for n, v in self._seen.items() if n in alive}
        return failed

    def _orphan(self, trial: FrozenTrial) -> bool:
        """A running trial known dead without waiting for its heartbeat: in an SQLite study (one process at a
        time) any other process's trial, unless its worker runs on this machine and is alive."""
        if not self._sqlite:
            return False
        worker = str(trial.user_attrs.get(WORKER_ATTR, ""))
        if worker == self.worker:
            return False
        host, _, pid = worker.rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            return not _alive(int(pid))
        return True

    # -- slots ------------------------------------------------------------------------------------------------
    def claim(self, target: int, should_stop: Callable[[], bool]) -> optuna.Trial | None:
        """A new (or queued) trial with a slot among the study's ``target``, or ``None`` when the study is full
        (``target`` trials counted) or ``should_stop()`` says so. Waits while other workers' running trials fill
        the remaining slots."""
        waiting_said = False
        clashes = 0
        while not should_stop():
            self.fail_stale()
            trials = self.study.get_trials(deepcopy=False)
            if len(counted(trials)) >= target:
                return None
            self._warn_sqlite(trials)
            claims = _claims(trials, self._forgotten(trials))
            queued = any(t.state == TrialState.WAITING for t in trials)
            if len(claims) >= target and not queued:
                if not waiting_said:
                    running = sum(t.state == TrialState.RUNNING for t in trials)
                    self.note(f"waiting: {running} trial(s) running in other workers fill the study's {target}")
                    waiting_said = True
                time.sleep(self.poll)
                continue
            trial = self.study.ask()
            try:
                frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == trial.number)
                key = slot_key(frozen)
                now = self.study.get_trials(deepcopy=False)
                ahead = [t for t in _claims(now, self._forgotten(now)) if t.number != trial.number
                         and slot_key(t) < key]
                if len(ahead) >= target:
                    self._withdraw(trial, f"surplus: another worker took the last of the {target} slots at the "
                                          f"same moment; closed unused (nothing trained)")
                    continue
                rival = self._reserve_point(trial, frozen)
                if rival is None:
                    trial.set_user_attr(WORKER_ATTR, self.worker)
                    return trial
                self._requeue(trial)  # nothing stored yet: the trial goes back to the queue, for a new draw
            except UpdateFinishedTrialError:  # this worker stalled for the grace period: another one failed its
                continue                      # trial as stale (and queued a retry); take the next one
            clashes += 1
            self.study.sampler.reseed_rng()  # same draws as another worker: a worker started with the same seed
            if clashes > 1:  # twice in a row (a small space): let the rival finish, its result is then reused
                while not should_stop() and any(t.number == rival.number and t.state == TrialState.RUNNING
                                                for t in self.study.get_trials(deepcopy=False)):
                    time.sleep(self.poll)
        return None

    def _forgotten(self, trials: Sequence[FrozenTrial]) -> set[int]:
        """Lost trials still without a queued retry after two grace periods: the watcher that failed them died
        before queueing the retry. They stop holding a slot, so the pool cannot wait for them for ever."""
        now = time.monotonic()
        pending = _pending_retry(trials)
        self._pending = {n: self._pending.get(n, now) for n in pending}
        return {n for n, since in self._pending.items() if now - since > 2 * self.grace}

    def _requeue(self, trial: optuna.Trial) -> None:
        """Put a running trial that has no parameter yet back in the queue (``WAITING``): the next ``ask()`` here
        or anywhere pops it and draws a fresh point, so a clash of draws leaves no trace in the study. Uses the
        storage's ``set_trial_state_values`` (Optuna's own queue primitive; no public API moves a trial back)."""
        trial.set_user_attr(POINT_ATTR, None)
        trial.set_user_attr(CONFIRMED_ATTR, False)
        storage = self.study._storage  # noqa: SLF001 - see the docstring
        if not storage.set_trial_state_values(trial._trial_id, state=TrialState.WAITING):  # noqa: SLF001
            raise UpdateFinishedTrialError(f"trial {trial.number} could not be re-queued")

    def _withdraw(self, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr(WITHDRAWN_ATTR, True)
        trial.set_user_attr("reason", reason)
        self.study.tell(trial, state=TrialState.FAIL)

    def _reserve_point(self, trial: optuna.Trial, frozen: FrozenTrial) -> FrozenTrial | None:
        """Publish the trial's point (before any parameter is stored) and return a running trial that holds the same
        point first, or ``None``. Of two trials that publish the same point at the same moment, the later in slot
        order yields; a trial that already confirmed its point is never displaced. A queued retry keeps its point
        (Optuna stored it): it never yields here, and :meth:`await_twins` sorts it out."""
        if frozen.params:
            return None
        point = trial.relative_params  # the budget sampler's draws happen here
        if not all(d in point for d in self.dimensions):
            return None  # the sampler fell back to independent sampling: nothing to compare yet
        mine = _jsonable([point[d] for d in self.dimensions])
        key = slot_key(frozen)
        trial.set_user_attr(POINT_ATTR, mine)
        for confirm in (False, True):
            if confirm:
                trial.set_user_attr(CONFIRMED_ATTR, True)
            for t in self.study.get_trials(deepcopy=False):
                if t.number == frozen.number or t.state != TrialState.RUNNING or self._published(t) != mine:
                    continue
                earlier, confirmed = slot_key(t) < key, bool(t.user_attrs.get(CONFIRMED_ATTR))
                if (earlier and confirmed) if confirm else (earlier or confirmed):
                    return t
        return None

    def _published(self, trial: FrozenTrial) -> list | None:
        if trial.user_attrs.get(POINT_ATTR) is not None:
            return trial.user_attrs[POINT_ATTR]
        point = _point_of(trial, self.dimensions)
        return None if point is None else _jsonable(list(point))

    def _warn_sqlite(self, trials: Sequence[FrozenTrial]) -> None:
        if self._sqlite and not self._warned_sqlite and any(t.state == TrialState.RUNNING for t in trials):
            self._warned_sqlite = True
            self.note("warning: this SQLite study has running trials (another worker, or a killed run). SQLite is "
                      "for one process: concurrent writers can fail with 'database is locked'. For several "
                      "workers use --storage journal:FILE (one machine) or postgresql+psycopg://... (many)")

    # -- heartbeat --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def heartbeat(self, trial: optuna.Trial) -> Iterator[None]:
        """Beat for ``trial`` (every ``interval`` seconds, in a thread) while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while True:
                try:
                    trial.set_user_attr(HEARTBEAT_ATTR, time.time())
                except Exception:  # noqa: BLE001 - the trial ended (or the storage hiccuped): stop beating
                    return
                if stop.wait(self.interval):
                    return
                try:
                    self.fail_stale(mine=trial.number)  # watch the other workers meanwhile
                except Exception:  # noqa: BLE001 - watching is best effort; the main thread watches too
                    pass

        thread = threading.Thread(target=beat, name=f"nascomp-heartbeat-{trial.number}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    # -- twins ------------------------------------------------------------------------------------------------
    def await_twins(self, trial: optuna.Trial, dimensions: Sequence[str],
                    should_stop: Callable[[], bool] = lambda: False) -> None:
        """Return when no other running trial with the same point is training or ahead of ``trial``; afterwards
        ``trial`` is marked as training. Call it after the point is suggested and before the evaluated-points
        check: a twin that finished meanwhile is then found there and reused."""
        said = False
        while True:
            trials = self.study.get_trials(deepcopy=False)
            me = next(t for t in trials if t.number == trial.number)
            point, key = _point_of(me, dimensions), slot_key(me)
            twins = [t for t in trials if t.number != trial.number and t.state == TrialState.RUNNING
                     and _point_of(t, dimensions) == point]
            blocking = [t for t in twins if t.user_attrs.get(TRAINING_ATTR) or slot_key(t) < key]
            if not blocking:
                trial.set_user_attr(TRAINING_ATTR, True)
                trials = self.study.get_trials(deepcopy=False)
                rivals = [t for t in trials if t.number != trial.number and t.state == TrialState.RUNNING
                          and t.user_attrs.get(TRAINING_ATTR) and _point_of(t, dimensions) == point
                          and slot_key(t) < key]
                if not rivals:
                    return
                trial.set_user_attr(TRAINING_ATTR, False)
                blocking = rivals
            if should_stop():
                return
            if not said:
                self.note(f"trial {trial.number}: same point as running trial {blocking[0].number}; waiting to "
                          f"reuse its result instead of training it twice")
                said = True
                # Twins come from workers started with the same seed (same draws in lockstep): diverge from now on.
                self.study.sampler.reseed_rng()
            self.fail_stale(mine=trial.number)
            time.sleep(self.poll)
