"""BN recalibration before each proxy validation (Guo et al., arXiv:1904.00420; Cai et al., arXiv:1908.09791).

References come from PyTorch's documented batch-norm semantics: with ``momentum=None`` the running mean is the
cumulative (plain) average of the batch means, and the running variance that of the unbiased batch variances.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from nascomp.data import load_data
from nascomp.data.pipeline import batches
from nascomp.errors import SearchError
from nascomp.search import load_recipe
from nascomp.train import TrainConfig, fit
from nascomp.train.evaluation import recalibrate_batch_norm


def test_running_statistics_become_the_average_of_the_batch_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4))
    net[1].running_mean.fill_(7.0)  # stale statistics, as after a few fast steps
    xs = [torch.randn(8, 3, 6, 6) * (k + 1) + k for k in range(3)]
    with torch.no_grad():
        conv = [net[0](x) for x in xs]
    expected_mean = torch.stack([c.mean(dim=(0, 2, 3)) for c in conv]).mean(0)
    expected_var = torch.stack([c.transpose(0, 1).reshape(4, -1).var(dim=1, unbiased=True) for c in conv]).mean(0)
    weight = net[0].weight.detach().clone()
    used = recalibrate_batch_norm(net, iter([(x, None) for x in xs] + [(torch.randn(8, 3, 6, 6) * 100, None)]), 3)
    assert used == 3  # the fourth batch (scale 100) is never seen
    torch.testing.assert_close(net[1].running_mean, expected_mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net[1].running_var, expected_var, rtol=1e-4, atol=1e-5)
    assert int(net[1].num_batches_tracked) == 3
    assert net[1].momentum == 0.1 and net[3].momentum == 0.1  # restored
    assert torch.equal(net[0].weight, weight)  # weights untouched


def test_without_batch_norm_nothing_happens():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    assert recalibrate_batch_norm(net, iter([(torch.randn(2, 3, 2, 2), None)]), 4) == 0


def test_fit_recalibrates_from_the_epochs_first_train_batches():
    data = load_data("digits", image_size=8, seed=0)
    config = TrainConfig(epochs=1, batch_size=32, bn_recalibration_batches=2)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 10))
    fit(net, data, config, seed=5)
    # reference: the first 2 batches of epoch 0's seeded shuffle through the trained conv, averaged
    xs = [x for x, _ in itertools.islice(batches(data, "train", batch_size=32, epoch=0, seed=5, train=True), 2)]
    with torch.no_grad():
        expected = torch.stack([net[0](x).mean(dim=(0, 2, 3)) for x in xs]).mean(0)
    torch.testing.assert_close(net[1].running_mean, expected, rtol=1e-5, atol=1e-5)
    assert int(net[1].num_batches_tracked) == 2


def test_off_keeps_the_trained_running_statistics():
    data = load_data("digits", image_size=8, seed=0)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 10))
    fit(net, data, TrainConfig(epochs=1, batch_size=32, bn_recalibration_batches=0))
    steps = -(-len(data.y_train) // 32)
    assert int(net[1].num_batches_tracked) == steps  # one update per training step, none after


def test_negative_is_an_error():
    with pytest.raises(SearchError, match="bn_recalibration_batches"):
        TrainConfig(bn_recalibration_batches=-1)


def test_epochs_flag_replaces_the_default_data_shares():
    default = load_recipe()
    assert default.train.data_fractions == (0.1111, 0.3333, 1.0)
    assert default.with_overrides(epochs=3).train.data_fractions == (0.1111, 0.3333, 1.0)  # same count: kept
    two = default.with_overrides(epochs=2)
    assert two.train.epochs == 2 and two.train.data_fractions is None


def test_old_studies_resume_without_recalibration():
    from nascomp.search.study_identity import upgrade_identity

    stored = {"data": {"source": "digits", "split_seed": 0}, "train": {"epochs": 3}}
    # and before validation shares: every epoch validated on the whole split
    assert upgrade_identity(stored)["train"] == {"epochs": 3, "bn_recalibration_batches": 0, "val_fractions": None}
    assert upgrade_identity({**stored, "train": {"epochs": 3, "bn_recalibration_batches": 4}})["train"][
        "bn_recalibration_batches"] == 4
