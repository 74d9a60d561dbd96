"""Forward latency of zoo nets against their reference implementation, with the same weights.

For each net: build ours (``nascomp.build``) and the reference (torchvision 0.29.1, randomly initialised, nothing
downloaded), load the reference's weights into ours, put both in eval mode under ``torch.inference_mode``, warm
up, then time ``--reps`` interleaved forward passes (ours, reference, reference, ours, ... alternating which goes
first) in one process on the same input. Reports the medians and the ratio ours / reference (goal: <= 1.05).

Measured (2026-11-29, 2 CPU cores shared with other jobs (load average 7-10), torch 2.14.1, ``--threads 1
--reps 15``), after the compiler made ReLUs in place where safe (commit 0611b67):

    net            input            ours ms   ref ms   ratio
    resnet50       8x3x224x224       1778.3   1745.3   1.019
    densenet121    8x3x224x224        950.6    994.9   0.955
    inception_v3   8x3x299x299       3350.3   3452.3   0.970

Before it: resnet50 1.109, densenet121 1.004, inception_v3 1.019 (torchvision's ``ReLU(inplace=True)`` saves an
allocation per activation). The remaining resnet50 difference is torchvision's in-place residual add
(``out += identity``): patching it in as well measured 0.99. On a loaded machine the ratios move by a few percent
between runs; the interleaving keeps the two sides under the same load.

Usage:
    python benchmarks/bench_zoo_latency.py [--nets resnet50 densenet121 inception_v3] [--batch 8] [--reps 15]
        [--threads N] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torchvision

import nascomp

DEFAULT_NETS = ("resnet50", "densenet121", "inception_v3")
REFERENCE_KWARGS = {"inception_v3": {"aux_logits": False, "init_weights": False}}


def _time_forward_s(model: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


def bench(name: str, batch: int, reps: int, warmup: int) -> dict:
    """Median forward latency (seconds) of ours and the reference on one (batch, *input_shape) input."""
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None, **REFERENCE_KWARGS.get(name, {})).eval()
    ours = nascomp.build(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    input_shape = tuple(nascomp.load_spec(name).input_shape)
    x = torch.randn(batch, *input_shape)
    ours_s: list[float] = []
    reference_s: list[float] = []
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-5)
        for _ in range(warmup):
            ours(x)
            reference(x)
        for rep in range(reps):
            order = ((ours, ours_s), (reference, reference_s))
            for model, times in order if rep % 2 == 0 else reversed(order):
                times.append(_time_forward_s(model, x))
    ours_median = statistics.median(ours_s)
    reference_median = statistics.median(reference_s)
    return {
        "net": name,
        "input": [batch, *input_shape],
        "ours_median_ms": round(1000 * ours_median, 2),
        "reference_median_ms": round(1000 * reference_median, 2),
        "ratio": round(ours_median / reference_median, 4),
        "reps": reps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(DEFAULT_NETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    results = []
    print(f"{'net':<14} {'input':<18} {'ours ms':>10} {'ref ms':>10} {'ratio':>7}")
    for name in args.nets:
        r = bench(name, args.batch, args.reps, args.warmup)
        results.append(r)
        shape = "x".join(map(str, r["input"]))
        print(f"{name:<14} {shape:<18} {r['ours_median_ms']:>10.1f} {r['reference_median_ms']:>10.1f} {r['ratio']:>7.3f}")
    if args.json:
        meta = {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "processor": platform.processor(),
        }
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
