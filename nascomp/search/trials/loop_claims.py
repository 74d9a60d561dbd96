"""Which trial the loop runs next, and what the scheduler says of a trial between rungs.

Without a ladder, a new trial starts while the median trial so far would end within the time limit
(:meth:`LoopClaims._claim_for_pruner`). With successive halving with pauses (ASHA), every choice is the
scheduler's, a pure function of one snapshot of the study (:mod:`nascomp.search.trials.schedule`): a queued trial
(a promotion or a retry), a promotion queued now, a new trial, a wait, or the end (``next_job``; ``past_limit``
once the time limit has passed); after each rung, go on, complete or pause (``at_rung``); at the end, every paused
architecture finally pruned (``at_end``). This class applies those decisions through the coordinator.

:class:`LoopClaims` is the base of :class:`~nascomp.search.trials.trial_loop.SearchLoop`, which sets the
attributes it reads: ``study``, ``space``, ``target``, ``training``, ``workers`` (the coordinator), ``reporter``,
``stop``, ``deadline`` and ``stats``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import optuna

from nascomp.search.trials import record as attrs
from nascomp.search.trials.clock import clock_of
from nascomp.search.trials.lineages import candidates_of, latest_trials, stopped_lineages
from nascomp.search.trials.schedule import OVERRUN, Action, Clock, Decision, at_end, at_rung, next_job, past_limit
from nascomp.search.workers.coordinator import counted

__all__ = ["LoopClaims", "AGAIN"]

#: What a claim returns when there is nothing to run yet but the search goes on: look again.
AGAIN: Any = object()


class LoopClaims:
    """Claims, promotions and the scheduler's decisions of :class:`~nascomp.search.trials.trial_loop.SearchLoop`
    (see the module docstring for the attributes it reads)."""

    def _counted(self) -> int:
        return len(counted(self.study.get_trials(deepcopy=False)))

    def _tally(self, done: int | None = None) -> str:
        """``N of M architectures`` (with a ladder ``--trials`` counts architectures, one per lineage) or
        ``N of M trials``."""
        unit = "architectures" if self.training.ladder is not None else "trials"
        return f"{self._counted() if done is None else done} of {self.target} {unit}"

    def _claim_for_pruner(self) -> optuna.Trial | None:
        """The start rule without the scheduler: a new trial if the median trial so far would end in time."""
        expected = statistics.median(self.stats.durations) if self.stats.durations else 0.0
        if not self.deadline.leaves_room(expected):
            self.stats.stopped_by_timeout = True
            self.reporter.note(
                f"time limit: {self.deadline.elapsed():.0f} s spent, the next trial would likely end after "
                f"the {self.deadline.timeout:.0f} s timeout; stopping with {self._tally()}")
            return None
        trial = self.workers.claim(self.target, lambda: self.stop.set or self.deadline.passed())
        if trial is None and not self.stop.set and self._counted() < self.target:
            self.stats.stopped_by_timeout = True
            self.reporter.note(f"time limit: {self.deadline.timeout:.0f} s spent waiting for other workers; stopping")
        return trial

    # -- successive halving with pauses --------------------------------------------------------------------------
    def _candidates(self, snap) -> list:
        return candidates_of(snap.trials, stopped=stopped_lineages(self.study.user_attrs), lost=snap.lost)

    def _clock(self) -> Clock:
        """The scheduler's clock from this run's measurements (:func:`nascomp.search.trials.clock.clock_of`)."""
        left = None if self.deadline.timeout is None else self.deadline.timeout - self.deadline.elapsed()
        return clock_of(seconds_left=left, epochs=self.training.epochs, epoch_steps=self.training.epoch_steps,
                        rung_seconds=self.stats.rung_seconds, step_seconds=self.stats.step_seconds,
                        timed_steps=self.stats.timed_steps, new_trial_seconds=self.stats.new_trial_seconds)

    def _claim_for_ladder(self) -> Any:
        """ASHA's ``get_job``: a queued trial (a promotion, a retry), a promotion queued now, a new trial, or
        ``None`` when the search is over (``AGAIN``: look again)."""
        if self.deadline.passed():
            snap = self.workers.snapshot()
            overrun_left = self.deadline.elapsed() < OVERRUN * self.deadline.timeout
            decision = past_limit(self._candidates(snap), overrun_left=overrun_left)
            if decision.action is Action.PROMOTE and not self.stop.set:
                self._promote(snap, decision)
                return self.workers.take_queued()
            self.stats.stopped_by_timeout = True
            self.reporter.note(f"time limit: {self.deadline.timeout:.0f} s spent; stopping with {self._tally()}")
            return None
        snap = self.workers.snapshot()
        if self.workers.fail_stale(snapshot=snap):
            snap = self.workers.snapshot()
        if snap.has_queued:
            return self.workers.take_queued()
        decision = next_job(self._candidates(snap), self.training.ladder,
                            can_start=len(snap.claims()) < self.target, clock=self._clock())
        if decision.action is Action.PROMOTE:
            self._promote(snap, decision)
            return AGAIN
        if decision.action is Action.START:
            trial = self.workers.claim(self.target, lambda: self.stop.set or self.deadline.passed())
            return AGAIN if trial is None and not self.stop.set and not self.deadline.passed() else trial
        if decision.action is Action.WAIT:
            time.sleep(self.workers.poll)
            return AGAIN
        if self.deadline.timeout is not None and self._counted() < self.target:
            self.stats.stopped_by_timeout = True
        self.reporter.note(f"successive halving: {decision.reason}; stopping with {self._tally()}")
        return None

    def _promote(self, snap, decision: Decision) -> None:
        paused = latest_trials(snap.trials)[decision.lineage]
        self.reporter.note(f"promoting trial {paused.number} (architecture {decision.lineage}) from epoch "
                           f"{decision.rung + 1}: {decision.reason}")
        self.workers.enqueue_promotion({k: paused.params[k] for k in self.space.dimensions}, resumes=paused.number,
                                       lineage=decision.lineage)

    def _stop_paused(self) -> None:
        """At the end of a search that was not stopped by a signal and has nothing running: every paused
        architecture is finally pruned and its saved state removed."""
        snap = self.workers.snapshot()
        if snap.running or snap.has_queued:
            return  # other workers go on: they may still promote them
        latest = latest_trials(snap.trials)
        for decision in at_end(self._candidates(snap), interrupted=self.stop.set):
            artifact = latest[decision.lineage].user_attrs.get(attrs.STATE_ARTIFACT)
            if artifact and self.training.states is not None:
                self.training.states.remove(artifact)
            self.study.set_user_attr(f"{attrs.STUDY_STOPPED_PREFIX}{decision.lineage}", decision.reason)

    def _at_rung(self, trial: optuna.Trial) -> Decision:
        """The scheduler's call on ``trial`` after the rung it just reported."""
        snap = self.workers.snapshot()
        me = snap.trial(trial.number)
        return at_rung(self._candidates(snap), attrs.lineage(me), self.training.ladder,
                       can_start=len(snap.claims()) < self.target, clock=self._clock())
