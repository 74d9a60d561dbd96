"""Attach a search's files to its Optuna study as artifacts, so that optuna-dashboard shows them.

``optuna-dashboard sqlite:///runs/<study>/study.db --artifact-dir runs/<study>/artifacts`` lists every trial with
its params and attributes, and, on the study's page, the files attached here: ``best.yaml``, ``history.png`` and
``pareto.png``. They are uploaded with :func:`optuna.artifacts.upload_artifact` to the study's artifact store
(:mod:`nascomp.search.workers.artifact_store`: by default a :class:`optuna.artifacts.FileSystemArtifactStore` in
``<out>/artifacts``, beside the default ``study.db``; ``--artifact-store`` names another), once,
at the end of a run, and only when their content changed since the last upload: the study's user attribute
``nascomp_artifacts`` maps each file name to the SHA-256 and artifact id of its last upload, so rerunning or
resuming a finished study adds no copy, and a run that changed a plot adds one copy (Optuna has no public API
to replace or delete an artifact's record). An upload that fails (a full disk, a read-only folder, a storage
error) is reported and never stops the search: the files themselves are already written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

__all__ = ["ARTIFACT_DIR", "STUDY_ARTIFACTS", "Uploaded", "attach_artifacts"]

#: The artifact store's folder inside the search's output folder.
ARTIFACT_DIR = "artifacts"
#: Study user attribute: ``{file name: {"sha256": hex, "artifact_id": id}}`` of the last upload of each file.
STUDY_ARTIFACTS = "nascomp_artifacts"


@dataclass(frozen=True)
class Uploaded:
    """What :func:`attach_artifacts` did.

    Attributes:
        uploaded: File names uploaded now (new or changed).
        unchanged: File names whose last upload has the same content (nothing uploaded).
        error: Why the upload stopped (one line), or ``None``.
    """

    uploaded: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    error: str | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def attach_artifacts(study: optuna.Study, files: Sequence[Path], out: Path,
                     note: Callable[[str], object] = lambda _: None,
                     open_store: Callable[[], Any] | None = None) -> Uploaded:
    """Upload each of ``files`` that exists to the study's artifact store, unless its last upload has the same
    content.

    Args:
        study: The search's study.
        files: The files to attach (``best.yaml``, the plots); a missing one is skipped.
        out: The search's output folder.
        note: Where a failed upload is reported (one line); it is never raised.
        open_store: Opens the artifact store, called at the first upload; default a
            :class:`~optuna.artifacts.FileSystemArtifactStore` in ``out / ARTIFACT_DIR`` (created).

    Returns:
        What was uploaded, what was unchanged, and the error that stopped the uploads, if any.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> (out / "best.yaml").write_text("name: n\\n")
        8
        >>> study = optuna.create_study()
        >>> attach_artifacts(study, [out / "best.yaml"], out).uploaded
        ('best.yaml',)
        >>> attach_artifacts(study, [out / "best.yaml"], out).unchanged
        ('best.yaml',)
    """
    uploaded, unchanged = [], []
    try:
        record = json.loads(study.user_attrs.get(STUDY_ARTIFACTS, "{}"))
        store: Any = None
        for path in files:
            if not path.is_file():
                continue
            sha = _sha256(path)
            if record.get(path.name, {}).get("sha256") == sha:
                unchanged.append(path.name)
                continue
            if store is None and open_store is not None:
                store = open_store()
            elif store is None:
                (out / ARTIFACT_DIR).mkdir(parents=True, exist_ok=True)
                store = FileSystemArtifactStore(out / ARTIFACT_DIR)
            artifact_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)
            record[path.name] = {"sha256": sha, "artifact_id": artifact_id}
            study.set_user_attr(STUDY_ARTIFACTS, json.dumps(record, sort_keys=True))
            uploaded.append(path.name)
    except Exception as exc:  # noqa: BLE001 - an upload never stops a search: its files are written already
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        note(f"could not attach the files to the study as Optuna artifacts ({error}); the files themselves are "
             f"written, and the next run tries again")
        return Uploaded(tuple(uploaded), tuple(unchanged), error)
    return Uploaded(tuple(uploaded), tuple(unchanged))
