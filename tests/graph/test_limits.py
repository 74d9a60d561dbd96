"""Specs that are valid YAML but cannot be built here fail fast with a SpecError, never a traceback or a hang."""

from __future__ import annotations

import os
import time

import pytest

import nascomp
from tests._cli import assert_one_line_error, run_cli
from nascomp.graph.expander import MAX_OPS, MAX_REPEAT


def _spec(nodes: str) -> str:
    return "name: x\ninput_shape: [3, 32, 32]\nnodes:\n" + nodes


def test_weights_larger_than_memory_are_refused_before_allocating() -> None:
    text = _spec("  - {id: c, type: conv2d, out_channels: 100000000000, kernel_size: 3}\n")
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    need = 100_000_000_000 * 3 * 3 * 3 + 100_000_000_000  # weights + bias, float32 below
    assert need * 4 > physical
    with pytest.raises(nascomp.SpecError, match=r"2,800,000,000,000 params: .* GiB of float32 weights, more than"):
        nascomp.build(text)
    assert nascomp.profile(text).params == need  # the cost is still known without allocating


def test_repeat_count_over_the_limit_fails_fast() -> None:
    text = _spec(f"  - {{id: c, type: relu, repeat: {MAX_REPEAT + 1}}}\n")
    start = time.perf_counter()
    with pytest.raises(nascomp.SpecError, match=rf"node 'c': 'repeat' count {MAX_REPEAT + 1:,} is over the limit"):
        nascomp.profile(text)
    assert time.perf_counter() - start < 1.0


def test_repeat_at_the_limit_is_allowed() -> None:
    text = _spec(f"  - {{id: c, type: identity, repeat: {MAX_REPEAT}}}\n")
    assert len(nascomp.profile(text).rows(expand=True)) == MAX_REPEAT


_NESTED = """name: nest
input_shape: [3, 8, 8]
blocks:
  many:
    nodes:
      - {{id: c, type: conv2d, out_channels: 3, kernel_size: 1, repeat: {inner}}}
nodes:
  - {{id: m, type: many, repeat: {outer}}}
  - {{id: fc, type: global_pool}}
"""


def test_nested_repeats_over_the_op_limit_are_refused_before_building(tmp_path) -> None:
    """Issue 22: repeat 10,000 of a block that repeats 10,000 (10^8 convs) grew `build` past 9 GB; it must stop
    while counting, naming the file, line, node, the count and the limit."""
    path = tmp_path / "nest.yaml"
    path.write_text(_NESTED.format(inner=MAX_REPEAT, outer=MAX_REPEAT))
    start = time.perf_counter()
    with pytest.raises(nascomp.SpecError, match=rf"'repeat' 10,000 copies of 'many' make about 100,000,000 primitive "
                                                 rf"ops .* over the limit of {MAX_OPS:,}"):
        nascomp.profile(path)
    assert time.perf_counter() - start < 10
    for command in ("build", "profile"):
        assert_one_line_error(run_cli(command, str(path), cwd=tmp_path), f"{path}:8: node 'm'", "100,000,000",
                              f"{MAX_OPS:,}")


def test_many_block_uses_in_one_scope_count_towards_the_op_limit() -> None:
    uses = "".join(f"  - {{id: m{i}, type: many}}\n" for i in range(MAX_OPS // 5000 + 1))
    text = _NESTED.format(inner=5000, outer=1).split("nodes:\n  - {id: m,")[0] + "nodes:\n" + uses
    with pytest.raises(nascomp.SpecError, match=rf"node 'm20': the net has 105,000 primitive ops .* limit of "
                                                 rf"{MAX_OPS:,}"):
        nascomp.profile(text)


def test_a_net_of_exactly_the_op_limit_is_allowed() -> None:
    from nascomp.graph.build import expand_spec

    text = _NESTED.format(inner=MAX_OPS // 100, outer=100).replace("  - {id: fc, type: global_pool}\n", "")
    expansion = expand_spec(nascomp.load_spec(text))
    assert expansion.num_ops == 100 * (MAX_OPS // 100) == MAX_OPS
    assert expansion.macs == MAX_OPS * 3 * 3 * 8 * 8  # each 1x1 conv 3->3 on 8x8: 9 MACs a pixel
