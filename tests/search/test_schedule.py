"""ASHA's decisions (nascomp.search.trials.schedule) on hand-made snapshots: no study, no training.

Expected decisions are worked out by hand from ASHA's rule (Li et al., arXiv:1810.05934, Algorithm 2): a rung of n
results promotes its top floor(n / eta), highest rung first; a candidate waits while its rung's top is empty.
"""

from __future__ import annotations

import pytest

from nascomp.search.trials.schedule import (Action, Candidate, Clock, Ladder, Status, at_end, at_rung, best_paused,
                                     next_job, rung_ranking)

P, R, C, S = Status.PAUSED, Status.RUNNING, Status.COMPLETE, Status.STOPPED
LADDER = Ladder(rungs=3, eta=3)


def cands(*rows: tuple[float, ...] | tuple) -> list[Candidate]:
    """``(status, v0, v1, ...)`` rows, lineage = row index."""
    return [Candidate(n, tuple(row[1:]), row[0]) for n, row in enumerate(rows)]


def test_a_rung_with_fewer_than_eta_results_promotes_nobody():
    c = cands((P, 0.9), (P, 0.1))
    assert next_job(c, LADDER, can_start=True).action is Action.START
    d = next_job(c, LADDER, can_start=False)  # no rank promotes; only the "nothing else to run" rule
    assert (d.action, d.lineage) == (Action.PROMOTE, 0) and "finishing" in d.reason


def test_the_top_third_of_a_rung_is_promoted_best_first():
    c = cands((P, 0.50), (P, 0.70), (P, 0.60), (P, 0.65), (P, 0.40), (P, 0.68))  # 6 results: top 2 = 1, 5
    d = next_job(c, LADDER, can_start=True)
    assert (d.action, d.lineage, d.rung) == (Action.PROMOTE, 1, 0)
    assert "rank 1 of 6" in d.reason
    c[1] = Candidate(1, (0.70, 0.80), R)  # promoted: now running at rung 1
    d = next_job(c, LADDER, can_start=True)
    assert (d.action, d.lineage) == (Action.PROMOTE, 5)
    c[5] = Candidate(5, (0.68,), R)  # no longer paused (e.g. resumed elsewhere): nobody left in the top
    assert next_job(c, LADDER, can_start=True).action is Action.START


def test_the_highest_rung_is_served_first():
    # rung 1 holds 3 results (0, 1, 2), top 1 = lineage 2 paused there; rung 0 also has a promotable one (3)
    c = cands((P, 0.5, 0.60), (P, 0.6, 0.62), (P, 0.7, 0.90), (P, 0.95), (P, 0.1), (P, 0.2), (P, 0.3), (P, 0.4),
              (P, 0.45))
    d = next_job(c, LADDER, can_start=True)
    assert (d.action, d.lineage, d.rung) == (Action.PROMOTE, 2, 1)


def test_a_discarded_leader_does_not_block_later_candidates():
    """Optuna's pruner ranks every later trial against a pruned leader; ASHA's top grows with the rung."""
    c = cands((S, 0.70), (P, 0.66), (P, 0.65), (P, 0.64), (P, 0.63), (P, 0.62))  # 6 results: top 2 = 0 and 1
    d = next_job(c, LADDER, can_start=False)
    assert (d.action, d.lineage) == (Action.PROMOTE, 1)


def test_at_rung_continues_only_inside_the_top():
    c = cands((P, 0.5), (P, 0.6), (R, 0.7))
    d = at_rung(c, 2, LADDER)
    assert d.action is Action.CONTINUE and "rank 1 of 3" in d.reason
    c = cands((P, 0.5), (P, 0.8), (R, 0.7))
    d = at_rung(c, 2, LADDER)
    assert d.action is Action.PAUSE and "rank 2 of 3" in d.reason and "top 1" in d.reason
    c = cands((P, 0.5), (R, 0.9))
    d = at_rung(c, 1, LADDER)
    assert d.action is Action.PAUSE and "fewer than eta=3" in d.reason


