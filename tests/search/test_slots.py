"""The slot rules of a shared study (nascomp.search.workers.slots), driven by hand-made trials: no storage, no workers.

Each scenario's expected sets are worked out by hand from the rules in the module docstring.
"""

from __future__ import annotations

from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from nascomp.search.trials import record as attrs
from nascomp.search.workers.slots import MAX_RETRY, StudySnapshot, counted, lost_numbers, slot_key

_DIST = {"depth": IntDistribution(1, 9)}


def _trial(number: int, state: TrialState, *, depth: int | None = None, retry_of: list[int] | None = None,
           **user_attrs) -> FrozenTrial:
    params = {} if depth is None else {"depth": depth}
    value = 0.5 if state == TrialState.COMPLETE else None
    t = create_trial(state=state, value=value, params=params, distributions=_DIST if params else {},
                     user_attrs=user_attrs,
                     system_attrs={attrs.RETRY_HISTORY: retry_of} if retry_of else None)
    t.number = number
    return t


def test_a_killed_workers_trial_is_lost_and_its_retry_holds_the_slot():
    trials = [
        _trial(0, TrialState.COMPLETE, depth=1),
        _trial(1, TrialState.FAIL, depth=2),                      # failed by a watcher: no reason
        _trial(2, TrialState.FAIL, depth=3, reason="over budget"),
        _trial(3, TrialState.RUNNING, depth=2, retry_of=[1]),      # its retry
    ]
    snap = StudySnapshot.of(trials)
    assert snap.lost == {1}
    assert snap.queued_retries == {1}
    assert snap.pending_retry() == frozenset()
    assert [t.number for t in snap.counted] == [0, 2]
    assert [t.number for t in snap.claims()] == [0, 2, 3]
    assert slot_key(trials[3]) == 1
    # the retry takes the place of trial 1: two claims (0 and 1's retry) are ahead of a new trial 4 ... and 2
    assert snap.claims_ahead(_trial(4, TrialState.RUNNING)) == 3
    assert snap.claims_ahead(trials[3]) == 1  # only trial 0 is ahead of slot 1


def test_a_lost_trial_waiting_for_its_retry_holds_a_slot_until_forgotten():
    trials = [_trial(0, TrialState.FAIL, depth=1), _trial(1, TrialState.COMPLETE, depth=2)]
    snap = StudySnapshot.of(trials)
    assert snap.pending_retry() == {0}
    assert [t.number for t in snap.claims()] == [0, 1]
    assert [t.number for t in snap.claims(forgotten={0})] == [1]


def test_interrupted_and_withdrawn_trials_never_count_nor_are_lost():
    trials = [
        _trial(0, TrialState.FAIL, depth=1, interrupted=True, reason="interrupted by SIGTERM"),
        _trial(1, TrialState.FAIL, withdrawn=True, reason="surplus"),
        _trial(2, TrialState.PRUNED, depth=4, reason="pruned after epoch 1"),
    ]
    snap = StudySnapshot.of(trials)
    assert snap.lost == frozenset()
    assert [t.number for t in snap.counted] == [2]
    assert counted(trials) == list(snap.counted)
    assert counted(trials, lost=set()) == list(snap.counted)


def test_a_point_whose_retries_are_used_up_stands_as_a_failure():
    history = list(range(MAX_RETRY))
    trials = [
        _trial(0, TrialState.FAIL, depth=5),
        _trial(1, TrialState.FAIL, depth=5, retry_of=[0]),
        _trial(2, TrialState.FAIL, depth=5, retry_of=history),  # died again: retries used up, no retry queued
    ]
    snap = StudySnapshot.of(trials)
    assert lost_numbers(trials) == {0, 1}
    assert snap.finished_retries == {0, 1}
    assert [t.number for t in snap.counted] == [2]
    assert snap.pending_retry() == frozenset()


def test_queued_trials_are_seen():
    trials = [_trial(0, TrialState.WAITING), _trial(1, TrialState.RUNNING)]
    snap = StudySnapshot.of(trials)
    assert snap.has_queued
    assert [t.number for t in snap.running] == [1]
    assert snap.trial(1) is trials[1] and snap.trial(7) is None
