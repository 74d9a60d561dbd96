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


def _paced_fit(step_s: float, first_accuracies: list[float]):
    """A fit whose every step sleeps ``step_s``; trial i (in call order) reports ``first_accuracies[i]`` after its
    first epoch and 0.1 more after each later one (so the pruner promotes whichever trial is best so far)."""
    calls = []

    def fit(model, data, config, *, should_stop, on_step, on_epoch, **kw):
        steps = config.epoch_steps(len(data.y_train))
        base = first_accuracies[len(calls)]
        calls.append(steps)
        for epoch, n in enumerate(steps):
            for step in range(1, n + 1):
                time.sleep(step_s)
                on_step(step, n)
                if should_stop():
                    raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {step}")
            on_epoch(epoch, base + 0.1 * epoch)
        return FitResult(accuracy=base + 0.1 * (len(steps) - 1), history=[base + 0.1 * e for e in range(len(steps))])

    return fit, calls


def _share_search(tmp_path, monkeypatch, fit, *, trials: int, timeout_s: float, shares: tuple[float, ...]):
    """A successive-halving search over data ``shares`` whose deadline is held open (on a loaded machine it would
    refuse later trials): only the rung rules can stop a trial."""
    monkeypatch.setattr(study_module, "fit", fit)
    monkeypatch.setattr(Deadline, "leaves_room", lambda self, expected_seconds: True)
    monkeypatch.setattr(Deadline, "passed", lambda self: False)
    recipe = tiny_recipe(tmp_path, trials=trials, epochs=len(shares), pruner="sha", timeout=f"{timeout_s}s")
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, data_fractions=shares))
    result = run_search(recipe, reporter=Reporter(console=Console(file=io.StringIO(), width=200), bars=False))
    return optuna.load_study(study_name=result.study_name, storage=result.storage).trials


def test_a_promotion_without_evidence_gets_its_rungs_share_and_never_the_final_rung(tmp_path, monkeypatch):
    """Three rungs (data shares 1/9, 1/3, 1; eta 3). Optuna promotes every best-so-far trial while a rung holds
    fewer than 3 results. Trial 0 fits rung 1's share (timeout / 3 seconds of this run) and trains epoch 2, but
    is stopped before the final epoch: epoch 2 holds 1 result, and the final rung admits only a trial ranked among
    3 (ASHA's condition). Trial 1, promoted from a rung of 2 results, would overrun rung 1's share: pruned at
    epoch 1. Both count, with their reasons."""
    step_s, timeout_s = 0.25, 6.0  # epoch 2: 6 steps, ~1.5 s; rung 1's share: 2 s
    fit, calls = _paced_fit(step_s, [0.5, 0.5])
    first, second = _share_search(tmp_path, monkeypatch, fit, trials=2, timeout_s=timeout_s, shares=(1 / 9, 1 / 3, 1.0))
    steps = calls[0]
    assert step_s * steps[1] * 2 > timeout_s / 3 >= step_s * steps[1] + 0.2, f"the timing premise: steps {steps}"
    assert first.state == TrialState.PRUNED and sorted(first.intermediate_values) == [1, 3]
    assert first.user_attrs[attrs.REASON] == ("pruned after epoch 2: the final epoch admits only a trial ranked "
                                              "among at least 3 results of epoch 2, which holds 1")
    assert second.state == TrialState.PRUNED and sorted(second.intermediate_values) == [1]
    match = re.fullmatch(r"pruned after epoch 1: epoch 2 would likely take (\d+) s, and this run has spent (\d+) s "
                         r"of its (\d+) s share of the time limit on that rung, and epoch 1 holds 2 result\(s\), "
                         r"fewer than 3 to rank it among", second.user_attrs[attrs.REASON])
    assert match, second.user_attrs[attrs.REASON]
    expected, spent, share = map(int, match.groups())
    assert share == int(timeout_s / 3) and spent >= 1 and expected >= 1


def test_a_promotion_with_evidence_below_the_final_rung_is_the_pruners_call(tmp_path, monkeypatch):
    """Once rung 0 holds eta = 3 results its promotions ignore the time share: trials 0 and 1 (promoted without
    evidence) would overrun rung 1's share and stop at epoch 1; trial 2, the best of 3 results, trains epoch 2
    although it overruns the share too, and stops before the final epoch (epoch 2 holds 1 result)."""
    step_s, timeout_s = 0.05, 0.3  # rung 1's share: 0.1 s; epoch 2 alone takes about 6 x 0.05 s
    fit, calls = _paced_fit(step_s, [0.5, 0.6, 0.7])
    trials = _share_search(tmp_path, monkeypatch, fit, trials=3, timeout_s=timeout_s, shares=(1 / 9, 1 / 3, 1.0))
    assert step_s * calls[0][1] > timeout_s / 3, f"the timing premise: steps {calls[0]}"
    assert [t.state for t in trials] == [TrialState.PRUNED] * 3
    assert [sorted(t.intermediate_values) for t in trials] == [[1], [1], [1, 3]]
    assert all("share of the time limit" in t.user_attrs[attrs.REASON] for t in trials[:2])
    assert "final epoch admits only" in trials[2].user_attrs[attrs.REASON]


def test_the_final_rung_needs_evidence_and_gets_its_share(tmp_path, monkeypatch):
    """Two rungs (data shares 1/2, 1; eta 2), every trial better than the last. Trial 0 holds the only result of
    epoch 1: not admitted to the final epoch. Trial 1, the best of 2, is admitted and fits the final rung's share
    (timeout / 2): complete. Trial 2, the best of 3, would overrun that share: pruned, though ranked."""
    step_s, timeout_s = 0.05, 3.2  # epoch 2: 18 steps, ~0.9 s; the final rung's share: 1.6 s
    fit, calls = _paced_fit(step_s, [0.5, 0.6, 0.7])
    trials = _share_search(tmp_path, monkeypatch, fit, trials=3, timeout_s=timeout_s, shares=(0.5, 1.0))
    steps = calls[0]
    assert step_s * steps[1] * 2 > timeout_s / 2 >= step_s * steps[1] + 0.3, f"the timing premise: steps {steps}"
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.PRUNED]
    assert trials[0].user_attrs[attrs.REASON] == ("pruned after epoch 1: the final epoch admits only a trial ranked "
                                                  "among at least 2 results of epoch 1, which holds 1")
    assert re.fullmatch(r"pruned after epoch 1: epoch 2 would likely take \d+ s, and this run has spent \d+ s of its "
                        r"\d+ s share of the time limit on that rung, the final one",
                        trials[2].user_attrs[attrs.REASON])
    assert sorted(trials[1].intermediate_values) == [1, 2] and trials[1].value == 0.7


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
