"""Atomic file output: write to a temporary file in the destination folder, then ``os.replace`` it into place.

A failure (an exception, Ctrl-C) while writing removes the temporary file and leaves any existing file untouched,
so a reader never sees a half-written picture, model or spec. A full disk (ENOSPC, EDQUOT, or torch's zip writer's
"file write failed" with no space left) becomes one :class:`~nascomp.errors.DiskFullError` naming the file and the
space it needs (:mod:`nascomp._disk`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nascomp._disk import disk_full_error, is_disk_full
from nascomp.errors import NascompError

__all__ = ["atomic_path", "write_atomic", "prepare_out_dir", "missing_root", "remove_empty_dirs", "why_not_a_folder"]


def why_not_a_folder(folder: str | os.PathLike) -> str:
    """Why ``folder`` (which is not a folder) cannot hold files: the part of its path that is a file, or that it is
    missing.

    Example:
        >>> why_not_a_folder("/nonexistent/x")
        "folder '/nonexistent/x' does not exist"
    """
    folder = Path(folder)
    for above in (folder, *folder.parents):
        if above.exists() and not above.is_dir():
            return f"'{above}' is a file, not a folder"
    return f"folder '{folder}' does not exist"


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, *, needed_bytes: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on normal exit it replaces ``dest``, on error it is removed.

    Args:
        dest: The file to write.
        needed_bytes: About how big the file will be, for the message when the disk fills up.

    Raises:
        NascompError: the destination folder does not exist or is not writable.
        DiskFullError: the disk or the quota filled up while writing (any existing ``dest`` is kept).

    Example:
        >>> with atomic_path("net.onnx") as tmp:
        ...     _ = tmp.write_bytes(b"...")
        >>> Path("net.onnx").read_bytes()
        b'...'
    """
    dest = Path(dest)
    if dest.is_dir():
        raise NascompError(f"cannot write {dest}: it is a folder; give a file name (e.g. {dest / 'net'}...)")
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise NascompError(f"cannot write {dest}: {why_not_a_folder(folder)}")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        if is_disk_full(exc, folder, needed_bytes):
            raise disk_full_error(exc, dest, needed_bytes) from None
        raise NascompError(f"cannot write {dest}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the mode open() would have
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException as exc:
        full = isinstance(exc, (OSError, RuntimeError)) and is_disk_full(exc, folder, needed_bytes)  # tmp still there
        with contextlib.suppress(OSError):
            tmp.unlink()
        if full:
            raise disk_full_error(exc, dest, needed_bytes) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(dest: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``dest`` atomically; return ``dest`` as a :class:`Path`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(dest, needed_bytes=len(raw)) as tmp:
        tmp.write_bytes(raw)
    return Path(dest)


def prepare_out_dir(folder: str | os.PathLike, *, flag: str = "--out") -> bool:
    """Create ``folder`` (with its parents) when missing and check that files can be written in it.

    Called before any work starts, so that a bad output folder fails in milliseconds, not after a long run.

    Args:
        folder: The output folder.
        flag: The option the folder came from, named in the error.

    Returns:
        True when this call created the folder (the caller removes it again if the run writes nothing).

    Raises:
        NascompError: the path is a file, or the folder cannot be created or written (read-only parent, no
            permission, full disk).
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise NascompError(f"{flag} {path} is a file; give a folder (created when missing)")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".nascomp-write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if created and path.is_dir() and not any(path.iterdir()):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise NascompError(f"{flag} {path}: cannot write there ({exc.strerror or exc}); choose a writable folder "
                           f"with {flag} DIR") from None
    return created


def missing_root(folder: str | os.PathLike) -> Path | None:
    """The highest folder of ``folder``'s path that does not exist yet (``folder`` itself, or a parent), or ``None``.

    Call it before :func:`prepare_out_dir`, then :func:`remove_empty_dirs` on failure: everything it created goes.
    """
    path = Path(folder)
    return next((p for p in reversed([path, *path.parents]) if not p.exists()), None)


def remove_empty_dirs(folder: str | os.PathLike, root: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``root`` while they are empty (what a failed run created)."""
    if root is None:
        return
    path = Path(folder)
    while path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        if path == root or path == path.parent:
            break
        path = path.parent
