"""From a study's trials to the scheduler's candidates: one per architecture (lineage), a pure function.

Under successive halving with pauses an architecture may be trained by several Optuna trials in turn: the first
trial trains rung 0 and is paused (``PRUNED`` with ``paused_at_rung`` and its saved state), a promotion is a new
trial with the same point that resumes the state (``resumes``, ``lineage``), and so on to the last rung. A worker
killed meanwhile leaves a ``FAIL`` trial that Optuna's retry callback re-queues with the same attributes.
:func:`candidates_of` folds these into :class:`~nascomp.search.trials.schedule.Candidate` values: the accuracies of every
rung the lineage finished, and its status, read from its latest trial.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from optuna.trial import FrozenTrial, TrialState

from nascomp.search.trials import record as attrs
from nascomp.search.trials.schedule import Candidate, Status

__all__ = ["candidates_of", "latest_trials", "stopped_lineages"]


def stopped_lineages(study_user_attrs: dict) -> dict[int, str]:
    """Lineages finally pruned at the end of a search (study attribute ``nascomp_stopped_<n>``), with why."""
    prefix = attrs.STUDY_STOPPED_PREFIX
    return {int(k[len(prefix):]): str(v) for k, v in study_user_attrs.items() if k.startswith(prefix)}


def _architecture_trial(t: FrozenTrial) -> bool:
    """A trial that trains (or trained) a point of its own: not withdrawn unused, not a reuse of another's result."""
    record = attrs.TrialRecord.of(t)
    return not record.withdrawn and record.duplicate_of is None


def latest_trials(trials: Sequence[FrozenTrial]) -> dict[int, FrozenTrial]:
    """The latest (highest-numbered) architecture trial of each lineage."""
    latest: dict[int, FrozenTrial] = {}
    for t in trials:
        if _architecture_trial(t):
            line = attrs.lineage(t)
            if line not in latest or t.number > latest[line].number:
                latest[line] = t
    return latest


def candidates_of(trials: Sequence[FrozenTrial], *, stopped: Collection[int] = (),
                  lost: Collection[int] = ()) -> list[Candidate]:
    """The scheduler's view of a study.

    Args:
        trials: Every trial, in number order (``study.get_trials(deepcopy=False)``).
        stopped: Lineages finally pruned (:func:`stopped_lineages`).
        lost: Numbers of trials lost with a dead worker whose retry is pending or queued
            (:attr:`nascomp.search.workers.slots.StudySnapshot.lost`): the lineage is still running.

    Returns:
        One candidate per lineage, in lineage order. ``values`` merges the rung accuracies of all the lineage's
        trials (keyed by the reported step, in step order); status: ``RUNNING`` for a running or queued trial or a
        lost one awaiting its retry, ``COMPLETE``, ``PAUSED`` for a paused trial not finally pruned (``mid_rung``
        when a signal stopped it inside a rung), else ``STOPPED``.
    """
    values: dict[int, dict[int, float]] = {}
    for t in trials:
        if _architecture_trial(t):
            values.setdefault(attrs.lineage(t), {}).update(t.intermediate_values)
    out = []
    for line, t in sorted(latest_trials(trials).items()):
        steps = values.get(line, {})
        rung_values = tuple(float(steps[k]) for k in sorted(steps))
        paused_at = t.user_attrs.get(attrs.PAUSED_AT)
        mid_rung = False
        if t.state in (TrialState.RUNNING, TrialState.WAITING) or t.number in lost:
            status = Status.RUNNING
        elif t.state == TrialState.COMPLETE:
            status = Status.COMPLETE
        elif t.state == TrialState.PRUNED and paused_at is not None and line not in stopped:
            status = Status.PAUSED
            mid_rung = bool(t.user_attrs.get(attrs.INTERRUPTED))
            rung_values = rung_values[: int(paused_at) + 1]
        else:
            status = Status.STOPPED
        out.append(Candidate(line, rung_values, status, mid_rung=mid_rung))
    return out
