"""The expander's memo of block instances and the spec cache see every file a spec depends on.

A spec is cached on its own file and on every file it imports (path, ``st_mtime_ns``, size), and expanded block
instances are keyed on the block definition itself, so editing an imported block file changes the next result.
Expected figures are worked out by hand from the conv rule (params = in * out * k * k, no bias).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nascomp
from nascomp.graph.expansion_tree import Totals

SPEC = """\
name: uses_import
input_shape: [3, 8, 8]
imports: [my_blocks.yaml]
nodes:
  - {id: body, type: widen, repeat: 2}
"""

BLOCKS = """\
blocks:
  widen:
    params: {}
    nodes:
      - {id: conv, type: conv2d, out_channels: 3, kernel_size: 1, bias: false}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """A spec file that imports ``my_blocks.yaml`` from its folder."""
    (tmp_path / "my_blocks.yaml").write_text(BLOCKS)
    path = tmp_path / "net.yaml"
    path.write_text(SPEC)
    return path


def test_editing_an_imported_block_file_changes_the_next_profile(spec: Path) -> None:
    blocks = spec.parent / "my_blocks.yaml"
    before = nascomp.profile(spec)
    assert before.params == 2 * 3 * 3  # two 1x1 convs 3 -> 3
    blocks.write_text(BLOCKS.replace("kernel_size: 1", "kernel_size: 3, padding: 1"))  # the spec file is untouched
    after = nascomp.profile(spec)
    assert after.params == 2 * 3 * 3 * 9
    assert after.macs == 2 * 3 * 3 * 9 * 8 * 8
    assert nascomp.build(spec)(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_a_repetition_records_its_count_and_its_block(spec: Path) -> None:
    (sub,) = nascomp.profile(spec).expansion.items
    assert (sub.kind, sub.repeat, sub.label) == ("widen", 2, "widen x2")
    assert [row.type for row in nascomp.profile(spec).rows()] == ["widen x2"]


def test_totals_add_field_by_field_and_sum_over_items(spec: Path) -> None:
    assert Totals(1, 2, 3) + Totals(10, 20, 30) == Totals(11, 22, 33)
    expansion = nascomp.profile(spec).expansion
    assert expansion.totals == Totals(macs=2 * 9 * 64, params=2 * 9, activations=2 * 3 * 64)
