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
from nascomp.search import trials as attrs
from nascomp.search.loop import Deadline
from nascomp.search.report import Reporter
from nascomp.train import FitResult, TrainingInterrupted

from _search import one_thread, tiny_recipe  # noqa: F401 (fixture)

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

    monkeypatch.setattr(study_module, "fit", slow_fit)
    # The run's limit counts from its start (data and census included); here it counts from the loop's start, so
    # that the first trial starts whatever a busy machine spends loading.
    monkeypatch.setattr(study_module, "Deadline", lambda started, timeout: Deadline(time.perf_counter(), timeout))
    buffer = io.StringIO()
    started = time.monotonic()
    result = run_search(tiny_recipe(tmp_path, trials=2, timeout=f"{TIMEOUT_S}s"),
                        reporter=Reporter(console=Console(file=buffer, width=200), bars=False))
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


def test_a_trial_whose_next_epochs_cannot_end_in_time_is_pruned_at_the_epoch_boundary(tmp_path, monkeypatch):
    """A trial allowed on to its next epoch (rung) is stopped right there, not at the limit, when its own pace says the
    rest would end after it: the time it would have wasted is left to cheaper trials. Its first epoch's result is
    kept: it counts as a pruned trial, with the reason."""
    epoch1_s, timeout_s = 1.2, 3.0
    calls = []

    def paced_fit(model, data, config, *, should_stop, on_step, on_epoch, **kw):
        steps = config.epoch_steps(len(data.y_train))
        calls.append(steps)
        for epoch, n in enumerate(steps):
            for step in range(1, n + 1):
                time.sleep(epoch1_s / steps[0])  # every step as long: epoch 1 takes epoch1_s
                on_step(step, n)
                if should_stop():
                    raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {step}")
            on_epoch(epoch, 0.5)
        return FitResult(accuracy=0.5, history=[0.5] * len(steps))

    monkeypatch.setattr(study_module, "fit", paced_fit)
    monkeypatch.setattr(study_module, "Deadline", lambda started, timeout: Deadline(time.perf_counter(), timeout))
    # shares 1/2, 1: epoch 2 trains about twice epoch 1's steps; no pruner, so only the time limit can stop it
    recipe = tiny_recipe(tmp_path, trials=1, epochs=2, pruner="none", timeout=f"{timeout_s}s")
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=(0.5, 1.0)))
    started = time.monotonic()
    result = run_search(recipe, reporter=Reporter(console=Console(file=io.StringIO(), width=200), bars=False))
    took = time.monotonic() - started
    (first, second), = calls  # one trial, stopped before its second epoch's first step
    assert epoch1_s * (1 + second / first) > timeout_s, "the timing premise: the whole trial cannot fit"
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    trial, = study.trials
    assert trial.state == TrialState.PRUNED and trial.intermediate_values == {1: 0.5}
    match = re.fullmatch(r"pruned after epoch 1: the (\d+) steps still to train would likely take (\d+) s with "
                         r"(\d+) s left before the time limit", trial.user_attrs[attrs.REASON])
    assert match, trial.user_attrs[attrs.REASON]
    assert int(match.group(1)) == second
    assert int(match.group(2)) >= int(epoch1_s * second / first) - 1  # its own pace
    assert int(match.group(3)) <= int(match.group(2))  # rounded in the message
    assert result.trials == 1 and took < epoch1_s + 20


