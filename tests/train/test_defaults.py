"""The default recipe trains at every length the CLI allows, down to one epoch of a handful of steps.

Issue 22: with a dozen steps per epoch, 1-epoch runs of the defaults scored chance (batch-norm running statistics
still mostly their initial values) and short SGD runs diverged. Chance here is 10 % (ten digit classes).
"""

from __future__ import annotations

import io
import math

import pytest
import torch
from rich.console import Console

from nascomp.train import RunConfig, train_spec
from nascomp.train.evaluation import recalibrate_batch_norm

from tests._search import one_thread  # noqa: F401 (fixture)
from tests._train import write_spec

pytestmark = pytest.mark.usefixtures("one_thread")

# A point of search_spaces/se_resnext.yaml shrunk to 5 bottlenecks (1.7 M params): deep enough in batch norms that
# running statistics lagging the weights show (the tiny plain CNN of the other training tests has only two).
TINY_SE_RESNEXT = """\
name: tiny_se_resnext
doc: A small SE-ResNeXt for the training-defaults tests.
input_shape: [3, 28, 28]
params: {num_classes: 10}
nodes:
  - {id: conv1, type: conv2d, out_channels: 64, kernel_size: 7, stride: 2, padding: 3, bias: false}
  - {id: bn1, type: batch_norm2d}
  - {id: relu, type: relu}
  - {id: maxpool, type: max_pool2d, kernel_size: 3, stride: 2, padding: 1}
  - {id: layer1, type: bottleneck, planes: 32, groups: 8, width_per_group: 8, se_reduction: 16}
  - {id: layer2, type: bottleneck, planes: 64, groups: 8, width_per_group: 8, se_reduction: 16, stride: 2}
  - {id: layer3, type: bottleneck, repeat: 2, planes: 128, groups: 8, width_per_group: 8, se_reduction: 16,
     stride: "${2 if index == 0 else 1}"}
  - {id: layer4, type: bottleneck, planes: 256, groups: 8, width_per_group: 8, se_reduction: 16, stride: 2}
  - {id: avgpool, type: adaptive_avg_pool2d, output_size: 1}
  - {id: flatten, type: flatten}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def _train(tmp_path, name, **settings):
    config = RunConfig(data="digits", device="cpu", workers=0, **settings)
    spec = write_spec(tmp_path, TINY_SE_RESNEXT, f"{name}.yaml")
    return train_spec(spec, config, out=tmp_path / name, progress=False, console=Console(file=io.StringIO()))


def test_one_epoch_of_a_few_steps_with_the_defaults_beats_chance(tmp_path):
    summary = _train(tmp_path, "one_epoch", epochs=1, max_images=600)  # 539 train images: 5 steps of 128
    losses = [row[key] for row in summary.history for key in ("train_loss", "val_loss")]
    assert all(math.isfinite(loss) for loss in losses), losses
    assert summary.test_accuracy > 0.3, summary.test_accuracy  # chance: 0.1 (measured 0.41-0.54; 0.10 before)


def test_weights_hold_the_recalibrated_statistics(tmp_path):
    """``weights.pt`` is evaluated as trained: its BN running statistics are the average batch statistics of the
    first ``bn_recalibration_images`` unaugmented train images (recomputed here with the saved weights)."""
    summary = _train(tmp_path, "stats", epochs=1, max_images=600, bn_recalibration_images=256, batch_size=128)
    import nascomp
    from nascomp.data import load_data
    from nascomp.data.pipeline import batches

    saved = torch.load(tmp_path / "stats" / "weights.pt", weights_only=True)
    model = nascomp.build(tmp_path / "stats" / "spec.yaml")
    model.load_state_dict(saved)
    data = load_data("digits", image_size=None, channels=3, val_fraction=0.1, seed=0, max_images=600)
    recalibrate_batch_norm(model, batches(data, "train", batch_size=128, epoch=0, seed=0, train=True), 2)
    for name, value in model.state_dict().items():
        if name.endswith(("running_mean", "running_var")):
            assert torch.allclose(value, saved[name], atol=1e-5), name
    assert summary.epochs_done == 1


def test_without_recalibration_the_same_run_scores_chance(tmp_path):
    """The evidence that recalibration, not the optimizer, is what a short run lacked: same run, recalibration off."""
    on = _train(tmp_path, "on", epochs=1, max_images=600)
    off = _train(tmp_path, "off", epochs=1, max_images=600, bn_recalibration_images=0)
    assert off.test_accuracy < 0.15 < 0.3 < on.test_accuracy, (on.test_accuracy, off.test_accuracy)
