"""The proxy training loop: per-epoch accuracy, label smoothing, NaN -> failure, Ctrl-C -> stop after a step."""

import pytest
import torch
from torch import nn

from nascomp.data import load_data
from nascomp.errors import SearchError
from nascomp.train import TrainConfig, TrainingDiverged, TrainingInterrupted, fit

from tests._search import one_thread  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def data():
    return load_data("digits", image_size=8, seed=0)


def _linear():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))


def test_fit_reports_every_epoch(data):
    seen = []
    # three epochs: 15 % of digits is now the held-out test split, so an epoch has fewer steps than it had
    result = fit(_linear(), data, TrainConfig(epochs=3), on_epoch=lambda e, a: seen.append((e, a)))
    assert [e for e, _ in seen] == [0, 1, 2]
    assert result.history == [a for _, a in seen] and result.accuracy == seen[-1][1]
    assert result.accuracy > 0.85  # a linear classifier on digits


def test_fit_is_reproducible(data):
    a = fit(_linear(), data, TrainConfig(epochs=1), seed=5).accuracy
    b = fit(_linear(), data, TrainConfig(epochs=1), seed=5).accuracy
    assert a == b


def test_label_smoothing_reaches_the_loss(data, monkeypatch):
    made = []
    original = nn.CrossEntropyLoss

    def spy(*args, **kwargs):
        made.append(kwargs.get("label_smoothing"))
        return original(*args, **kwargs)

    monkeypatch.setattr(nn, "CrossEntropyLoss", spy)
    fit(_linear(), data, TrainConfig(epochs=1, label_smoothing=0.3))
    assert made == [0.3]


def test_nan_loss_is_a_failure(data):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(192, 10)

        def forward(self, x):
            return self.fc(x.flatten(1)) * float("nan")

    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1, step 1"):
        fit(Broken(), data, TrainConfig(epochs=1))


def test_should_stop_interrupts_after_the_current_step(data):
    steps = []
    with pytest.raises(TrainingInterrupted, match="epoch 1, step 2"):
        fit(_linear(), data, TrainConfig(epochs=1), on_step=lambda s, n: steps.append(s),
            should_stop=lambda: len(steps) >= 2)
    assert steps == [1, 2]


@pytest.mark.parametrize("kwargs, fragment", [({"epochs": 0}, "at least 1"), ({"label_smoothing": 1.0}, "[0, 1)"),
                                              ({"optimizer": "lamb"}, "adamw, sgd")])
def test_bad_config(kwargs, fragment):
    with pytest.raises(SearchError, match=fragment.replace("[", r"\[").replace(")", r"\)")):
        TrainConfig(**kwargs)
