"""Pause and resume of the proxy training (nascomp.train.fit with ``resume=``): bitwise equal to a run that never
stopped, on the CPU. The reference is the uninterrupted run itself: the same fit, never paused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nascomp.data import load_data
from nascomp.train import TrainConfig, TrainingInterrupted, fit
from nascomp.train.state import (PauseTraining, StateError, TrainingPaused, state_from_bytes, state_to_bytes)

CONFIG = TrainConfig(epochs=3, batch_size=32, data_fractions=(1 / 9, 1 / 3, 1.0), val_fractions=(1 / 3, 1.0, 1.0))


@pytest.fixture(scope="module")
def data():
    return load_data("digits", image_size=8, max_images=400)


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.2),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10))


def _straight(data):
    model = _net()
    result = fit(model, data, CONFIG, seed=3)
    return model, result


def _assert_same(model_a: nn.Module, model_b: nn.Module) -> None:
    a, b = model_a.state_dict(), model_b.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_pause_after_a_rung_then_resume_is_bitwise_the_straight_run(data):
    model, straight = _straight(data)

    def pause_after_first(epoch: int, accuracy: float) -> None:
        if epoch == 0:
            raise PauseTraining("rung 0 holds too few results")

    torch.manual_seed(0)
    with pytest.raises(TrainingPaused) as paused:
        fit(_net(), data, CONFIG, seed=3, on_epoch=pause_after_first)
    assert str(paused.value) == "rung 0 holds too few results"
    blob = state_to_bytes(paused.value.state)  # through bytes, as the artifact store keeps it
    state = state_from_bytes(blob, epochs=3, total_steps=paused.value.state["total_steps"])
    assert (state["epoch"], state["step"], len(state["history"])) == (1, 0, 1)
    torch.manual_seed(123)  # a worker whose generator is elsewhere: the state's RNG must win (dropout)
    resumed_model = _net(seed=99)  # other initial weights: they are replaced
    resumed = fit(resumed_model, data, CONFIG, seed=3, resume=state)
    assert resumed.history == straight.history
    assert resumed.losses == straight.losses
    _assert_same(resumed_model, model)


def test_an_interrupt_mid_epoch_resumes_at_that_step(data):
    model, straight = _straight(data)
    calls = {"n": 0}

    steps = CONFIG.epoch_steps(len(data.y_train))  # [2, 4, 10] steps on 321 train images
    assert steps[2] > 5

    def stop_at_step_5() -> bool:
        calls["n"] += 1
        return calls["n"] == steps[0] + steps[1] + 5  # step 5 of epoch 2 (0-based)

    with pytest.raises(TrainingInterrupted) as stopped:
        fit(_net(), data, CONFIG, seed=3, should_stop=stop_at_step_5)
    state = state_from_bytes(state_to_bytes(stopped.value.state))
    assert (state["epoch"], state["step"], len(state["history"])) == (2, 5, 2)
    resumed_model = _net(seed=7)
    resumed = fit(resumed_model, data, CONFIG, seed=3, resume=state)
    assert resumed.history == straight.history
    _assert_same(resumed_model, model)


def test_an_interrupt_at_the_last_step_of_an_epoch_trains_no_extra_step(data):
    model, straight = _straight(data)
    first = CONFIG.epoch_steps(len(data.y_train))[0]
    calls = {"n": 0}

    def stop_at_epoch_end() -> bool:
        calls["n"] += 1
        return calls["n"] == first

    with pytest.raises(TrainingInterrupted) as stopped:
        fit(_net(), data, CONFIG, seed=3, should_stop=stop_at_epoch_end)
    assert (stopped.value.state["epoch"], stopped.value.state["step"]) == (0, first)
    resumed_model = _net(seed=7)
    resumed = fit(resumed_model, data, CONFIG, seed=3, resume=stopped.value.state)
    assert resumed.history == straight.history
    _assert_same(resumed_model, model)


def test_a_corrupt_or_foreign_state_is_refused_in_one_line():
    with pytest.raises(StateError, match="unreadable training state"):
        state_from_bytes(b"not a torch file")
    with pytest.raises(StateError, match="not a training state"):
        state_from_bytes(state_to_bytes({"format": 1, "model": {}}))
    good = {"format": 1, "model": {}, "optimizer": {}, "scheduler": {}, "rng": {"torch": torch.get_rng_state()},
            "epoch": 1, "step": 0, "history": [0.5], "losses": [1.0], "total_steps": 20, "epochs": 3}
    blob = state_to_bytes(good)
    assert state_from_bytes(blob, epochs=3, total_steps=20)["history"] == [0.5]
    with pytest.raises(StateError, match="total_steps 20, this run has 30"):
        state_from_bytes(blob, epochs=3, total_steps=30)
    with pytest.raises(StateError, match="unreadable"):
        state_from_bytes(blob[: len(blob) // 2])  # truncated
