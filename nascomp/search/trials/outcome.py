"""How a search ended, decided from one snapshot of the study: a study whose every counted trial failed has no
result at all, and the command must not report success.

Exit codes of ``nascomp search`` (docs/search.md): 0 done (including a run the time limit ended, with or without a
complete trial: rerunning resumes); 2 bad input, nothing written; 3 every counted trial of the study failed
(:data:`EXIT_ALL_FAILED`; the outputs are written, ``trials.csv`` holds each reason); 130 / 143 after Ctrl-C /
SIGTERM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from nascomp.search.workers.slots import counted
from nascomp.search.trials.record import TrialRecord

__all__ = ["EXIT_ALL_FAILED", "all_failed"]

#: ``nascomp search``'s exit code when every counted trial of the study failed (none complete, none pruned).
EXIT_ALL_FAILED = 3


def all_failed(trials: Sequence[FrozenTrial]) -> str | None:
    """The reason a study has no result, or ``None`` when it has one (or nothing was tried).

    A study has no result when it counts at least one trial and every counted trial failed: none is complete
    and none was pruned (a pruned trial still ranked its point). Trials stopped by a signal or the time limit are
    not counted (:func:`~nascomp.search.workers.slots.counted`), so a run that the time limit ended before any trial
    finished is not a failure.

    Args:
        trials: The study's trials.

    Returns:
        One line: how many failed and why (the shared reason, or the most common one with its count).

    Example:
        >>> all_failed([]) is None
        True
    """
    done = counted(trials)
    if not done or any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done):
        return None
    reasons = Counter(TrialRecord.of(t).reason or "no reason recorded" for t in done)
    reason, count = reasons.most_common(1)[0]
    noun = "trial" if len(done) == 1 else "trials"
    if count == len(done):
        return f"{'the only' if len(done) == 1 else f'all {len(done)}'} {noun} of the study failed: {reason}"
    return (f"all {len(done)} {noun} of the study failed, for {len(reasons)} different reasons; the most common "
            f"({count} of {len(done)}): {reason}")
