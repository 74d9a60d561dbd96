"""--check-fidelity: retrain the top K and K random trials, Spearman's rho between proxy and test accuracy."""

from __future__ import annotations

import csv
import io
import math

import optuna
import pytest
import rich.console
from scipy.stats import spearmanr

from nascomp.errors import SearchError
from nascomp.search.outputs.report import Reporter

from tests._cli import run_cli
from tests._search import one_thread, tiny_recipe  # noqa: F401 (fixture)


def test_check_fidelity_on_a_tiny_study(tmp_path):
    from nascomp.search import run_search
    from nascomp.search.outputs.fidelity import check_fidelity
    from nascomp.search.space.search_space import load_space

    recipe = tiny_recipe(tmp_path, trials=4, pruner="none")
    quiet = rich.console.Console(file=io.StringIO())
    result = run_search(recipe, reporter=Reporter(console=quiet, bars=False))
    study = optuna.load_study(study_name="tiny", storage=result.storage)
    complete = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
                       and "duplicate_of" not in t.user_attrs), key=lambda t: (-t.values[0], t.number))
    assert len(complete) >= 3
    fidelity = check_fidelity(study, load_space(recipe.space), recipe, result.out, 2, schedule={"epochs": 2},
                              console=quiet)
    rows = list(csv.DictReader(open(result.out / "fidelity.csv", encoding="utf-8")))
    assert fidelity.pairs == len(rows) == min(4, len(complete))
    by_number = {t.number: t for t in complete}
    assert [int(r["trial"]) for r in rows if r["picked"] == "top"] == [t.number for t in complete[:2]]
    for r in rows:
        t = by_number[int(r["trial"])]
        assert math.isclose(float(r["proxy_accuracy"]), t.values[0], abs_tol=1e-6)
        assert int(r["macs"]) == t.user_attrs["macs"]
        assert 0.0 < float(r["test_accuracy"]) <= 1.0
    proxy = [float(r["proxy_accuracy"]) for r in rows]
    test = [float(r["test_accuracy"]) for r in rows]
    if len(set(proxy)) > 1 and len(set(test)) > 1:
        expected = spearmanr(proxy, test)
        assert math.isclose(fidelity.rho, expected.statistic, abs_tol=1e-6)
        assert math.isclose(fidelity.p_value, expected.pvalue, abs_tol=1e-6)
        assert -1.0 <= fidelity.rho <= 1.0
    else:
        assert math.isnan(fidelity.rho)


def test_k_must_be_positive(tmp_path):
    from nascomp.search.outputs.fidelity import pick_trials

    study = optuna.create_study()
    with pytest.raises(SearchError, match="K >= 1"):
        pick_trials(study, 0)
    with pytest.raises(SearchError, match="no complete trial"):
        pick_trials(study, 1)


@pytest.mark.slow
def test_cli_prints_a_rank_correlation(tmp_path):
    from tests._search import write_tiny_space

    space = write_tiny_space(tmp_path)
    common = ["search", "--space", str(space), "--budget", "300000", "--input-shape", "3x16x16", "--trials", "4",
              "--epochs", "1", "--image-size", "8", "--census", "5", "--pruner", "none", "--timeout", "none",
              "--device", "cpu", "--out", str(tmp_path / "run"), "--study-name", "tiny", "--no-progress",
              "--data", "digits"]
    done = run_cli(*common, timeout=600)
    assert done.returncode == 0, done.stderr
    again = run_cli(*common, "--check-fidelity", "2", timeout=900)  # a finished study: only the retraining runs
    assert again.returncode == 0, again.stderr
    line = next(x for x in again.stdout.splitlines() if x.startswith("proxy fidelity: Spearman rho"))
    rows = list(csv.DictReader(open(tmp_path / "run" / "fidelity.csv", encoding="utf-8")))
    assert [r["picked"] for r in rows] == ["top", "top", "random", "random"]
    expected = spearmanr([float(r["proxy_accuracy"]) for r in rows], [float(r["test_accuracy"]) for r in rows])
    assert line.startswith(f"proxy fidelity: Spearman rho = {expected.statistic:.3f} (p = {expected.pvalue:.3g}, "
                           f"4 pairs")


def test_cli_refuses_k_zero(tmp_path):
    from tests._cli import assert_one_line_error

    assert_one_line_error(run_cli("search", "--check-fidelity", "0", "--out", str(tmp_path / "x")), "K >= 1")
    assert not (tmp_path / "x").exists()
