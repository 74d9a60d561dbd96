"""The long-schedule check of ``bench_search_quality.py``: does the proxy's order survive real training?

Pure functions, no I/O (tests/project/test_bench_long_schedule.py checks them on hand-computed values):

- :func:`long_schedule` picks the long retraining's epochs and images and refuses less than 5x the short schedule's
  image-epochs (issue 19: "at least 5x the image-epochs of the benchmark's retraining");
- :func:`summarize_long` counts, per seed, whether (a) beats each other method under the short and under the long
  schedule, and computes Spearman's rho (:func:`scipy.stats.spearmanr`) between the short and the long test
  accuracies over every distinct retrained net;
- :func:`long_table` writes that as the Markdown ``table.md`` shows.

A search without a winner is a loss: it scores 0 in the order counts (so (a) without a winner never beats anything)
and has no net, so it is absent from rho.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MIN_FACTOR", "LongNet", "OrderCount", "Rho", "LongSummary", "long_schedule", "summarize_long",
           "long_table"]

#: The long schedule trains at least this many times the short schedule's image-epochs.
MIN_FACTOR = 5


def long_schedule(short_epochs: int, short_images: int, epochs: int | None, images: int | None) -> tuple[int, int]:
    """The long retraining's ``(epochs, images)``.

    Args:
        short_epochs, short_images: The benchmark's retraining (``--retrain-epochs``, ``--retrain-images``).
        epochs, images: ``--long-epochs`` and ``--long-images``, ``None`` when not given. Default images: the short
            schedule's; default epochs: the fewest that reach 5x the short image-epochs with those images.

    Raises:
        ValueError: a schedule under 5x the short image-epochs, or a count below 1 (one line naming both).

    Example:
        >>> long_schedule(2, 6000, None, None), long_schedule(2, 6000, None, 20000), long_schedule(2, 6000, 8, None)
        ((10, 6000), (3, 20000), (8, 6000))
    """
    for name, value in (("--long-epochs", epochs), ("--long-images", images)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    images = short_images if images is None else images
    need = MIN_FACTOR * short_epochs * short_images
    epochs = -(-need // images) if epochs is None else epochs
    if epochs * images < need:
        raise ValueError(f"the long schedule {epochs} epochs x {images:,} images = {epochs * images:,} image-epochs "
                         f"is under {MIN_FACTOR}x the retraining's {short_epochs} x {short_images:,} = "
                         f"{short_epochs * short_images:,}; pass --long-epochs and --long-images whose product is at "
                         f"least {need:,}")
    return epochs, images


@dataclass(frozen=True)
class LongNet:
    """One retrained net of the long check: ``method`` and ``seed`` name it; ``key`` is the same for the same net
    and seed (two methods that picked one architecture); accuracies are test accuracies in [0, 1]."""

    method: str
    seed: int
    key: str
    short: float
    long: float


@dataclass(frozen=True)
class OrderCount:
    """(a) against ``other`` over ``seeds`` seeds: in how many (a) scored strictly higher under the short schedule,
    under the long one, and in how many the sign of (a) - other (higher, equal or lower) is the same under both."""

    other: str
    seeds: int
    short_wins: int
    long_wins: int
    same_sign: int


@dataclass(frozen=True)
class Rho:
    """Spearman's rho between short and long test accuracies over ``n`` nets and its two-sided p-value (nan when
    undefined: fewer than 3 nets or a constant side)."""

    n: int
    rho: float
    pvalue: float


@dataclass(frozen=True)
class LongSummary:
    reference: str
    orders: tuple[OrderCount, ...]
    pooled: Rho
    per_method: dict[str, Rho]


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _rho(nets: Sequence[LongNet]) -> Rho:
    if len(nets) < 3:
        return Rho(len(nets), math.nan, math.nan)
    from scipy.stats import spearmanr

    short, long = [n.short for n in nets], [n.long for n in nets]
    if len(set(short)) < 2 or len(set(long)) < 2:
        return Rho(len(nets), math.nan, math.nan)
    stat = spearmanr(short, long)
    return Rho(len(nets), float(stat.statistic), float(stat.pvalue))


def summarize_long(nets: Sequence[LongNet], methods: Sequence[str], seeds: Sequence[int],
                   reference: str = "default", per_method_min: int = 4) -> LongSummary:
    """Order counts and rho of the long check.

    Args:
        nets: Every retrained net (a search without a winner has none: it scores 0 in the order counts).
        methods: Every method compared, ``reference`` among them.
        seeds: The seeds of the check.
        reference: The method compared with every other.
        per_method_min: Rho per method only for methods with at least this many distinct nets.

    Returns:
        A :class:`LongSummary`; rho counts a net retrained once for two methods (same ``key`` and seed) once.
    """
    score = {(n.method, n.seed): (n.short, n.long) for n in nets}
    orders = []
    for other in methods:
        if other == reference:
            continue
        short_wins = long_wins = same = 0
        for s in seeds:
            a_short, a_long = score.get((reference, s), (0.0, 0.0))
            o_short, o_long = score.get((other, s), (0.0, 0.0))
            short_wins += a_short > o_short
            long_wins += a_long > o_long
            same += _sign(a_short - o_short) == _sign(a_long - o_long)
        orders.append(OrderCount(other, len(seeds), short_wins, long_wins, same))
    distinct = list({(n.key, n.seed): n for n in nets}.values())
    per_method = {}
    for m in methods:
        mine = [n for n in nets if n.method == m]
        if len(mine) >= per_method_min:
            per_method[m] = _rho(mine)
    return LongSummary(reference, tuple(orders), _rho(distinct), per_method)


def _fmt(x: float, spec: str) -> str:
    return "n/a" if math.isnan(x) else format(x, spec)


def long_table(summary: LongSummary, nets: Sequence[LongNet], methods: Sequence[str], seeds: Sequence[int],
               labels: Mapping[str, str], heading: str) -> list[str]:
    """Markdown lines: ``heading``, per seed the short -> long test accuracy of every method ("no result" for a
    search without a winner), the order counts, and rho."""
    score = {(n.method, n.seed): n for n in nets}
    short_name = {m: labels[m].split(" ")[0] for m in methods}
    lines = [heading, "", "| seed | " + " | ".join(labels[m] for m in methods) + " |",
             "| --- | " + " | ".join("---" for _ in methods) + " |"]
    for s in seeds:
        cells = [f"{score[(m, s)].short:.4f} -> {score[(m, s)].long:.4f}" if (m, s) in score else "no result (0)"
                 for m in methods]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "| pair | (a) higher, short schedule | (a) higher, long schedule | same order under both |",
              "| --- | --- | --- | --- |"]
    ref = short_name[summary.reference]
    for o in summary.orders:
        lines.append(f"| {ref} vs {short_name[o.other]} | {o.short_wins} / {o.seeds} | {o.long_wins} / {o.seeds} | "
                     f"{o.same_sign} / {o.seeds} |")
    p = summary.pooled
    lines += ["", f"Spearman's rho between short and long test accuracy: {_fmt(p.rho, '.3f')} "
                  f"(p = {_fmt(p.pvalue, '.3g')}) over {p.n} distinct retrained nets (a net two methods picked on "
                  f"one seed counts once; a search without a winner has no net)."]
    for m, r in summary.per_method.items():
        lines.append(f"Per method, {labels[m]}: rho = {_fmt(r.rho, '.3f')} (p = {_fmt(r.pvalue, '.3g')}), {r.n} nets.")
    return lines
