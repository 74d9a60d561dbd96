"""``--timeout`` inside a trial (issue 11): a trial still training when the time limit passes is stopped after the
current step, recorded as interrupted with where it stopped, not counted, and a resume trains a trial in its place."""

from __future__ import annotations

import dataclasses
import io
import re
import time

import optuna
import torch
from optuna.trial import TrialState
from rich.console import Console

import nascomp.search.study as study_module
from nascomp.search import run_search
from nascomp.search.trials import record as attrs
from nascomp.search.trials.loop_inputs import Deadline
from nascomp.search.outputs.report import Reporter
from nascomp.train import FitResult, TrainingInterrupted

from tests._search import one_thread, tiny_recipe  # noqa: F401 (fixture)

TIMEOUT_S = 3.0


def test_a_trial_running_at_the_time_limit_is_stopped_recorded_and_not_counted(tmp_path, monkeypatch):
    steps_done = []

    def slow_fit(model, data, config, *, should_stop, on_step, **kw):
        """One 50 ms step after another, polling should_stop after each as the real fit does; never ends alone."""
        give_up = time.monotonic() + 60
        step = 0
        while time.monotonic() < give_up:
            time.sleep(0.05)
            step += 1
            on_step(step, 10_000)
            if should_stop():
                steps_done.append(step)
                raise TrainingInterrupted(f"interrupted at epoch 1, step {step}")
        return FitResult(accuracy=0.0)  # the deadline was never polled: the assertions below fail

    # The run's limit counts from its start (data and census included); here it counts from the loop's start, so
    # that the first trial starts whatever a busy machine spends loading.
    monkeypatch.setattr(study_module, "Deadline", lambda started, timeout: Deadline(time.perf_counter(), timeout))
    buffer = io.StringIO()
    started = time.monotonic()
    result = run_search(tiny_recipe(tmp_path, trials=2, timeout=f"{TIMEOUT_S}s"),
                        reporter=Reporter(console=Console(file=buffer, width=200), bars=False), fit=slow_fit)
    took = time.monotonic() - started
    assert TIMEOUT_S <= took < TIMEOUT_S + 20  # stopped at the limit, not after the 60 s the fit would take
    assert result.stopped_by_timeout and not result.interrupted and result.exit_code == 0
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    assert len(study.trials) == 1 and result.trials == 0  # the stopped trial does not count
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL and trial.user_attrs[attrs.INTERRUPTED] is True
    match = re.fullmatch(r"time limit: stopped at epoch 1, step (\d+) after (\d+\.\d) s",
                         trial.user_attrs[attrs.REASON])
    assert match, trial.user_attrs[attrs.REASON]
    assert int(match.group(1)) == steps_done[0] > 0
    assert 0 < float(match.group(2)) <= TIMEOUT_S
    printed = " ".join(buffer.getvalue().split())
    assert "timeout passed during trial 0, stopped and not counted" in printed
    assert re.search(r"stopped\W+by the time limit", printed)  # the summary table's row
    # a resume without the limit trains a trial in its place: the stopped one is never counted
    monkeypatch.undo()
    resumed = run_search(tiny_recipe(tmp_path, trials=2), reporter=Reporter(console=Console(file=io.StringIO()),
                                                                             bars=False))
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    assert resumed.trials == 2 and len(study.trials) == 3 and resumed.trained == 2
    assert [t.state for t in study.trials[1:]] != [TrialState.FAIL] * 2


def test_the_scheduler_runs_successive_halving_only(tmp_path):
    """``pruner: sha`` with two or more epochs is ASHA with paused trials (a ladder of one rung per epoch, eta from
    the data shares); Optuna's pruners, one epoch and two objectives run without it."""
    from nascomp.search.study import _training
    from nascomp.search import load_space
    from nascomp.data import load_data

    data = load_data("digits", image_size=8)
    for pruner, shares, epochs, expected in (("sha", (1 / 9, 1 / 3, 1.0), 3, (3, 3)), ("sha", (0.5, 1.0), 2, (2, 2)),
                                             ("sha", None, 2, (2, 3)), ("none", (0.5, 1.0), 2, None),
                                             ("median", (0.5, 1.0), 2, None), ("sha", None, 1, None)):
        recipe = tiny_recipe(tmp_path, epochs=epochs, pruner=pruner)
        recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=shares))
        training = _training(recipe, load_space(recipe.space), data, torch.device("cpu"), tmp_path / "out")
        ladder = training.ladder
        assert (None if ladder is None else (ladder.rungs, ladder.eta)) == expected, (pruner, shares, epochs)
        assert (training.states is None) == (ladder is None)
