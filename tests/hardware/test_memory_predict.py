"""Training-memory prediction (``nascomp/hardware/memory.py``) against the CPU allocator's measured peak.

The reference is torch's own allocator, read through torch's profiler (``profile_memory=True``,
:func:`nascomp.hardware.memory_measure.measure_training_peak`) over a real training step. The tolerance, 5 %, is the
one docs/memory.md states (benchmarks/bench_memory.py: the largest error it measured was under 3 %). It can fail:
leaving out last step's gradients, which the forward still holds, would miss resnet18's peak by over a quarter.
"""

from __future__ import annotations

import math

import pytest

import nascomp
from nascomp.hardware import predict_training_memory
from nascomp.hardware.memory_measure import measure_training_peak
from nascomp.search.space.search_space import load_space

TOLERANCE = 0.05

# every op kind whose saved tensors differ: max pool (indices), dropout (mask), SE's mul, sigmoid/silu, concat,
# a global max, a flatten that copies (channels-last, spatial > 1), in-place and out-of-place ReLUs
ZOO_OF_OPS = """\
name: op_mix
input_shape: [3, 16, 16]
nodes:
  - {id: conv, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
  - {id: bn, type: batch_norm2d}
  - {id: act, type: relu}
  - {id: pool, type: max_pool2d, kernel_size: 2}
  - {id: a, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
  - {id: a_act, type: silu}
  - {id: squeeze, type: global_pool, mode: max}
  - {id: gate, type: sigmoid}
  - {id: excite, type: mul, inputs: [a_act, gate]}
  - {id: cat, type: concat, inputs: [excite, pool]}
  - {id: cat_act, type: relu}
  - {id: flat, type: flatten}
  - {id: drop, type: dropout, p: 0.2}
  - {id: fc, type: linear, out_features: 10}
"""


def _check(spec, shape, batch_size: int, optimizer: str) -> tuple[int, int]:
    predicted = predict_training_memory(spec, shape, batch_size=batch_size, optimizer=optimizer).peak_bytes
    model = nascomp.build(spec, input_shape=shape)
    measured = measure_training_peak(model, shape, batch_size=batch_size, optimizer=optimizer)
    assert abs(predicted - measured) <= TOLERANCE * measured, (predicted, measured)
    return predicted, measured


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_resnet18_peak_within_tolerance_of_the_allocator(optimizer: str) -> None:
    spec = nascomp.load_spec("resnet18", num_classes=10)
    _check(spec, (3, 32, 32), 8, optimizer)


def test_every_saved_tensor_kind_within_tolerance() -> None:
    _check(nascomp.load_spec(ZOO_OF_OPS), (3, 16, 16), 16, "adamw")


@pytest.mark.parametrize("space_name, point", [
    ("se_resnext", {"depth1": 1, "depth2": 1, "depth3": 1, "depth4": 1}),
    ("densenet", {"depth1": 2, "depth2": 4, "depth3": 8, "depth4": 4, "growth_rate": 12, "init_features": 32}),
])
def test_search_space_points_within_tolerance(space_name: str, point: dict) -> None:
    space = load_space(space_name)
    full = {**{name: dim.values[0] for name, dim in space.dimensions.items()}, **point}
    spec = space.spec(full, num_classes=10, input_shape=(3, 32, 32))
    _check(spec, (3, 32, 32), 4, "sgd")


def test_fixed_terms_match_the_built_module() -> None:
    model = nascomp.build("resnet18", num_classes=10)
    n = sum(p.numel() for p in model.parameters())
    mem = predict_training_memory("resnet18", (3, 32, 32), batch_size=8, optimizer="adamw", num_classes=10)
    assert mem.params_bytes == mem.grads_bytes == 4 * n
    assert mem.optimizer_bytes == 2 * 4 * n  # AdamW: two moments per parameter
    assert mem.batch_bytes == 8 * (4 * 3 * 32 * 32 + 8)  # float32 images, int64 labels
    sgd = predict_training_memory("resnet18", (3, 32, 32), batch_size=8, optimizer="sgd", num_classes=10)
    assert sgd.optimizer_bytes == 4 * n


def test_saved_activations_scale_with_the_batch() -> None:
    one = predict_training_memory("resnet18", (3, 32, 32), batch_size=1, num_classes=10)
    eight = predict_training_memory("resnet18", (3, 32, 32), batch_size=8, num_classes=10)
    assert eight.saved_bytes == 8 * one.saved_bytes
    # resnet18's first conv saves the input batch: with it, at least the 64x16x16 stem output, its BN input and
    # its ReLU output (in place, shared) are held
    assert one.saved_bytes >= 4 * 2 * 64 * 16 * 16
    assert math.isfinite(eight.peak_bytes) and eight.peak_bytes > eight.saved_bytes


@pytest.mark.parametrize("kwargs, fragment", [({"batch_size": 0}, "batch size"), ({"optimizer": "lion"}, "lion")])
def test_bad_arguments_are_refused(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        predict_training_memory("resnet18", **kwargs)



def test_cli_profile_memory_json(tmp_path) -> None:
    import json

    import torchvision
    from tests._cli import run_cli

    result = run_cli("profile", "resnet18", "--memory", "--json", "--optimizer", "sgd", "--input", "3x32x32",
                     "--batch-size", "4", "--set", "num_classes=10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    mem = json.loads(result.stdout)["training_memory"]
    n = sum(p.numel() for p in torchvision.models.resnet18(num_classes=10).parameters())
    assert mem["params_bytes"] == mem["optimizer_bytes"] == 4 * n  # SGD momentum: one buffer per parameter
    assert mem["batch_bytes"] == 4 * (4 * 3 * 32 * 32 + 8)
    assert mem["peak_bytes"] > 3 * 4 * n  # parameters, gradients and momentum are all held at the peak


def test_cli_profile_memory_bad_batch_size_is_one_line(tmp_path) -> None:
    from tests._cli import assert_one_line_error, run_cli

    result = run_cli("profile", "resnet18", "--memory", "--batch-size", "0", cwd=tmp_path)
    assert_one_line_error(result, "--batch-size must be a whole number of at least 1, found 0")
