"""pareto.png plots accuracy against the cost the study trades off: MACs by default, the forward latency (measured,
else predicted) in an ``accuracy,latency`` study, with that axis's budget line."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from nascomp.search.outputs.study_files import pareto_figure, write_plots
from nascomp.search.recipe import load_recipe


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    # (MACs, measured ms or None, predicted ms, accuracy): the latency front is not the MACs front
    for macs, measured, predicted, accuracy in ((100, 30.0, 28.0, 0.60), (200, 12.0, 11.0, 0.70),
                                               (300, None, 20.0, 0.80), (400, 50.0, 45.0, 0.75)):
        t = study.ask()
        t.set_user_attr("macs", macs)
        t.set_user_attr("predicted_latency_ms", predicted)
        if measured is not None:
            t.set_user_attr("measured_latency_ms", measured)
        t.set_user_attr("latency_settings", "cpu, batch 1, 1 thread, float32, channels-last")
        study.tell(t, [accuracy, measured if measured is not None else predicted])
    return study


def _front(fig):
    line = next(x for x in fig.axes[0].get_lines() if x.get_label().startswith("Pareto front"))
    return list(line.get_xdata()), list(line.get_ydata())


def test_the_latency_axis_shows_measured_else_predicted_ms_and_the_latency_budget():
    fig = pareto_figure(_study(), 10**9, cost="latency", latency_budget_ms=40.0)
    ax = fig.axes[0]
    # by hand: points (30, .60), (12, .70), (20, .80: predicted), (50, .75); the front: 12 -> .70, 20 -> .80
    assert _front(fig) == ([12.0, 20.0], [0.70, 0.80])
    budget = next(x for x in ax.get_lines() if x.get_label() == "budget")
    assert list(budget.get_xdata()) == [40.0, 40.0]
    assert ax.get_xlabel().startswith("forward latency (ms") and "1 thread" in ax.get_xlabel()


def test_the_default_axis_is_still_macs():
    fig = pareto_figure(_study(), 350)
    assert _front(fig) == ([100, 200, 300], [0.60, 0.70, 0.80])
    assert fig.axes[0].get_xlabel() == "MACs at the budget's input shape"
    with pytest.raises(ValueError, match="cost must be 'macs' or 'latency'"):
        pareto_figure(_study(), cost="params")


def test_an_accuracy_latency_recipe_plots_latency(tmp_path):
    recipe = load_recipe().with_overrides(objectives="accuracy,latency", latency_budget="40ms")
    assert recipe.plot_costs() == {"budget": recipe.budget, "cost": "latency", "latency_budget_ms": 40.0}
    assert load_recipe().plot_costs()["cost"] == "macs"
    assert [p.name for p in write_plots(_study(), tmp_path, **recipe.plot_costs())] == ["history.png", "pareto.png"]
    assert (tmp_path / "pareto.png").stat().st_size > 0
