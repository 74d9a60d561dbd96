"""Open the Optuna storage a study lives in: SQLite in the output folder by default, or any ``--storage``."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

from nascomp._atomic import why_not_a_folder
from nascomp._disk import disk_full_error, is_disk_full
from nascomp._secrets import mask_credentials, raw_at_in_credentials
from nascomp.errors import DiskFullError, SearchError

__all__ = ["open_storage", "default_storage_url", "describe_storage", "hide_password", "disk_full_in_search"]


def default_storage_url(out: Path) -> str:
    """``sqlite:///<absolute out>/study.db``."""
    return f"sqlite:///{(out.resolve() / 'study.db').as_posix()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Open (creating if needed) a storage.

    Args:
        url: An SQLAlchemy URL Optuna's :class:`~optuna.storages.RDBStorage` accepts (``sqlite:///study.db``,
            ``postgresql://user:pass@host/db``, ``mysql+pymysql://...``), or ``journal:PATH`` for Optuna's
            :class:`~optuna.storages.JournalStorage` on a file (safe for several processes on one file system).

    Raises:
        SearchError: the storage cannot be opened (the message carries the driver's reason).
    """
    where = describe_storage(url)
    if raw_at_in_credentials(url):
        raise SearchError(
            f"cannot open storage '{where}': its user name or password holds a raw '@', which ends the password "
            f"early; percent-encode reserved characters in it ('@' as %40, ':' as %3A, '/' as %2F, '%' as %25: "
            f"urllib.parse.quote(password, safe='')), as docs/distributed.md shows"
        )
    try:
        if url.startswith("journal:"):
            path = Path(url[len("journal:"):]).expanduser()
            if not path.parent.is_dir():
                raise SearchError(f"cannot open storage '{where}': {why_not_a_folder(path.parent)}")
            from optuna.storages.journal import JournalFileBackend

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if "://" not in url:
            raise SearchError(
                f"cannot read storage '{where}': expected an SQLAlchemy URL (sqlite:///study.db, "
                f"postgresql://user:pass@host/db) or journal:PATH"
            )
        if url.startswith("postgresql://") and _has("psycopg") and not _has("psycopg2"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]  # SQLAlchemy's default driver is psycopg2
        if url.startswith("sqlite:///"):
            folder = Path(url[len("sqlite:///"):]).parent
            if not folder.is_dir():
                raise SearchError(f"cannot open storage '{where}': {why_not_a_folder(folder)}")
        return _open_rdb(url)
    except SearchError:
        raise
    except (ImportError, ModuleNotFoundError) as exc:
        raise SearchError(hide_password(f"cannot open storage '{where}': a database driver is missing ({exc})", url)) from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy/driver errors of many types: one user-facing error
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(hide_password(f"cannot open storage '{where}': {reason}", url)) from None


def _open_rdb(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """``RDBStorage(url)``, retried: workers started together on an empty database all create Optuna's tables at
    once, and all but one fail on PostgreSQL's catalog ("duplicate key value violates unique constraint
    pg_type_typname_nsp_index"); a moment later the tables exist and opening succeeds."""
    import random
    import time

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as exc:  # noqa: BLE001 - retried only while the error looks like that race
            race = any(s in str(exc) for s in ("already exists", "duplicate key", "UniqueViolation", "IntegrityError"))
            if attempt == attempts - 1 or not race:
                raise
            time.sleep(0.2 + random.random() * 0.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL (journal:PATH, a typo): no password to find
        return None


def describe_storage(url: str) -> str:
    """The URL as it may be printed or written: its password masked the way SQLAlchemy does
    (``URL.render_as_string(hide_password=True)``: ``postgresql+psycopg://user:***@host/db``); a password with a
    raw ``@``, which SQLAlchemy would cut at its first ``@``, is masked up to the last one
    (:func:`nascomp._secrets.mask_credentials`)."""
    from sqlalchemy.engine import make_url

    if "://" not in url:
        return url
    if raw_at_in_credentials(url):
        return mask_credentials(url)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unreadable by SQLAlchemy: mask everything between '://' and the last '@'
        return mask_credentials(url)


def hide_password(text: str, url: str | None) -> str:
    """``text`` with the password of ``url`` (as written and URL-decoded) replaced by ``***``: for messages that
    quote a driver's error, which may repeat the connection string."""
    if not url or "://" not in url:
        return text
    from urllib.parse import quote, unquote

    text = text.replace(url, describe_storage(url))
    password = _password(url)
    if "@" in url:
        raw = url.split("://", 1)[1].rsplit("@", 1)[0].partition(":")[2]
        secrets = {password, raw, unquote(raw), quote(raw, safe="")} - {None, ""}
    else:
        secrets = {password} - {None, ""}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def disk_full_in_search(exc: BaseException, url: str, out: Path) -> DiskFullError | None:
    """The one-line error for a search stopped by a full disk (its outputs, or an SQLite ``study.db`` that could not
    grow), saying that the study keeps its finished trials and how to resume; ``None`` when ``exc`` is no such
    thing."""
    database = Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None
    if isinstance(exc, DiskFullError):
        message, path, needed = str(exc), exc.path, exc.needed_bytes
    elif is_disk_full(exc, database or out):
        error = disk_full_error(exc, database or out, None)
        message, path, needed = str(error), error.path, None
    else:
        return None
    return DiskFullError(f"{message}; the study in {describe_storage(url)} keeps every trial that finished: run "
                         f"the same command again to resume", path=path, needed_bytes=needed)
