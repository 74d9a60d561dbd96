"""The whole state of a run of the training engine, so a paused run resumes exactly as if it had never stopped.

A state is a plain dictionary of tensors, numbers, strings, lists and dicts (what ``torch.load(...,
weights_only=True)`` accepts), so a file from another worker is never unpickled into code:

- ``model``, ``optimizer``, ``scheduler``: the ``state_dict`` of each (AdamW's moments and step counts, the
  one-cycle schedule's position); ``scaler`` (optional): the float16 gradient scaler's, on CUDA without bfloat16;
- ``rng``: torch's CPU generator (and CUDA's where initialised). The proxy's only other randomness is the data
  order, a pure function of ``(seed, epoch)`` (:func:`nascomp.data.pipeline.epoch_generator`), so the position in it
  is ``epoch`` and ``step``; numpy and Python's ``random`` are not used by the engine
  (:class:`nascomp.train.engine.Engine`);
- ``epoch`` (0-based, the epoch in progress), ``step`` (steps of it done: 0 at an epoch boundary), ``history`` and
  ``losses`` (validation accuracy and loss of the finished epochs), ``total_steps`` and ``epochs`` of the schedule
  (a state from another schedule is refused).

The search keeps states in Optuna's artifact store (:mod:`nascomp.search.trials.saved_states`); ``nascomp train`` has its own
per-epoch checkpoint (:mod:`nascomp.train.checkpoint`), which it turns into such a state to resume.
"""

from __future__ import annotations

import io
from typing import Any

import torch

__all__ = ["STATE_FORMAT", "StateError", "TrainingPaused", "PauseTraining", "capture_state", "rng_state",
           "restore_rng", "state_to_bytes", "state_from_bytes"]

STATE_FORMAT = 1
_KEYS = ("model", "optimizer", "scheduler", "rng", "epoch", "step", "history", "losses", "total_steps", "epochs")


class StateError(ValueError):
    """A saved training state cannot be used (unreadable, truncated, another format or another schedule)."""


class PauseTraining(Exception):
    """Raised by an ``on_epoch`` callback of the engine (:func:`nascomp.train.fit`'s) to pause the run after that
    epoch; the engine answers with :class:`TrainingPaused` carrying the state."""


class TrainingPaused(Exception):
    """Training was paused; ``state`` resumes it (``fit(..., resume=state)``).

    Attributes:
        state: The training state (see the module docstring).
    """

    def __init__(self, message: str, state: dict[str, Any]):
        super().__init__(message)
        self.state = state


def rng_state() -> dict[str, Any]:
    """torch's generators: ``{"torch": CPU state, "cuda": every GPU's state}`` (``cuda`` where initialised)."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def capture_state(*, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, epoch: int,
                  step: int, history: list[float], losses: list[float], total_steps: int,
                  epochs: int, scaler: torch.amp.GradScaler | None = None) -> dict[str, Any]:
    """The state of a run at ``epoch`` (0-based, in progress) after ``step`` of its steps (copies of every tensor)."""
    state = {"format": STATE_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "rng": rng_state(), "epoch": int(epoch), "step": int(step),
             "history": [float(v) for v in history], "losses": [float(v) for v in losses],
             "total_steps": int(total_steps), "epochs": int(epochs)}
    if scaler is not None and scaler.is_enabled():
        state["scaler"] = scaler.state_dict()
    # through bytes: detached copies (the live run may go on) and exactly what a reader will get
    return state_from_bytes(state_to_bytes(state))


def restore_rng(rng: dict[str, Any]) -> None:
    """Set torch's generators to ``rng`` (from :func:`rng_state`)."""
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def state_to_bytes(state: dict[str, Any]) -> bytes:
    """Serialise a state (``torch.save``)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def state_from_bytes(blob: bytes, *, epochs: int | None = None, total_steps: int | None = None) -> dict[str, Any]:
    """Read a state written by :func:`state_to_bytes` with ``torch.load(weights_only=True)``, on the CPU.

    Args:
        blob: The bytes.
        epochs, total_steps: When given, the schedule the state must come from.

    Raises:
        StateError: unreadable, not a training state, or from another schedule (one line saying which).
    """
    try:
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, corrupt or foreign: the same answer
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(f"unreadable training state ({first[:120]})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or any(k not in state for k in _KEYS):
        raise StateError(f"not a training state of format {STATE_FORMAT}")
    for key, want in (("epochs", epochs), ("total_steps", total_steps)):
        if want is not None and state[key] != want:
            raise StateError(f"training state from another schedule ({key} {state[key]}, this run has {want})")
    return state
