"""Specs that are valid YAML but cannot be built here fail fast with a SpecError, never a traceback or a hang."""

from __future__ import annotations

import os
import time

import pytest

import nascomp
from nascomp.graph.expand import MAX_REPEAT


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
