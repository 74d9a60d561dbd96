"""``table.md`` of ``bench_search_quality.py``, from one or several ledgers (``--combine``): pure text, no I/O.

A :class:`Part` is one ledger (one ``--out``) with its own settings; each budget's heading states its own search
time and retraining schedule, so budgets run in separate processes with different ``--search-seconds`` (the
lead's ``bq-a`` at 120 s and ``bq-b`` at 240 s) can share one table.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from search_quality_long import LongNet, long_table, summarize_long

__all__ = ["LABELS", "Part", "quartiles", "paired_rows", "make_table"]

LABELS = {"default": "(a) default: TPE + ASHA (paused trials)", "random": "(b) random in budget, no pruner",
          "tpe": "(d) TPE, no pruner", "hyperband": "(e) TPE + Optuna HyperbandPruner",
          "scaled": "(c) ResNet-50 scaled to budget"}


@dataclass
class Part:
    """One ledger's results.

    Attributes:
        out: Its ``--out`` folder.
        settings: Its stored settings (``results.json``'s ``settings``).
        budgets, methods, seeds: What it ran (``methods`` the searched ones, ``default`` first).
        results: Per budget ``{"searches", "retrained", "fidelity"}`` (``bench_search_quality.run_budget``).
        command: The command that made it.
        measured: One line: when, load averages, minutes of work.
        long: Per budget with a long check: ``{"epochs", "images", "seeds", "nets": [LongNet, ...]}``.
    """

    out: str
    settings: dict
    budgets: list[str]
    methods: list[str]
    seeds: list[int]
    results: dict
    command: str
    measured: str
    long: dict[str, dict] = field(default_factory=dict)

    def score(self, method: str, budget: str, seed: int) -> float:
        """Test accuracy of the retrained winner; 0 for a search without one (a loss)."""
        return (self.results[budget]["retrained"][(method, seed)] or {}).get("test_accuracy", 0.0)

    def schedule(self) -> str:
        s = self.settings
        search = f"{s['trials']} trials per search" if s.get("trials") else f"{s['search_seconds']:g} s per search"
        return (f"{search}, retraining {s['retrain_epochs']} epoch(s) on {s['retrain_images']:,} images, "
                f"{_seeds(s['seeds'])}")


def _seeds(n: int) -> str:
    return "seed 0" if n == 1 else f"seeds 0-{n - 1}"


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile), linear interpolation (numpy's default)."""
    import numpy as np

    q = np.percentile(values, [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


def paired_rows(scores: dict, pairs: list[tuple[str, int]], others: tuple[str, ...], where: str) -> list[str]:
    """Rows of the paired table: (a) minus each other method over ``pairs`` of (budget, seed)."""
    rows = []
    for other in others:
        diffs = [scores[("default", b, s)] - scores[(other, b, s)] for b, s in pairs]
        if not diffs:
            continue
        q25, med, q75 = quartiles(diffs)
        rows.append(f"| (a) - {LABELS[other].split(' ')[0]} | {where} | {sum(d > 0 for d in diffs)} / {len(diffs)} "
                    f"(ties {sum(d == 0 for d in diffs)}) | {med:+.4f} [{q25:+.4f}, {q75:+.4f}] | "
                    f"{', '.join(f'{d:+.4f}' for d in diffs)} |")
    return rows


def _budget_lines(part: Part, b: str) -> list[str]:
    r = part.results[b]
    lines = [f"**{b}** ({part.schedule()})", "", "| method | test accuracy: median [IQR] | per seed | architectures "
             "trained per search (complete); searches without a result |", "| --- | --- | --- | --- |"]
    for m in [*part.methods, "scaled"]:
        accs = [part.score(m, b, s) for s in part.seeds]
        q25, med, q75 = quartiles(accs)
        if m == "scaled":
            evaluated = "0 (no search)"
        else:
            ev = [r["searches"][(m, s)]["evaluated"] for s in part.seeds]
            co = [r["searches"][(m, s)]["complete"] for s in part.seeds]
            none = sum(r["searches"][(m, s)]["best_trial"] is None for s in part.seeds)
            evaluated = f"median {statistics.median(ev):g} ({statistics.median(co):g}); per seed {ev}; {none}"
        lines.append(f"| {LABELS[m]} | {med:.4f} [{q25:.4f}, {q75:.4f}] | "
                     f"{', '.join(f'{a:.4f}' for a in accs)} | {evaluated} |")
    import json

    fid = list({json.dumps(f["params"], sort_keys=True): f for f in r["fidelity"]}.values())
    if len(fid) >= 3:
        from scipy.stats import spearmanr

        stat = spearmanr([f["proxy"] for f in fid], [f["test"] for f in fid])
        lines += ["", f"Proxy fidelity at {b}: Spearman rho = {float(stat.statistic):.3f} "
                      f"(p = {float(stat.pvalue):.3g}) over {len(fid)} distinct retrained architectures."]
    return [*lines, ""]


def _long_lines(part: Part, b: str) -> list[str]:
    long = part.long[b]
    seeds = list(range(long["seeds"]))
    methods = [*part.methods, "scaled"]
    nets: list[LongNet] = long["nets"]
    s = part.settings
    factor = long["epochs"] * long["images"] / (s["retrain_epochs"] * s["retrain_images"])
    heading = (f"**Long schedule at {b}**: the winners of {_seeds(long['seeds'])} retrained for {long['epochs']} "
               f"epoch(s) on {long['images']:,} images ({factor:.1f}x the image-epochs of the {s['retrain_epochs']} "
               f"x {s['retrain_images']:,} above); test accuracy short -> long:")
    return [*long_table(summarize_long(nets, methods, seeds), nets, methods, seeds, LABELS, heading), ""]


def make_table(parts: list[Part], machine: str) -> str:
    """The whole ``table.md``: how each part was measured, a table per budget, the paired differences per budget
    and pooled over every budget of every part (the methods all parts ran), and each part's long-schedule check."""
    lines = [f"On {machine}. A search without a complete trial scores 0 (a loss)."]
    lines += [f"- `{p.command}`: {p.measured}" for p in parts]
    lines.append("")
    for p in parts:
        for b in p.budgets:
            lines += _budget_lines(p, b)
    scores = {(m, b, s): p.score(m, b, s) for p in parts for b in p.budgets for m in [*p.methods, "scaled"]
              for s in p.seeds}
    common = [m for m in parts[0].methods if all(m in p.methods for p in parts)]
    others = tuple(m for m in [*common, "scaled"] if m != "default")  # pooled: the methods every part ran
    lines += ["Paired per-seed differences of (a) against each method (test accuracy; a search without a result "
              "scores 0):", "", "| pair | budget | wins / pairs | median [IQR] | per pair |",
              "| --- | --- | --- | --- | --- |"]
    for p in parts:
        mine = tuple(m for m in [*p.methods, "scaled"] if m != "default")
        for b in p.budgets:
            lines += paired_rows(scores, [(b, s) for s in p.seeds], mine, b)
    pooled = [(b, s) for p in parts for b in p.budgets for s in p.seeds]
    if len({b for b, _ in pooled}) > 1:
        lines += paired_rows(scores, pooled, others, "pooled")
    lines.append("")
    for p in parts:
        for b in p.long:
            lines += _long_lines(p, b)
    return "\n".join(lines) + "\n"
