"""``SearchLoop`` (nascomp/search/loop.py) built directly, with everything it needs passed in: an in-memory Optuna
study, the real :class:`~nascomp.search.space.sampler.BudgetSampler` and analytic cost on the tiny space, and a stand-in
:class:`~nascomp.search.trials.loop_inputs.Training` whose ``fit`` returns scripted accuracies per epoch (no data, no torch
training). The points each test runs are queued with ``study.enqueue_trial`` so that the order is known.

Expected values come from the scripts and from successive halving's rule (Li et al., arXiv:1810.05934, Algorithm 2:
with eta = 3 a rung's top third is promoted, and a rung with fewer than eta results promotes nothing), and the MACs
from the hand count in ``tests/_search.py``.
"""

from __future__ import annotations

import io
import time
from typing import Any

import optuna
import pytest
import rich.console
import torch
from optuna.trial import TrialState

from nascomp._stop import StopFlag
from nascomp.search.trials import record as attrs
from nascomp.search.trials.loop_inputs import Deadline, Training
from nascomp.search.trials.trial_loop import SearchLoop
from nascomp.search.outputs.report import Reporter
from nascomp.search.space.sampler import BudgetSampler
from nascomp.search.trials.schedule import Ladder
from nascomp.search.space.search_space import load_space
from nascomp.search.trials.saved_states import SavedStates, default_store
from nascomp.search.workers.coordinator import Coordinator
from nascomp.train import FitResult
from nascomp.train.state import STATE_FORMAT, PauseTraining, StateError, TrainingPaused
from tests._search import TINY_BUDGET, tiny_macs, write_tiny_space

INPUT_SHAPE = (3, 16, 16)


class _Net(torch.nn.Module):
    """What the stand-in ``build`` returns: no layers, only the point it stands for."""

    def __init__(self, point: dict[str, Any]):
        super().__init__()
        self.point = (point["width"], point["depth"])


class ScriptedTraining:
    """A stand-in for the proxy training: ``accuracies[(width, depth)][epoch]`` is what epoch ``epoch`` (0-based)
    reports. It follows :func:`nascomp.train.fit`'s protocol: ``on_step`` and ``on_epoch`` after each epoch,
    :class:`PauseTraining` from ``on_epoch`` answered with :class:`TrainingPaused` carrying a state in the saved-state
    format, and ``resume=`` going on from that state's epoch. ``calls`` records ``(point, first epoch, resumed
    history)`` for every fit."""

    def __init__(self, accuracies: dict[tuple[int, int], list[float]], epochs: int):
        self.accuracies, self.epochs = accuracies, epochs
        self.calls: list[tuple[tuple[int, int], int, list[float] | None]] = []

    def build(self, point: dict[str, Any]) -> torch.nn.Module:
        return _Net(point)

    def fit(self, model: _Net, *, on_epoch, on_step, should_stop, resume: dict | None = None) -> FitResult:
        start = int(resume["epoch"]) if resume is not None else 0
        history = list(resume["history"]) if resume is not None else []
        self.calls.append((model.point, start, None if resume is None else list(resume["history"])))
        for epoch in range(start, self.epochs):
            on_step(1, 1)
            accuracy = self.accuracies[model.point][epoch]
            history.append(accuracy)
            try:
                on_epoch(epoch, accuracy)
            except PauseTraining as exc:
                raise TrainingPaused(str(exc), self._state(epoch + 1, history)) from None
        return FitResult(accuracy=history[-1], history=history)

    def _state(self, epoch: int, history: list[float]) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "model": {}, "optimizer": {}, "scheduler": {}, "rng": {}, "epoch": epoch,
                "step": 0, "history": list(history), "losses": [], "total_steps": 0, "epochs": self.epochs}

    def trained(self, point: tuple[int, int]) -> int:
        """How many times ``fit`` ran for ``point``."""
        return sum(1 for p, _, _ in self.calls if p == point)


