"""Slot bookkeeping of a shared study, as pure functions of one snapshot of its trials.

The worker coordinator (:mod:`nascomp.search.workers.coordinator`) reads the study once per poll into a :class:`StudySnapshot`
and decides from it alone: which trials count, which were lost with a dead worker, which hold a slot, how many
slots are ahead of a new trial. Every rule here is a function of the trials' states and attributes, so unit tests
drive it with :func:`optuna.trial.create_trial` and no storage; each snapshot costs O(number of trials).

The rules (see the module docstring of :mod:`nascomp.search.workers.coordinator` for why):

- **lost**: a ``FAIL`` trial that a heartbeat watcher failed (its worker died): it has no recorded ``reason``
  and its retries are not used up (:data:`MAX_RETRY`), or a retry of it exists.
- **counted**: finished, and not interrupted, not withdrawn, not lost; one per architecture (lineage): a trial
  paused by successive halving and the promotions that resume it count once.
- **claims** (slots held): running or queued (unless it is a promotion of a counted architecture), counted, or
  lost and waiting for its retry to be queued.
- **slot order** (:func:`slot_key`): the trial number, or for a retry the number of the trial it replaces.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from nascomp.search.trials import record as attrs
from nascomp.search.trials.record import TrialRecord, retry_history

__all__ = ["StudySnapshot", "MAX_RETRY", "slot_key", "lost_numbers", "lost_reason", "counted", "rival_for_point",
           "blocking_twins", "jsonable_point", "rival_promotion"]

#: A point whose worker dies this many times in a row is recorded as failed instead of retried again.
MAX_RETRY = 2

_LIVE = (TrialState.RUNNING, TrialState.WAITING)


def slot_key(trial: FrozenTrial) -> int:
    """The slot order of a trial: its number, or for a retry the number of the trial it replaces."""
    history = retry_history(trial)
    return history[0] if history else trial.number


@dataclass(frozen=True)
class StudySnapshot:
    """The trials of a study at one moment, with the slot bookkeeping worked out once.

    Attributes:
        trials: Every trial, in number order.
        lost: Numbers of the trials lost with a dead worker (retried, or to be retried).
        queued_retries: Numbers of lost trials whose retry is running or queued.
        finished_retries: Numbers of trials whose retry has finished.
        counted: The trials that count toward the study's total.

    Example:
        >>> from optuna.trial import create_trial
        >>> done = create_trial(value=0.9)
        >>> snap = StudySnapshot.of([done])
        >>> len(snap.counted), snap.lost
        (1, frozenset())
    """

    trials: tuple[FrozenTrial, ...]
    lost: frozenset[int]
    queued_retries: frozenset[int]
    finished_retries: frozenset[int]
    counted: tuple[FrozenTrial, ...]

    @classmethod
    def of(cls, trials: Sequence[FrozenTrial]) -> "StudySnapshot":
        """Work out the bookkeeping of ``trials`` (as returned by ``study.get_trials(deepcopy=False)``)."""
        trials = tuple(trials)
        retried: set[int] = set()
        queued: set[int] = set()
        finished: set[int] = set()
        for t in trials:
            history = retry_history(t)
            retried.update(history)
            if t.state in _LIVE:
                queued.update(history)
            elif t.state.is_finished():
                finished.update(history)
        lost = frozenset(
            t.number for t in trials
            if t.state == TrialState.FAIL and (
                t.number in retried
                or (not TrialRecord.of(t).has_reason and len(retry_history(t)) < MAX_RETRY)
            )
        )
        counted_trials = _first_per_lineage(t for t in trials if _counts(t, lost))
        return cls(trials, lost, frozenset(queued), frozenset(finished), counted_trials)

    @property
    def running(self) -> tuple[FrozenTrial, ...]:
        """Trials in state ``RUNNING``."""
        return tuple(t for t in self.trials if t.state == TrialState.RUNNING)

    @property
    def has_queued(self) -> bool:
        """A trial waits in the queue (a retry, or a point put back after a clash)."""
        return any(t.state == TrialState.WAITING for t in self.trials)

    def trial(self, number: int) -> FrozenTrial | None:
        """The trial with ``number``, or ``None``."""
        return next((t for t in self.trials if t.number == number), None)

    def pending_retry(self) -> frozenset[int]:
        """Lost trials whose retry is neither queued nor finished (the watcher queues it a moment later)."""
        return self.lost - self.queued_retries - self.finished_retries

    def claims(self, forgotten: Collection[int] = frozenset()) -> tuple[FrozenTrial, ...]:
        """Trials holding a slot: running or queued, counted, or pending a retry (unless ``forgotten``: their
        watcher died before queueing the retry)."""
        counted_numbers = {t.number for t in self.counted}
        counted_lineages = {attrs.lineage(t) for t in self.counted}
        pending = self.pending_retry() - frozenset(forgotten)
        return tuple(t for t in self.trials
                     if (t.state in _LIVE and not _promotion_of(t, counted_lineages)) or t.number in counted_numbers
                     or t.number in pending)

    def claims_ahead(self, trial: FrozenTrial, forgotten: Collection[int] = frozenset()) -> int:
        """How many slots are held by trials ahead of ``trial`` in slot order."""
        key = slot_key(trial)
        return sum(1 for t in self.claims(forgotten) if t.number != trial.number and slot_key(t) < key)


def lost_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the trials lost with a dead worker (see :class:`StudySnapshot`)."""
    return set(StudySnapshot.of(trials).lost)


