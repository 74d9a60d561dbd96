"""Successive halving with paused trials, end to end on the tiny space (real training, about a second a trial).

The reference for every resumed result is the same point trained straight through by the same training the search
uses (``_training(...).build`` and ``.fit``), never paused: bitwise-equal accuracies on the CPU.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from rich.console import Console

import nascomp.search.study as study_module
from nascomp.data import load_data
from nascomp.search import load_space, run_search
from nascomp.search.trials import loop_claims, trial_loop
from nascomp.search.trials import record as attrs
from nascomp.search.outputs.artifacts import STUDY_ARTIFACTS
from nascomp.search.outputs.report import Reporter
from nascomp.search.trials.saved_states import SavedStates

from tests._search import one_thread, tiny_recipe  # noqa: F401 (fixture)

SHARES = (1 / 9, 1 / 3, 1.0)


def _recipe(tmp_path: Path, **overrides):
    recipe = tiny_recipe(tmp_path, epochs=3, pruner="sha", **overrides)
    return dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=SHARES))


def _run(recipe, buffer: io.StringIO | None = None, **stand_ins):
    console = Console(file=buffer if buffer is not None else io.StringIO(), width=300)
    return run_search(recipe, reporter=Reporter(console=console, bars=False), **stand_ins)


def _straight_history(recipe, point: dict) -> list[float]:
    """The point trained through all rungs without a pause, as the search trains it."""
    data = load_data(recipe.data.source, image_size=recipe.data.image_size, channels=3,
                     val_fraction=recipe.data.val_fraction, seed=recipe.data.split_seed,
                     max_images=recipe.data.max_images)
    training = study_module._training(recipe, load_space(recipe.space), data, torch.device("cpu"),
                                      Path(recipe.resolved_out()))
    return training.fit(training.build(point)).history


def test_a_small_study_ends_with_a_complete_trial_resumed_exactly(tmp_path):
    """4 architectures, eta 3 (issue 19: ``--trials 5`` used to prune every trial). Trials pause at rung 0 until
    it holds 3 results, the top one is promoted, and with nothing else to run the best paused one is finished."""
    recipe = _recipe(tmp_path, trials=4)
    printed = io.StringIO()
    result = _run(recipe, printed)
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    trials = study.trials
    assert result.trials == 4  # architectures, whatever the number of promotions
    assert result.best is not None and (result.out / "best.yaml").is_file()
    paused = [t for t in trials if t.user_attrs.get(attrs.PAUSED_AT) is not None]
    promotions = [t for t in trials if t.user_attrs.get(attrs.RESUMES) is not None]
    assert paused and promotions
    assert "fewer than eta=3" in trials[0].user_attrs[attrs.REASON]  # the first result waits, it is not pruned
    # the complete trial is a promotion chain from a first trial: same point, and every rung's result
    best = result.best
    assert best.user_attrs[attrs.RESUMES] is not None
    first = trials[best.user_attrs[attrs.LINEAGE]]
    assert first.params == best.params and first.state == TrialState.PRUNED
    history = [best.intermediate_values[k] for k in sorted(best.intermediate_values)]
    assert history == _straight_history(recipe, best.params)  # bitwise, through the artifact store
    # every saved state is gone: the complete one's consumed, the paused ones' removed as finally pruned
    # (what is left in the store is the study's own files, best.yaml and the plots, attached for optuna-dashboard)
    files = {v["artifact_id"] for v in json.loads(study.user_attrs[STUDY_ARTIFACTS]).values()}
    assert set(os.listdir(result.out / "artifacts")) == files and "best.yaml" in json.loads(study.user_attrs[STUDY_ARTIFACTS])
    stopped = {k for k in study.user_attrs if k.startswith(attrs.STUDY_STOPPED_PREFIX)}
    assert stopped  # the paused architectures left at the end were finally pruned, with a reason
    import csv

    rows = list(csv.DictReader((result.out / "trials.csv").open(encoding="utf-8")))
    assert list(rows[0])[-4:] == ["lineage", "resumes", "paused_after_epoch", "promoted_as"]
    for t in promotions:  # each promotion row names the trial it resumes, and that row names it back
        assert rows[t.number]["resumes"] == str(t.user_attrs[attrs.RESUMES])
        assert rows[t.user_attrs[attrs.RESUMES]]["promoted_as"] == str(t.number)
        assert rows[t.number]["lineage"] == str(t.user_attrs[attrs.LINEAGE])
    assert rows[0]["paused_after_epoch"] == "1"
    text = " ".join(printed.getvalue().split())
    assert f"resumed trial {best.user_attrs[attrs.RESUMES]}" in text
    assert f"successive halving paused {len(paused)} and resumed {len(promotions)} of them" in text


def test_a_corrupt_saved_state_restarts_the_trial_from_scratch(tmp_path, monkeypatch):
    real_read = SavedStates.read
    corrupted = []

    def corrupt_then_read(self, artifact_id, **kw):
        path = tmp_path / "run" / "artifacts" / artifact_id
        path.write_bytes(b"truncated")
        corrupted.append(artifact_id)
        return real_read(self, artifact_id, **kw)

    monkeypatch.setattr(SavedStates, "read", corrupt_then_read)
    recipe = _recipe(tmp_path, trials=3)
    result = _run(recipe)
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    restarted = [t for t in study.trials if t.user_attrs.get(attrs.RESTARTED)]
    assert corrupted and restarted
    assert restarted[0].user_attrs[attrs.RESTARTED].startswith("unreadable training state")
    assert result.best is not None  # the search went on and finished
    best = result.best
    history = [best.intermediate_values[k] for k in sorted(best.intermediate_values)]
    assert history == _straight_history(recipe, best.params)  # from scratch gives the same result


def test_ctrl_c_pauses_the_running_trial_and_a_rerun_resumes_it(tmp_path):
    from nascomp.train import fit as real_fit

    recipe = _recipe(tmp_path, trials=3)
    calls = []

    def fit_with_ctrl_c(model, data, config, *, on_step, **kw):
        calls.append(1)

        def step(n, total):
            on_step(n, total)
            if len(calls) == 2 and n == 2:  # the second trial, step 2 of its first epoch
                os.kill(os.getpid(), signal.SIGINT)

        return real_fit(model, data, config, on_step=step, **kw)

    result = _run(recipe, fit=fit_with_ctrl_c)
    assert result.interrupted and result.exit_code == 130
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    stopped = study.trials[-1]
    assert stopped.state == TrialState.PRUNED and stopped.user_attrs[attrs.INTERRUPTED] is True
    assert stopped.user_attrs[attrs.PAUSED_AT] == -1  # inside rung 0
    assert "paused, its state saved" in stopped.user_attrs[attrs.REASON]
    artifact = stopped.user_attrs[attrs.STATE_ARTIFACT]
    assert (result.out / "artifacts" / artifact).is_file()
    assert result.trials == 1  # the stopped one does not count yet
    again = _run(recipe)  # the real fit
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    resumed = [t for t in study.trials if t.user_attrs.get(attrs.RESUMES) == stopped.number]
    assert resumed and again.trials == 3 and again.best is not None
    chain = resumed[0]
    if chain.state == TrialState.PRUNED:  # paused at a boundary later: its first rung is the one to compare
        assert chain.intermediate_values[1] == _straight_history(recipe, chain.params)[0]
    else:
        history = [chain.intermediate_values[k] for k in sorted(chain.intermediate_values)]
        assert history == _straight_history(recipe, chain.params)


@pytest.mark.parametrize("trials", [1, 2])
def test_fewer_architectures_than_eta_still_end_complete(tmp_path, trials):
    result = _run(_recipe(tmp_path, trials=trials))
    assert result.best is not None and result.trials == trials


@pytest.mark.slow  # a 20 s time limit
def test_a_time_limited_search_ends_with_a_complete_trial(tmp_path, monkeypatch):
    """Many more architectures asked for than fit in the limit: near it the rest of the time goes to the best paused
    one (issue 19: a 6-minute search evaluated 30 architectures and completed none)."""
    import time

    from nascomp.search.trials.loop_inputs import Deadline

    # the limit counts from the loop's start (data and census excluded), so that a busy machine still gets trials
    monkeypatch.setattr(study_module, "Deadline", lambda started, timeout: Deadline(time.perf_counter(), timeout))
    # the endgame may overrun the limit by OVERRUN x (2) to finish the best paused candidate; at load 6 on 2 cores
    # that cap (40 s) was passed with the finish under way (fresh-clone run, 2026-12-06). The cap is the schedule's
    # (tests/search/test_schedule.py); here the question is whether the endgame finishes one, so a generous cap
    for module in (loop_claims, trial_loop):
        monkeypatch.setattr(module, "OVERRUN", 10.0)
    result = _run(_recipe(tmp_path, trials=200, timeout="20s"))
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    assert result.stopped_by_timeout and result.trials < 200
    assert result.best is not None and (result.out / "best.yaml").is_file()
    assert result.trials >= 2  # several architectures evaluated, not one trained to the end alone
    assert any(t.user_attrs.get(attrs.PAUSED_AT) is not None for t in study.trials)
