"""The long-schedule report of benchmarks/bench_search_quality.py (issue 19): order counts and Spearman's rho between
short and long test accuracies, on values small enough to check by hand."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "search_quality_long.py"
_spec = importlib.util.spec_from_file_location("search_quality_long", _PATH)
long = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("search_quality_long", long)
_spec.loader.exec_module(long)

LongNet = long.LongNet
METHODS = ["default", "random", "scaled"]


def _nets() -> list:
    # seed 0: (a) 0.80 -> 0.85, (b) 0.70 -> 0.75, (c) 0.60 -> 0.50
    # seed 1: (a) 0.50 -> 0.65 (short: below (b) and (c); long: above both), (b) 0.55 -> 0.60, (c) 0.52 -> 0.58
    # seed 2: (a) has no winner (a loss: 0 both times); (b) 0.62 -> 0.70; (c) 0.40 -> 0.45
    return [LongNet("default", 0, "p1", 0.80, 0.85), LongNet("random", 0, "p2", 0.70, 0.75),
            LongNet("scaled", 0, "scaled", 0.60, 0.50),
            LongNet("default", 1, "p3", 0.50, 0.65), LongNet("random", 1, "p4", 0.55, 0.60),
            LongNet("scaled", 1, "scaled", 0.52, 0.58),
            LongNet("random", 2, "p5", 0.62, 0.70), LongNet("scaled", 2, "scaled", 0.40, 0.45)]


def test_order_counts_per_pair_with_a_loss_scoring_zero():
    summary = long.summarize_long(_nets(), METHODS, [0, 1, 2])
    by = {o.other: o for o in summary.orders}
    # (a) vs (b): short: seed 0 only (0.80 > 0.70; 0.50 < 0.55; 0 < 0.62) -> 1; long: seeds 0, 1 -> 2;
    # same sign: seed 0 (+,+), seed 2 (-,-) -> 2
    assert (by["random"].short_wins, by["random"].long_wins, by["random"].same_sign, by["random"].seeds) == (1, 2, 2, 3)
    # (a) vs (c): short: seed 0 (0.80 > 0.60) -> 1 (0.50 < 0.52); long: seeds 0, 1 -> 2; same sign: seeds 0, 2 -> 2
    assert (by["scaled"].short_wins, by["scaled"].long_wins, by["scaled"].same_sign) == (1, 2, 2)


def test_spearman_rho_by_hand():
    # four nets, short 0.80 > 0.70 > 0.60 > 0.50 (ranks 4 3 2 1), long 0.85, 0.75, 0.50, 0.65 (ranks 4 3 1 2):
    # sum d^2 = 2, rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8; t = rho * sqrt(2 / (1 - rho^2)), 2 degrees of freedom,
    # two-sided p = 1 - |t| / sqrt(2 + t^2) = 1 - 0.8 = 0.2
    nets = [LongNet("default", 0, "a", 0.80, 0.85), LongNet("default", 1, "b", 0.70, 0.75),
            LongNet("default", 2, "c", 0.60, 0.50), LongNet("default", 3, "d", 0.50, 0.65)]
    summary = long.summarize_long(nets, ["default"], [0, 1, 2, 3])
    assert summary.pooled.n == 4
    assert summary.pooled.rho == pytest.approx(0.8)
    assert summary.pooled.pvalue == pytest.approx(0.2)
    assert summary.per_method["default"].rho == pytest.approx(0.8)  # 4 nets: enough for a per-method rho


def test_a_net_two_methods_picked_counts_once_in_rho_and_few_nets_give_no_rho():
    nets = [LongNet("default", 0, "same", 0.8, 0.9), LongNet("random", 0, "same", 0.8, 0.9),
            LongNet("scaled", 0, "scaled", 0.6, 0.7)]
    summary = long.summarize_long(nets, METHODS, [0])
    assert summary.pooled.n == 2 and math.isnan(summary.pooled.rho)  # 2 distinct nets: undefined
    assert summary.per_method == {}
    by = {o.other: o for o in summary.orders}
    assert (by["random"].short_wins, by["random"].long_wins, by["random"].same_sign) == (0, 0, 1)  # a tie twice


def test_long_schedule_defaults_and_the_5x_rule():
    assert long.long_schedule(2, 6000, None, None) == (10, 6000)  # 5 x 12,000 image-epochs with 6,000 images
    assert long.long_schedule(2, 6000, None, 20000) == (3, 20000)  # ceil(60,000 / 20,000)
    assert long.long_schedule(3, 10000, 8, 20000) == (8, 20000)  # the example: 160,000 >= 150,000
    with pytest.raises(ValueError, match="under 5x .* at least 150,000"):
        long.long_schedule(3, 10000, 7, 20000)  # 140,000 < 150,000
    with pytest.raises(ValueError, match="--long-images must be at least 1"):
        long.long_schedule(1, 600, None, 0)


def test_the_table_shows_losses_and_counts():
    summary = long.summarize_long(_nets(), METHODS, [0, 1, 2])
    labels = {"default": "(a) default", "random": "(b) random", "scaled": "(c) scaled"}
    text = "\n".join(long.long_table(summary, _nets(), METHODS, [0, 1, 2], labels, "**heading**"))
    assert "| 2 | no result (0) | 0.6200 -> 0.7000 | 0.4000 -> 0.4500 |" in text
    assert "| (a) vs (b) | 1 / 3 | 2 / 3 | 2 / 3 |" in text
