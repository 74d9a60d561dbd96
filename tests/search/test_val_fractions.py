"""Validation shares (``train.val_fractions``): the early rungs of successive halving validate on a fixed strided
subset of the validation split, the last epoch on all of it, and every accuracy's standard error uses the images it
was measured on."""

from __future__ import annotations

import csv
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
from nascomp.search import run_search
from nascomp.search.outputs.report import Reporter
from nascomp.train import TrainConfig, evaluate, fit

from tests._search import one_thread, tiny_recipe  # noqa: F401 (fixture)


def _hand_accuracy(net: nn.Module, data, stride: int) -> tuple[float, int]:
    """Accuracy over every ``stride``-th validation image, computed here with plain torch (the reference)."""
    x = data.x_val[::stride].float().div(127.5).sub(1.0)
    y = data.y_val[::stride]
    net.eval()
    with torch.no_grad():
        return (net(x).argmax(1) == y).sum().item() / len(y), len(y)


def test_evaluate_with_a_stride_scores_every_kth_image():
    data = load_data("digits", image_size=8, seed=0)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    fit(net, data, TrainConfig(epochs=1, batch_size=64))
    for stride in (1, 3, 7):
        expected, n = _hand_accuracy(net, data, stride)
        assert n == math.ceil(len(data.y_val) / stride)
        assert evaluate(net, data, "val", stride=stride)[0] == pytest.approx(expected, abs=1e-12)
    assert _hand_accuracy(net, data, 3)[0] != _hand_accuracy(net, data, 1)[0]  # the subset is a different number


def test_fit_validates_each_epoch_on_its_share(monkeypatch):
    import nascomp.train.evaluation as loop  # where evaluate() takes its batches

    data = load_data("digits", image_size=8, seed=0)
    seen = []
    original = loop.batches

    def counting(data_, split, **kw):
        for xb, yb in original(data_, split, **kw):
            if split == "val":
                seen.append(len(yb))
            yield xb, yb

    monkeypatch.setattr(loop, "batches", counting)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    config = TrainConfig(epochs=2, batch_size=64, val_fractions=(1 / 3, 1.0), bn_recalibration_batches=0)
    result = fit(net, data, config, on_epoch=lambda epoch, acc: seen.append(("epoch", epoch)))
    per_epoch, count = [], 0
    for item in seen:
        if isinstance(item, tuple):
            per_epoch.append(count)
            count = 0
        else:
            count += item
    n = len(data.y_val)
    assert per_epoch == [math.ceil(n / 3), n] == config.val_images(n)
    assert len(result.history) == 2


@pytest.mark.parametrize("shares, fragment", [((0.5,), "one share per epoch"), ((1.0, 0.5), "ending with 1.0"),
                                              ((0.0, 1.0), "in \\(0, 1\\]")])
def test_bad_val_shares(shares, fragment):
    with pytest.raises(SearchError, match=fragment):
        TrainConfig(epochs=2, val_fractions=shares)


def test_pruned_trials_carry_the_n_of_their_accuracy(tmp_path):
    """A trial stopped after epoch 1 was validated on a third of the split: trials.csv's standard error uses that
    n, a complete trial's the whole split's."""
    recipe = tiny_recipe(tmp_path, trials=4, epochs=2, pruner="sha")
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=(1 / 3, 1.0),
                                                                   val_fractions=(1 / 3, 1.0)))
    result = run_search(recipe, reporter=Reporter(console=rich.console.Console(file=io.StringIO()), bars=False))
    study = optuna.load_study(study_name="tiny", storage=result.storage)
    n = study.user_attrs["val_images"]
    rows = {int(r["number"]): r for r in csv.DictReader((result.out / "trials.csv").open())}
    checked = set()
    for t in study.trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED) or "duplicate_of" in t.user_attrs:
            continue
        epochs_run = len(t.intermediate_values)
        n_t = math.ceil(n / 3) if epochs_run == 1 else n
        assert t.user_attrs["val_images"] == n_t
        p = t.values[0] if t.state == TrialState.COMPLETE else t.intermediate_values[max(t.intermediate_values)]
        assert float(rows[t.number]["accuracy_se"]) == pytest.approx(math.sqrt(p * (1 - p) / n_t), abs=6e-5)
        checked.add(epochs_run)
    assert 2 in checked  # at least one complete trial (the first is never pruned at its rung)
