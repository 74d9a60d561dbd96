"""The walk over the feasible set: near-uniform over the points within the budget (checked against an enumeration
of a small space), and, at a budget that admits a sliver of se_resnext, distinct fitting trials where the old repair
of the cheapest miss gave the same few tiny nets."""

import itertools
from collections import Counter
from types import SimpleNamespace

import optuna
import pytest

from nascomp.search import load_space
from nascomp.search.space.feasible_walk import FeasibleWalk
from nascomp.search.space.sampler import BudgetSampler
from nascomp.search.space.search_space import Choice, IntRange

# A small space with an ordered range, a numeric choice, a flag and a non-monotone categorical: 6 x 5 x 2 x 3 = 180
DIMS = {"depth": IntRange("depth", 1, 6), "width": Choice("width", (8, 16, 24, 32, 48)),
        "se": Choice("se", (False, True)), "groups": Choice("groups", (1, 4, 2))}


def toy_cost(p):
    # widths cost quadratically, depth linearly, SE 10 %; groups 4 is cheaper than 2 (not ordered)
    return p["depth"] * p["width"] ** 2 * (1.1 if p["se"] else 1.0) / {1: 1.0, 2: 0.7, 4: 0.5}[p["groups"]]


BUDGET = 3000.0


def feasible_points():
    names = list(DIMS)
    return {tuple(v) for v in itertools.product(*(DIMS[n].values for n in names))
            if toy_cost(dict(zip(names, v))) <= BUDGET}


def test_walk_is_near_uniform_over_the_feasible_set():
    feasible = feasible_points()
    assert 20 < len(feasible) < 150  # a real sliver with structure, not all or nothing (the reference enumeration)
    space = SimpleNamespace(dimensions=DIMS)
    walk = FeasibleWalk(space, lambda p: toy_cost(p) <= BUDGET, {"depth": 1, "width": 8, "se": False, "groups": 1},
                        seed=3, sweeps_per_draw=1)
    n = 12_000
    counts = Counter(tuple(point.values()) for point in (walk.draw() for _ in range(n)))
    assert set(counts) == feasible  # never outside, and reaches every feasible point
    total_variation = 0.5 * sum(abs(counts[p] / n - 1 / len(feasible)) for p in feasible)
    assert total_variation < 0.05


def test_walk_refuses_a_start_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        FeasibleWalk(SimpleNamespace(dimensions=DIMS), lambda p: toy_cost(p) <= BUDGET,
                     {"depth": 6, "width": 48, "se": True, "groups": 1})


def test_a_sliver_budget_gives_distinct_fitting_trials():
    space = load_space("se_resnext")
    memo = {}

    def cost(p):
        key = tuple(sorted(p.items()))
        if key not in memo:
            memo[key] = space.cost(p, input_shape=(3, 224, 224), num_classes=10).macs
        return memo[key]

    budget = 300_000_000  # about 1 uniform point in 1,000 fits (docs/search.md)
    sampler = BudgetSampler(optuna.samplers.RandomSampler(seed=5), space, cost, budget, seed=5)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    points, walked = [], 0
    for _ in range(8):
        trial = study.ask()
        points.append(space.suggest(trial))
        walked += sampler.draw_stats(trial.number).walked
        study.tell(trial, 0.5)
    macs = sorted(cost(p) for p in points)
    assert all(m <= budget for m in macs)
    assert len({tuple(sorted(p.items())) for p in points}) == 8
    assert walked >= 6  # at this budget 100 uniform draws rarely hold one that fits
    # the points spread over the space (repairing the cheapest miss kept changing the same one or two dimensions)
    hamming = [sum(a[k] != b[k] for k in a) for a, b in itertools.combinations(points, 2)]
    assert sorted(hamming)[len(hamming) // 2] >= 4


def test_the_trial_line_says_where_the_point_came_from():
    import io

    from rich.console import Console

    from nascomp.search.outputs.report import Reporter
    from nascomp.search.trials import record as attrs

    study = optuna.create_study(direction="maximize")
    for extra in ({attrs.WALKED: True}, {attrs.REPAIRED: True}, {}):
        trial = study.ask()
        for key, value in {attrs.DRAWS: 100, attrs.MACS: 280_000_000, **extra}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, 0.5)
    out = io.StringIO()
    reporter = Reporter(console=Console(file=out, width=300), bars=False)
    for number in range(3):
        reporter.trial_line(study, number, "complete")
    lines = out.getvalue().splitlines()
    assert "100 draws screened" in lines[0] and "point from the walk over the feasible set" in lines[0]
    assert "point repaired to fit" in lines[1] and "walk" not in lines[1]
    assert "walk" not in lines[2] and "repaired" not in lines[2]