def test_a_promotion_without_evidence_gets_its_rungs_share_of_the_time_limit(tmp_path, monkeypatch):
    """Successive halving under a time limit: while a rung holds fewer than eta results, Optuna promotes every
    best-so-far trial; such a promotion may use at most timeout / epochs seconds of this run on the next rung. The
    first trial fits that share and completes; the second, promoted from a rung of 2 < 3 results, would overrun it
    and is pruned at rung 0 (counted, with the reason)."""
    epoch1_s, timeout_s = 1.0, 8.0  # epoch 2 has about 3x the steps: ~3 s; the rung's share is 4 s

    def paced_fit(model, data, config, *, should_stop, on_step, on_epoch, **kw):
        steps = config.epoch_steps(len(data.y_train))
        for epoch, n in enumerate(steps):
            for step in range(1, n + 1):
                time.sleep(epoch1_s / steps[0])
                on_step(step, n)
                if should_stop():
                    raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {step}")
            on_epoch(epoch, 0.5 + 0.1 * epoch)  # every trial equal: the pruner promotes each best-so-far tie
        return FitResult(accuracy=0.6, history=[0.5, 0.6])

    monkeypatch.setattr(study_module, "fit", paced_fit)
    # the deadline itself is held open (on a loaded machine it would refuse the second trial): only the share acts
    monkeypatch.setattr(Deadline, "leaves_room", lambda self, expected_seconds: True)
    monkeypatch.setattr(Deadline, "passed", lambda self: False)
    recipe = tiny_recipe(tmp_path, trials=2, epochs=2, pruner="sha", timeout=f"{timeout_s}s")
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=(1 / 3, 1.0)))
    result = run_search(recipe, reporter=Reporter(console=Console(file=io.StringIO(), width=200), bars=False))
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    first, second = study.trials[:2]
    assert first.state == TrialState.COMPLETE and sorted(first.intermediate_values) == [1, 3]
    assert second.state == TrialState.PRUNED and sorted(second.intermediate_values) == [1]
    match = re.fullmatch(r"pruned after epoch 1: epoch 2 would likely take (\d+) s, and this run has spent (\d+) s "
                         r"of its (\d+) s share of the time limit on that rung, and epoch 1 holds 2 result\(s\), "
                         r"fewer than 3 to rank it among", second.user_attrs[attrs.REASON])
    assert match, second.user_attrs[attrs.REASON]
    expected, spent, share = map(int, match.groups())
    assert share == int(timeout_s / 2) and spent >= 2 and expected >= 2 and spent + expected >= share - 1  # rounded


def test_a_promotion_with_evidence_is_the_pruners_call(tmp_path, monkeypatch):
    """Once the rung holds eta results the time share no longer applies: with eta = 2 (shares 1/2, 1) the second
    trial, promoted from a rung of 2 results, trains to the end although it overruns the share (the deadline itself
    is held open here, so that only the share rule could stop it)."""
    epoch1_s = 0.3

    def paced_fit(model, data, config, *, should_stop, on_step, on_epoch, **kw):
        steps = config.epoch_steps(len(data.y_train))
        for epoch, n in enumerate(steps):
            for step in range(1, n + 1):
                time.sleep(epoch1_s / steps[0])  # epoch 2 (about twice the steps) takes about 0.6 s
                on_step(step, n)
            on_epoch(epoch, 0.5 + 0.1 * epoch)
        return FitResult(accuracy=0.6, history=[0.5, 0.6])

    monkeypatch.setattr(study_module, "fit", paced_fit)
    monkeypatch.setattr(Deadline, "leaves_room", lambda self, expected_seconds: True)
    monkeypatch.setattr(Deadline, "passed", lambda self: False)
    # share = 2.0 s / 2 epochs = 1 s: the first trial's epoch 2 (~0.6 s) fits; the second's would not (0.6 + 0.6)
    recipe = tiny_recipe(tmp_path, trials=2, epochs=2, pruner="sha", timeout="2s")
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=(0.5, 1.0)))
    result = run_search(recipe, reporter=Reporter(console=Console(file=io.StringIO(), width=200), bars=False))
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert all(sorted(t.intermediate_values) == [1, 2] for t in study.trials)


def test_no_time_shares_without_successive_halving(tmp_path):
    """Random search without a pruner (the benchmark's baseline) and runs without a time limit train every trial
    to the end."""
    from nascomp.search.study import _training
    from nascomp.search import load_space
    from nascomp.data import load_data

    data = load_data("digits", image_size=8)
    for pruner, shares, expected in (("sha", (0.5, 1.0), True), ("none", (0.5, 1.0), False), ("sha", None, False),
                                     ("median", (0.5, 1.0), False)):
        recipe = tiny_recipe(tmp_path, epochs=2, pruner=pruner)
        recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=shares))
        training = _training(recipe, load_space(recipe.space), data, torch.device("cpu"))
        assert training.rung_time_shares is expected, (pruner, shares)
