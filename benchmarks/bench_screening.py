"""Candidates screened per second on the default search space (issue 4's goal: >= 1,000/s).

Draws uniformly random, distinct points of ``search_spaces/se_resnext.yaml`` and costs each with
``nascomp.profile`` (through the space's spec template, as the search does), at 3x224x224 with 1,000 classes.
Reported twice: with a cold block memo (the first candidates of a search) and over a long run (the memo then holds
most block instances; each candidate is still a new point, never a cache hit on the whole point). For scale, the
reference way to cost one candidate (build on the meta device + FlopCounterMode) is timed on resnet50 in the same
process.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import nascomp
from nascomp.search.space.search_space import load_space, point_key
from nascomp.graph.block_cache import BLOCK_CACHE

N = 3000


def reference_seconds() -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        with torch.device("meta"):
            model = torchvision.models.resnet50()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 224, 224, device="meta"))
        counter.get_total_flops()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    space = load_space("se_resnext")
    rng = np.random.RandomState(0)
    points, seen = [], set()
    while len(points) < N:
        p = space.random_point(rng)
        if point_key(p) not in seen:
            seen.add(point_key(p))
            points.append(p)
    nascomp.profile("resnet50")  # load the block library once (file parsing is not screening)
    BLOCK_CACHE.clear()
    fits = 0
    start = time.perf_counter()
    for i, p in enumerate(points):
        prof = nascomp.profile(space.spec(p, num_classes=1000), input_shape=(3, 224, 224))
        fits += prof.macs <= 4_000_000_000
        if i == 199:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    rest = (total - first) / (N - 200)
    ref = reference_seconds()
    print(f"default space se_resnext, {N:,} distinct random points, 3x224x224 (MACs = FlopCounterMode FLOPs / 2)")
    print(f"  first 200 (cold block memo): {200 / first:,.0f} candidates/s")
    print(f"  next {N - 200:,}:               {1 / rest:,.0f} candidates/s ({rest * 1e3:.2f} ms each)")
    print(f"  {fits:,} of {N:,} fit 4 GMACs")
    print(f"  reference (resnet50 on meta + FlopCounterMode): {ref * 1e3:.0f} ms each -> {ref / rest:,.0f}x slower")


if __name__ == "__main__":
    main()
