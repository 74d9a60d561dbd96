"""The scheduler's clock: expected seconds of each rung and of one more new candidate, from this run's measurements.

A pure function of what the trial loop measured (:class:`~nascomp.search.trials.loop_inputs.LoopStats`), so
that the estimate is tested with hand-made numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from nascomp.search.trials.schedule import Clock

__all__ = ["clock_of"]


def clock_of(*, seconds_left: float | None, epochs: int, epoch_steps: Sequence[int] | None,
             rung_seconds: Mapping[int, Sequence[float]], step_seconds: float = 0.0, timed_steps: int = 0,
             new_trial_seconds: Sequence[float] = ()) -> Clock:
    """The clock the scheduler decides with.

    Args:
        seconds_left: Seconds before the time limit (``None``: no limit).
        epochs: Rungs of the schedule.
        epoch_steps: Optimizer steps of each rung (``None``: unknown).
        rung_seconds: Seconds each rung took, each time this run trained it.
        step_seconds, timed_steps: Summed seconds of this run's steady-state steps, and how many.
        new_trial_seconds: Wall seconds of each new trial this run ran, overheads included.

    Returns:
        A :class:`~nascomp.search.trials.schedule.Clock`: a rung's median time where measured; a rung not trained yet costs
        rung 0's fixed part (its median less its steps at the mean step time: building, set-up, validation) plus
        its own steps at the mean step time (rung 0's median scaled by steps when no step was timed). No rung
        times before rung 0 was measured.

    Example:
        >>> c = clock_of(seconds_left=100.0, epochs=3, epoch_steps=(8, 24, 72), rung_seconds={0: [5.0, 3.0]},
        ...              step_seconds=2.0, timed_steps=20)
        >>> c.rung_seconds  # fixed 4 - 8 x 0.1 = 3.2 s, then 3.2 + 2.4 and 3.2 + 7.2
        (4.0, 5.6000000000000005, 10.4)
    """
    new = statistics.median(new_trial_seconds) if new_trial_seconds else None
    first = rung_seconds.get(0)
    if not first:
        return Clock(seconds_left=seconds_left, new_seconds=new)
    rung0 = statistics.median(first)
    per_step = step_seconds / timed_steps if timed_steps else None
    rungs = []
    for k in range(epochs):
        seen = rung_seconds.get(k)
        if seen:
            rungs.append(statistics.median(seen))
        elif epoch_steps and per_step is not None:
            rungs.append(max(0.0, rung0 - per_step * epoch_steps[0]) + per_step * epoch_steps[k])
        else:
            rungs.append(rung0 * (epoch_steps[k] / epoch_steps[0] if epoch_steps else 1.0))
    return Clock(seconds_left=seconds_left, rung_seconds=tuple(rungs), new_seconds=new)
