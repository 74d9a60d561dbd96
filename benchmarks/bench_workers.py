"""Throughput of a worker pool: trials per minute with 1 and with 2 ``nascomp search`` workers on one study.

Each run starts W real ``nascomp search`` processes on a fresh study (journal file by default, or ``--storage``)
over a 32-point test space, with a cheap stand-in objective (``tests/_fake_worker.py``: each trial sleeps
``--train-s`` seconds instead of training, so that W workers do not fight over the CPU cores and the figure measures
the pool's coordination: slots, heartbeats, storage round trips, output writes). A pool's trials per minute is the
sum of its workers' rates, each over the time that worker was running trials (first start to last end, from the
storage's timestamps and the ``worker`` attribute of each trial): process start-up, the census and data loading are
not in it, and a worker that started late is not counted as idle. The plain first-start-to-last-end rate is printed
too. Prints both rates and the ratio
2 workers / 1 worker (ideal: 2.0).

Usage:
    python benchmarks/bench_workers.py [--trials 12] [--train-s 1.0]
        [--storage journal:DIR/FILE | postgresql+psycopg://...] [--json results.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nascomp.search.workers.storage import open_storage  # noqa: E402
from nascomp.search.workers.coordinator import counted  # noqa: E402
from tests._fake_worker import start_worker, worker_env, write_grid_recipe  # noqa: E402


def run_pool(workers: int, trials: int, train_s: float, storage: str | None, folder: Path) -> dict:
    """Run ``workers`` processes on one new study until it holds ``trials`` trials; return the timings."""
    name = f"bench-{workers}w-{uuid.uuid4().hex[:6]}"
    url = storage or f"journal:{folder / (name + '.log')}"
    recipe = write_grid_recipe(folder / name, trials=trials)
    env = worker_env(train_s=train_s, heartbeat_s=2.0)
    t0 = time.perf_counter()
    procs = [start_worker(recipe, url, name, folder / name / f"out{i}", env) for i in range(workers)]
    outputs = [p.communicate(timeout=1800)[0] for p in procs]
    wall = time.perf_counter() - t0
    for p, out in zip(procs, outputs):
        if p.returncode != 0:
            raise SystemExit(f"a worker failed (exit {p.returncode}):\n{out}")
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    done = counted(study.get_trials(deepcopy=False))
    assert len(done) == trials, f"{len(done)} trials counted, asked {trials}"
    first = min(t.datetime_start for t in done)
    last = max(t.datetime_complete for t in done)
    window = (last - first).total_seconds()
    # Workers start up at different speeds (imports, census, data): the pool's rate is the sum of each worker's own
    # rate over the time it was running trials, so that a worker that joined late is not counted as idle.
    per_worker = collections.defaultdict(list)
    for t in done:
        per_worker[t.user_attrs.get("worker", "?")].append(t)
    rate = 0.0
    for ts in per_worker.values():
        span = (max(t.datetime_complete for t in ts) - min(t.datetime_start for t in ts)).total_seconds()
        rate += 60.0 * len(ts) / span
    return {"workers": workers, "trials": trials, "window_s": window, "wall_s": wall, "trials_per_min": rate,
            "trials_per_min_window": 60.0 * trials / window, "startup_s": wall - window,
            "trials_by_worker": sorted(len(ts) for ts in per_worker.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="trials per study (default 12)")
    parser.add_argument("--train-s", type=float, default=1.0, help="seconds of stand-in training per trial")
    parser.add_argument("--storage", help="storage URL (default: a journal file in a temporary folder)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_workers_") as tmp:
        results = [run_pool(w, args.trials, args.train_s, args.storage, Path(tmp)) for w in (1, 2)]
    for r in results:
        print(f"{r['workers']} worker(s): {r['trials_per_min']:.1f} trials/min ({r['trials']} trials, by worker "
              f"{r['trials_by_worker']}; first start to last end {r['window_s']:.1f} s = "
              f"{r['trials_per_min_window']:.1f} trials/min; plus {r['startup_s']:.1f} s start-up and wind-down)")
    ratio = results[1]["trials_per_min"] / results[0]["trials_per_min"]
    print(f"ratio 2 workers / 1 worker: {ratio:.2f} (ideal 2.00; storage: {args.storage or 'journal file'}, "
          f"{args.train_s:g} s per trial)")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "ratio": ratio}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
