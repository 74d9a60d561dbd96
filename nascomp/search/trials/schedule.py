"""Asynchronous successive halving with paused trials (ASHA), as pure functions of one snapshot of the study.

Rungs are the fidelity steps of the proxy schedule (rung ``k`` = epoch ``k``, 0-based, at a growing data share);
``eta`` is the reduction factor. ASHA (Li et al., "A System for Massively Parallel Hyperparameter Tuning",
arXiv:1810.05934, Algorithm 2) decides at two moments, and so does this module:

- **A worker is free** (:func:`next_job`): promote the best paused candidate that sits in the top ``1/eta`` of its
  rung's results and was not promoted from there yet, looking at the highest rung first; otherwise start a new
  candidate at rung 0. A rung that holds fewer than ``eta`` results has an empty top: its candidates wait.
- **A candidate reaches a rung boundary** (:func:`at_rung`): complete it at the last rung; continue it when it is
  in the top ``1/eta`` of the rung now (the promotion ASHA's next ``get_job`` would make for it); otherwise pause
  it, its training state saved, so a later ranking may promote it. Nothing is killed for lack of evidence, which
  is where Optuna's pruners (stop or go on, never wait) fall short.

**Near the time limit** the remaining time goes to the best paused candidate (highest rung reached, then the best
accuracy there): when no candidate is complete yet and starting one more new candidate would leave too little time
to finish it, a free worker promotes it without the ``1/eta`` evidence, and a running candidate that is that best
continues. A search that reached ``eta`` candidates with rung times measured so ends with a complete trial.

**When nothing else is left to run** (every candidate started, none running) and none is complete, the best paused
candidate is finished too, so a small study (``--trials 5``) ends with a result.

**When the search ends** (:func:`at_end`), every paused candidate is stopped for good (its saved state removed);
a search stopped by a signal keeps them, so a rerun of the study can still promote them.

Every decision is a :class:`Decision`, an action with its reason; the search loop applies it. Inputs are plain
values (:class:`Candidate`, :class:`Ladder`, :class:`Clock`), so tests build snapshots by hand.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Status", "Action", "Candidate", "Ladder", "Clock", "Decision", "next_job", "at_rung", "at_end",
           "past_limit", "rung_ranking", "best_paused", "SAFETY", "OVERRUN"]

#: The endgame starts this much earlier than the rung times predict (the estimates come from other architectures,
#: on a machine whose load changes).
SAFETY = 1.5


class Status(str, enum.Enum):
    """Where a candidate (an architecture, possibly trained by several Optuna trials in turn) stands."""

    RUNNING = "running"    #: a worker trains it now
    PAUSED = "paused"      #: waiting at its last rung, its training state saved
    COMPLETE = "complete"  #: trained through the last rung
    STOPPED = "stopped"    #: finally pruned, failed, or reused: never trained further


class Action(str, enum.Enum):
    """What a decision tells the loop to do."""

    PROMOTE = "promote"    #: resume paused candidate ``lineage`` from rung ``rung`` into rung ``rung + 1``
    START = "start"        #: start a new candidate at rung 0
    WAIT = "wait"          #: nothing to do now; results of running candidates may change that
    DONE = "done"          #: nothing left to do for this search
    CONTINUE = "continue"  #: train the candidate on into the next rung
    PAUSE = "pause"        #: save its state and free the worker
    COMPLETE = "complete"  #: its last rung: record the result
    STOP = "stop"          #: finally pruned: remove its saved state


@dataclass(frozen=True)
class Candidate:
    """One architecture's progress through the rungs.

    Attributes:
        lineage: The number of the Optuna trial that started it (a promotion keeps the lineage).
        values: Validation accuracy (0-1) after each rung it finished, rung 0 first.
        status: Where it stands.
        mid_rung: Paused inside a rung (by Ctrl-C, SIGTERM or the time limit), not at a boundary: resumed before
            anything else, whatever its rank.
    """

    lineage: int
    values: tuple[float, ...]
    status: Status
    mid_rung: bool = False

    @property
    def rung(self) -> int:
        """The last rung it finished (-1: none yet)."""
        return len(self.values) - 1


@dataclass(frozen=True)
class Ladder:
    """The rungs of successive halving.

    Attributes:
        rungs: Number of rungs (epochs of the proxy schedule), at least 1.
        eta: Reduction factor: the top ``floor(n / eta)`` of a rung's ``n`` results are promoted; at least 2.
    """

    rungs: int
    eta: int = 3

    def __post_init__(self) -> None:
        if self.rungs < 1 or self.eta < 2:
            raise ValueError(f"a ladder needs rungs >= 1 and eta >= 2, got rungs={self.rungs}, eta={self.eta}")


@dataclass(frozen=True)
class Clock:
    """Time as the scheduler sees it.

    Attributes:
        seconds_left: Seconds before the time limit (``None``: no limit).
        rung_seconds: Expected seconds to train each rung (e.g. the median so far); ``None`` until measured.
        new_seconds: Expected wall seconds of one more new candidate as a whole (drawing, settling, training or
            reusing, writing outputs), when measured: the endgame counts at least that for it.
    """

    seconds_left: float | None = None
    rung_seconds: tuple[float, ...] | None = None
    new_seconds: float | None = None

    def to_finish(self, rung: int) -> float:
        """Seconds to train a candidate that finished ``rung`` (-1: a new one) through the last rung."""
        return sum((self.rung_seconds or ())[rung + 1:])

    def endgame(self, best: Candidate | None, started_all: bool) -> bool:
        """No time for one more new candidate and then finishing ``best`` (with :data:`SAFETY` to spare, as rung
        times vary with the architecture and the machine's load): the rest goes to ``best``."""
        if self.seconds_left is None or self.rung_seconds is None or best is None:
            return False
        after_new = 0.0 if started_all else max(self.to_finish(-1), self.new_seconds or 0.0)
        return self.seconds_left < SAFETY * (after_new + self.to_finish(best.rung))


@dataclass(frozen=True)
class Decision:
    """One scheduling decision and why.

    Attributes:
        action: What to do.
        reason: One line for the trial record and the log.
        lineage: The candidate it applies to (``None`` for :attr:`Action.START`, ``WAIT``, ``DONE``).
        rung: The rung it was taken at (the rung a promoted candidate leaves).
    """

    action: Action
    reason: str
    lineage: int | None = None
    rung: int | None = None


def rung_ranking(candidates: Sequence[Candidate], rung: int) -> list[Candidate]:
    """The candidates holding a result at ``rung``, best first (ties: the earlier lineage first)."""
    holders = [c for c in candidates if c.rung >= rung]
    return sorted(holders, key=lambda c: (-c.values[rung], c.lineage))


def _top(candidates: Sequence[Candidate], rung: int, eta: int) -> tuple[list[Candidate], int]:
    ranking = rung_ranking(candidates, rung)
    return ranking[: len(ranking) // eta], len(ranking)


def best_paused(candidates: Sequence[Candidate]) -> Candidate | None:
    """The paused candidate nearest to completion: the highest rung, then the best accuracy there."""
    paused = [c for c in candidates if c.status is Status.PAUSED]
    return min(paused, key=lambda c: (-c.rung, -c.values[-1], c.lineage), default=None)


def next_job(candidates: Sequence[Candidate], ladder: Ladder, *, can_start: bool,
             clock: Clock = Clock()) -> Decision:
    """What a free worker does next (ASHA's ``get_job``).

    Args:
        candidates: Every candidate of the study.
        ladder: Rungs and eta.
        can_start: A new candidate may start (the study holds fewer than its target of candidates).
        clock: Time left and rung times.

    Returns:
        :attr:`Action.PROMOTE` (with ``lineage`` and the ``rung`` it leaves), :attr:`Action.START`,
        :attr:`Action.WAIT` (candidates still running) or :attr:`Action.DONE`.

    Example:
        >>> c = [Candidate(n, (v,), Status.PAUSED) for n, v in enumerate([0.5, 0.7, 0.6])]
        >>> next_job(c, Ladder(rungs=3), can_start=True)
        Decision(action=<Action.PROMOTE: 'promote'>, reason='rank 1 of 3 results at rung 0 (top 1)', lineage=1, rung=0)
    """
    stopped_inside = [c for c in candidates if c.status is Status.PAUSED and c.mid_rung]
    if stopped_inside:
        c = stopped_inside[0]
        return Decision(Action.PROMOTE, f"resuming a trial stopped inside rung {c.rung + 1}", c.lineage, c.rung)
    if not any(c.status is Status.COMPLETE for c in candidates):
        best = best_paused(candidates)
        if clock.endgame(best, started_all=not can_start):
            return Decision(Action.PROMOTE, f"finishing the best paused candidate: {clock.seconds_left:.0f} s left, "
                                            f"about {clock.to_finish(best.rung):.0f} s to complete it and none "
                                            f"complete yet", best.lineage, best.rung)
    for rung in range(ladder.rungs - 2, -1, -1):  # the highest rung first
        top, n = _top(candidates, rung, ladder.eta)
        for rank, c in enumerate(top, start=1):
            if c.status is not Status.PAUSED or c.rung != rung:
                continue  # promoted from this rung already, running, or stopped
            need = clock.to_finish(rung) - clock.to_finish(rung + 1)
            if clock.seconds_left is not None and clock.rung_seconds is not None and need > clock.seconds_left:
                continue  # would not finish its next rung before the limit
            return Decision(Action.PROMOTE, f"rank {rank} of {n} results at rung {rung} (top {len(top)})",
                            c.lineage, rung)
    if can_start and clock.seconds_left is not None and clock.rung_seconds is not None \
            and clock.rung_seconds[0] > clock.seconds_left:
        can_start = False  # not even rung 0 of a new candidate would end in time
    if can_start:
        return Decision(Action.START, "no paused candidate is in the top 1/eta of its rung")
    if any(c.status is Status.RUNNING for c in candidates):
        return Decision(Action.WAIT, "every candidate is started; waiting for running ones to report")
    best = best_paused(candidates)
    if best is not None and not any(c.status is Status.COMPLETE for c in candidates) and _fits(clock, best):
        return Decision(Action.PROMOTE, "nothing else to run and none complete: finishing the best paused "
                                        "candidate", best.lineage, best.rung)
    return Decision(Action.DONE, "every candidate is started and no paused one ranks high enough to promote")


def _fits(clock: Clock, best: Candidate) -> bool:
    return clock.seconds_left is None or clock.rung_seconds is None or clock.to_finish(best.rung) <= clock.seconds_left


def at_rung(candidates: Sequence[Candidate], lineage: int, ladder: Ladder, *, can_start: bool = True,
            clock: Clock = Clock()) -> Decision:
    """What a running candidate does after finishing a rung.

    Args:
        candidates: Every candidate, including ``lineage`` with its new result (status ``RUNNING``).
        lineage: The candidate at the boundary.
        ladder: Rungs and eta.
        can_start: New candidates may still start (the endgame rule counts one more).
        clock: Time left and rung times.

    Returns:
        :attr:`Action.COMPLETE`, :attr:`Action.CONTINUE` or :attr:`Action.PAUSE`.

    Example:
        >>> c = [Candidate(0, (0.5,), Status.PAUSED), Candidate(1, (0.6,), Status.PAUSED),
        ...      Candidate(2, (0.7,), Status.RUNNING)]
        >>> at_rung(c, 2, Ladder(rungs=3)).action.value
        'continue'
    """
    me = next(c for c in candidates if c.lineage == lineage)
    rung = me.rung
    if rung >= ladder.rungs - 1:
        return Decision(Action.COMPLETE, f"trained through the last rung ({ladder.rungs})", lineage, rung)
    if not any(c.status is Status.COMPLETE for c in candidates):
        others = [c for c in candidates if c.lineage != lineage]
        best = best_paused([*others, Candidate(me.lineage, me.values, Status.PAUSED)])
        if best is not None and best.lineage == lineage and clock.endgame(best, started_all=not can_start):
            return Decision(Action.CONTINUE, f"finishing the best candidate: {clock.seconds_left:.0f} s left, about "
                                             f"{clock.to_finish(rung):.0f} s to complete it and none complete yet",
                            lineage, rung)
    if not can_start and not any(c.status in (Status.RUNNING, Status.COMPLETE) for c in candidates
                                 if c.lineage != lineage):
        best = best_paused([c for c in candidates if c.lineage != lineage])
        if best is None or (me.rung, me.values[-1]) > (best.rung, best.values[-1]):
            return Decision(Action.CONTINUE, "nothing else to run and none complete: finishing the best candidate",
                            lineage, rung)
    top, n = _top(candidates, rung, ladder.eta)
    if n < ladder.eta:
        return Decision(Action.PAUSE, f"rung {rung} holds {n} result(s), fewer than eta={ladder.eta} to rank it "
                                      f"among; it waits for them", lineage, rung)
    if me not in top:
        rank = rung_ranking(candidates, rung).index(me) + 1
        return Decision(Action.PAUSE, f"rank {rank} of {n} results at rung {rung}, outside the top {len(top)}; it "
                                      f"may be promoted later", lineage, rung)
    need = clock.to_finish(rung) - clock.to_finish(rung + 1)
    if clock.seconds_left is not None and clock.rung_seconds is not None and need > clock.seconds_left:
        left = max(0.0, clock.seconds_left)  # past the limit there is nothing left, not a negative time
        return Decision(Action.PAUSE, f"rung {rung + 1} would take about {need:.0f} s, {left:.0f} s "
                                      f"are left", lineage, rung)
    return Decision(Action.CONTINUE, f"rank {top.index(me) + 1} of {n} results at rung {rung} (top {len(top)})",
                    lineage, rung)


#: Past the time limit, the best paused candidate is finished (when none is complete) until this multiple of the
#: limit has passed: the endgame's rung times are estimates, and a busy machine can make them wrong.
OVERRUN = 2.0


def past_limit(candidates: Sequence[Candidate], *, overrun_left: bool) -> Decision:
    """What a free worker does once the time limit has passed: finish the best paused candidate when none is
    complete (the guarantee that a search which evaluated an architecture ends with a complete one, whatever the
    machine's load did to the endgame's estimates), else stop.

    Args:
        candidates: Every candidate of the study.
        overrun_left: Less than :data:`OVERRUN` times the limit has passed.

    Returns:
        :attr:`Action.PROMOTE` of the best paused candidate, or :attr:`Action.DONE` (also while another worker
        trains a candidate: it finishes or pauses that one itself).

    Example:
        >>> c = [Candidate(0, (0.5,), Status.PAUSED), Candidate(1, (0.6, 0.7), Status.PAUSED)]
        >>> past_limit(c, overrun_left=True).lineage
        1
        >>> past_limit([*c, Candidate(2, (0.4, 0.5, 0.6), Status.COMPLETE)], overrun_left=True).action.value
        'done'
    """
    if any(c.status is Status.COMPLETE for c in candidates):
        return Decision(Action.DONE, "the time limit passed; a candidate is complete")
    if any(c.status is Status.RUNNING for c in candidates):
        return Decision(Action.DONE, "the time limit passed; another worker trains a candidate")
    best = best_paused(candidates)
    if best is None or not overrun_left:
        return Decision(Action.DONE, "the time limit passed with no candidate complete"
                        + ("" if best is None else f" and {OVERRUN:g}x the limit spent"))
    return Decision(Action.PROMOTE, "the time limit passed with no candidate complete: finishing the best paused "
                                    "one past it", best.lineage, best.rung)


def at_end(candidates: Sequence[Candidate], *, interrupted: bool) -> list[Decision]:
    """The paused candidates a finished search stops for good (their saved states removed).

    A search stopped by a signal stops none: a rerun of the study may still promote them.
    """
    if interrupted:
        return []
    return [Decision(Action.STOP, f"the search ended with it paused at rung {c.rung}", c.lineage, c.rung)
            for c in candidates if c.status is Status.PAUSED]
