"""``nascomp search --retrain-epochs N`` (issue 10): after the search, best.yaml and baseline.yaml are trained with
``train_spec`` on the search's data, and their test accuracies are printed side by side and written to
retrain.csv."""

from __future__ import annotations

import csv
import io
import json
import math
import signal

import numpy as np
import optuna
import pytest
import torch
from rich.console import Console
from sklearn.datasets import load_digits

import nascomp
from nascomp.errors import SearchError
from nascomp.search import run_search
from nascomp.search.trials import record as attrs
from nascomp.search.outputs.report import Reporter

from tests._search import one_thread, tiny_macs, tiny_recipe  # noqa: F401 (fixture)
from tests._cli import assert_one_line_error, run_cli


def test_retrain_trains_best_and_baseline_and_writes_retrain_csv(tmp_path):
    buffer = io.StringIO()
    result = run_search(tiny_recipe(tmp_path, trials=2, retrain_epochs=1),
                        reporter=Reporter(console=Console(file=buffer, width=220), bars=False))
    out = result.out
    rows = list(csv.DictReader((out / "retrain.csv").open(encoding="utf-8")))
    assert [r["net"] for r in rows] == ["best", "baseline"] and (out / "retrain.csv") in result.files
    for row, folder in zip(rows, ("train-best", "train-baseline")):
        summary = json.loads((out / folder / "summary.json").read_text(encoding="utf-8"))
        assert row["out"] == str(out / folder) and int(row["epochs"]) == 1
        accuracy, n = float(row["test_accuracy"]), int(row["test_n"])
        # digits' fixed test split, never seen by the search: round(15 %) of each class, from scikit-learn's counts
        assert n == sum(round(0.15 * c) for c in np.bincount(load_digits().target)) == 269 and 0 <= accuracy <= 1
        assert math.isclose(float(row["test_stderr"]), math.sqrt(accuracy * (1 - accuracy) / n), abs_tol=1e-6)
        assert math.isclose(accuracy, summary["test_accuracy"], abs_tol=1e-6)
        # the weights load strictly into a fresh build of the trained spec
        model = nascomp.build(str(out / folder / "spec.yaml"))
        model.load_state_dict(torch.load(out / folder / "weights.pt", weights_only=True), strict=True)
        assert int(row["params"]) == sum(p.numel() for p in model.parameters())
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    best = study.best_trial
    assert int(rows[0]["budget_macs"]) == tiny_macs(best.params["width"], best.params["depth"])
    assert int(rows[1]["budget_macs"]) == tiny_macs(8, 1)  # the baseline (see test_search_handover)
    assert int(rows[0]["params"]) == best.user_attrs[attrs.PARAMS]
    printed = buffer.getvalue()
    for row in rows:
        assert f"{100 * float(row['test_accuracy']):.2f} % ± {100 * float(row['test_stderr']):.2f}" in printed
    # not part of the study: a rerun without it resumes the same study
    again = run_search(tiny_recipe(tmp_path, trials=2), reporter=Reporter(console=Console(file=io.StringIO()),
                                                                           bars=False))
    assert again.trained == 0 and again.retrained == []


def test_ctrl_c_during_retraining_stops_cleanly_with_the_search_written(tmp_path, monkeypatch):
    import nascomp.search.outputs.retrain as retrain_module

    real = retrain_module.train_spec

    def interrupted(spec, config, *, stop, **kw):
        signal.raise_signal(signal.SIGINT)  # caught by the run's StopFlag: the training stops after its first step
        return real(spec, config, stop=stop, **kw)

    monkeypatch.setattr(retrain_module, "train_spec", interrupted)
    result = run_search(tiny_recipe(tmp_path, trials=1, retrain_epochs=1),
                        reporter=Reporter(console=Console(file=io.StringIO()), bars=False))
    assert result.interrupted and result.exit_code == 130 and result.retrained == []
    out = result.out
    assert (out / "best.yaml").is_file() and (out / "trials.csv").is_file() and result.trials == 1
    assert not (out / "retrain.csv").exists() and not (out / "train-baseline").exists()
    assert not (out / "train-best" / "weights.pt").exists()


@pytest.mark.parametrize("value", [0, -3, 1.5, True])
def test_retrain_epochs_must_be_a_positive_whole_number(tmp_path, value):
    with pytest.raises(SearchError, match="retrain_epochs must be a whole number of at least 1"):
        tiny_recipe(tmp_path, retrain_epochs=value)


def test_cli_refuses_retrain_epochs_zero(tmp_path):
    proc = run_cli("search", "--retrain-epochs", "0", "--out", str(tmp_path / "run"))
    assert_one_line_error(proc, "retrain_epochs must be a whole number of at least 1")
    assert not (tmp_path / "run").exists()
