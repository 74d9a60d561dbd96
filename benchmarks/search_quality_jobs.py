"""The benchmark's jobs, each recorded in one ledger (``results.json``) so that a rerun reuses finished work: one
search of one method and seed (:func:`search_job`), the trained trials of a finished search read back from its study
(:func:`summarize_study`), and one retraining measured on the test split (:func:`retrain_job`). Used by
bench_search_quality.py."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import optuna
import rich.console
from optuna.trial import TrialState

from nascomp.search import run_search
from nascomp.search.outputs.report import Reporter
from nascomp.train import train_spec
from nascomp.train.config import RunConfig

__all__ = ["Ledger", "search_job", "summarize_study", "retrain_job"]


class Ledger:
    """``results.json``: every finished job by name, rewritten atomically after each one.

    A read-only ledger (``--combine``) runs nothing: a job it lacks stops the benchmark with one line.
    """

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path, self.readonly = path, readonly
        if readonly and not path.is_file():
            raise SystemExit(f"--combine: {path} does not exist; pass --out folders of finished benchmark runs")
        self.data = json.loads(path.read_text()) if path.exists() else {"jobs": {}}

    def get(self, name: str):
        done = self.data["jobs"].get(name)
        if done is None and self.readonly:
            raise SystemExit(f"--combine: {self.path} has no finished job '{name}'; run that benchmark to the end "
                             f"first (the same command and --out resume it)")
        return done

    def put(self, name: str, value) -> None:
        self.data["jobs"][name] = value
        self.save()

    def save(self) -> None:
        assert not self.readonly, "a read-only ledger is never written"
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
    record = {**done, **summarize_study(name, folder), "folder": str(folder)}  # where it is now (--combine)
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
