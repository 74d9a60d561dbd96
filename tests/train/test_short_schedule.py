"""A schedule too short for a warm-up phase still trains (torch's OneCycleLR would divide by zero there)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nascomp.data import load_data
from nascomp.train import TrainConfig, fit


@pytest.mark.parametrize("epochs, batch_size", [(1, 64), (2, 128)])
def test_few_steps_per_epoch_train_without_error(epochs: int, batch_size: int) -> None:
    data = load_data("digits", image_size=8, max_images=300)
    steps = epochs * math.ceil(len(data.y_train) / batch_size)
    assert 0.25 * steps < 2  # the case OneCycleLR cannot schedule
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    result = fit(net, data, TrainConfig(epochs=epochs, batch_size=batch_size))
    assert len(result.history) == epochs
    assert all(0.0 <= a <= 1.0 for a in result.history)
    assert result.accuracy > 0.1  # better than chance on 10 classes after a few steps
