"""Forward latency of zoo nets against their reference implementation, with the same weights.

For each net: build ours (``nascomp.build``) and the reference (torchvision 0.29.1, randomly initialised, nothing
downloaded), load the reference's weights into ours, then measure both with nascomp's one measuring function
(``nascomp.hardware.measure_latency``: eval mode, ``torch.inference_mode``, warm-up, median of repeated forward
passes) in ``--rounds`` interleaved rounds (ours, reference, reference, ours, ...) in one process on the same input
shape. Reports the median of the rounds' medians and the ratio ours / reference (goal: <= 1.05). With one thread
the figures are CPU time (``cpu_median_ms``), which other processes on a shared machine do not inflate.

The figures below were measured before the switch to ``measure_latency`` (contiguous memory format, wall clock,
15 reps); the benchmark now uses channels-last, the format training uses.

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
    python benchmarks/bench_zoo_latency.py [--nets resnet50 densenet121 inception_v3] [--batch 8] [--rounds 4]
        [--threads N] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics

import torch
import torchvision

import nascomp
from nascomp.hardware import LatencySettings, measure_latency

DEFAULT_NETS = ("resnet50", "densenet121", "inception_v3")
REFERENCE_KWARGS = {"inception_v3": {"aux_logits": False, "init_weights": False}}


def bench(name: str, batch: int, rounds: int, threads: int) -> dict:
    """Median forward latency (ms) of ours and the reference on one (batch, *input_shape) input."""
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None, **REFERENCE_KWARGS.get(name, {})).eval()
    ours = nascomp.build(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    input_shape = tuple(nascomp.load_spec(name).input_shape)
    x = torch.randn(batch, *input_shape)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-5)
    settings = LatencySettings(device="cpu", batch_size=batch, threads=threads)
    ours_ms: list[float] = []
    reference_ms: list[float] = []
    for rnd in range(rounds):
        order = ((ours, ours_ms), (reference, reference_ms))
        for model, times in order if rnd % 2 == 0 else reversed(order):
            times.append(measure_latency(model, input_shape, settings, max_time_s=1.0).compute_ms)
    ours_median = statistics.median(ours_ms)
    reference_median = statistics.median(reference_ms)
    return {
        "net": name,
        "input": [batch, *input_shape],
        "ours_median_ms": round(ours_median, 2),
        "reference_median_ms": round(reference_median, 2),
        "ratio": round(ours_median / reference_median, 4),
        "rounds": rounds,
        "settings": settings.describe(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(DEFAULT_NETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved measurements of each side")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)

    results = []
    print(f"{'net':<14} {'input':<18} {'ours ms':>10} {'ref ms':>10} {'ratio':>7}")
    for name in args.nets:
        r = bench(name, args.batch, args.rounds, args.threads)
        results.append(r)
        shape = "x".join(map(str, r["input"]))
        print(f"{name:<14} {shape:<18} {r['ours_median_ms']:>10.1f} {r['reference_median_ms']:>10.1f} {r['ratio']:>7.3f}")
    if args.json:
        meta = {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "threads": args.threads,
            "machine": platform.machine(),
            "processor": platform.processor(),
        }
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