def make_loop(tmp_path, scripted: ScriptedTraining, *, target: int, ladder: Ladder | None,
              queue: list[tuple[int, int]], storage: optuna.storages.BaseStorage | None = None,
              fit=None, states_class: type[SavedStates] = SavedStates) -> tuple[SearchLoop, optuna.Study,
                                                                                SavedStates | None]:
    """A SearchLoop on the study "tiny" of the tiny space in ``storage`` (default a new in-memory one; the same
    storage again is a rerun, with a fresh sampler as ``nascomp search`` has), the given points queued in order;
    ``fit`` replaces the stand-in's own, ``states_class`` the store of paused states."""
    space = load_space(write_tiny_space(tmp_path))

    def cost(point):
        return space.cost(point, input_shape=INPUT_SHAPE, num_classes=10)

    sampler = BudgetSampler(optuna.samplers.RandomSampler(seed=0), space, lambda p: cost(p).macs, TINY_BUDGET,
                            seed=0)
    study = optuna.create_study(storage=storage or optuna.storages.InMemoryStorage(), study_name="tiny",
                                direction="maximize", sampler=sampler, pruner=optuna.pruners.NopPruner(),
                                load_if_exists=True)
    for width, depth in queue:
        study.enqueue_trial({"width": width, "depth": depth})
    states = states_class(default_store(tmp_path / "run")) if ladder is not None else None
    training = Training(build=scripted.build, fit=fit or scripted.fit, epochs=scripted.epochs, steps_per_epoch=1,
                        step_of=None, ladder=ladder, states=states)
    reporter = Reporter(console=rich.console.Console(file=io.StringIO(), width=200), bars=False)
    loop = SearchLoop(study=study, space=space, sampler=sampler, cost=cost, budget=TINY_BUDGET, target=target,
                      multi_objective=False, training=training,
                      coordinator=Coordinator(study, "inmemory", list(space.dimensions), note=reporter.note, poll=0.01),
                      reporter=reporter, stop=StopFlag(), deadline=Deadline(started=time.perf_counter(), timeout=None))
    return loop, study, states


def _point(trial) -> tuple[int, int]:
    return trial.params["width"], trial.params["depth"]


def test_successive_halving_pauses_the_early_and_promotes_the_best_lineage_to_completion(tmp_path):
    # (4, 2) is best at rung 0 but comes first: with eta = 3 a rung of one result promotes nothing, so it pauses;
    # once three results are in, it is the top third and is promoted from its saved state to the last rung.
    scripted = ScriptedTraining({(4, 2): [0.9, 0.95], (4, 1): [0.2, 0.3], (4, 3): [0.5, 0.6]}, epochs=2)
    loop, study, _ = make_loop(tmp_path, scripted, target=3, ladder=Ladder(rungs=2, eta=3),
                               queue=[(4, 2), (4, 1), (4, 3)])
    stats = loop.run()

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert [(_point(t), t.value) for t in complete] == [((4, 2), 0.95)]
    first = next(t for t in trials if _point(t) == (4, 2) and t.user_attrs.get(attrs.RESUMES) is None)
    assert first.state == TrialState.PRUNED and first.user_attrs[attrs.PAUSED_AT] == 0
    promoted = complete[0]
    assert promoted.user_attrs[attrs.RESUMES] == first.number
    assert promoted.intermediate_values == {0: 0.9, 1: 0.95}  # rung 0 carried over from the paused trial
    # the stand-in was resumed from the saved state (epoch 1, the history so far), not trained from scratch
    assert scripted.calls[-1] == ((4, 2), 1, [0.9])
    assert scripted.trained((4, 1)) == scripted.trained((4, 3)) == 1  # never promoted
    assert (stats.paused, stats.resumed, stats.restarted) == (3, 1, 0)
    # at the end every paused architecture is stopped for good and no saved state is left behind
    assert list((tmp_path / "run" / "artifacts").iterdir()) == []


