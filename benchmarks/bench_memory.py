"""How close the predicted training-step memory (``nascomp.hardware.predict_training_memory``) is to the CPU
allocator's measured peak (``nascomp.hardware.memory_measure.measure_training_peak``: torch's profiler with
``profile_memory=True``, a replay of every allocation and free of a steady-state step).

Nets: zoo nets at a small input (3x64x64; 10 classes) and random points of both search spaces at 3x32x32 (points
over ``--max-params`` parameters are skipped: their measurement needs gigabytes), each at two batch sizes and with
SGD and AdamW. Prints one row per case and the median, 90th-percentile and largest absolute percentage error.

Usage:
    python benchmarks/bench_memory.py [--points 8] [--seed 1] [--max-params 15e6] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

import nascomp
from nascomp.cost.profile import profile
from nascomp.hardware import predict_training_memory
from nascomp.hardware.memory_measure import measure_training_peak
from nascomp.search.space.search_space import load_space

ZOO = ("resnet18", "se_resnext50_32x4d", "densenet121", "googlenet", "alexnet", "vgg11_bn")


def _cases(points: int, seed: int, max_params: float):
    for name in ZOO:
        spec = nascomp.load_spec(name, num_classes=10, input_shape=(3, 64, 64))
        for batch, optimizer in ((8, "sgd"), (8, "adamw"), (32, "sgd"), (32, "adamw")):
            yield name, spec, (3, 64, 64), batch, optimizer
    for space_name in ("se_resnext", "densenet"):
        space = load_space(space_name)
        rng = np.random.RandomState(seed)
        kept = 0
        while kept < points:
            point = space.random_point(rng)
            spec = space.spec(point, num_classes=10, input_shape=(3, 32, 32))
            if profile(spec).params > max_params:
                continue
            kept += 1
            for batch, optimizer in ((8, "adamw"), (2, "sgd")):
                yield f"{space_name}#{kept}", spec, (3, 32, 32), batch, optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8, help="random points per search space")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-params", type=float, default=15e6)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    print(f"{'net':22s} {'input':9s} {'batch':>5s} {'opt':5s} {'predicted MiB':>13s} {'measured MiB':>12s} "
          f"{'error':>7s}  phase")
    for name, spec, shape, batch, optimizer in _cases(args.points, args.seed, args.max_params):
        start = time.perf_counter()
        predicted = predict_training_memory(spec, batch_size=batch, optimizer=optimizer)
        seconds = time.perf_counter() - start
        measured = measure_training_peak(nascomp.build(spec), shape, batch_size=batch, optimizer=optimizer)
        error = 100 * (predicted.peak_bytes - measured) / measured
        rows.append({"net": name, "input": "x".join(map(str, shape)), "batch": batch, "optimizer": optimizer,
                     "predicted_bytes": predicted.peak_bytes, "measured_bytes": measured, "error_pct": error,
                     "phase": predicted.peak_phase, "predict_seconds": seconds})
        print(f"{name:22s} {rows[-1]['input']:9s} {batch:5d} {optimizer:5s} {predicted.peak_bytes / 2**20:13.1f} "
              f"{measured / 2**20:12.1f} {error:+6.2f}%  {predicted.peak_phase}", flush=True)
    errors = sorted(abs(r["error_pct"]) for r in rows)
    p90 = errors[min(len(errors) - 1, int(round(0.9 * (len(errors) - 1))))]
    print(f"{len(rows)} cases: absolute error median {statistics.median(errors):.2f} %, 90th percentile {p90:.2f} %, "
          f"max {errors[-1]:.2f} %; prediction median "
          f"{1000 * statistics.median(r['predict_seconds'] for r in rows):.1f} ms "
          f"({platform.processor() or platform.machine()}, torch {torch.__version__})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
