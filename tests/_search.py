"""Shared by the search tests: a tiny search space and recipe that train in about a second per trial."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from nascomp.search import load_recipe

# Costs at 3x16x16, 10 classes (MACs: 3x3 convs, 256 positions, plus the FC):
#   width 4: 27,648 + depth * 36,864 + 40        width 8: 55,296 + depth * 147,456 + 80
#   width 16: 110,592 + depth * 589,824 + 160
# Under 300,000 MACs exactly four points fit: (4, 1), (4, 2), (4, 3), (8, 1).
TINY_SPACE = """\
name: tiny
doc: A two-dimensional test space of plain CNNs.
dimensions:
  width: {choices: [4, 8, 16]}
  depth: {low: 1, high: 3}
points:
  small: {width: 4, depth: 1}
architecture:
  name: tiny
  input_shape: [3, 16, 16]
  params: {num_classes: 10, width: 8, depth: 1}
  nodes:
    - {id: stem, type: conv_bn_act, out_channels: "${width}", kernel_size: 3, padding: 1}
    - {id: body, type: conv_bn_act, repeat: "${depth}", out_channels: "${width}", kernel_size: 3, padding: 1}
    - {id: pool, type: adaptive_avg_pool2d, output_size: 1}
    - {id: flatten, type: flatten}
    - {id: fc, type: linear, out_features: "${num_classes}"}
"""

TINY_BUDGET = 300_000
TINY_FITTING = {(4, 1), (4, 2), (4, 3), (8, 1)}


def tiny_macs(width: int, depth: int, num_classes: int = 10) -> int:
    """Hand count of the tiny space's MACs at 3x16x16 (conv: k*k*C_in*C_out*H*W; FC: in*out)."""
    return 9 * 3 * width * 256 + depth * 9 * width * width * 256 + width * num_classes


def write_tiny_space(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny space.yaml"
    path.write_text(TINY_SPACE, encoding="utf-8")
    return path


def tiny_recipe(folder: Path, **overrides):
    """The default recipe on the tiny space: 8x8 digits, 1 full epoch (no data shares), the median pruner, no
    census, output in ``folder/run``."""
    space = write_tiny_space(folder)
    base = load_recipe()
    base = dataclasses.replace(base, train=dataclasses.replace(base.train, data_fractions=None))
    flags = dict(data="digits", pruner="median", space=str(space), budget=TINY_BUDGET, input_shape="3x16x16", trials=3, epochs=1, image_size=8, census=20,
                 out=str(folder / "run"), study_name="tiny", device="cpu", timeout="none")
    flags.update(overrides)
    recipe = base.with_overrides(**flags)
    return recipe


def trained_trials(study) -> list:
    """The trials of ``study`` that trained their point: not failed, and not reusing an earlier trial's result."""
    from optuna.trial import TrialState

    from nascomp.search.trials import record as attrs

    return [t for t in study.trials if attrs.DUPLICATE_OF not in t.user_attrs and t.state != TrialState.FAIL]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets train fastest on one thread, and two test workers on two cores must not oversubscribe them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
