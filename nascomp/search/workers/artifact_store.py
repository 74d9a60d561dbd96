"""Which Optuna artifact store a study keeps its files in: a folder beside the study by default, or any store
Optuna ships, by flag (``--artifact-store``, the recipe's ``artifact_store``).

========================  ====================================================  ===============================
``--artifact-store``      Optuna store                                          needs
========================  ====================================================  ===============================
(none)                    :class:`optuna.artifacts.FileSystemArtifactStore`     nothing: ``<out>/artifacts``
``PATH`` (a folder)       :class:`optuna.artifacts.FileSystemArtifactStore`     nothing (a shared file system
                                                                                for workers on several machines)
``s3://BUCKET``           :class:`optuna.artifacts.Boto3ArtifactStore`          ``pip install boto3``
``gs://BUCKET``           :class:`optuna.artifacts.GCSArtifactStore`            ``pip install google-cloud-storage``
========================  ====================================================  ===============================

Optuna's S3 and GCS stores write each artifact at the top of the bucket (the key is the artifact id), so a URL
names a bucket and no path. Credentials come from the cloud library's usual places (``AWS_ACCESS_KEY_ID``,
``~/.aws``, ``AWS_ENDPOINT_URL`` for an S3-compatible server; ``gcloud auth application-default login``), never from
the URL.

The saved training states of paused trials (:mod:`nascomp.search.trials.saved_states`) live there, so every worker of a study
that pauses trials must use the same store: the first worker records it in the study's user attribute
``nascomp_artifact_store`` (:func:`check_study_store`), and a worker that names another is refused before it
trains anything.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nascomp._atomic import why_not_a_folder
from nascomp._secrets import mask_credentials
from nascomp.errors import SearchError

__all__ = ["ArtifactLocation", "STUDY_ARTIFACT_STORE", "SUPPORTED", "parse_artifact_store", "open_artifact_store",
           "check_study_store", "check_library"]

#: Study user attribute: the artifact store of the study's saved training states (as :meth:`ArtifactLocation.describe`
#: prints it).
STUDY_ARTIFACT_STORE = "nascomp_artifact_store"
#: What ``--artifact-store`` accepts, for messages.
SUPPORTED = ("a folder path (Optuna's FileSystemArtifactStore), s3://BUCKET (Boto3ArtifactStore: pip install boto3) "
             "or gs://BUCKET (GCSArtifactStore: pip install google-cloud-storage)")
_CLOUD = {"s3": ("boto3", "boto3", "Boto3ArtifactStore"),
          "gs": ("google.cloud.storage", "google-cloud-storage", "GCSArtifactStore")}


@dataclass(frozen=True)
class ArtifactLocation:
    """Where a study's artifacts go.

    Attributes:
        kind: ``folder``, ``s3`` or ``gs``.
        where: The folder (absolute) or the bucket name.
    """

    kind: str
    where: str

    def describe(self) -> str:
        """The store as printed and recorded: the absolute folder, or ``s3://BUCKET`` / ``gs://BUCKET`` (any
        credentials masked)."""
        return self.where if self.kind == "folder" else mask_credentials(f"{self.kind}://{self.where}")


def parse_artifact_store(value: str | None, out: Path) -> ArtifactLocation:
    """Read ``--artifact-store`` (``None``: ``out/artifacts``). Pure: opens and creates nothing.

    Raises:
        SearchError: an unsupported URL, a bucket URL with a path or credentials, or a path that is a file
            (one line naming what is supported).

    Example:
        >>> parse_artifact_store("s3://my-bucket", Path("runs/x")).describe()
        's3://my-bucket'
        >>> parse_artifact_store(None, Path("/tmp/run")).describe()
        '/tmp/run/artifacts'
    """
    if value is None or not str(value).strip():
        return ArtifactLocation("folder", str((Path(out).expanduser() / "artifacts").resolve()))
    text = str(value).strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        shown = mask_credentials(text)
        if scheme.lower() not in _CLOUD:
            raise SearchError(f"--artifact-store '{shown}': unsupported scheme '{scheme}://'; expected {SUPPORTED}")
        if "@" in rest:
            raise SearchError(f"--artifact-store '{shown}': credentials do not belong in the URL; the cloud library "
                              f"reads them from its usual places (environment, config files); pass "
                              f"{scheme.lower()}://BUCKET")
        bucket, _, path = rest.partition("/")
        if not bucket or path.strip("/"):
            raise SearchError(f"--artifact-store '{shown}': Optuna's {_CLOUD[scheme.lower()][2]} writes at the top of "
                              f"a bucket, so give {scheme.lower()}://BUCKET without a path")
        return ArtifactLocation(scheme.lower(), bucket)
    folder = Path(text).expanduser().resolve()
    nearest = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if nearest.exists() and not nearest.is_dir():
        raise SearchError(f"--artifact-store '{text}': {why_not_a_folder(folder)}; expected {SUPPORTED}")
    return ArtifactLocation("folder", str(folder))


def open_artifact_store(location: ArtifactLocation, *, create: bool = True) -> Any:
    """The Optuna artifact store at ``location`` (a folder is created when ``create``).

    Raises:
        SearchError: the cloud library is not installed (naming what to ``pip install``), the store cannot be
            opened, or the folder cannot be created.
    """
    if location.kind == "folder":
        folder = Path(location.where)
        if create:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SearchError(f"--artifact-store '{folder}': cannot create the folder ({exc.strerror or exc}); "
                                  f"pass a folder this process can write") from None
        return optuna.artifacts.FileSystemArtifactStore(str(folder))
    check_library(location)
    cls = _CLOUD[location.kind][2]
    try:
        return getattr(optuna.artifacts, cls)(location.where)
    except Exception as exc:  # noqa: BLE001 - a cloud library's errors (credentials, configuration): one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(mask_credentials(f"--artifact-store '{location.describe()}': cannot open Optuna's {cls} "
                                           f"({reason})")) from None


def check_library(location: ArtifactLocation) -> None:
    """Refuse a cloud store whose library is not installed (one line naming what to ``pip install``)."""
    if location.kind == "folder":
        return
    module, package, cls = _CLOUD[location.kind]
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package (google, google.cloud)
        found = False
    if not found:
        raise SearchError(f"--artifact-store '{location.describe()}' needs Optuna's {cls}, which needs {package}: "
                          f"pip install {package}")


def check_study_store(study: optuna.Study, location: ArtifactLocation, where: str, *, record: bool = True) -> None:
    """Record ``location`` as the study's artifact store, or refuse it when the study records another.

    Args:
        study: The study (new or resumed).
        location: This worker's store.
        where: The study's storage as printed (:func:`nascomp.search.storage.describe_storage`).
        record: Record it when the study has none yet (a study created before this attribute existed, or a moment
            ago by another worker), or when the recorded store is a folder that no longer exists (a run folder
            moved or renamed: its saved states moved with it); ``False`` only compares.

    Raises:
        SearchError: the study keeps its saved states in another store (one line naming both and the fix).
    """
    mine = location.describe()
    recorded = study.user_attrs.get(STUDY_ARTIFACT_STORE)
    moved = recorded is not None and "://" not in recorded and not Path(recorded).exists()
    if recorded is None or moved:  # none yet, or a folder that is gone (the run folder was moved): this one
        if record:
            study.set_user_attr(STUDY_ARTIFACT_STORE, mine)
    elif recorded != mine:
        raise SearchError(f"study '{study.study_name}' in {where} keeps the saved states of its paused trials in the "
                          f"artifact store '{recorded}', this worker asks '{mine}'; every worker of a study must use "
                          f"the same store: pass --artifact-store {recorded}")
