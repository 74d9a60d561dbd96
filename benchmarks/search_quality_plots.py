"""The figures of ``bench_search_quality.py``: best-so-far proxy accuracy against search time, and the error EDF
(Radosavovic et al., arXiv:1905.13214) of every fully trained candidate, (a) against (b)."""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["best_so_far", "plots"]


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
