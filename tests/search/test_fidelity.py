"""Multi-fidelity search: each epoch trains on a growing share of the train split, the rungs are reported at steps
1, 3, 9, and successive halving pauses the weak early, never at the last epoch. (eta from the shares:
tests/search/test_timeout.py; the rung rules themselves: tests/search/test_schedule.py.)"""

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
from nascomp.search.outputs.report import Reporter
from nascomp.train import TrainConfig, fit

from tests._search import one_thread, tiny_recipe, trained_trials  # noqa: F401 (fixture)

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
    trained = trained_trials(study)
    assert trained
    for t in trained:
        steps = sorted(t.intermediate_values)
        assert steps == [1, 3, 9][: len(steps)]  # rungs reported as the training resource
        if t.state == TrialState.COMPLETE:
            assert steps == [1, 3, 9] and t.values[0] == t.intermediate_values[9]
        else:
            assert t.state == TrialState.PRUNED and max(steps) in (1, 3)


@pytest.mark.parametrize("epochs", [1, 3])
def test_sha_never_stops_a_trial_at_its_last_epoch(tmp_path, epochs):
    """With one epoch every trial completes; with three rungs (ASHA with pauses) a trial pauses only at rungs 0 and
    1 (steps 1 and 3), and every trial that trains its last epoch (step 9) completes."""
    from nascomp.search import run_search

    recipe = tiny_recipe(tmp_path, trials=3, epochs=epochs, pruner="sha")
    shares = SHARES if epochs == 3 else (0.5,)
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=shares))
    result = run_search(recipe, reporter=_quiet())
    study = optuna.load_study(study_name="tiny", storage=result.storage)
    trained = trained_trials(study)
    assert trained
    if epochs == 1:
        assert all(t.state == TrialState.COMPLETE for t in trained)
    else:
        assert all(t.state == TrialState.COMPLETE for t in trained if 9 in t.intermediate_values)
        assert all(max(t.intermediate_values) in (1, 3) for t in trained if t.state == TrialState.PRUNED)
        assert result.best is not None


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
