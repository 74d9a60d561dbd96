"""A full disk (or quota) met while writing: recognised wherever it surfaces, reported as one line.

The failure takes three forms: ``OSError`` with ``errno`` ENOSPC or EDQUOT (Python's own writes, matplotlib),
torch's zip writer's ``RuntimeError("[enforce fail at inline_container.cc:...] ... file write failed")``, which
carries no errno, and SQLite's "database or disk is full" (an Optuna study). Torch's and SQLite's texts are taken
for a full disk only when the file system really has (almost) no space left, so an unrelated ``RuntimeError`` is
never disguised as one.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from nascomp._units import format_bytes
from nascomp.errors import DiskFullError

__all__ = ["is_disk_full", "disk_full_error", "free_bytes"]

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
# SQLite's SQLITE_FULL and the C library's ENOSPC text say it plainly, whatever wraps them.
_SAYS_FULL = ("database or disk is full", "No space left on device")
# Torch's zip writer reports a failed write without an errno ("file write failed", or, when its stream failed
# first, "basic_ios::clear: iostream error" then "unexpected pos" at inline_container.cc): trusted only when the
# file system really is (nearly) full.
_WRITE_FAILED = ("file write failed", "iostream error", "inline_container.cc", "PytorchStreamWriter")
_NEARLY_FULL = 1 << 20  # bytes: a write that failed with less than this left failed for want of space


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes (for an unprivileged user) on the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(path)
    for above in (path, *path.parents):
        if above.exists():
            try:
                return shutil.disk_usage(above).free
            except OSError:
                return None
    return None


def is_disk_full(exc: BaseException, path: str | os.PathLike | None, needed_bytes: int | None = None) -> bool:
    """Whether ``exc``, raised while writing ``path`` (about ``needed_bytes``), means the disk or quota is full:
    an ENOSPC or EDQUOT anywhere in its cause chain, SQLite's "database or disk is full", or torch's writer's text
    with less than ``max(1 MiB, needed_bytes)`` free at ``path`` (call it before deleting the partial file; with
    ``path=None`` torch's text is not trusted)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # the cause chain: SQLAlchemy wraps sqlite3's error
        seen.add(id(exc))
        if isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS):
            return True
        if any(text in str(exc) for text in _SAYS_FULL):
            return True
        if path is not None and any(text in str(exc) for text in _WRITE_FAILED):
            free = free_bytes(path)
            return free is not None and free < max(_NEARLY_FULL, needed_bytes or 0)
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(exc: BaseException, path: str | os.PathLike, needed_bytes: int | None,
                    what: str = "") -> DiskFullError:
    """The one-line error for a write of ``path`` that ``exc`` (a full disk: :func:`is_disk_full`) stopped.

    Args:
        needed_bytes: What the file needs (an estimate), or ``None`` when unknown.
        what: A clause to add (what was kept, how to resume).
    """
    quota = isinstance(exc, OSError) and exc.errno == getattr(errno, "EDQUOT", None)
    need = f"it needs about {format_bytes(needed_bytes)} more" if needed_bytes else "it needs more space"
    reason = "your disk quota is used up" if quota else "the disk is full"
    return DiskFullError(f"cannot write {path}: {reason} ({need}); free some space or write elsewhere"
                         f"{'; ' + what if what else ''}", path=str(path), needed_bytes=needed_bytes)
