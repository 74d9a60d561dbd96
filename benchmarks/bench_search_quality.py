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

Writes to ``--out`` (default ``runs/bench-search-quality``): ``results.json`` (every number; a rerun reuses the
finished searches and retrainings recorded there), ``table.md`` (the table docs/search.md shows), ``best_so_far.png``
(median over seeds of the best complete proxy accuracy against search time, with the IQR band), ``edf.png`` (the
error distribution function of every fully trained candidate of each method, proxy validation error).

Usage:
    .venv/bin/python benchmarks/bench_search_quality.py [--budgets 300MFLOPs,600MFLOPs,1.5GFLOPs] [--seeds 5]
        [--search-seconds 240 | --trials N] [--methods default,random,tpe,hyperband]
        [--retrain-epochs 3] [--retrain-images 10000] [--fidelity-extra 1] [--random-seed-offset 1000]
        [--out DIR] [--device cpu]

(``.venv`` is the one ``make setup`` creates.) The full run (3 budgets x 5 seeds x 4 searched methods of 240 s, plus
the retrainings) takes about 4-5 hours on 2 quiet CPU cores; it is resumable (``results.json``), so stop it and
run it again at will. The paired table compares (a) with each other method per budget and pooled over budgets:
wins, median and IQR of the per-seed test-accuracy differences.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nascomp  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)
import optuna  # noqa: E402
import rich.console  # noqa: E402
import torch  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from nascomp.search import load_space, run_search  # noqa: E402
from nascomp.search.outputs.study_files import write_best_yaml  # noqa: E402
from nascomp.search.recipe import load_recipe  # noqa: E402
from nascomp.search.outputs.report import Reporter  # noqa: E402
from nascomp.train import train_spec  # noqa: E402
from nascomp.train.config import RunConfig  # noqa: E402

