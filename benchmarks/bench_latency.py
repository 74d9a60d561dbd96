"""Predicted against measured forward latency on random points of the search spaces (docs/latency.md).

For each space (``search_spaces/*.yaml``) two sets of random points: ``band``, drawn uniformly and kept when their
MACs fall inside a budget band, and ``whole``, drawn uniformly from the whole space. For every point, in one
process and interleaved (predict, then measure, point after point), nascomp's latency model predicts the forward
latency from the spec (``LatencyModel.predict_ms``: lookup table, nothing built) and ``measure_latency`` measures the
built net under the same settings. Reported per space and set: the median and 90th-percentile absolute percentage
error of the prediction, Spearman's rho of predicted against measured latency and, next to it, Spearman's rho of
MACs against measured latency on the same nets.

On CPU with one thread, the measured figure compared is the thread's CPU time (``cpu_median_ms``, the wall clock
on an idle core); the wall-clock median is reported too, with the load average, because on a shared machine it
also counts the time other processes hold the core.

Resumable: each point's result is appended to ``--out`` (JSON lines) as soon as it is measured; a rerun skips the
points already there (same seed, same draw order) and only reports when ``--report`` is given.

Usage:
    python benchmarks/bench_latency.py [--spaces se_resnext densenet] [--points 50] [--input 3x224x224]
        [--band se_resnext=0.8:1.0 densenet=1.0:1.5] [--out bench_latency.jsonl] [--cache DIR] [--report]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from nascomp.graph.build import build
from nascomp.hardware import LatencyModel, LatencySettings, measure_latency
from nascomp.search.space.search_space import load_space, point_key

DEFAULT_BANDS = {"se_resnext": (0.8, 1.0), "densenet": (1.0, 1.5)}  # GMACs at 3x224x224
NET_MEASURE = {"min_repeats": 5, "min_warmup": 1, "max_time_s": 1.0}


def draw(space, kind: str, n: int, band: tuple[float, float], shape, seed: int) -> list[dict]:
    """``n`` points of ``kind`` (``band`` or ``whole``), in a fixed order for a seed."""
    rng = np.random.RandomState(seed)
    points: list[dict] = []
    seen: set = set()
    tries = 0
    while len(points) < n and tries < 200_000:
        tries += 1
        point = space.random_point(rng)
        key = point_key(point)
        if key in seen:
            continue
        if kind == "band":
            gmacs = space.cost(point, input_shape=shape, num_classes=1000).macs / 1e9
            if not band[0] <= gmacs <= band[1]:
                continue
        seen.add(key)
        points.append(point)
    return points


def run_point(model: LatencyModel, space, point: dict, shape, settings: LatencySettings) -> dict:
    spec = space.spec(point, num_classes=1000, input_shape=shape)
    prof = space.cost(point, input_shape=shape, num_classes=1000)
    predicted = model.predict(spec)  # fills the table with this point's missing ops (first time)
    t0 = time.perf_counter()
    model.predict_ms(spec)  # warm: the cost of a prediction once the table exists
    predict_s = time.perf_counter() - t0
    measured = measure_latency(build(spec), shape, settings, **NET_MEASURE)
    return {
        "macs": prof.macs, "params": prof.params, "predicted_ms": predicted.latency_ms, "op_sum_ms": predicted.op_sum_ms,
        "compute_ms": predicted.compute_ms, "memory_ms": predicted.memory_ms, "compute_scale": predicted.compute_scale,
        "memory_scale": predicted.memory_scale, "ops": predicted.ops, "predict_warm_ms": 1000 * predict_s,
        "measured_ms": measured.median_ms,
        "measured_q1_ms": measured.q1_ms, "measured_q3_ms": measured.q3_ms, "measured_cpu_ms": measured.cpu_median_ms,
        "repeats": measured.repeats, "load_average": measured.load_average,
    }


def summarize(rows: list[dict]) -> dict:
    pred = np.array([r["predicted_ms"] for r in rows])
    meas = np.array([r["measured_cpu_ms"] if r["measured_cpu_ms"] is not None else r["measured_ms"] for r in rows])
    wall = np.array([r["measured_ms"] for r in rows])
    macs = np.array([r["macs"] for r in rows])
    ape = 100 * np.abs(pred - meas) / meas
    ape_wall = 100 * np.abs(pred - wall) / wall
    return {
        "n": len(rows), "gmacs": (macs.min() / 1e9, macs.max() / 1e9), "ms": (meas.min(), meas.max()),
        "median_ape": float(np.median(ape)), "p90_ape": float(np.percentile(ape, 90)),
        "rho_pred": float(spearmanr(pred, meas).statistic), "rho_macs": float(spearmanr(macs, meas).statistic),
        "median_ape_wall": float(np.median(ape_wall)), "rho_pred_wall": float(spearmanr(pred, wall).statistic),
        "rho_macs_wall": float(spearmanr(macs, wall).statistic),
        "predict_warm_ms": float(np.median([r["predict_warm_ms"] for r in rows])),
        "load": (min(r["load_average"] for r in rows), max(r["load_average"] for r in rows)),
    }


def report(results: list[dict]) -> str:
    lines = [
        "| space | set | nets | GMACs | measured ms (CPU time) | median APE | p90 APE | rho predicted | rho MACs "
        "| wall: median APE | wall: rho predicted | wall: rho MACs | load avg | predict (warm) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["space"], r["set"]), []).append(r)
    for (space, kind), rows in sorted(groups.items()):
        if len(rows) < 3:
            continue
        s = summarize(rows)
        lines.append(
            f"| {space} | {kind} | {s['n']} | {s['gmacs'][0]:.2f}-{s['gmacs'][1]:.2f} | {s['ms'][0]:.0f}-{s['ms'][1]:.0f} "
            f"| {s['median_ape']:.1f} % | {s['p90_ape']:.1f} % | {s['rho_pred']:.3f} | {s['rho_macs']:.3f} "
            f"| {s['median_ape_wall']:.1f} % | {s['rho_pred_wall']:.3f} | {s['rho_macs_wall']:.3f} "
            f"| {s['load'][0]:.1f}-{s['load'][1]:.1f} | {s['predict_warm_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", default=list(DEFAULT_BANDS))
    parser.add_argument("--points", type=int, default=50, help="points per space and set")
    parser.add_argument("--sets", nargs="+", default=["band", "whole"], choices=["band", "whole"])
    parser.add_argument("--input", default="3x224x224")
    parser.add_argument("--band", nargs="*", default=[], metavar="SPACE=LOW:HIGH", help="GMACs band per space")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--out", default="bench_latency.jsonl")
    parser.add_argument("--cache", default=None, help="lookup-table folder (default: nascomp's)")
    parser.add_argument("--report", action="store_true", help="only print the table of what --out holds")
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.input.split("x"))
    bands = dict(DEFAULT_BANDS)
    for item in args.band:
        name, _, rng = item.partition("=")
        low, _, high = rng.partition(":")
        bands[name] = (float(low), float(high))
    out = Path(args.out)
    done = [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []
    if not args.report:
        settings = LatencySettings(device=args.device, batch_size=args.batch_size, threads=args.threads)
        model = LatencyModel.open(settings, cache_dir=Path(args.cache) if args.cache else None)
        done_keys = {(r["space"], r["set"], r["index"]) for r in done}
        work = []
        for name in args.spaces:
            space = load_space(name)
            for kind in args.sets:
                for i, point in enumerate(draw(space, kind, args.points, bands.get(name, (0, 1e9)), shape, args.seed)):
                    work.append((i, name, kind, space, point))
        # the band sets first, then the whole space; within each, round robin over the spaces
        work.sort(key=lambda w: (args.sets.index(w[2]), w[0], w[1]))
        print(f"{settings.describe()} @ {args.input}; {len(work)} points, {len(done_keys)} done", flush=True)
        for i, name, kind, space, point in work:
            if (name, kind, i) in done_keys:
                continue
            row = {"space": name, "set": kind, "index": i, "point": point, "input": args.input,
                   **run_point(model, space, point, shape, settings), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
            print(f"{name:<10} {kind:<5} {i:>3} {row['macs'] / 1e9:7.2f} GMACs  predicted {row['predicted_ms']:8.1f} ms  "
                  f"measured {row['measured_cpu_ms'] or row['measured_ms']:8.1f} ms CPU ({row['measured_ms']:.1f} wall)  "
                  f"load {row['load_average']:.1f}", flush=True)
    print(f"cpu count {os.cpu_count()}; {len(done)} points")
    print(report(done))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
