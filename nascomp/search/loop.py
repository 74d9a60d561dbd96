"""The trial loop of a search: claim a slot, draw a point, gate it on cost, reuse or train it, record the trial.

One trial, in order (:meth:`SearchLoop.one_trial`):

1. **draw** -- the budget sampler proposes a point (over-budget and evaluated draws are thrown away inside the
   sampler); what that cost is returned by :meth:`~nascomp.search.sampler.BudgetSampler.draw_stats` and recorded;
2. **gate** -- the point's analytic cost is recorded, and a point over budget is failed, never trained; with
   latency or memory budgets (:mod:`nascomp.search.hardware_gate`) their predictions are checked too, and the
   latency is measured once: a point measured over the budget is failed with both figures, never trained;
3. **settle** -- a twin running in another worker is waited for, and a point the study has a result for is reused
   (``duplicate_of``), never trained twice;
4. **train** -- the injected :class:`Training` builds and fits the point; each epoch's accuracy is reported to the
   pruner, which is never consulted at the last epoch.

Everything the loop needs is passed in explicitly (study, sampler, cost, training, coordinator, reporter, stop
flag, deadline), so tests drive it with a stand-in training and no data.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from nascomp._disk import is_disk_full
from nascomp._stop import StopFlag
from nascomp.cost.profile import Profile
from nascomp.errors import SpecError
from nascomp.search import trials as attrs
from nascomp.search.hardware_gate import HardwareGate
from nascomp.search.outputs import best_trial
from nascomp.search.report import Reporter
from nascomp.search.sampler import BudgetSampler, evaluated_points
from nascomp.search.space import SearchSpace, point_key
from nascomp.search.workers import Coordinator, counted
from nascomp.train import FitResult, TrainingDiverged, TrainingInterrupted

__all__ = ["Deadline", "Training", "LoopStats", "SearchLoop"]


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
        epoch_steps: Optimizer steps of each epoch (:meth:`nascomp.train.TrainConfig.epoch_steps`); with them a
            trial the pruner lets go on to the next epoch is pruned there when the rest of its schedule would
            likely end after the deadline. ``None``: only the step-by-step deadline check.
        val_images: Validation images of each epoch (:meth:`nascomp.train.TrainConfig.val_images`), recorded on
            the trial with each accuracy (``None``: the study's split size throughout).
        rung_time_shares: Successive halving's rules under a time limit. Each epoch (rung) after the first gets an
            equal share of the limit (``timeout / epochs`` seconds of this run's training), as synchronous
            successive halving spends an equal budget per rung (Jamieson & Talwalkar, arXiv:1502.07943; Li et al.,
            "Hyperband", arXiv:1603.06560). Optuna's asynchronous pruner cannot pause a trial, so while a rung
            holds fewer than ``reduction_factor`` results it promotes every best-so-far trial, where ASHA
            (arXiv:1810.05934) would promote none yet. With the rules, a trial the pruner lets go on is pruned
            instead (its result kept) when (1) the next epoch is the final one and the rung it leaves holds fewer
            than ``reduction_factor`` results (ASHA's condition, for the rung that costs most), or (2) it was
            promoted without such evidence, or goes to the final epoch, and its own pace says it would overrun
            that epoch's share. Other promotions are the pruner's alone.
        reduction_factor: Successive halving's eta (results a rung needs before its promotions are evidence).
    """

    build: Callable[[dict[str, Any]], torch.nn.Module]
    fit: Callable[..., FitResult]
    epochs: int
    steps_per_epoch: int
    device: torch.device = torch.device("cpu")
    step_of: Callable[[int], int] | None = None
    epoch_steps: tuple[int, ...] | None = None
    val_images: tuple[int, ...] | None = None
    rung_time_shares: bool = False
    reduction_factor: int = 3


