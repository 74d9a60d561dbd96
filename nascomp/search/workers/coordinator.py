"""Many workers, one study: how ``nascomp search`` processes that share an Optuna storage stay out of each other's way.

Start the same ``nascomp search --storage URL --study-name NAME --trials T`` on W processes or machines and they
share one study. Three guarantees, each enforced through the storage alone (no worker talks to another, no extra
service, public Optuna API only). The bookkeeping (which trials count, which were lost, which hold a slot) is a set
of pure functions of one snapshot of the study's trials, in :mod:`nascomp.search.workers.slots`; this module does the I/O:

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
(:func:`nascomp.search.space.sampler.evaluated_points`), which two workers drawing the same point at the same moment both
pass (workers started with the same ``--seed`` draw the same points in lockstep). So right after the draw, before
any parameter is stored, a trial publishes its point (user attribute ``nascomp_point``), looks for a running trial
with the same point that is earlier in slot order or already confirmed, confirms (``nascomp_point_confirmed``),
and looks once more for an earlier confirmed one. A trial that finds one is withdrawn (``FAIL`` with ``withdrawn``
and the reason; it has no parameter, nothing was trained, it never counts) and its worker, reseeded, draws again. A retry keeps its
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

A lost trial records no reason of its own (it could not); :func:`~nascomp.search.workers.slots.lost_reason` words one for
``trials.csv``.
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

from nascomp._stop import Stopped
from nascomp.errors import SearchError
from nascomp.search.trials import record as attrs
from nascomp.search.workers.slots import (MAX_RETRY, StudySnapshot, blocking_twins, counted, jsonable_point, lost_numbers,
                                  lost_reason, rival_for_point, slot_key)

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

HEARTBEAT_ATTR = attrs.HEARTBEAT
TRAINING_ATTR = attrs.TRAINING
WITHDRAWN_ATTR = attrs.WITHDRAWN
WORKER_ATTR = attrs.WORKER
#: A running trial whose beat has not changed for this many heartbeat intervals is failed and retried.
GRACE_BEATS = 6
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


class Coordinator:
    """One worker's side of the protocol above, for one study.

    Args:
        study: The shared study.
        storage_url: Its storage URL (only used to warn about SQLite).
        note: Where to say what the worker waits for.
        interval: Heartbeat interval in seconds (default :func:`heartbeat_interval`).
        poll: Seconds between looks at the storage while waiting.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> coordinator = Coordinator(study, "journal:study.log", ["width"], note=lambda s: None)
        >>> trial = coordinator.claim(target=20, should_stop=lambda: False)
        >>> with coordinator.heartbeat(trial):
        ...     _ = study.tell(trial, 0.5)  # suggest, train, tell
        >>> len(counted(study.get_trials()))
        1
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

    def snapshot(self) -> StudySnapshot:
        """One read of the study's trials."""
        return StudySnapshot.of(self.study.get_trials(deepcopy=False))

    # -- stale trials -----------------------------------------------------------------------------------------
    def fail_stale(self, mine: int | None = None, snapshot: StudySnapshot | None = None) -> list[int]:
        """Fail (and queue a retry of) every running trial whose beat has not changed for the grace period.

        Called while waiting for a slot or a twin, and by the heartbeat thread at every beat, so a busy worker
        notices a dead one within about the grace period.

        Args:
            mine: This worker's running trial (never failed here).
            snapshot: A fresh snapshot to judge from (one is taken when ``None``).

        Returns:
            Numbers of the trials this worker failed.
        """
        with self._lock:
            return self._fail_stale(mine, snapshot or self.snapshot())

    def _fail_stale(self, mine: int | None, snapshot: StudySnapshot) -> list[int]:
        now = time.monotonic()
        running = snapshot.running
        failed = []
        for t in running:
            if t.number == mine:
                continue
            beat = t.user_attrs.get(attrs.HEARTBEAT)
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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._retry(self.study, t)  # queues the same point (params, distributions) as a WAITING trial
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
        worker = str(trial.user_attrs.get(attrs.WORKER, ""))
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
            snap = self.snapshot()
            if self.fail_stale(snapshot=snap):
                snap = self.snapshot()
            if len(snap.counted) >= target:
                return None
            self._warn_sqlite(snap)
            if len(snap.claims(self._forgotten(snap))) >= target and not snap.has_queued:
                if not waiting_said:
                    self.note(f"waiting: {len(snap.running)} trial(s) running in other workers fill the study's "
                              f"{target}")
                    waiting_said = True
                time.sleep(self.poll)
                continue
            trial = self.study.ask()
            try:
                now = self.snapshot()  # sees this trial, and any created by other workers meanwhile
                frozen = now.trial(trial.number)
                assert frozen is not None  # the storage returns the trial it just created
                promotion = frozen.user_attrs.get(attrs.RESUMES) is not None  # holds no new slot
                if not promotion and now.claims_ahead(frozen, self._forgotten(now)) >= target:
                    self._withdraw(trial, f"surplus: another worker took the last of the {target} slots at the "
                                          f"same moment; closed unused (nothing trained)")
                    continue
                rival = self._reserve_point(trial, frozen)
                if rival is None:
                    trial.set_user_attr(attrs.WORKER, self.worker)
                    return trial
                self._withdraw(trial, f"clash: running trial {rival.number} drew the same point at the same "
                                      f"moment; closed unused (nothing trained), this worker draws again")
            except UpdateFinishedTrialError:  # this worker stalled for the grace period: another one failed its
                continue                      # trial as stale (and queued a retry); take the next one
            except Stopped as exc:  # the draw's latency prediction was measuring new ops when a stop came
                self._withdraw(trial, f"{exc}; closed unused (nothing trained)")
                return None
            clashes += 1
            self.study.sampler.reseed_rng()  # same draws as another worker: a worker started with the same seed
            if clashes > 1:  # twice in a row (a small space): let the rival finish, its result is then reused
                while not should_stop() and any(t.number == rival.number for t in self.snapshot().running):
                    time.sleep(self.poll)
        return None

    def _forgotten(self, snapshot: StudySnapshot) -> set[int]:
        """Lost trials still without a queued retry after two grace periods: the watcher that failed them died
        before queueing the retry. They stop holding a slot, so the pool cannot wait for them for ever."""
        now = time.monotonic()
        self._pending = {n: self._pending.get(n, now) for n in snapshot.pending_retry()}
        return {n for n, since in self._pending.items() if now - since > 2 * self.grace}

    def take_queued(self) -> optuna.Trial:
        """The oldest queued trial (a promotion or a retry, ``study.ask()`` pops it), marked as this worker's."""
        trial = self.study.ask()
        trial.set_user_attr(attrs.WORKER, self.worker)
        return trial

    def enqueue_promotion(self, params: dict[str, Any], *, resumes: int, lineage: int) -> None:
        """Queue a promotion: a trial with the paused trial ``resumes``'s point that resumes its saved state. Any
        worker's next :meth:`take_queued` (or :meth:`claim`) runs it."""
        self.study.enqueue_trial(params, user_attrs={attrs.RESUMES: int(resumes), attrs.LINEAGE: int(lineage)})

    def withdraw(self, trial: optuna.Trial, reason: str) -> None:
        """Close ``trial`` unused (``FAIL``, ``withdrawn``): it never counts and holds no slot."""
        self._withdraw(trial, reason)

    def _withdraw(self, trial: optuna.Trial, reason: str) -> None:
        """Close a trial that has no parameter yet, unused: it never counts and holds no slot."""
        trial.set_user_attr(attrs.WITHDRAWN, True)
        attrs.record_failure_reason(trial, reason)
        self.study.tell(trial, state=TrialState.FAIL)

    def _reserve_point(self, trial: optuna.Trial, frozen: FrozenTrial) -> FrozenTrial | None:
        """Publish the trial's point (before any parameter is stored) and return a running trial that holds the same
        point first, or ``None``. Of two trials that publish the same point at the same moment, the later in slot
        order yields; a trial that already confirmed its point is never displaced. A queued retry keeps its stored
        point: it never yields here, and :meth:`await_twins` sorts it out."""
        if frozen.params or frozen.user_attrs.get(attrs.RESUMES) is not None:
            return None  # a retry or a promotion: its point is fixed
        point = trial.relative_params  # the budget sampler's draws happen here
        if not all(d in point for d in self.dimensions):
            return None  # the sampler fell back to independent sampling: nothing to compare yet
        mine = jsonable_point([point[d] for d in self.dimensions])
        trial.set_user_attr(attrs.POINT, mine)
        rival = rival_for_point(self.snapshot(), frozen, mine, self.dimensions, confirmed_only=False)
        if rival is not None:
            return rival
        trial.set_user_attr(attrs.POINT_CONFIRMED, True)
        return rival_for_point(self.snapshot(), frozen, mine, self.dimensions, confirmed_only=True)

    def _warn_sqlite(self, snapshot: StudySnapshot) -> None:
        if self._sqlite and not self._warned_sqlite and snapshot.running:
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
                    trial.set_user_attr(attrs.HEARTBEAT, time.time())
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
            snap = self.snapshot()
            blocking = blocking_twins(snap, snap.trial(trial.number), dimensions)
            if not blocking:
                trial.set_user_attr(attrs.TRAINING, True)
                snap = self.snapshot()
                rivals = blocking_twins(snap, snap.trial(trial.number), dimensions, training_only=True)
                if not rivals:
                    return
                trial.set_user_attr(attrs.TRAINING, False)
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
