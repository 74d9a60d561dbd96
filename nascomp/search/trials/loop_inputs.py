"""What the trial loop is given and what it hands back: its time limit, how it trains a point, what it did.

Everything :class:`~nascomp.search.trials.trial_loop.SearchLoop` needs is passed in explicitly; these are the
three values specific to it. Tests build a :class:`Training` from stand-ins (a tiny ``build``, a ``fit`` that
reports made-up accuracies), so the loop runs with no data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from nascomp.search.trials.saved_states import SavedStates
from nascomp.search.trials.schedule import Ladder
from nascomp.train import FitResult

__all__ = ["Deadline", "Training", "LoopStats"]


@dataclass(frozen=True)
class Deadline:
    """The one time-limit rule of a search run: ``timeout`` seconds from ``started`` cover the whole run (data,
    census and trials); no trial starts that would likely end after it, a trial still training when it passes is
    stopped after the current step (interrupted, not counted), and waiting for other workers stops there.

    Attributes:
        started: ``time.perf_counter()`` at the start of the run.
        timeout: Seconds, or ``None`` for no limit.

    Example:
        >>> deadline = Deadline(started=time.perf_counter(), timeout=60.0)
        >>> deadline.passed(), deadline.leaves_room(expected_seconds=30.0)
        (False, True)
    """

    started: float
    timeout: float | None

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.started

    def passed(self) -> bool:
        """The limit has passed."""
        return self.timeout is not None and self.elapsed() > self.timeout

    def leaves_room(self, expected_seconds: float) -> bool:
        """A trial expected to take ``expected_seconds`` would end within the limit."""
        return self.timeout is None or self.elapsed() + expected_seconds <= self.timeout


@dataclass(frozen=True)
class Training:
    """How a point is trained, injected into the loop.

    Attributes:
        build: ``build(point) -> nn.Module``, a freshly initialised classifier at the proxy resolution.
        fit: ``fit(model, on_epoch=, on_step=, should_stop=) -> FitResult`` (see :func:`nascomp.train.fit`):
            ``on_epoch(epoch, accuracy)`` after every epoch (0-based), ``on_step(step, steps)`` after every step,
            :class:`~nascomp.train.TrainingInterrupted` when ``should_stop()`` turns true.
        epochs: Epochs of the schedule (the pruner is consulted before the last one only).
        steps_per_epoch: For the progress bars.
        device: Where it trains (CUDA memory is freed after a failure).
        step_of: The step an epoch's accuracy is reported to the pruner at (0-based epoch -> step); ``None``: the
            epoch itself. Multi-fidelity schedules report the epoch's training resource (1, 3, 9 for data shares
            1/9, 1/3, 1), the rungs Optuna's SuccessiveHalvingPruner promotes at.
        epoch_steps: Optimizer steps of each epoch (:meth:`nascomp.train.TrainConfig.epoch_steps`): the rung
            times of the scheduler's clock, and the check that a saved state belongs to this schedule.
        val_images: Validation images of each epoch (:meth:`nascomp.train.TrainConfig.val_images`), recorded on
            the trial with each accuracy (``None``: the study's split size throughout).
        ladder: Successive halving with pauses (ASHA, :mod:`nascomp.search.trials.schedule`): the rungs are the epochs,
            a trial that lacks the evidence to go on is paused with its state saved in ``states`` and promoted
            later; Ctrl-C, SIGTERM and the time limit pause the running trial too. ``None``: Optuna's pruner
            (if any) stops trials, and a stopped run's trial is failed (not counted).
        states: Where paused trials' training states go (needed with ``ladder``).
    """

    build: Callable[[dict[str, Any]], torch.nn.Module]
    fit: Callable[..., FitResult]
    epochs: int
    steps_per_epoch: int
    device: torch.device = torch.device("cpu")
    step_of: Callable[[int], int] | None = None
    epoch_steps: tuple[int, ...] | None = None
    val_images: tuple[int, ...] | None = None
    ladder: Ladder | None = None
    states: SavedStates | None = None


@dataclass
class LoopStats:
    """What one run of the loop did.

    Attributes:
        trained: Trials it trained (complete or pruned).
        screened: Points it costed for its trials (draws), and ``screened_fit`` of them fit the budget.
        epoch_seconds: Seconds this run's trials spent training and validating each epoch (0-based), summed.
        rung_seconds: Seconds each epoch (rung) took, every time this run trained one: the scheduler's clock.
        new_trial_seconds: Wall seconds of each loop iteration that ran a new trial (draw, settle, train or
            reuse, outputs): the clock's floor for the cost of one more new architecture.
        step_seconds: Seconds of this run's steady-state training steps (each epoch's first step left out), summed,
            and ``timed_steps`` of them: the clock's estimate of a rung not measured yet.
        paused, resumed, restarted: Trials this run paused, resumed from a saved state, and restarted from scratch
            because their saved state was missing or corrupt.
        durations: Seconds each trained trial took: the start rule's estimate of the next trial.
        stopped_by_timeout: The deadline ended the run.
        interrupted: A signal ended the run.
    """

    trained: int = 0
    screened: int = 0
    screened_fit: int = 0
    durations: list[float] = field(default_factory=list)
    epoch_seconds: dict[int, float] = field(default_factory=dict)
    rung_seconds: dict[int, list[float]] = field(default_factory=dict)
    step_seconds: float = 0.0
    timed_steps: int = 0
    new_trial_seconds: list[float] = field(default_factory=list)
    paused: int = 0
    resumed: int = 0
    restarted: int = 0
    stopped_by_timeout: bool = False
    interrupted: bool = False