def test_the_last_rung_completes():
    c = cands((R, 0.1, 0.2, 0.3))
    d = at_rung(c, 0, LADDER)
    assert (d.action, d.rung) == (Action.COMPLETE, 2)


def test_near_the_limit_the_best_paused_candidate_is_finished_without_evidence():
    # rung seconds 10, 30, 90: a new candidate costs 130 s; finishing lineage 1 (at rung 0) costs 120 s; with the
    # 1.5x safety the endgame starts at 1.5 x 250 = 375 s left
    c = cands((P, 0.5), (P, 0.7))
    clock = Clock(seconds_left=370.0, rung_seconds=(10.0, 30.0, 90.0))
    d = next_job(c, LADDER, can_start=True, clock=clock)
    assert (d.action, d.lineage, d.rung) == (Action.PROMOTE, 1, 0)
    assert "finishing the best paused candidate" in d.reason
    assert next_job(c, LADDER, can_start=True, clock=Clock(380.0, (10.0, 30.0, 90.0))).action is Action.START
    # a new candidate measured at 200 s as a whole (draws, overheads): 1.5 x (200 + 120) = 480 s
    slow_new = Clock(380.0, (10.0, 30.0, 90.0), new_seconds=200.0)
    assert next_job(c, LADDER, can_start=True, clock=slow_new).action is Action.PROMOTE
    # at a boundary: the running candidate that is the best continues in the endgame
    c = cands((P, 0.5), (R, 0.7))
    assert at_rung(c, 1, LADDER, clock=clock).action is Action.CONTINUE
    # ... but not once a candidate is complete: then ASHA's evidence rule again
    c = cands((C, 0.5, 0.6, 0.7), (R, 0.7))
    assert at_rung(c, 1, LADDER, clock=clock).action is Action.PAUSE


def test_a_higher_rung_beats_a_better_accuracy_for_the_endgame():
    c = cands((P, 0.5, 0.55), (P, 0.9))
    assert best_paused(c).lineage == 0


def test_a_promotion_that_cannot_finish_its_rung_in_time_is_not_made():
    c = cands((P, 0.5), (P, 0.6), (P, 0.7), (C, 0.2, 0.3, 0.4))  # a complete one exists: no endgame
    clock = Clock(seconds_left=20.0, rung_seconds=(10.0, 30.0, 90.0))
    assert next_job(c, LADDER, can_start=False, clock=clock).action is Action.DONE
    c = cands((P, 0.5), (P, 0.6), (R, 0.7), (C, 0.2, 0.3, 0.4))
    d = at_rung(c, 2, LADDER, clock=clock)
    assert d.action is Action.PAUSE and "30 s" in d.reason


def test_running_candidates_make_a_free_worker_wait():
    c = cands((R, 0.5), (P, 0.6))
    assert next_job(c, LADDER, can_start=False).action is Action.WAIT


def test_the_end_stops_every_paused_candidate_unless_interrupted():
    c = cands((P, 0.5), (C, 0.1, 0.2, 0.3), (P, 0.4, 0.6), (S, 0.1))
    stops = at_end(c, interrupted=False)
    assert [(d.action, d.lineage, d.rung) for d in stops] == [(Action.STOP, 0, 0), (Action.STOP, 2, 1)]
    assert at_end(c, interrupted=True) == []


def test_ranking_ties_go_to_the_earlier_candidate():
    c = cands((P, 0.5), (P, 0.5), (P, 0.7, 0.1))
    assert [x.lineage for x in rung_ranking(c, 0)] == [2, 0, 1]
    assert [x.lineage for x in rung_ranking(c, 1)] == [2]


def test_a_ladder_needs_rungs_and_eta():
    with pytest.raises(ValueError, match="eta >= 2"):
        Ladder(rungs=3, eta=1)


def test_a_candidate_stopped_inside_a_rung_resumes_first():
    c = [Candidate(0, (0.5,), P), Candidate(1, (0.9,), P), Candidate(2, (0.7,), P),
         Candidate(3, (0.4,), P, mid_rung=True)]
    d = next_job(c, LADDER, can_start=True)
    assert (d.action, d.lineage, d.rung) == (Action.PROMOTE, 3, 0)
    assert "stopped inside rung 1" in d.reason