@dataclass
class LoopStats:
    """What one run of the loop did.

    Attributes:
        trained: Trials it trained (complete or pruned).
        screened: Points it costed for its trials (draws), and ``screened_fit`` of them fit the budget.
        epoch_seconds: Seconds this run's trials spent training and validating each epoch (0-based), summed.
        durations: Seconds each trained trial took: the start rule's estimate of the next trial.
        stopped_by_timeout: The deadline ended the run.
        interrupted: A signal ended the run.
    """

    trained: int = 0
    screened: int = 0
    screened_fit: int = 0
    durations: list[float] = field(default_factory=list)
    epoch_seconds: dict[int, float] = field(default_factory=dict)
    stopped_by_timeout: bool = False
    interrupted: bool = False


class SearchLoop:
    """Run trials until the study holds ``target`` counted trials, the deadline passes or a signal arrives.

    Args:
        study: The study (possibly shared with other workers).
        space: The search space.
        sampler: The study's budget sampler.
        cost: ``cost(point) -> Profile`` at the budget's input shape.
        budget: The hard limit, in MACs.
        target: Trials the study should hold in total.
        multi_objective: Accuracy and MACs (no pruning) instead of accuracy alone.
        training: How a point is built and trained.
        coordinator: This worker's side of the shared-study protocol.
        reporter: Progress and trial lines.
        stop: The run's stop flag.
        deadline: The run's time limit.
        after_trial: Called after every trial (writes the outputs so far).
        hardware: Latency and memory budgets (:class:`~nascomp.search.hardware_gate.HardwareGate`): checked in the
            gate after the MACs, the latency measured there once; with latency as the second objective, the
            measured latency is the trial's second value. ``None``: MACs only.
    """

    def __init__(self, *, study: optuna.Study, space: SearchSpace, sampler: BudgetSampler,
                 cost: Callable[[dict[str, Any]], Profile], budget: int, target: int, multi_objective: bool,
                 training: Training, coordinator: Coordinator, reporter: Reporter, stop: StopFlag,
                 deadline: Deadline, after_trial: Callable[[], Any] = lambda: None,
                 hardware: HardwareGate | None = None, second_objective: str = "macs"):
        self.study, self.space, self.sampler, self.cost, self.budget = study, space, sampler, cost, budget
        self.target, self.multi_objective, self.training = target, multi_objective, training
        self.workers, self.reporter, self.stop, self.deadline = coordinator, reporter, stop, deadline
        self.after_trial = after_trial
        self.hardware, self.second_objective = hardware, second_objective
        self._measured: dict[int, float] = {}  # trial number -> measured latency (the second objective)
        self.stats = LoopStats()
        self._bars: Any = None

    def _counted(self) -> int:
        return len(counted(self.study.get_trials(deepcopy=False)))

    def run(self) -> LoopStats:
        """Run the loop; returns what it did."""
        done = self._counted()
        if done:
            self.reporter.note(f"resuming study '{self.study.study_name}': {done} of {self.target} trials already "
                               f"recorded")
        with self.reporter.progress(total=self.target, completed=min(done, self.target), epochs=self.training.epochs,
                                    steps=self.training.steps_per_epoch) as bars:
            self._bars = bars
            bars.best(best_trial(self.study))
            while done < self.target and not self.stop.set:
                expected = statistics.median(self.stats.durations) if self.stats.durations else 0.0
                if not self.deadline.leaves_room(expected):
                    self.stats.stopped_by_timeout = True
                    self.reporter.note(
                        f"time limit: {self.deadline.elapsed():.0f} s spent, the next trial would likely end after "
                        f"the {self.deadline.timeout:.0f} s timeout; stopping with {done} of {self.target} trials")
                    break
                trial = self.workers.claim(self.target, lambda: self.stop.set or self.deadline.passed())
                if trial is None:
                    if not self.stop.set and self._counted() < self.target:
                        self.stats.stopped_by_timeout = True
                        self.reporter.note(f"time limit: {self.deadline.timeout:.0f} s spent waiting for other "
                                           f"workers; stopping")
                    break
                try:
                    with self.workers.heartbeat(trial):
                        self.one_trial(trial)
                except optuna.exceptions.UpdateFinishedTrialError:
                    self.reporter.note(f"trial {trial.number} was failed by another worker (no heartbeat seen for "
                                       f"{self.workers.grace:.0f} s); its retry runs the point again")
                done = self._counted()
                bars.trial_done(done, best_trial(self.study))
                self.after_trial()
                if self.stats.stopped_by_timeout:  # a trial was stopped by the time limit
                    self.reporter.note(f"time limit: the {self.deadline.timeout:.0f} s timeout passed during trial "
                                       f"{trial.number}, stopped and not counted; stopping with {done} of "
                                       f"{self.target} trials")
                    break
        self.stats.interrupted = self.stop.set
        self.workers.fail_stale()  # before leaving: a dead worker's trial seen standing still long enough is retried
        return self.stats

    # -- one trial --------------------------------------------------------------------------------------------------
    def one_trial(self, trial: optuna.Trial) -> None:
        """Draw, gate, settle and train one trial (see the module docstring)."""
        point = self._draw(trial)
        if point is None:
            return
        prof = self._gate(trial, point)
        if prof is None:
            return
        duplicate = self._settle(trial, point)
        if duplicate is not None:
            self._reuse(trial, duplicate)
            return
        self._train(trial, point, prof)

    def _draw(self, trial: optuna.Trial) -> dict[str, Any] | None:
        try:
            point = self.space.suggest(trial)
        except Exception as exc:  # noqa: BLE001 - recorded on the trial, the study goes on
            self._fail(trial, f"sampling failed: {type(exc).__name__}: {exc}")
            return None
        stats = self.sampler.draw_stats(trial.number)
        self.stats.screened += max(1, stats.draws)
        attrs.record_draws(trial, draws=stats.draws, over_budget=stats.over_budget, duplicates=stats.duplicates,
                           invalid=stats.invalid, repaired=stats.repaired)
        return point

    def _gate(self, trial: optuna.Trial, point: dict[str, Any]) -> Profile | None:
        try:
            prof = self.cost(point)
        except SpecError as exc:
            self._fail(trial, f"invalid architecture: {exc}")
            return None
        attrs.record_cost(trial, macs=prof.macs, params=prof.params)
        if prof.macs > self.budget:  # the hard gate: never train over budget
            self._fail(trial, f"over budget: {prof.macs:,} MACs > {self.budget:,} (not trained)")
            return None
        if self.hardware is not None:  # latency and memory: predicted, then the latency measured once
            try:
                verdict = self.hardware.check(point)
            except SpecError as exc:
                self._fail(trial, f"invalid architecture: {exc}")
                return None
            self.hardware.record(trial, verdict)
            if verdict.reason is not None:
                self._fail(trial, verdict.reason)
                return None
            if verdict.measured_ms is not None:
                self._measured[trial.number] = verdict.measured_ms
        self.stats.screened_fit += 1
        return prof

    def _settle(self, trial: optuna.Trial, point: dict[str, Any]) -> FrozenTrial | None:
        """Wait for a twin in another worker, then return the trial whose result this point reuses, if any."""
        self.workers.await_twins(trial, list(self.space.dimensions), lambda: self.stop.set)
        others = [t for t in self.study.get_trials(deepcopy=False) if t.number != trial.number]
        return evaluated_points(others).get(point_key(point))

    def _train(self, trial: optuna.Trial, point: dict[str, Any], prof: Profile) -> None:
        started = time.perf_counter()
        self._bars.start_trial(trial.number, prof.macs)
        last_epoch = self.training.epochs - 1
        # where training is (1-based epoch, steps done in it) for the time limit, and since when in this epoch
        at: dict[str, Any] = {"epoch": 1, "step": 0, "since": started, "last_step": started}
        pace = _Pace(started)

        def on_step(step: int, steps: int) -> None:
            now = time.perf_counter()
            if step > 1:  # steady-state step time: the first step of an epoch carries its set-up
                pace.step_seconds += now - at["last_step"]
                pace.timed_steps += 1
            at["step"], at["last_step"] = step, now
            self._bars.step(step, steps)

        def on_epoch(epoch: int, accuracy: float) -> None:
            now = time.perf_counter()
            self.stats.epoch_seconds[epoch] = self.stats.epoch_seconds.get(epoch, 0.0) + now - at["since"]
            at["since"] = now
            at["epoch"], at["step"] = epoch + 2, 0
            self._bars.epoch_done(epoch, accuracy)
            if self.training.val_images is not None:
                trial.set_user_attr(attrs.VAL_IMAGES, int(self.training.val_images[epoch]))
            if not self.multi_objective:
                trial.report(accuracy, epoch if self.training.step_of is None else self.training.step_of(epoch))
                # Never at the last epoch: a fully trained candidate is complete, whatever the median says.
                if epoch < last_epoch and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at accuracy {accuracy:.4f}")
            if epoch < last_epoch:
                self._check_rung_share(epoch, pace)
                self._check_room(epoch, pace)

        try:
            model = self.training.build(point)
            # The deadline is polled after every step, like the stop flag: a trial still training at the limit stops.
            result = self.training.fit(model, on_epoch=on_epoch, on_step=on_step,
                                       should_stop=lambda: self.stop.set or self.deadline.passed())
        except optuna.TrialPruned as exc:
            attrs.record_failure_reason(trial, str(exc))
            self.study.tell(trial, state=TrialState.PRUNED)
            self._finished(trial, "pruned", started)
            return
        except TrainingInterrupted as exc:
            if self.stop.set:
                attrs.record_interrupted(trial, f"{self.stop.reason or 'interrupted'}, {exc}")
            else:  # the deadline: not counted, so a resume trains a trial in its place
                self.stats.stopped_by_timeout = True
                attrs.record_interrupted(trial, f"time limit: stopped at epoch {at['epoch']}, step {at['step']} "
                                                f"after {time.perf_counter() - started:.1f} s")
            self._tell_failed(trial)
            return
        except (TrainingDiverged, torch.OutOfMemoryError) as exc:
            self._fail(trial, f"{type(exc).__name__}: {exc}")
            self._free()
            return
        except Exception as exc:  # noqa: BLE001 - any trial error is recorded and the study goes on
            if is_disk_full(exc, None):  # not the trial's fault: every next trial would fail the same way
                raise
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self._fail(trial, f"{type(exc).__name__}: {detail}")
            self._free()
            return
        if result.losses:
            trial.set_user_attr(attrs.VAL_LOSS, float(result.losses[-1]))
        second = self._measured.get(trial.number) if self.second_objective == "latency" else float(prof.macs)
        self.study.tell(trial, [result.accuracy, second] if self.multi_objective else result.accuracy)
        self._finished(trial, "complete", started)

    def _expected_seconds(self, epoch: int, pace: "_Pace", epochs_ahead: int) -> tuple[int, float]:
        """Steps and likely seconds of the ``epochs_ahead`` epochs after ``epoch`` (0-based), at the running
        trial's own pace: its steady-state seconds per step, plus its per-epoch overhead so far (building, each
        epoch's first step, batch-norm recalibration, validation)."""
        steps = self.training.epoch_steps or ()
        done, ahead = sum(steps[:epoch + 1]), sum(steps[epoch + 1:epoch + 1 + epochs_ahead])
        elapsed = time.perf_counter() - pace.started
        per_step = pace.step_seconds / pace.timed_steps if pace.timed_steps else elapsed / max(1, done)
        overhead = max(0.0, elapsed - per_step * done) / (epoch + 1)
        return ahead, per_step * ahead + overhead * epochs_ahead

    def _check_rung_share(self, epoch: int, pace: "_Pace") -> None:
        """Prune the trial before epoch ``epoch + 1`` (0-based), its result kept, when successive halving's time
        rules say no (see :attr:`Training.rung_time_shares`): the next epoch is the final rung and epoch ``epoch``
        holds fewer than eta results to rank it among; or the promotion was made without such evidence, or goes
        to the final rung, and would overrun the next rung's share of the time limit."""
        if not self.training.rung_time_shares or self.training.epoch_steps is None or self.deadline.timeout is None:
            return
        step = epoch if self.training.step_of is None else self.training.step_of(epoch)
        results = sum(step in t.intermediate_values for t in self.study.get_trials(deepcopy=False))
        eta = self.training.reduction_factor
        final = epoch + 1 == self.training.epochs - 1
        if final and results < eta:
            raise optuna.TrialPruned(
                f"pruned after epoch {epoch + 1}: the final epoch admits only a trial ranked among at least {eta} "
                f"results of epoch {epoch + 1}, which holds {results}")
        if results >= eta and not final:  # the pruner ranked it among enough others: its call
            return
        share = self.deadline.timeout / self.training.epochs
        spent = self.stats.epoch_seconds.get(epoch + 1, 0.0)
        _, expected = self._expected_seconds(epoch, pace, 1)
        if spent + expected > share:
            why = "the final one" if final else (f"and epoch {epoch + 1} holds {results} result(s), fewer than {eta} "
                                                 f"to rank it among")
            raise optuna.TrialPruned(
                f"pruned after epoch {epoch + 1}: epoch {epoch + 2} would likely take {expected:.0f} s, and this run "
                f"has spent {spent:.0f} s of its {share:.0f} s share of the time limit on that rung, {why}")

    def _check_room(self, epoch: int, pace: "_Pace") -> None:
        """Prune the trial after epoch ``epoch`` (0-based), its result kept, when the epochs after it would likely
        end after the deadline: stopping now rather than at the limit leaves the time the rest would have lost
        to cheaper first-rung trials, which the start rule admits while they fit. Not in two-objective studies
        (nothing is reported before a trial's end there, so a pruned trial would hold no result): their trials are
        stopped by the step-by-step deadline check, not counted."""
        if self.training.epoch_steps is None or self.deadline.timeout is None or self.multi_objective:
            return
        rest, expected = self._expected_seconds(epoch, pace, self.training.epochs - epoch - 1)
        if not self.deadline.leaves_room(expected):
            left = max(0.0, self.deadline.timeout - self.deadline.elapsed())
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}: the {rest} steps still to train would likely "
                                     f"take {expected:.0f} s with {left:.0f} s left before the time limit")

    def _free(self) -> None:
        if self.training.device.type == "cuda":
            torch.cuda.empty_cache()

    def _reuse(self, trial: optuna.Trial, duplicate: FrozenTrial) -> None:
        attrs.record_duplicate(trial, duplicate.number)
        if duplicate.state == TrialState.COMPLETE:
            if not self.multi_objective:
                for step, value in sorted(duplicate.intermediate_values.items()):
                    trial.report(value, step)
            self.study.tell(trial, list(duplicate.values) if len(duplicate.values) > 1 else duplicate.values[0])
        elif duplicate.state == TrialState.PRUNED:
            attrs.record_failure_reason(trial, f"same point as trial {duplicate.number} (pruned); not retrained")
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            reason = duplicate.user_attrs.get(attrs.REASON, "failed")
            self._fail(trial, f"same point as failed trial {duplicate.number} ({reason}); not retrained")
            return
        self.reporter.trial_line(self.study, trial.number, "reused")

    def _fail(self, trial: optuna.Trial, reason: str) -> None:
        attrs.record_failure_reason(trial, reason)
        self._tell_failed(trial)

    def _tell_failed(self, trial: optuna.Trial) -> None:
        self.study.tell(trial, state=TrialState.FAIL)
        self.reporter.trial_line(self.study, trial.number, "failed")

    def _finished(self, trial: optuna.Trial, outcome: str, started: float) -> None:
        self.stats.durations.append(time.perf_counter() - started)
        self.stats.trained += 1
        self.reporter.trial_line(self.study, trial.number, outcome)


@dataclass
class _Pace:
    """The running trial's timing: when it started, and its steady-state steps (each epoch's first step left out)."""

    started: float
    step_seconds: float = 0.0
    timed_steps: int = 0
