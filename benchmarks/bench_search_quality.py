"""Search quality: does the default search find better nets than random sampling, plain TPE, TPE with Optuna's
Hyperband, or the scaled canonical net, at budgets it was not tuned on?

Measured the way NAS papers measure it (several seeds, a random baseline at equal cost, a held-out test split;
RegNet, arXiv:2003.13678; Li & Talwalkar, arXiv:1902.07638; Radosavovic et al., arXiv:1905.13214). For each budget
of ``--budgets`` and each seed, with the same wall time per search:

- **(a) default**: the default recipe (TPE + successive halving with paused trials, ASHA, over data shares);
- **(b) random**: uniform random points of the space under the budget (the same feasible set, nascomp's
  ``BudgetSampler`` around Optuna's ``RandomSampler``), each trained on the full proxy schedule (no pruner),
  RegNet-style. Its sampler is seeded with ``seed + --random-seed-offset`` (default 1000): TPE starts with random
  draws from its own seed, so with the same seed (b)'s few points would be (a)'s first ones and the two would often
  pick the same net by construction (measured 2026-12-02: 3 of 5 seeds). The validation split
  (``data.split_seed``) and the retraining's initialisation (``seed``) stay the same for all methods;
- **(d) tpe**: what a user of Optuna would try first: the same TPE sampler, no pruner (every trial trains the full
  proxy schedule);
- **(e) hyperband**: TPE with Optuna's ``HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)``, as
  its documentation sets it up (the resource is the rung's training share, reported at steps 1, 3, 9);
- **(c) scaled**: the space's canonical point (ResNet-50 for ``se_resnext``) scaled to the budget by
  :func:`nascomp.scale` (the search's ``baseline.yaml``), no search at all.

A search that ends without a complete trial has no winner: it is **counted as a loss** (test accuracy 0 in the
paired differences), never dropped.

Every winner (and (c)) is retrained with one schedule by :func:`nascomp.train.train_spec` (what ``nascomp train``
runs) with the seed's initialisation and measured once on the data set's official test split (Fashion-MNIST's t10k,
which no search saw). Proxy fidelity: a few more complete trials of the (b) studies (random, not winners) are
retrained too, and Spearman's rho between proxy validation accuracy and retrained test accuracy is computed over
every retrained searched architecture ((a) and (b) winners plus those).

**Long schedule** (``--long-budget B``): the winners of seeds ``0..--long-seeds-1`` at budget ``B`` (every searched
method with a winner, and (c)) are retrained with ``--long-epochs`` x ``--long-images`` image-epochs, at least 5x the
retraining's (default: the retraining's images, and the fewest epochs that reach 5x; less is refused), ledger names
``long-<budget>-<method>-seed<s>``. ``table.md`` then gives per seed the short and long test accuracies, in how many
seeds (a) beats each method under each schedule and keeps its order, and Spearman's rho between short and long test
accuracy over every distinct retrained net (:mod:`search_quality_long`). The long schedule is stored apart from the
settings (``results.json``'s ``long``), so a finished ledger takes ``--long-...`` flags later and reuses everything.

**Combine** (``--combine DIR,DIR``): one ``table.md`` in ``--out`` from several finished ledgers (budgets run in
separate processes, each with its own search time, which each budget's heading states); it runs nothing.

Writes to ``--out`` (default ``runs/bench-search-quality``): ``results.json`` (every number; a rerun reuses the
finished searches and retrainings recorded there), ``table.md`` (the table docs/search.md shows), ``best_so_far.png``
(median over seeds of the best complete proxy accuracy against search time, with the IQR band), ``edf.png`` (the
error distribution function of every fully trained candidate of each method, proxy validation error).

Usage:
    .venv/bin/python benchmarks/bench_search_quality.py [--budgets 300MFLOPs,600MFLOPs,1.5GFLOPs] [--seeds 5]
        [--search-seconds 240 | --trials N] [--methods default,random,tpe,hyperband]
        [--retrain-epochs 3] [--retrain-images 10000] [--fidelity-extra 1] [--random-seed-offset 1000]
        [--long-budget 600MFLOPs [--long-seeds 3] [--long-epochs E] [--long-images N]]
        [--out DIR] [--device cpu]
    .venv/bin/python benchmarks/bench_search_quality.py --combine runs/bq-a,runs/bq-b --out runs/bq

(``.venv`` is the one ``make setup`` creates.) The full run (3 budgets x 5 seeds x 4 searched methods of 240 s, plus
the retrainings) takes about 4-5 hours on 2 quiet CPU cores; it is resumable (``results.json``), so stop it and
run it again at will. The paired table compares (a) with each other method per budget and pooled over budgets:
wins, median and IQR of the per-seed test-accuracy differences.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nascomp  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)
import torch  # noqa: E402

from nascomp.search import load_space  # noqa: E402
from nascomp.search.outputs.study_files import write_best_yaml  # noqa: E402
from nascomp.search.recipe import load_recipe  # noqa: E402
from nascomp.train.config import RunConfig  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the table's modules beside this file
from search_quality_jobs import Ledger, retrain_job, search_job  # noqa: E402
from search_quality_long import LongNet, long_schedule  # noqa: E402
from search_quality_plots import plots  # noqa: E402
from search_quality_table import Part, make_table  # noqa: E402

METHODS = ("default", "random", "tpe", "hyperband", "scaled")
SEARCHED = METHODS[:4]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} x {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def run_budget(args, budget: str, ledger: Ledger, out: Path, log, config) -> dict:
    """Every search and retraining of one budget; returns ``{"searches", "retrained", "fidelity", "winners"}``
    (``winners``: per ``(method, seed)`` with a winner, its ``best.yaml`` and a key equal for equal points)."""
    timeout = "none" if args.trials else f"{args.search_seconds:g}s"
    base = load_recipe().with_overrides(budget=budget, timeout=timeout, trials=args.trials or 10_000,
                                        device=args.device, **({"data": args.data} if args.data else {}))
    seeds = list(range(args.seeds))
    space = load_space(base.space)
    if not ledger.readonly:
        out.mkdir(parents=True, exist_ok=True)
    searches = {}
    for s in seeds:  # interleaved, the order rotating per seed, so that a change of load hits every method
        order = args.methods[s % len(args.methods):] + args.methods[:s % len(args.methods)]
        for method in order:
            sampler_seed = s + args.random_seed_offset if method == "random" else s
            searches[(method, s)] = search_job(ledger, base, method, s, out, log, sampler_seed)
    retrained: dict[tuple[str, int], dict | None] = {}
    winners: dict[tuple[str, int], dict] = {}
    fidelity: list[dict] = []
    for s in seeds:
        by_params: dict[str, dict] = {}
        for method in args.methods:
            rec = searches[(method, s)]
            if rec["best_trial"] is None:
                retrained[(method, s)] = None  # no winner: a loss
                continue
            best = next(r for r in rec["trials"] if r["number"] == rec["best_trial"]) \
                if any(r["number"] == rec["best_trial"] for r in rec["trials"]) else {"params": None, "val_loss": None}
            key = json.dumps(best["params"], sort_keys=True)
            winners[(method, s)] = {"key": key, "spec": Path(rec["folder"]) / "best.yaml"}
            if key in by_params:  # the same net and seed: retraining is deterministic, reuse it
                job = {**by_params[key], "reused": True}
            else:
                job = retrain_job(ledger, f"{out.name}-{method}-seed{s}", Path(rec["folder"]) / "best.yaml", config(s),
                                  out, log)
                job = {**job, "params": best["params"]}
                by_params[key] = job
            retrained[(method, s)] = job
            fidelity.append({"arch": f"{method}-seed{s}", "proxy": rec["best_accuracy"],
                             "test": job["test_accuracy"], "params": best["params"]})
        baseline = Path(searches[(args.methods[0], s)]["folder"]) / "baseline.yaml"
        winners[("scaled", s)] = {"key": "scaled", "spec": baseline}
        retrained[("scaled", s)] = retrain_job(ledger, f"{out.name}-scaled-seed{s}", baseline, config(s), out, log)
        if "random" in args.methods:
            rec = searches[("random", s)]
            others = [r for r in rec["trials"] if r["state"] == "complete" and r["number"] != rec["best_trial"]]
            for r in random.Random(s).sample(others, min(args.fidelity_extra, len(others))):
                path = out / "fidelity" / f"random-seed{s}-trial{r['number']}.yaml"
                if not path.exists() and not ledger.readonly:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    spec = space.export(r["params"], name=f"{space.name}_trial{r['number']}",
                                        input_shape=base.input_shape, num_classes=10,
                                        doc=f"Trial {r['number']} of search-random-seed{s}.")
                    write_best_yaml(spec, path)
                job = retrain_job(ledger, f"{out.name}-random-seed{s}-trial{r['number']}", path, config(s), out, log)
                fidelity.append({"arch": path.stem, "proxy": r["accuracy"], "test": job["test_accuracy"],
                                 "params": r["params"]})
    if "default" in args.methods and "random" in args.methods and not ledger.readonly:
        horizon = max((r["elapsed_s"] for rec in searches.values() for r in rec["trials"]), default=1.0) \
            if args.trials else args.search_seconds
        plots(searches, seeds, horizon, out)
    return {"searches": searches, "retrained": retrained, "fidelity": fidelity, "winners": winners}


def run_long(budget: str, result: dict, methods: list[str], seeds: int, ledger: Ledger, out: Path, log,
             config) -> list[LongNet]:
    """Retrain the winners of seeds ``0..seeds-1`` (every searched method with a winner, and (c)) with the long
    schedule ``config(seed)``; ledger names ``long-<budget>-<method>-seed<s>``. Returns one :class:`LongNet` per
    retrained winner (a net two methods picked on one seed is retrained once)."""
    nets = []
    for s in range(seeds):
        done: dict[str, dict] = {}
        for method in [*methods, "scaled"]:
            winner = result["winners"].get((method, s))
            if winner is None:  # no winner: a loss, no net
                continue
            if winner["key"] not in done:
                done[winner["key"]] = retrain_job(ledger, f"long-{budget}-{method}-seed{s}", winner["spec"],
                                                  config(s), out, log)
            nets.append(LongNet(method, s, winner["key"], result["retrained"][(method, s)]["test_accuracy"],
                                done[winner["key"]]["test_accuracy"]))
    return nets


def _settings(args, base) -> dict:
    """What a rerun must match to reuse a ledger (as stored: through JSON). The long schedule is not in it: it is
    stored apart (``long``), so a finished ledger takes ``--long-...`` flags later."""
    settings = {"seeds": args.seeds, "search_seconds": args.search_seconds,
                "random_seed_offset": args.random_seed_offset,
                "retrain_epochs": args.retrain_epochs, "retrain_images": args.retrain_images,
                "data": base.data.source, "image_size": base.data.image_size, "proxy": {
                    "max_images": base.data.max_images, "val_fraction": base.data.val_fraction,
                    "epochs": base.train.epochs, "data_fractions": base.train.data_fractions,
                    "pruner": base.search.pruner, "sampler": base.search.sampler}}
    if args.trials:
        settings["trials"] = args.trials
    return json.loads(json.dumps(settings))  # tuples become lists, so that a rerun compares equal


def _command(settings: dict, out: str, budgets: list[str], methods: list[str], long: dict) -> str:
    """The command line that made (or resumes) a ledger, from its stored settings."""
    s = settings
    run = f"--trials {s['trials']}" if s.get("trials") else f"--search-seconds {s['search_seconds']:g}"
    cmd = (f".venv/bin/python benchmarks/bench_search_quality.py --budgets {','.join(budgets)} --methods "
           f"{','.join(methods)} --seeds {s['seeds']} {run} --retrain-epochs {s['retrain_epochs']} --retrain-images "
           f"{s['retrain_images']} --data {s['data']} --out {out}")
    for b, lg in long.items():
        cmd += (f" --long-budget {b} --long-seeds {lg['seeds']} --long-epochs {lg['epochs']} --long-images "
                f"{lg['images']}")
    return cmd


def _measured(ledger: Ledger) -> str:
    finished = ledger.data.get("finished") or {}
    work_s = sum(job["seconds"] for job in ledger.data["jobs"].values() if isinstance(job, dict) and "seconds" in job)
    end = finished.get("load_average_at_end")
    return (f"measured {finished.get('date', '(date not recorded)')}, load average at the start "
            f"{ledger.data.get('load_average_at_start', math.nan):.1f} and at the end "
            f"{'n/a' if end is None else f'{end:.1f}'}; {work_s / 60:.0f} min of searching and retraining in all")


def _config_factory(data: str, image_size: int, device: str, epochs: int, images: int):
    """The one retraining schedule (``nascomp train``'s engine) at ``epochs`` x ``images``, per seed."""
    def config(seed: int) -> RunConfig:
        return RunConfig(data=data, image_size=image_size, epochs=epochs, optimizer="adamw", lr=3e-3, batch_size=64,
                         warmup_epochs=1.0, val_fraction=0.1, max_images=images, seed=seed, device=device, workers=0)
    return config


def _long_plan(args, budgets: list[str]) -> tuple[int, int] | None:
    """The long schedule's ``(epochs, images)`` from the ``--long-...`` flags, or ``None`` without
    ``--long-budget``; a bad combination stops with one line before anything runs."""
    if args.long_budget is None:
        if args.long_epochs is not None or args.long_images is not None:
            raise SystemExit("--long-epochs and --long-images need --long-budget (one of --budgets)")
        return None
    if args.long_budget not in budgets:
        raise SystemExit(f"--long-budget {args.long_budget} is not one of --budgets {','.join(budgets)}; the long "
                         f"schedule retrains that budget's winners")
    if not 1 <= args.long_seeds <= args.seeds:
        raise SystemExit(f"--long-seeds must be 1..{args.seeds} (--seeds), got {args.long_seeds}")
    try:
        return long_schedule(args.retrain_epochs, args.retrain_images, args.long_epochs, args.long_images)
    except ValueError as exc:
        raise SystemExit(f"--long-epochs/--long-images: {exc}") from None


def _run(args, log) -> Part:
    """Run (or resume) the benchmark of ``args`` in ``args.out``."""
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    plan = _long_plan(args, budgets)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out / "results.json")
    ledger.data.setdefault("load_average_at_start", os.getloadavg()[0])
    ledger.data.setdefault("machine", machine())  # with the threads of the process that measured, not of a --combine
    base = load_recipe()
    if args.data:
        base = base.with_overrides(data=args.data)
    settings = _settings(args, base)
    if ledger.data.get("settings", settings) != settings:
        raise SystemExit(f"{ledger.path} holds results of other settings; pass another --out")
    ledger.data["settings"] = settings
    if plan is not None:
        stored = ledger.data.setdefault("long", {}).get(args.long_budget)
        if stored is not None and (stored["epochs"], stored["images"]) != plan:
            raise SystemExit(f"{ledger.path} holds long retrainings at {args.long_budget} of {stored['epochs']} "
                             f"epochs x {stored['images']} images, this run asks {plan[0]} x {plan[1]}; pass "
                             f"--long-epochs {stored['epochs']} --long-images {stored['images']}")
        ledger.data["long"][args.long_budget] = {"epochs": plan[0], "images": plan[1],
                                                 "seeds": max(args.long_seeds, (stored or {}).get("seeds", 0))}
    config = _config_factory(base.data.source, base.data.image_size, args.device, args.retrain_epochs,
                             args.retrain_images)
    results = {b: run_budget(args, b, ledger, out / b, log, config) for b in budgets}
    long = {}
    if plan is not None:
        nets = run_long(args.long_budget, results[args.long_budget], args.methods, args.long_seeds, ledger,
                        out / args.long_budget, log, _config_factory(base.data.source, base.data.image_size,
                                                                     args.device, *plan))
        long[args.long_budget] = {"epochs": plan[0], "images": plan[1], "seeds": args.long_seeds, "nets": nets}
    ledger.data["finished"] = {"date": date.today().isoformat(), "load_average_at_end": os.getloadavg()[0]}
    ledger.put("_done", True)
    return Part(out=str(out), settings=settings, budgets=budgets, methods=args.methods, seeds=list(range(args.seeds)),
                results=results, command=_command(settings, str(out), budgets, args.methods, long),
                measured=_measured(ledger), long=long)