def test_no_new_candidate_when_not_even_its_first_rung_fits():
    c = cands((C, 0.5, 0.6, 0.7))
    d = next_job(c, LADDER, can_start=True, clock=Clock(seconds_left=5.0, rung_seconds=(10.0, 30.0, 90.0)))
    assert d.action is Action.DONE


def test_with_nothing_left_to_run_the_best_paused_candidate_is_finished():
    # 4 candidates, eta 3: rung 1 holds one result, whose top is empty; without this rule nothing would complete
    c = cands((P, 0.5), (P, 0.6, 0.65), (P, 0.4), (P, 0.3))
    d = next_job(c, LADDER, can_start=False)
    assert (d.action, d.lineage, d.rung) == (Action.PROMOTE, 1, 1)
    assert "finishing the best paused candidate" in d.reason
    assert next_job(c, LADDER, can_start=True).action is Action.START
    # at its boundary it goes on rather than pausing and being promoted at once
    c = cands((P, 0.5), (R, 0.6, 0.65), (P, 0.4), (P, 0.3))
    assert at_rung(c, 1, LADDER, can_start=False).action is Action.CONTINUE
    assert at_rung(c, 1, LADDER, can_start=True).action is Action.PAUSE
    # once one is complete, the rest are left to at_end
    c = cands((P, 0.5), (C, 0.6, 0.65, 0.7), (P, 0.4), (P, 0.3))
    assert next_job(c, LADDER, can_start=False).action is Action.DONE


def test_the_clock_scales_an_unmeasured_rung_by_its_steps_above_rung_0s_fixed_part():
    from nascomp.search.trials.clock import clock_of

    # rung 0: median 4 s over 8 steps at 0.1 s a step -> 3.2 s fixed; rung 1 measured (median 9 s); rung 2: 72 steps
    c = clock_of(seconds_left=50.0, epochs=3, epoch_steps=(8, 24, 72), rung_seconds={0: [3.0, 4.0, 6.0], 1: [9.0]},
                 step_seconds=3.0, timed_steps=30, new_trial_seconds=[7.0, 5.0, 30.0])
    assert c.rung_seconds == pytest.approx((4.0, 9.0, 3.2 + 7.2))
    assert c.new_seconds == 7.0 and c.seconds_left == 50.0
    assert clock_of(seconds_left=None, epochs=3, epoch_steps=None, rung_seconds={}).rung_seconds is None
    # no timed step: rung 0 scaled by steps
    c = clock_of(seconds_left=1.0, epochs=2, epoch_steps=(10, 30), rung_seconds={0: [2.0]})
    assert c.rung_seconds == pytest.approx((2.0, 6.0))


def test_past_the_limit_the_best_paused_candidate_is_finished_only_while_none_is_complete():
    """The endgame's rung times are estimates: when the limit passed with nothing complete (a loaded machine made a
    rung slower than predicted), the best paused candidate is still finished, within the overrun allowance."""
    from nascomp.search.trials.schedule import past_limit

    paused = [Candidate(0, (0.5,), Status.PAUSED), Candidate(1, (0.6, 0.7), Status.PAUSED),
              Candidate(2, (0.9,), Status.PAUSED)]
    decision = past_limit(paused, overrun_left=True)
    assert decision.action is Action.PROMOTE and decision.lineage == 1 and decision.rung == 1  # nearest to done
    assert past_limit(paused, overrun_left=False).action is Action.DONE  # the allowance is spent
    assert past_limit([*paused, Candidate(3, (0.4,), Status.RUNNING)], overrun_left=True).action is Action.DONE
    assert past_limit([*paused, Candidate(3, (0.4, 0.5, 0.6), Status.COMPLETE)], overrun_left=True).action \
        is Action.DONE
    assert past_limit([], overrun_left=True).action is Action.DONE
