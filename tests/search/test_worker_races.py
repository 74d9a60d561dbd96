"""The worker coordinator's race paths, each driven directly in one process (no worker processes):
surplus withdrawal, a clash of draws (reserve point), twins waiting for each other, and the pure rules under them.
"""

from __future__ import annotations

import threading
import time

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from nascomp.search.trials import record as attrs
from nascomp.search.workers.slots import StudySnapshot
from nascomp.search.workers.slots import blocking_twins, rival_for_point
from nascomp.search.workers.coordinator import Coordinator

_SPACE = {"x": IntDistribution(0, 9)}


class _FixedPointSampler(optuna.samplers.BaseSampler):
    """Proposes x=3 every time (two workers started with the same seed draw the same points in lockstep)."""

    def __init__(self) -> None:
        self.reseeds = 0

    def infer_relative_search_space(self, study, trial):
        return dict(_SPACE)

    def sample_relative(self, study, trial, search_space):
        return {"x": 3}

    def sample_independent(self, study, trial, param_name, param_distribution):
        return 3

    def reseed_rng(self) -> None:
        self.reseeds += 1


def _stop_after(n: int):
    calls = iter(range(n + 1))
    return lambda: next(calls, n) >= n


def _coordinator(study) -> Coordinator:
    return Coordinator(study, "journal:", ["x"], note=lambda s: None, interval=60, poll=0.01)


def test_two_workers_taking_the_last_slot_at_once_the_later_trial_is_withdrawn_unused():
    study = optuna.create_study(direction="maximize")
    plain_ask = study.ask

    def racing_ask(*args, **kwargs):  # another worker asks at the same moment, and is first
        study.ask = plain_ask
        plain_ask()
        return plain_ask(*args, **kwargs)

    study.ask = racing_ask
    assert _coordinator(study).claim(target=1, should_stop=_stop_after(3)) is None
    rival, mine = study.get_trials()
    assert rival.state == TrialState.RUNNING
    assert mine.state == TrialState.FAIL and mine.user_attrs[attrs.WITHDRAWN] and not mine.params
    assert mine.user_attrs[attrs.REASON].startswith("surplus: another worker took the last of the 1 slots")


def test_a_draw_that_clashes_with_a_confirmed_running_point_is_withdrawn_and_the_worker_reseeds():
    sampler = _FixedPointSampler()
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rival = study.ask()  # another worker's trial: published and confirmed x=3, still running
    rival.set_user_attr(attrs.POINT, [3])
    rival.set_user_attr(attrs.POINT_CONFIRMED, True)
    coordinator = _coordinator(study)
    assert coordinator.claim(target=5, should_stop=_stop_after(4)) is None
    clashes = [t for t in study.get_trials() if t.state == TrialState.FAIL]
    assert len(clashes) == 2 and sampler.reseeds == 2  # twice in a row, then it waits for the rival
    for t in clashes:
        assert t.user_attrs[attrs.WITHDRAWN] and not t.params
        assert t.user_attrs[attrs.REASON].startswith(f"clash: running trial {rival.number} drew the same point")
    study.tell(rival, 0.5)  # the rival finished: the same draw now goes ahead (the search then reuses the result)
    mine = coordinator.claim(target=5, should_stop=lambda: False)
    assert mine is not None and mine.user_attrs[attrs.POINT] == [3] and mine.user_attrs[attrs.POINT_CONFIRMED]
    assert mine.user_attrs[attrs.WORKER] == coordinator.worker


def test_a_twin_waits_while_an_earlier_trial_trains_the_same_point():
    study = optuna.create_study(direction="maximize")
    for _ in range(2):
        study.enqueue_trial({"x": 3})
    first, second = study.ask(), study.ask()
    for t in (first, second):
        t.suggest_int("x", 0, 9)
    first.set_user_attr(attrs.TRAINING, True)
    finished = threading.Event()

    def finish_first() -> None:
        time.sleep(0.3)
        finished.set()
        study.tell(first, 0.9)

    thread = threading.Thread(target=finish_first)
    thread.start()
    _coordinator(study).await_twins(second, ["x"])
    thread.join()
    assert finished.is_set()  # it returned only once the earlier twin was done
    assert study.get_trials()[second.number].user_attrs[attrs.TRAINING] is True


def _running(number: int, x: int | None = None, **user_attrs):
    t = create_trial(state=TrialState.RUNNING, params={} if x is None else {"x": x},
                     distributions={} if x is None else dict(_SPACE), user_attrs=user_attrs)
    t.number = number
    return t


def test_rival_rules_earlier_or_confirmed_first_then_earlier_and_confirmed():
    me = _running(5)
    later_confirmed = _running(7, **{attrs.POINT: [3], attrs.POINT_CONFIRMED: True})
    earlier_unconfirmed = _running(2, **{attrs.POINT: [3]})
    other_point = _running(1, **{attrs.POINT: [4], attrs.POINT_CONFIRMED: True})
    snap = StudySnapshot.of([other_point, earlier_unconfirmed, me, later_confirmed])
    assert rival_for_point(snap, me, [3], ["x"], confirmed_only=False).number == 2
    assert rival_for_point(snap, me, [3], ["x"], confirmed_only=True) is None  # 7 is later, 2 unconfirmed
    assert rival_for_point(StudySnapshot.of([me, later_confirmed]), me, [3], ["x"], confirmed_only=False).number == 7
    # a stored parameter counts as a published point
    assert rival_for_point(StudySnapshot.of([_running(0, x=3), me]), me, [3], ["x"], confirmed_only=True) is None
    assert rival_for_point(StudySnapshot.of([_running(0, x=3), me]), me, [3], ["x"], confirmed_only=False).number == 0


def test_twin_rules():
    me = _running(5, x=3)
    training_later = _running(8, x=3, **{attrs.TRAINING: True})
    idle_earlier = _running(1, x=3)
    elsewhere = _running(0, x=4, **{attrs.TRAINING: True})
    snap = StudySnapshot.of([elsewhere, idle_earlier, me, training_later])
    assert [t.number for t in blocking_twins(snap, me, ["x"])] == [1, 8]
    assert blocking_twins(snap, me, ["x"], training_only=True) == []
    assert [t.number for t in blocking_twins(StudySnapshot.of([_running(1, x=3, **{attrs.TRAINING: True}), me]),
                                             me, ["x"], training_only=True)] == [1]