METHODS = ("default", "random", "tpe", "hyperband", "scaled")
SEARCHED = METHODS[:4]
LABELS = {"default": "(a) default: TPE + ASHA (paused trials)", "random": "(b) random in budget, no pruner",
          "tpe": "(d) TPE, no pruner", "hyperband": "(e) TPE + Optuna HyperbandPruner",
          "scaled": "(c) ResNet-50 scaled to budget"}


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile), linear interpolation (numpy's default)."""
    import numpy as np

    q = np.percentile(values, [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


class Ledger:
    """``results.json``: every finished job by name, rewritten atomically after each one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {"jobs": {}}

    def get(self, name: str):
        return self.data["jobs"].get(name)

    def put(self, name: str, value) -> None:
        self.data["jobs"][name] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)


def search_job(ledger: Ledger, base, method: str, seed: int, out: Path, log, sampler_seed: int) -> dict:
    """Search ``seed`` of ``method`` (the ledger's ``search-{method}-seed{seed}``), its sampler seeded with
    ``sampler_seed``."""
    name = f"search-{method}-seed{seed}"
    folder = out / name
    key = f"{out.name}-{name}"  # one ledger for every budget (``out`` is the budget's folder)
    if (done := ledger.get(key)) is None:
        overrides = {"seed": sampler_seed, "out": str(folder), "study_name": name,
                     "storage": f"sqlite:///{folder / 'study.db'}"}
        if method == "random":
            overrides.update(sampler="random", pruner="none")
        elif method == "tpe":
            overrides.update(sampler="tpe", pruner="none")
        elif method == "hyperband":
            overrides.update(sampler="tpe", pruner="hyperband")
        t0 = time.perf_counter()
        quiet = Reporter(console=rich.console.Console(file=io.StringIO(), width=200), bars=False)
        result = run_search(base.with_overrides(**overrides), reporter=quiet)
        if result.interrupted:  # Ctrl-C or SIGTERM: not a finished search; a rerun starts it again
            raise SystemExit(f"{name} was interrupted ({result.stop_reason}); rerun to go on")
        done = {"method": method, "seed": seed, "sampler_seed": sampler_seed,
                "seconds": time.perf_counter() - t0, "folder": str(folder)}
        ledger.put(key, done)
    record = {**done, **summarize_study(name, folder)}
    best = ("no complete trial (a loss)" if record["best_trial"] is None else
            f"best proxy accuracy {record['best_accuracy']:.4f} at {record['best_macs'] / 1e6:.0f} MMACs")
    log(f"{key}: {record['evaluated']} architectures trained ({record['complete']} complete, "
        f"{record['duplicates']} duplicate points reused) in {record['seconds']:.0f} s; {best}")
    return record


def summarize_study(name: str, folder: Path) -> dict:
    """The trained trials of a finished search (read from its study: a rerun recomputes it)."""
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    start = min((t.datetime_start for t in trials if t.datetime_start is not None), default=None)
    rows, duplicates = [], 0
    for t in trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED) or t.datetime_complete is None:
            continue
        if "duplicate_of" in t.user_attrs:  # an earlier trial's point: reused, not trained again
            duplicates += 1
            continue
        if t.user_attrs.get("resumes") is not None:  # a promotion of a paused architecture: counted once, below
            continue
        value = t.values[0] if t.values else (t.intermediate_values[max(t.intermediate_values)]
                                              if t.intermediate_values else None)
        rows.append({"number": t.number, "state": t.state.name.lower(), "accuracy": value,
                     "elapsed_s": (t.datetime_complete - start).total_seconds(),
                     "val_loss": t.user_attrs.get("val_loss"), "macs": t.user_attrs.get("macs"),
                     "params": {k: t.params[k] for k in sorted(t.params)}})
    complete = [t for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    for t in complete:  # a promotion that completed: its architecture's row is complete, with the final value
        if t.user_attrs.get("resumes") is not None:
            line = int(t.user_attrs.get("lineage", t.number))
            for r in rows:
                if r["number"] == line:
                    r.update(state="complete", accuracy=t.values[0], val_loss=t.user_attrs.get("val_loss"),
                             elapsed_s=(t.datetime_complete - start).total_seconds(), number=t.number)
    record = {"evaluated": len(rows), "complete": len(complete), "duplicates": duplicates, "trials": rows,
              "best_trial": None, "best_accuracy": None, "best_macs": None}
    if complete:
        best = max(complete, key=lambda t: (t.values[0], -t.number))
        record.update(best_trial=best.number, best_accuracy=best.values[0], best_macs=best.user_attrs.get("macs"))
    return record


def retrain_job(ledger: Ledger, name: str, spec_path: Path, config: RunConfig, out: Path, log) -> dict:
    if (done := ledger.get(name)) is not None:
        return done
    t0 = time.perf_counter()
    summary = train_spec(str(spec_path), config, out=out / "retrain" / name, progress=False,
                         console=rich.console.Console(file=io.StringIO()))
    if summary.test_accuracy is None:
        raise SystemExit(f"retraining {name} was interrupted; rerun to go on")
    record = {"spec": str(spec_path), "test_accuracy": summary.test_accuracy, "test_se": summary.test_stderr,
              "macs": summary.macs, "params": summary.params, "seconds": time.perf_counter() - t0}
    log(f"{name}: test accuracy {summary.test_accuracy:.4f} +- {summary.test_stderr:.4f} "
        f"({summary.macs / 1e6:.0f} MMACs at the trained size, {record['seconds']:.0f} s)")
    ledger.put(name, record)
    return record


def best_so_far(trials: list[dict], grid: list[float]) -> list[float]:
    """Best complete proxy accuracy finished by each time of ``grid`` (nan before the first)."""
    done = sorted((r["elapsed_s"], r["accuracy"]) for r in trials if r["state"] == "complete")
    out, best, i = [], math.nan, 0
    for t in grid:
        while i < len(done) and done[i][0] <= t:
            best = done[i][1] if math.isnan(best) else max(best, done[i][1])
            i += 1
        out.append(best)
    return out


def plots(searches: dict, seeds: list[int], seconds: float, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    grid = list(np.linspace(0, seconds, 121))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method, color in (("default", "tab:blue"), ("random", "tab:orange")):
        curves = np.array([best_so_far(searches[(method, s)]["trials"], grid) for s in seeds])
        with np.errstate(all="ignore"):
            ok = (~np.isnan(curves)).sum(axis=0) > len(seeds) // 2  # drawn where most seeds have a result
            q25, med, q75 = (np.nanpercentile(np.where(np.isnan(curves), -np.inf, curves), q, axis=0)
                             for q in (25, 50, 75))
        g = np.array(grid)
        ax.plot(g[ok], med[ok], color=color, label=f"({'a' if method == 'default' else 'b'}) {method}: median")
        ax.fill_between(g[ok], np.maximum(q25[ok], np.nanmin(curves)), q75[ok], color=color, alpha=0.2,
                        label=f"IQR over {len(seeds)} seeds")
    paths = [_save(fig, ax, out / "best_so_far.png", "search time (s)", "best complete proxy val. accuracy",
                   "Best so far (median over seeds)")]

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method, color in (("default", "tab:blue"), ("random", "tab:orange")):
        errors = sorted(1 - r["accuracy"] for s in seeds for r in searches[(method, s)]["trials"]
                        if r["state"] == "complete")
        if errors:  # F(e) = share of candidates with error <= e, from 0 before the first
            ax.step([errors[0], *errors], np.arange(len(errors) + 1) / len(errors), where="post", color=color,
                    label=f"({'a' if method == 'default' else 'b'}) {method}: {len(errors)} complete trials")
    paths.append(_save(fig, ax, out / "edf.png", "proxy validation error (1 - accuracy)",
                       "fraction of candidates with error <= e",
                       "Error EDF of every fully trained candidate (arXiv:1905.13214)"))
    return paths


def _save(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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


def _paired_rows(scores: dict, pairs: list[tuple[str, int]], others: tuple[str, ...]) -> list[str]:
    """Rows of the paired table: (a) minus each other method over ``pairs`` of (budget, seed)."""
    rows = []
    for other in others:
        diffs = [scores[("default", b, s)] - scores[(other, b, s)] for b, s in pairs]
        if not diffs:
            continue
        q25, med, q75 = _quartiles(diffs)
        rows.append(f"| (a) - {LABELS[other].split(' ')[0]} | {sum(d > 0 for d in diffs)} / {len(diffs)} "
                    f"(ties {sum(d == 0 for d in diffs)}) | {med:+.4f} [{q25:+.4f}, {q75:+.4f}] | "
                    f"{', '.join(f'{d:+.4f}' for d in diffs)} |")
    return rows


def run_budget(args, budget: str, ledger: Ledger, out: Path, log, config) -> dict:
    """Every search and retraining of one budget; returns ``{"searches", "retrained", "fidelity"}``."""
    timeout = "none" if args.trials else f"{args.search_seconds:g}s"
    base = load_recipe().with_overrides(budget=budget, timeout=timeout, trials=args.trials or 10_000,
                                        device=args.device, **({"data": args.data} if args.data else {}))
    seeds = list(range(args.seeds))
    space = load_space(base.space)
    out.mkdir(parents=True, exist_ok=True)
    searches = {}
    for s in seeds:  # interleaved, the order rotating per seed, so that a change of load hits every method
        order = args.methods[s % len(args.methods):] + args.methods[:s % len(args.methods)]
        for method in order:
            sampler_seed = s + args.random_seed_offset if method == "random" else s
            searches[(method, s)] = search_job(ledger, base, method, s, out, log, sampler_seed)
    retrained: dict[tuple[str, int], dict | None] = {}
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
        retrained[("scaled", s)] = retrain_job(ledger, f"{out.name}-scaled-seed{s}", baseline, config(s), out, log)
        if "random" in args.methods:
            rec = searches[("random", s)]
            others = [r for r in rec["trials"] if r["state"] == "complete" and r["number"] != rec["best_trial"]]
            for r in random.Random(s).sample(others, min(args.fidelity_extra, len(others))):
                path = out / "fidelity" / f"random-seed{s}-trial{r['number']}.yaml"
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    spec = space.export(r["params"], name=f"{space.name}_trial{r['number']}",
                                        input_shape=base.input_shape, num_classes=10,
                                        doc=f"Trial {r['number']} of search-random-seed{s}.")
                    write_best_yaml(spec, path)
                job = retrain_job(ledger, f"{out.name}-random-seed{s}-trial{r['number']}", path, config(s), out, log)
                fidelity.append({"arch": path.stem, "proxy": r["accuracy"], "test": job["test_accuracy"],
                                 "params": r["params"]})
    if "default" in args.methods and "random" in args.methods:
        horizon = max((r["elapsed_s"] for rec in searches.values() for r in rec["trials"]), default=1.0) \
            if args.trials else args.search_seconds
        plots(searches, seeds, horizon, out)
    return {"searches": searches, "retrained": retrained, "fidelity": fidelity}


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
    p.add_argument("--data", default=None, help="data source of the searches and retraining (default: the recipe's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/bench-search-quality")
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not args.methods or args.methods[0] != "default" or any(m not in SEARCHED for m in args.methods):
        raise SystemExit(f"--methods: 'default' first, then any of {', '.join(SEARCHED[1:])}")
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out / "results.json")
    started = time.perf_counter()
    load_at_start = ledger.data.setdefault("load_average_at_start", os.getloadavg()[0])

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", flush=True)

    base = load_recipe()
    if args.data:
        base = base.with_overrides(data=args.data)
    settings = {"seeds": args.seeds, "search_seconds": args.search_seconds,
                "random_seed_offset": args.random_seed_offset,
                "retrain_epochs": args.retrain_epochs, "retrain_images": args.retrain_images,
                "data": base.data.source, "image_size": base.data.image_size, "proxy": {
                    "max_images": base.data.max_images, "val_fraction": base.data.val_fraction,
                    "epochs": base.train.epochs, "data_fractions": base.train.data_fractions,
                    "pruner": base.search.pruner, "sampler": base.search.sampler}}
    if args.trials:
        settings["trials"] = args.trials
    settings = json.loads(json.dumps(settings))  # as stored (tuples become lists), so that a rerun compares equal
    if ledger.data.get("settings", settings) != settings:
        raise SystemExit(f"{ledger.path} holds results of other settings; pass another --out")
    ledger.data["settings"] = settings
    seeds = list(range(args.seeds))
    def config(seed: int) -> RunConfig:
        return RunConfig(data=base.data.source, image_size=base.data.image_size, epochs=args.retrain_epochs,
                         optimizer="adamw", lr=3e-3, batch_size=64, warmup_epochs=1.0, val_fraction=0.1,
                         max_images=args.retrain_images, seed=seed, device=args.device, workers=0)

    results = {b: run_budget(args, b, ledger, out / b, log, config) for b in budgets}
    methods = [*args.methods, "scaled"]
    scores = {(m, b, s): (results[b]["retrained"][(m, s)] or {}).get("test_accuracy", 0.0)
              for b in budgets for m in methods for s in seeds}
    searched_s = sum(job["seconds"] for job in ledger.data["jobs"].values()
                     if isinstance(job, dict) and "seconds" in job)
    lines = [f"Measured {date.today().isoformat()} on {machine()}, load average at the start "
             f"{load_at_start:.1f} and at the end {os.getloadavg()[0]:.1f}; "
             f"`.venv/bin/python benchmarks/bench_search_quality.py --budgets {','.join(budgets)} "
             f"--methods {','.join(args.methods)} --seeds {args.seeds} "
             f"{f'--trials {args.trials}' if args.trials else f'--search-seconds {args.search_seconds:g}'} "
             f"--retrain-epochs {args.retrain_epochs} --retrain-images {args.retrain_images}"
             f"{f' --data {args.data}' if args.data else ''}`, "
             f"{searched_s / 60:.0f} min of searching and retraining in all. A search without a complete trial "
             f"scores 0 (a loss).", ""]
    for b in budgets:
        r = results[b]
        lines += [f"**{b}**", "", "| method | test accuracy: median [IQR] | per seed | architectures trained per "
                  "search (complete); searches without a result |", "| --- | --- | --- | --- |"]
        for m in methods:
            accs = [scores[(m, b, s)] for s in seeds]
            q25, med, q75 = _quartiles(accs)
            if m == "scaled":
                evaluated = "0 (no search)"
            else:
                ev = [r["searches"][(m, s)]["evaluated"] for s in seeds]
                co = [r["searches"][(m, s)]["complete"] for s in seeds]
                none = sum(r["searches"][(m, s)]["best_trial"] is None for s in seeds)
                evaluated = f"median {statistics.median(ev):g} ({statistics.median(co):g}); per seed {ev}; {none}"
            lines.append(f"| {LABELS[m]} | {med:.4f} [{q25:.4f}, {q75:.4f}] | "
                         f"{', '.join(f'{a:.4f}' for a in accs)} | {evaluated} |")
        fid = list({json.dumps(f["params"], sort_keys=True): f for f in r["fidelity"]}.values())
        if len(fid) >= 3:
            from scipy.stats import spearmanr

            stat = spearmanr([f["proxy"] for f in fid], [f["test"] for f in fid])
            lines += ["", f"Proxy fidelity at {b}: Spearman rho = {float(stat.statistic):.3f} "
                          f"(p = {float(stat.pvalue):.3g}) over {len(fid)} distinct retrained architectures."]
        lines.append("")
    lines += ["Paired per-seed differences of (a) against each method (test accuracy; a search without a result "
              "scores 0):", "", "| pair | budget | wins / pairs | median [IQR] | per pair |",
              "| --- | --- | --- | --- | --- |"]
    others = tuple(m for m in methods if m != "default")
    for b in budgets:
        lines += [row.replace(" | ", f" | {b} | ", 1) for row in _paired_rows(scores, [(b, s) for s in seeds], others)]
    lines += [row.replace(" | ", " | pooled | ", 1)
              for row in _paired_rows(scores, [(b, s) for b in budgets for s in seeds], others)]
    table = "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    ledger.put("_done", True)
    print(table)
    print("files:", out / "results.json", out / "table.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
