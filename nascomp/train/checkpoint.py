"""One checkpoint per run, written atomically after every finished epoch, and its identity.

A checkpoint holds the weights, the optimizer, the learning-rate schedule, the RNG states, the finished epoch, the
metrics so far and an identity: a SHA-256 of the exact spec text, the data splits and the schedule. A checkpoint
whose identity differs is refused (never loaded into the model). Files are read with
``torch.load(..., weights_only=True)``, which unpickles tensors and plain containers only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from nascomp._atomic import atomic_path
from nascomp.errors import NascompError
from nascomp.train.outputs import tensor_bytes
from nascomp.train.state import rng_state

__all__ = ["Checkpoint", "run_identity", "save_checkpoint", "load_checkpoint", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1


def run_identity(spec_text: str, data_identity: dict, schedule: dict) -> dict:
    """The three hashes a resumable checkpoint must match: ``spec``, ``data`` and ``schedule`` (SHA-256 hex)."""

    def digest(value) -> str:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    return {"spec": digest(spec_text), "data": digest(data_identity), "schedule": digest(schedule)}


@dataclass
class Checkpoint:
    """A loaded checkpoint (see the module docstring)."""

    epoch: int
    model: dict
    optimizer: dict
    scheduler: dict
    rng: dict
    metrics: list[dict]
    identity: dict
    scaler: dict | None = None

    def engine_state(self) -> dict:
        """The state the training engine resumes from (:meth:`nascomp.train.engine.Engine.resume`): the start of the
        epoch after the finished one."""
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler, "scaler": self.scaler,
                "rng": self.rng, "epoch": self.epoch, "step": 0,
                "history": [m["val_accuracy"] for m in self.metrics], "losses": [m["val_loss"] for m in self.metrics]}


def save_checkpoint(path: Path, *, epoch: int, model: torch.nn.Module, optimizer, scheduler, metrics: list[dict],
                    identity: dict, scaler=None) -> Path:
    """Write the checkpoint of a finished ``epoch`` (1-based) atomically: a crash leaves the previous one."""
    payload = {
        "format": FORMAT, "epoch": int(epoch), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "rng": rng_state(), "metrics": metrics, "identity": identity,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
    }
    with atomic_path(path, needed_bytes=tensor_bytes(payload)) as tmp:
        torch.save(payload, tmp)
    return path


def why_unreadable(exc: BaseException) -> str:
    """What ``torch.load``'s failure means, as one complete clause (torch's own text runs to several sentences and,
    for a foreign pickle, advises ``weights_only=False``, which nascomp never does)."""
    import pickle

    text = str(exc).strip()
    if isinstance(exc, (EOFError, OSError)) or "zip archive" in text or "central directory" in text:
        return "the file is truncated or corrupt (a copy cut short, or a disk that filled up while it was written)"
    if isinstance(exc, pickle.UnpicklingError):
        return "the file is not a checkpoint of tensors and plain values (it cannot be read with weights_only=True)"
    first = text.splitlines()[0].split(". ")[0].rstrip(".") if text else type(exc).__name__
    return f"not a nascomp checkpoint ({first})"


def load_checkpoint(path: Path, identity: dict, *, flag: str = "--out") -> Checkpoint | None:
    """The checkpoint at ``path`` if there is one and it belongs to this run, else ``None`` when absent.

    Raises:
        NascompError: the file is unreadable, or it is from another spec, data set or schedule (one line saying
            which and how to start fresh).
    """
    if not path.is_file():
        return None
    fresh = f"to start fresh, use another {flag} folder or delete {path}"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file is the same user error
        raise NascompError(f"cannot resume from {path}: {why_unreadable(exc)}; {fresh}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("identity"), dict):
        raise NascompError(f"cannot resume from {path}: not a nascomp train checkpoint; {fresh}")
    differs = [key for key in ("spec", "data", "schedule") if payload["identity"].get(key) != identity[key]]
    if differs:
        words = {"spec": "another spec", "data": "other data (source, splits or image size)",
                 "schedule": "another schedule (epochs, batch size, lr, optimizer, seed...)"}
        raise NascompError(f"checkpoint {path} is from {' and '.join(words[d] for d in differs)}, refusing to "
                           f"load it; {fresh}")
    return Checkpoint(epoch=int(payload["epoch"]), model=payload["model"], optimizer=payload["optimizer"],
                      scheduler=payload["scheduler"], rng=payload["rng"], metrics=list(payload["metrics"]),
                      identity=payload["identity"], scaler=payload.get("scaler"))