def counted(trials: Sequence[FrozenTrial], lost: set[int] | None = None) -> list[FrozenTrial]:
    """Trials that count toward the study's total: finished, and not stopped by a signal, not surplus, not lost.

    Args:
        trials: The study's trials.
        lost: Precomputed :func:`lost_numbers` (computed when ``None``).
    """
    if lost is None:
        return list(StudySnapshot.of(trials).counted)
    return list(_first_per_lineage(t for t in trials if _counts(t, lost)))


def _first_per_lineage(trials) -> tuple[FrozenTrial, ...]:
    """One trial per architecture: a paused trial and the promotions that resume it count once (the first)."""
    seen: set[int] = set()
    kept = []
    for t in trials:
        line = attrs.lineage(t)
        if line not in seen:
            seen.add(line)
            kept.append(t)
    return tuple(kept)


def _promotion_of(trial: FrozenTrial, lineages: Collection[int]) -> bool:
    """A promotion (it resumes a paused trial) of an architecture that counts already: it holds no new slot."""
    return trial.user_attrs.get(attrs.RESUMES) is not None and attrs.lineage(trial) in lineages


def _counts(trial: FrozenTrial, lost: Collection[int]) -> bool:
    """The counting rule: finished, and not lost, not stopped from outside, not withdrawn as surplus."""
    record = TrialRecord.of(trial)
    return trial.state.is_finished() and trial.number not in lost and not record.interrupted and not record.withdrawn


def lost_reason(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> str:
    """Why a trial that failed with its worker (no reason of its own) failed, for ``trials.csv``; ``""`` for any
    other trial."""
    if trial.state != TrialState.FAIL or TrialRecord.of(trial).has_reason:
        return ""
    retry = next((t.number for t in trials if t.system_attrs.get("failed_trial") == trial.number), None)
    if retry is not None:
        return f"lost: the worker stopped without finishing (killed?); retried as trial {retry}"
    if len(retry_history(trial)) >= MAX_RETRY:
        return (f"lost: the worker stopped without finishing (killed?), {MAX_RETRY + 1} times on this point; "
                f"not retried again")
    return "lost: the worker stopped without finishing (killed?); retry pending"


def jsonable_point(values: list) -> list:
    """A point as it reads back from any storage's JSON user attributes (floats stay floats, ints ints)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def _point_of(trial: FrozenTrial, dimensions: Sequence[str]) -> tuple | None:
    if not all(d in trial.params for d in dimensions):
        return None
    return tuple(trial.params[d] for d in dimensions)


def _published(trial: FrozenTrial, dimensions: Sequence[str]) -> list | None:
    """The point a trial published (before its parameters exist), or its parameters."""
    if trial.user_attrs.get(attrs.POINT) is not None:
        return trial.user_attrs[attrs.POINT]
    point = _point_of(trial, dimensions)
    return None if point is None else jsonable_point(list(point))


def rival_for_point(snapshot: StudySnapshot, me: FrozenTrial, point: list, dimensions: Sequence[str], *,
                    confirmed_only: bool) -> FrozenTrial | None:
    """A running trial that holds ``point`` before ``me``: earlier in slot order or already confirmed (first look),
    or earlier and confirmed (``confirmed_only``, the look after ``me`` confirmed)."""
    key = slot_key(me)
    for t in snapshot.running:
        if t.number == me.number or _published(t, dimensions) != point:
            continue
        earlier, confirmed = slot_key(t) < key, bool(t.user_attrs.get(attrs.POINT_CONFIRMED))
        if (earlier and confirmed) if confirmed_only else (earlier or confirmed):
            return t
    return None


def blocking_twins(snapshot: StudySnapshot, me: FrozenTrial, dimensions: Sequence[str], *,
                   training_only: bool = False) -> list[FrozenTrial]:
    """Other running trials with ``me``'s point that train it already or come before ``me`` in slot order
    (``training_only``: that train it and come before)."""
    point, key = _point_of(me, dimensions), slot_key(me)
    twins = [t for t in snapshot.running if t.number != me.number and _point_of(t, dimensions) == point]
    if training_only:
        return [t for t in twins if t.user_attrs.get(attrs.TRAINING) and slot_key(t) < key]
    return [t for t in twins if t.user_attrs.get(attrs.TRAINING) or slot_key(t) < key]


def rival_promotion(snapshot: StudySnapshot, me: FrozenTrial) -> FrozenTrial | None:
    """An earlier trial that resumes the same paused trial as ``me`` (two workers promoted it at the same moment)
    and is queued, running or finished; failed ones (killed: their retry is ``me`` or another) do not count."""
    resumes = me.user_attrs.get(attrs.RESUMES)
    if resumes is None:
        return None
    return next((t for t in snapshot.trials
                 if t.number < me.number and t.user_attrs.get(attrs.RESUMES) == resumes
                 and t.state != TrialState.FAIL), None)
