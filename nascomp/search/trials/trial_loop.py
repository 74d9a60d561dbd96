"""The trial loop of a search: claim a slot, draw a point, gate it on cost, reuse or train it, record the trial.

One trial, in order (:meth:`SearchLoop.one_trial`):

1. **draw** -- the budget sampler proposes a point (over-budget and evaluated draws are thrown away inside the
   sampler); what that cost is returned by :meth:`~nascomp.search.space.sampler.BudgetSampler.draw_stats` and
   recorded;
2. **gate** -- the point's analytic cost is recorded, and a point over budget is failed, never trained; with
   latency or memory budgets (:mod:`nascomp.search.space.hardware_gate`) their predictions are checked too, and the
   latency is measured once: a point measured over the budget is failed with both figures, never trained;
3. **settle** -- a twin running in another worker is waited for, and a point the study has a result for is reused
   (``duplicate_of``), never trained twice;
4. **train** -- the injected :class:`~nascomp.search.trials.loop_inputs.Training` builds and fits the point; each
   epoch's accuracy is reported to Optuna. With a ladder (successive halving with pauses, the default) the
   scheduler (:func:`nascomp.search.trials.schedule.at_rung`) decides after each rung to go on, complete or pause;
   a paused trial's training state goes to the artifact store and the trial ends ``PRUNED`` with
   ``paused_at_rung``. Otherwise Optuna's pruner (never consulted at the last epoch) may stop it.

Which trial runs next is the scheduler's call too, applied by the loop's base class
(:class:`~nascomp.search.trials.loop_claims.LoopClaims`): a queued trial (a promotion or a retry), a promotion
queued now (a trial with the paused trial's point and ``resumes``, which :meth:`SearchLoop.one_trial` resumes from
the saved state), a new trial, a wait for running ones, or the end. See docs/search.md, "Paused and resumed trials
(ASHA)".

Everything the loop needs is passed in explicitly (study, sampler, cost, training, coordinator, reporter, stop
flag, deadline: :mod:`nascomp.search.trials.loop_inputs`), so tests drive it with a stand-in training and no data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from nascomp._disk import is_disk_full
from nascomp._stop import StopFlag, Stopped
from nascomp.cost.profile import Profile
from nascomp.errors import SpecError
from nascomp.search.outputs.report import Reporter
from nascomp.search.outputs.study_files import best_trial
from nascomp.search.space.hardware_gate import HardwareGate
from nascomp.search.space.sampler import BudgetSampler, evaluated_points
from nascomp.search.space.search_space import SearchSpace, point_key
from nascomp.search.trials import record as attrs
from nascomp.search.trials.loop_claims import AGAIN, LoopClaims
from nascomp.search.trials.loop_inputs import Deadline, LoopStats, Training
from nascomp.search.trials.saved_states import StateError
from nascomp.search.trials.schedule import OVERRUN, Action
from nascomp.search.workers.coordinator import Coordinator
from nascomp.search.workers.slots import rival_promotion
from nascomp.train import TrainingDiverged, TrainingInterrupted
from nascomp.train.state import PauseTraining, TrainingPaused

__all__ = ["SearchLoop"]


class SearchLoop(LoopClaims):
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
        hardware: Latency and memory budgets (:class:`~nascomp.search.space.hardware_gate.HardwareGate`): checked in the
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

    def run(self) -> LoopStats:
        """Run the loop; returns what it did."""
        done = self._counted()
        if done:
            self.reporter.note(f"resuming study '{self.study.study_name}': {self._tally(done)} already recorded")
        with self.reporter.progress(total=self.target, completed=min(done, self.target), epochs=self.training.epochs,
                                    steps=self.training.steps_per_epoch) as bars:
            self._bars = bars
            bars.best(best_trial(self.study))
            while not self.stop.set:
                iteration_started = time.perf_counter()
                if self.training.ladder is None:
                    if done >= self.target:
                        break
                    trial = self._claim_for_pruner()
                else:
                    trial = self._claim_for_ladder()
                if trial is None:
                    break
                if trial is AGAIN:
                    continue
                timed_out = self.stats.stopped_by_timeout
                try:
                    with self.workers.heartbeat(trial):
                        self.one_trial(trial)
                except optuna.exceptions.UpdateFinishedTrialError:
                    self.reporter.note(f"trial {trial.number} was failed by another worker (no heartbeat seen for "
                                       f"{self.workers.grace:.0f} s); its retry runs the point again")
                done = self._counted()
                bars.trial_done(done, best_trial(self.study))
                self.after_trial()
                if trial.user_attrs.get(attrs.RESUMES) is None:  # a new architecture, all its overheads included
                    self.stats.new_trial_seconds.append(time.perf_counter() - iteration_started)
                if self.stats.stopped_by_timeout and not timed_out:  # this trial was stopped by the time limit
                    if self.training.ladder is not None:  # the scheduler says what comes next (schedule.past_limit)
                        self.reporter.note(f"time limit: the {self.deadline.timeout:.0f} s timeout passed during "
                                           f"trial {trial.number}, paused (its state saved)")
                        continue
                    self.reporter.note(f"time limit: the {self.deadline.timeout:.0f} s timeout passed during trial "
                                       f"{trial.number}, stopped and not counted; stopping with {self._tally(done)}")
                    break
        self.stats.interrupted = self.stop.set
        self.workers.fail_stale()  # before leaving: a dead worker's trial seen standing still long enough is retried
        if self.training.ladder is not None:
            self._stop_paused()
        return self.stats

    # -- one trial --------------------------------------------------------------------------------------------------
    def one_trial(self, trial: optuna.Trial) -> None:
        """Draw, gate, settle and train one trial (see the module docstring); a promotion resumes instead."""
        if trial.user_attrs.get(attrs.RESUMES) is not None:
            self._resume(trial)
            return
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
        except Stopped as exc:  # a latency prediction measuring new ops honoured a stop (as in Coordinator.claim)
            self.workers.withdraw(trial, f"{exc}; closed unused (nothing trained)")
            return None
        except Exception as exc:  # noqa: BLE001 - recorded on the trial, the study goes on
            self._fail(trial, f"sampling failed: {type(exc).__name__}: {exc}")
            return None
        stats = self.sampler.draw_stats(trial.number)
        self.stats.screened += max(1, stats.draws)
        attrs.record_draws(trial, draws=stats.draws, over_budget=stats.over_budget, duplicates=stats.duplicates,
                           invalid=stats.invalid, repaired=stats.repaired, walked=stats.walked)
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

    def _resume(self, trial: optuna.Trial) -> None:
        """Run a promotion: the paused trial's point, from its saved state (from scratch, with the reason recorded,
        when the state is missing or corrupt)."""
        snap = self.workers.snapshot()
        me = snap.trial(trial.number)
        rival = rival_promotion(snap, me)
        if rival is not None:
            self.workers.withdraw(trial, f"surplus: trial {rival.number} resumes trial "
                                         f"{trial.user_attrs[attrs.RESUMES]} already; closed unused")
            return
        paused = snap.trial(int(trial.user_attrs[attrs.RESUMES]))
        point = self.space.suggest(trial)  # the queued point (fixed parameters)
        prof = self.cost(point)
        attrs.record_cost(trial, macs=prof.macs, params=prof.params)
        artifact = paused.user_attrs.get(attrs.STATE_ARTIFACT) if paused is not None else None
        state = None
        try:
            if artifact is None or self.training.states is None:
                raise StateError(f"trial {trial.user_attrs[attrs.RESUMES]} has no saved state")
            state = self.training.states.read(artifact, epochs=self.training.epochs,
                                              total_steps=sum(self.training.epoch_steps or ()) or None)
        except StateError as exc:
            trial.set_user_attr(attrs.RESTARTED, f"{exc}; trained from scratch")
            self.reporter.note(f"trial {trial.number}: {exc}; training its point from scratch")
            self.stats.restarted += 1
        if state is not None:
            for step, value in sorted(paused.intermediate_values.items()):
                trial.report(value, step)
            self.stats.resumed += 1
        trial.set_user_attr(attrs.TRAINING, True)
        self._train(trial, point, prof, resume=state, resumed_artifact=artifact)

    def _train(self, trial: optuna.Trial, point: dict[str, Any], prof: Profile, *, resume: dict | None = None,
               resumed_artifact: str | None = None) -> None:
        started = time.perf_counter()
        self._bars.start_trial(trial.number, prof.macs)
        last_epoch = self.training.epochs - 1
        ladder = self.training.ladder
        # where training is (1-based epoch, steps done in it) for the time limit, and since when in this epoch
        at: dict[str, Any] = {"epoch": 1 + (resume["epoch"] if resume else 0), "step": 0, "since": started,
                              "last_step": started}

        def on_step(step: int, steps: int) -> None:
            now = time.perf_counter()
            if step > 1:  # steady-state step time: the first step of an epoch carries its set-up
                self.stats.step_seconds += now - at["last_step"]
                self.stats.timed_steps += 1
            at["step"], at["last_step"] = step, now
            self._bars.step(step, steps)

        def on_epoch(epoch: int, accuracy: float) -> None:
            now = time.perf_counter()
            self.stats.epoch_seconds[epoch] = self.stats.epoch_seconds.get(epoch, 0.0) + now - at["since"]
            self.stats.rung_seconds.setdefault(epoch, []).append(now - at["since"])
            at["since"] = now
            at["epoch"], at["step"] = epoch + 2, 0
            self._bars.epoch_done(epoch, accuracy)
            if self.training.val_images is not None:
                trial.set_user_attr(attrs.VAL_IMAGES, int(self.training.val_images[epoch]))
            if not self.multi_objective:
                trial.report(accuracy, epoch if self.training.step_of is None else self.training.step_of(epoch))
                if ladder is not None:
                    decision = self._at_rung(trial)
                    if decision.action is Action.PAUSE:
                        raise PauseTraining(f"paused after epoch {epoch + 1}: {decision.reason}")
                # Never at the last epoch: a fully trained candidate is complete, whatever the median says.
                elif epoch < last_epoch and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at accuracy {accuracy:.4f}")

        # A promotion that starts while no trial is complete may finish past the time limit (up to OVERRUN times
        # it): the search must end with a complete candidate (schedule.past_limit).
        finishing = ladder is not None and resume is not None and not self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE,))
        limit = (OVERRUN * self.deadline.timeout) if finishing and self.deadline.timeout is not None else None

        def out_of_time() -> bool:
            return self.deadline.elapsed() > limit if limit is not None else self.deadline.passed()

        try:
            model = self.training.build(point)
            # The deadline is polled after every step, like the stop flag: a trial still training at the limit stops.
            extra = {} if resume is None else {"resume": resume}
            result = self.training.fit(model, on_epoch=on_epoch, on_step=on_step,
                                       should_stop=lambda: self.stop.set or out_of_time(), **extra)
        except TrainingPaused as exc:
            self._pause(trial, exc.state, str(exc), resumed_artifact, interrupted=False)
            self._finished(trial, "paused", started)
            return
        except optuna.TrialPruned as exc:
            attrs.record_failure_reason(trial, str(exc))
            self.study.tell(trial, state=TrialState.PRUNED)
            self._finished(trial, "pruned", started)
            return
        except TrainingInterrupted as exc:
            if self.stop.set:
                reason = f"{self.stop.reason or 'interrupted'}, {exc}"
            else:  # the deadline: not counted, so a resume trains a trial in its place (or resumes it)
                self.stats.stopped_by_timeout = True
                reason = (f"time limit: stopped at epoch {at['epoch']}, step {at['step']} after "
                          f"{time.perf_counter() - started:.1f} s")
            if ladder is not None and exc.state is not None and self.training.states is not None:
                self._pause(trial, exc.state, reason, resumed_artifact, interrupted=True)
                self.reporter.trial_line(self.study, trial.number, "paused")
                return
            attrs.record_interrupted(trial, reason)
            self._tell_failed(trial)
            return
        except (TrainingDiverged, torch.OutOfMemoryError) as exc:
            self._fail(trial, f"{type(exc).__name__}: {exc}")
            self._drop_state(resumed_artifact)
            self._free()
            return
        except Exception as exc:  # noqa: BLE001 - any trial error is recorded and the study goes on
            if is_disk_full(exc, None):  # not the trial's fault: every next trial would fail the same way
                raise
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self._fail(trial, f"{type(exc).__name__}: {detail}")
            self._drop_state(resumed_artifact)
            self._free()
            return
        if result.losses:
            trial.set_user_attr(attrs.VAL_LOSS, float(result.losses[-1]))
        second = self._measured.get(trial.number) if self.second_objective == "latency" else float(prof.macs)
        self.study.tell(trial, [result.accuracy, second] if self.multi_objective else result.accuracy)
        self._drop_state(resumed_artifact)
        self._finished(trial, "complete", started)

    def _pause(self, trial: optuna.Trial, state: dict, reason: str, resumed_artifact: str | None, *,
               interrupted: bool) -> None:
        """Save the state, record where the trial paused and end it ``PRUNED``: it holds no worker and no slot
        beyond its architecture's, and a promotion resumes it."""
        artifact = self.training.states.save(trial, state)
        trial.set_user_attr(attrs.STATE_ARTIFACT, artifact)
        trial.set_user_attr(attrs.PAUSED_AT, len(state["history"]) - 1)  # the last rung it finished
        if interrupted:
            attrs.record_interrupted(trial, f"{reason}; paused, its state saved")
        else:
            attrs.record_failure_reason(trial, reason)
        self.study.tell(trial, state=TrialState.PRUNED)
        self._drop_state(resumed_artifact)
        self.stats.paused += 1

    def _drop_state(self, artifact: str | None) -> None:
        if artifact and self.training.states is not None:
            self.training.states.remove(artifact)

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