def _load_part(folder: Path, log) -> Part:
    """A finished ledger, read only (``--combine``): its budgets and methods from its job names, its settings as
    stored; it runs nothing."""
    ledger = Ledger(folder / "results.json", readonly=True)
    settings, jobs = ledger.data.get("settings"), ledger.data["jobs"]
    if settings is None:
        raise SystemExit(f"--combine: {ledger.path} has no settings; is it a bench_search_quality.py ledger?")
    budgets = sorted({k.split("-search-")[0] for k in jobs if "-search-" in k}, key=nascomp.parse_budget)
    methods = [m for m in SEARCHED if any(f"{b}-search-{m}-seed0" in jobs for b in budgets)]
    extra = [len([k for k in jobs if re.fullmatch(rf"{re.escape(b)}-random-seed{s}-trial\d+", k)])
             for b in budgets for s in range(settings["seeds"])]
    args = argparse.Namespace(seeds=settings["seeds"], search_seconds=settings["search_seconds"],
                              trials=settings.get("trials"), random_seed_offset=settings["random_seed_offset"],
                              retrain_epochs=settings["retrain_epochs"], retrain_images=settings["retrain_images"],
                              fidelity_extra=max(extra, default=0), data=settings["data"], device="cpu",
                              methods=methods)
    config = _config_factory(settings["data"], settings["image_size"], "cpu", settings["retrain_epochs"],
                             settings["retrain_images"])
    results = {b: run_budget(args, b, ledger, folder / b, log, config) for b in budgets}
    long = {}
    for b, lg in (ledger.data.get("long") or {}).items():
        nets = run_long(b, results[b], methods, lg["seeds"], ledger, folder / b, log, config)  # all in the ledger
        long[b] = {**lg, "nets": nets}
    return Part(out=str(folder), settings=settings, budgets=budgets, methods=methods, seeds=list(range(args.seeds)),
                results=results, command=_command(settings, str(folder), budgets, methods, long),
                measured=_measured(ledger), long=long)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--budgets", default="300MFLOPs,600MFLOPs,1.5GFLOPs",
                   help="comma-separated budgets in MACs (the field's FLOPs); default 300MFLOPs,600MFLOPs,1.5GFLOPs")
    p.add_argument("--methods", default="default,random,tpe,hyperband",
                   help="searched methods, comma-separated, 'default' first (default: all four); (c) always runs")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    p.add_argument("--search-seconds", type=float, default=240.0, help="wall time of every search (default 240)")
    p.add_argument("--trials", type=int, default=None,
                   help="the same number of trials per search instead of the same wall time (no time limit)")
    p.add_argument("--retrain-epochs", type=int, default=3, help="epochs of the one retraining schedule (default 3)")
    p.add_argument("--retrain-images", type=int, default=10000,
                   help="train + validation images of the retraining (stratified subset; default 10000)")
    p.add_argument("--fidelity-extra", type=int, default=1,
                   help="random non-winning complete trials per (b) study retrained for Spearman's rho (default 1)")
    p.add_argument("--random-seed-offset", type=int, default=1000,
                   help="(b)'s sampler seed is seed + this (default 1000); 0 pairs them")
    p.add_argument("--long-budget", default=None,
                   help="one of --budgets: retrain its winners (every method, and (c)) with the long schedule and "
                        "report whether the order holds and Spearman's rho between short and long test accuracy")
    p.add_argument("--long-seeds", type=int, default=3, help="seeds 0..N-1 of the long schedule (default 3)")
    p.add_argument("--long-epochs", type=int, default=None,
                   help="epochs of the long schedule (default: the fewest giving 5x the retraining's image-epochs)")
    p.add_argument("--long-images", type=int, default=None,
                   help="train + validation images of the long schedule (default --retrain-images); epochs x "
                        "images must be at least 5x --retrain-epochs x --retrain-images")
    p.add_argument("--combine", default=None, metavar="DIR,DIR",
                   help="make one table.md in --out from these finished --out folders (each budget with its own "
                        "search time); runs nothing and writes nothing else")
    p.add_argument("--data", default=None, help="data source of the searches and retraining (default: the recipe's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/bench-search-quality")
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not args.methods or args.methods[0] != "default" or any(m not in SEARCHED for m in args.methods):
        raise SystemExit(f"--methods: 'default' first, then any of {', '.join(SEARCHED[1:])}")
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", flush=True)

    if args.combine:
        parts = [_load_part(Path(f.strip()), log) for f in args.combine.split(",") if f.strip()]
        seen = [b for part in parts for b in part.budgets]
        if len(seen) != len(set(seen)):
            raise SystemExit(f"--combine: a budget is in more than one folder ({', '.join(seen)}); combine folders "
                             f"of different budgets")
    else:
        parts = [_run(args, log)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledgers = [Path(p.out) / "results.json" for p in parts]
    stored = {json.loads(f.read_text()).get("machine") if f.is_file() else None for f in ledgers}
    table = make_table(parts, stored.pop() if len(stored) == 1 and None not in stored else machine())
    tmp = out / "table.md.tmp"
    tmp.write_text(table)
    os.replace(tmp, out / "table.md")
    print(table)
    print("files:", *([] if args.combine else [out / "results.json"]), out / "table.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
