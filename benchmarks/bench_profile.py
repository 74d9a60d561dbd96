"""How much faster ``nascomp.profile`` is than the usual way of counting: build the model, run ``FlopCounterMode``.

Side by side in one process, interleaved, median of ``--reps`` repetitions each:

* **reference**: ``torchvision.models.resnet50()`` built under ``torch.device("meta")`` (no weights allocated, the
  cheapest build torch offers), then one forward pass of a ``(1, 3, 224, 224)`` meta tensor under
  ``torch.utils.flop_counter.FlopCounterMode``; MACs = total // 2, params = sum(numel);
* **profile, cold**: ``nascomp.profile("resnet50")`` after clearing every cache: the parsed spec file
  (``nascomp.spec.load._parse_file`` / ``_load_file``), the built-in block library
  (``nascomp.spec.library._builtin_library``, so ``blocks/*.yaml`` is parsed again) and the expander's memo of
  block instances (``nascomp.graph.block_cache.BLOCK_CACHE``);
* **profile, warm**: the same call again with the caches in place (what a search screening candidates sees for the
  library, though each candidate's own spec differs);
* **profile, warm library**: the spec file re-read and re-expanded with a fresh expansion memo, but the built-in
  block definitions kept (the cost of a new candidate spec).

Both sides must agree on MACs and params, or the benchmark fails. Reports the medians and the ratios
reference / profile (goal: >= 100x).

Usage:
    python benchmarks/bench_profile.py [--net resnet50] [--reps 15] [--threads N] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Callable

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import nascomp
from nascomp.graph.block_cache import BLOCK_CACHE
from nascomp.spec import library as library_module
from nascomp.spec import load as load_module


def reference_cost(net: str) -> tuple[int, int]:
    """(MACs, params) of torchvision's ``net`` built on the meta device, counted by FlopCounterMode."""
    with torch.device("meta"):
        model = getattr(torchvision.models, net)().eval()
        x = torch.empty(1, 3, 224, 224)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    return counter.get_total_flops() // 2, sum(p.numel() for p in model.parameters())


def clear_all_caches() -> None:
    clear_spec_caches()
    library_module._builtin_library.cache_clear()


def clear_spec_caches() -> None:
    load_module._parse_file.cache_clear()
    load_module._load_file.cache_clear()
    BLOCK_CACHE.clear()


def profile_cost(net: str) -> tuple[int, int]:
    prof = nascomp.profile(net)
    return prof.macs, prof.params


def _time_s(fn: Callable[[], object], before: Callable[[], None] | None = None) -> float:
    if before is not None:
        before()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", default="resnet50", help="a zoo net that torchvision also has (default resnet50)")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # correctness first: both sides must report the same figures
    ref = reference_cost(args.net)
    clear_all_caches()
    ours = profile_cost(args.net)
    if ref != ours:
        raise SystemExit(f"figures disagree: FlopCounterMode {ref} vs profile {ours}")

    # warm up both paths (imports, first-call overheads), then interleave
    for _ in range(2):
        reference_cost(args.net)
        profile_cost(args.net)
    times: dict[str, list[float]] = {"reference": [], "cold": [], "warm_library": [], "warm": []}
    for _ in range(args.reps):
        times["reference"].append(_time_s(lambda: reference_cost(args.net)))
        times["cold"].append(_time_s(lambda: profile_cost(args.net), clear_all_caches))
        times["warm_library"].append(_time_s(lambda: profile_cost(args.net), clear_spec_caches))
        profile_cost(args.net)  # fill the caches
        times["warm"].append(_time_s(lambda: profile_cost(args.net)))
    med = {k: statistics.median(v) for k, v in times.items()}

    print(f"{args.net} @ 3x224x224: {ours[0]:,} MACs, {ours[1]:,} params (profile == FlopCounterMode/2, exactly)")
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, median of {args.reps}")
    print(f"  reference: torchvision on meta + FlopCounterMode  {med['reference'] * 1e3:9.2f} ms")
    for key, label in (("cold", "profile, cold (all caches cleared)"),
                       ("warm_library", "profile, warm block library"),
                       ("warm", "profile, warm (spec cached)")):
        ratio = med["reference"] / med[key]
        flag = "ok" if ratio >= 100 else "below goal"
        print(f"  {label:<45}  {med[key] * 1e3:9.3f} ms   {ratio:8.1f}x faster  ({flag}; goal >= 100x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"net": args.net, "reps": args.reps, "median_s": med,
                       "ratio": {k: med["reference"] / med[k] for k in ("cold", "warm_library", "warm")}}, f, indent=2)


if __name__ == "__main__":
    main()
