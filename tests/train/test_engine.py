"""The search's proxy (``nascomp.train.fit``) and ``nascomp train`` (``train_spec``) run one engine: the same
divergence error, the same steps-per-epoch rule. Reference values are counted by hand from the split sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nascomp.data import load_data
from nascomp.data.pipeline import EpochBatchSampler, batches
from nascomp.errors import NascompError
from nascomp.train import RunConfig, TrainConfig, TrainingDiverged, fit, steps_per_epoch, train_spec

from tests._cli import assert_one_line_error, run_cli
from tests._search import one_thread  # noqa: F401 (fixture)
from tests._train import QUICK, write_spec

pytestmark = pytest.mark.usefixtures("one_thread")

# digits at 8 px, 400 train + validation images, a fifth of them validation: 321 train images = 10 batches of 32
# and one of a single image, which batch norm cannot normalise and the pipeline drops: 10 optimizer steps.
TRAIN_IMAGES, BATCH, STEPS = 321, 32, 10


@pytest.fixture(scope="module")
def data():
    data = load_data("digits", image_size=8, max_images=400, val_fraction=0.2, seed=0)
    assert len(data.y_train) == TRAIN_IMAGES
    return data


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10))


def test_one_steps_per_epoch_rule_is_the_batches_the_pipeline_yields(data):
    assert steps_per_epoch(TRAIN_IMAGES, BATCH) == STEPS
    assert steps_per_epoch(TRAIN_IMAGES + 1, BATCH) == STEPS + 1  # a last batch of 2 is kept
    assert len(EpochBatchSampler(TRAIN_IMAGES, BATCH, generator=torch.Generator())) == STEPS
    assert sum(1 for _ in batches(data, "train", batch_size=BATCH, train=True)) == STEPS
    # the rungs' shares: ceil(1/2 * 321 / 32) = 6 steps, then the full 10
    assert TrainConfig(epochs=2, batch_size=BATCH, data_fractions=(0.5, 1.0)).epoch_steps(TRAIN_IMAGES) == [6, STEPS]


def test_the_proxy_and_nascomp_train_take_the_same_steps(data, tmp_path):
    seen: list[tuple[int, int]] = []
    fit(_net(), data, TrainConfig(epochs=1, batch_size=BATCH), on_step=lambda step, total: seen.append((step, total)))
    assert seen == [(k, STEPS) for k in range(1, STEPS + 1)]  # the schedule plans the steps that run

    config = RunConfig(data="digits", epochs=1, batch_size=BATCH, max_images=400, val_fraction=0.2, seed=0,
                       device="cpu", workers=0, bn_recalibration_images=0)
    summary = train_spec(write_spec(tmp_path), config, out=tmp_path / "run", progress=False)
    assert summary.history[0]["train_images"] == STEPS * BATCH


def test_the_proxy_and_nascomp_train_stop_with_one_divergence_error(data, tmp_path):
    """A peak learning rate of 1e38 overflows float32 weights after the first step: the second step's loss is NaN."""
    with pytest.raises(TrainingDiverged, match=r"^loss became nan at epoch 1, step 2$") as proxy:
        fit(_net(), data, TrainConfig(epochs=1, batch_size=BATCH, optimizer="sgd", lr=1e38))
    config = RunConfig(data="digits", epochs=1, batch_size=BATCH, max_images=400, optimizer="sgd", lr=1e38,
                       device="cpu", workers=0)
    with pytest.raises(TrainingDiverged, match=r"^training diverged: the loss became nan at epoch 1, step 2; "
                                               r"lower --lr \(now 1e\+38\)$") as full:
        train_spec(write_spec(tmp_path), config, out=tmp_path / "run", progress=False)
    assert type(proxy.value) is type(full.value) and isinstance(full.value, NascompError)
    assert not (tmp_path / "run").exists()  # no epoch finished: nothing is left behind


def test_cli_divergence_is_one_line(tmp_path):
    spec = write_spec(tmp_path)
    result = run_cli("train", str(spec), *QUICK, "--epochs", "1", "--lr", "1e38", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "nascomp train: error: training diverged: the loss became ", "lower --lr")
    assert not (tmp_path / "out").exists()