def test_a_search_stopped_by_a_signal_keeps_the_paused_states_and_a_rerun_resumes_from_them(tmp_path):
    scripted = ScriptedTraining({(4, 2): [0.9, 0.95], (4, 1): [0.2, 0.3], (4, 3): [0.5, 0.6]}, epochs=2)
    holder: dict[str, SearchLoop] = {}

    def fit_then_ctrl_c(model, **callbacks):  # Ctrl-C arrives while (4, 1) trains its first epoch
        try:
            return scripted.fit(model, **callbacks)
        finally:
            if model.point == (4, 1):
                holder["loop"].stop.request()

    storage = optuna.storages.InMemoryStorage()
    loop, study, states = make_loop(tmp_path, scripted, target=3, ladder=Ladder(rungs=2, eta=3),
                                    queue=[(4, 2), (4, 1)], storage=storage, fit=fit_then_ctrl_c)
    holder["loop"] = loop
    stats = loop.run()

    assert stats.interrupted and stats.paused == 2
    paused = study.get_trials(deepcopy=False)
    assert [(_point(t), t.state, t.user_attrs[attrs.PAUSED_AT]) for t in paused] == [
        ((4, 2), TrialState.PRUNED, 0), ((4, 1), TrialState.PRUNED, 0)]
    saved = states.read(paused[0].user_attrs[attrs.STATE_ARTIFACT], epochs=2)  # kept: a rerun may promote it
    assert (saved["epoch"], saved["step"], saved["history"]) == (1, 0, [0.9])
    assert len(list((tmp_path / "run" / "artifacts").iterdir())) == 2

    rerun, study, _ = make_loop(tmp_path, scripted, target=3, ladder=Ladder(rungs=2, eta=3), queue=[(4, 3)],
                                storage=storage)
    assert rerun.run().resumed == 1
    best = study.best_trial
    assert (_point(best), best.value, best.user_attrs[attrs.RESUMES]) == ((4, 2), 0.95, paused[0].number)
    assert scripted.calls[-1] == ((4, 2), 1, [0.9])  # from the saved state, not from scratch
    assert scripted.trained((4, 2)) == 2 and scripted.trained((4, 1)) == 1


class UnreadableStates(SavedStates):
    """Saves as the real store does; every read finds a truncated file."""

    def read(self, artifact_id: str, **kwargs) -> dict[str, Any]:
        raise StateError("unreadable training state (truncated)")


def test_a_promotion_whose_state_cannot_be_read_trains_its_point_from_scratch(tmp_path):
    scripted = ScriptedTraining({(4, 2): [0.9, 0.95], (4, 1): [0.2, 0.3], (4, 3): [0.5, 0.6]}, epochs=2)
    loop, study, _ = make_loop(tmp_path, scripted, target=3, ladder=Ladder(rungs=2, eta=3),
                               queue=[(4, 2), (4, 1), (4, 3)], states_class=UnreadableStates)
    stats = loop.run()

    assert (stats.resumed, stats.restarted) == (0, 1)
    promoted = study.best_trial
    assert _point(promoted) == (4, 2) and promoted.value == 0.95
    assert promoted.user_attrs[attrs.RESTARTED] == "unreadable training state (truncated); trained from scratch"
    assert scripted.calls[-1] == ((4, 2), 0, None)  # epoch 0, no state
    assert promoted.intermediate_values == {0: 0.9, 1: 0.95}  # retrained, not copied


def test_a_point_over_budget_is_failed_with_its_macs_and_never_trained(tmp_path):
    scripted = ScriptedTraining({(4, 1): [0.4], (16, 3): [0.99]}, epochs=1)
    loop, study, _ = make_loop(tmp_path, scripted, target=2, ladder=None, queue=[(16, 3), (4, 1)])
    loop.run()

    over, fine = study.get_trials(deepcopy=False)[:2]
    assert over.state == TrialState.FAIL
    assert over.user_attrs[attrs.MACS] == tiny_macs(16, 3) > TINY_BUDGET
    assert over.user_attrs[attrs.REASON] == (f"over budget: {tiny_macs(16, 3):,} MACs > {TINY_BUDGET:,} "
                                             f"(not trained)")
    assert scripted.trained((16, 3)) == 0
    assert fine.state == TrialState.COMPLETE and fine.value == pytest.approx(0.4)
    assert fine.user_attrs[attrs.MACS] == tiny_macs(4, 1)


def test_a_duplicate_point_reuses_the_earlier_result_and_is_not_trained_again(tmp_path):
    scripted = ScriptedTraining({(4, 3): [0.25, 0.7]}, epochs=2)
    loop, study, _ = make_loop(tmp_path, scripted, target=2, ladder=None, queue=[(4, 3), (4, 3)])
    stats = loop.run()

    first, second = study.get_trials(deepcopy=False)[:2]
    assert first.state == second.state == TrialState.COMPLETE
    assert second.user_attrs[attrs.DUPLICATE_OF] == first.number
    assert second.value == first.value == pytest.approx(0.7)
    assert second.intermediate_values == {0: 0.25, 1: 0.7}
    assert scripted.trained((4, 3)) == 1 and stats.trained == 1
