"""Multi-fidelity search: each epoch trains on a growing share of the train split, the pruner sees the rungs
(steps 1, 3, 9) and successive halving stops the weak early, never at the last epoch."""

from __future__ import annotations

import dataclasses
import io
import math

import optuna
import pytest
import rich.console
import torch
from optuna.trial import TrialState
from torch import nn

from nascomp.data import load_data
from nascomp.errors import SearchError
from nascomp.search.report import Reporter
from nascomp.train import TrainConfig, fit

from _search import one_thread, tiny_recipe  # noqa: F401 (fixture)

SHARES = (1 / 9, 1 / 3, 1.0)


def _quiet() -> Reporter:
    return Reporter(console=rich.console.Console(file=io.StringIO(), width=200), bars=False)


def _fidelity_recipe(tmp_path, **overrides):
    recipe = tiny_recipe(tmp_path, epochs=3, pruner="sha", **overrides)
    return dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=SHARES))


def test_fit_trains_each_epoch_on_its_share():
    data = load_data("digits", image_size=8, seed=0)
    n, batch = len(data.y_train), 64
    steps: list[tuple[int, int]] = []
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    result = fit(net, data, TrainConfig(epochs=3, batch_size=batch, data_fractions=SHARES),
                 on_step=lambda step, total: steps.append((step, total)))
    per_epoch = [math.ceil(f * n / batch) for f in SHARES]  # hand count: ceil(share * images / batch)
    assert per_epoch[0] < per_epoch[1] < per_epoch[2]
    assert len(steps) == sum(per_epoch)
    assert [total for _, total in steps] == [per_epoch[e] for e in range(3) for _ in range(per_epoch[e])]
    assert len(result.history) == 3 and result.accuracy > 0.6  # 1.44 epochs of data; chance is 0.1


@pytest.mark.parametrize("shares, fragment", [((0.5,), "one share per epoch"), ((1.0, 0.5, 1.0), "non-decreasing"),
                                              ((0.0, 0.5, 1.0), "non-decreasing")])
def test_bad_shares(shares, fragment):
    with pytest.raises(SearchError, match=fragment):
        TrainConfig(epochs=3, data_fractions=shares)


def test_successive_halving_over_rungs(tmp_path):
    from nascomp.search import run_search

    result = run_search(_fidelity_recipe(tmp_path, trials=4), reporter=_quiet())
    study = optuna.load_study(study_name="tiny", storage=result.storage)
    trained = [t for t in study.trials if "duplicate_of" not in t.user_attrs and t.state != TrialState.FAIL]
    assert trained
    for t in trained:
        steps = sorted(t.intermediate_values)
        assert steps == [1, 3, 9][: len(steps)]  # rungs reported as the training resource
        if t.state == TrialState.COMPLETE:
            assert steps == [1, 3, 9] and t.values[0] == t.intermediate_values[9]
        else:
            assert t.state == TrialState.PRUNED and max(steps) in (1, 3)


def test_sha_pruner_follows_the_shares(tmp_path):
    from nascomp.search.study import _make_pruner

    pruner = _make_pruner(_fidelity_recipe(tmp_path))
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    # rung 0 is decided at step 1; eta = 3 (the share grows 3x per rung): a trial at step 1 below the best third of
    # three earlier ones is pruned, one in it is not
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for value in (0.5, 0.6, 0.7):
        t = study.ask()
        t.report(value, 1)
        assert not t.should_prune() or value < 0.7
        study.tell(t, value)
    low, high = study.ask(), study.ask()
    low.report(0.55, 1)
    high.report(0.9, 1)
    assert low.should_prune() and not high.should_prune()


@pytest.mark.parametrize("epochs", [1, 3])
def test_sha_never_prunes_at_the_last_epoch(tmp_path, monkeypatch, epochs):
    """A pruner that always says prune stops every trial at rung 0 (step 1) with three rungs; with one epoch (the
    last) it is never consulted."""
    from nascomp.search import run_search

    monkeypatch.setattr(optuna.pruners.SuccessiveHalvingPruner, "prune", lambda self, study, trial: True)
    recipe = tiny_recipe(tmp_path, trials=3, epochs=epochs, pruner="sha")
    shares = SHARES if epochs == 3 else (0.5,)
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=shares))
    result = run_search(recipe, reporter=_quiet())
    study = optuna.load_study(study_name="tiny", storage=result.storage)
    trained = [t for t in study.trials if "duplicate_of" not in t.user_attrs and t.state != TrialState.FAIL]
    assert trained
    if epochs == 1:
        assert all(t.state == TrialState.COMPLETE for t in trained)
    else:
        assert all(t.state == TrialState.PRUNED and max(t.intermediate_values) == 1 for t in trained)


def test_resume_with_shares_is_the_same_study(tmp_path):
    """The shares are part of the study's identity: a rerun of the same recipe resumes (tuples stored as JSON)."""
    from nascomp.search import run_search

    recipe = _fidelity_recipe(tmp_path, trials=1)
    run_search(recipe, reporter=_quiet())
    again = run_search(dataclasses.replace(recipe, search=dataclasses.replace(recipe.search, trials=2)),
                       reporter=_quiet())
    assert again.trials == 2
    other = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=(0.5, 0.5, 1.0)))
    with pytest.raises(SearchError, match="data_fractions"):
        run_search(other, reporter=_quiet())
