"""Saved training states of paused trials, in Optuna's artifact store, where every worker of the study reads them.

A trial paused at a rung boundary (or by Ctrl-C / SIGTERM) saves its whole training state
(:mod:`nascomp.train.state`) as one artifact of that trial (:func:`optuna.artifacts.upload_artifact`) and records the
artifact id in its user attribute ``state_artifact``. The trial that resumes it downloads the artifact
(:func:`optuna.artifacts.download_artifact`) and reads it with ``torch.load(weights_only=True)``. The default store
is a :class:`optuna.artifacts.FileSystemArtifactStore` in ``<out>/artifacts``, beside the study; workers on other
machines name one store they share with ``--artifact-store`` (:mod:`nascomp.search.workers.artifact_store`). A state is removed once its trial's lineage completes or is
finally pruned.

Example:
    >>> import optuna, tempfile
    >>> store = optuna.artifacts.FileSystemArtifactStore(tempfile.mkdtemp())
    >>> states = SavedStates(store)
    >>> study = optuna.create_study()
    >>> trial = study.ask()
    >>> artifact = states.save(trial, {"format": 0})  # not a real state: refused when read back
    >>> states.read(artifact)
    Traceback (most recent call last):
    nascomp.train.state.StateError: not a training state of format 1
    >>> states.remove(artifact); states.read(artifact)
    Traceback (most recent call last):
    nascomp.train.state.StateError: saved state ... is missing (ArtifactNotFound)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import optuna

from nascomp.train.state import StateError, state_from_bytes, state_to_bytes

__all__ = ["SavedStates", "default_store", "StateError"]


def default_store(out: Path) -> optuna.artifacts.FileSystemArtifactStore:
    """The file-system artifact store in ``out/artifacts`` (created)."""
    folder = Path(out) / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.artifacts.FileSystemArtifactStore(str(folder))


class SavedStates:
    """Upload, read and remove training states in an Optuna artifact store.

    Args:
        store: Any Optuna artifact store (file system, S3, GCS).
    """

    def __init__(self, store: Any):
        self.store = store

    def save(self, trial: optuna.Trial, state: dict[str, Any]) -> str:
        """Upload ``state`` as an artifact of the running ``trial``; returns the artifact id."""
        fd, name = tempfile.mkstemp(prefix=f"nascomp-state-{trial.number}-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(state_to_bytes(state))
            return optuna.artifacts.upload_artifact(artifact_store=self.store, file_path=name, study_or_trial=trial,
                                                    mimetype="application/octet-stream")
        finally:
            os.unlink(name)

    def read(self, artifact_id: str, *, epochs: int | None = None, total_steps: int | None = None) -> dict[str, Any]:
        """The state saved as ``artifact_id`` (on the CPU).

        Raises:
            StateError: missing, unreadable, or from another schedule (one line saying which).
        """
        folder = tempfile.mkdtemp(prefix="nascomp-state-")
        path = Path(folder) / "state.pt"
        try:
            try:
                optuna.artifacts.download_artifact(artifact_store=self.store, artifact_id=artifact_id,
                                                   file_path=str(path))
                blob = path.read_bytes()
            except Exception as exc:  # noqa: BLE001 - any store's "not found" is the same answer
                raise StateError(f"saved state {artifact_id} is missing ({type(exc).__name__})") from None
            return state_from_bytes(blob, epochs=epochs, total_steps=total_steps)
        finally:
            path.unlink(missing_ok=True)
            os.rmdir(folder)

    def remove(self, artifact_id: str) -> None:
        """Remove a saved state (a missing one is fine: another worker may have removed it)."""
        try:
            self.store.remove(artifact_id)
        except Exception:  # noqa: BLE001 - already gone
            pass

