"""The standard error next to every accuracy: trials.csv, the summary and the best-so-far plot."""

from __future__ import annotations

import csv
import io
import math

import optuna
import rich.console

from nascomp.data import load_data
from nascomp.search.outputs.report import Reporter

from tests._search import one_thread, tiny_recipe  # noqa: F401 (fixture)


def test_accuracy_se_everywhere(tmp_path):
    from nascomp.search import run_search
    from nascomp.search.outputs.study_files import history_figure

    buf = io.StringIO()
    recipe = tiny_recipe(tmp_path, trials=2, pruner="none")
    result = run_search(recipe,
                        reporter=Reporter(console=rich.console.Console(file=buf, width=200), bars=False))
    # the split the recipe's search used
    n_val = len(load_data("digits", image_size=8, seed=0, val_fraction=recipe.data.val_fraction).y_val)
    rows = list(csv.DictReader(open(result.out / "trials.csv", encoding="utf-8")))
    scored = [r for r in rows if r["accuracy"]]
    assert scored
    for r in scored:
        p = float(r["accuracy"])
        assert math.isclose(float(r["accuracy_se"]), math.sqrt(p * (1 - p) / n_val), abs_tol=1e-4)
    best = max(float(r["accuracy"]) for r in scored)
    text = buf.getvalue()
    assert f"+-{math.sqrt(best * (1 - best) / n_val):.4f} (SE over {n_val} val images)" in text
    study = optuna.load_study(study_name="tiny", storage=result.storage)
    labels = [t.get_text() for t in history_figure(study).axes[0].get_legend().get_texts()]
    assert f"+-1 SE (n = {n_val} val images)" in labels
