"""Locate the YAML libraries (blocks, zoo, search spaces, studies) in a checkout or an installed wheel.

In a wheel they live in ``nascomp/library/<kind>/`` (``pyproject.toml`` force-includes them); in a source checkout
(editable installs, tests) they are the top-level folders ``<kind>/`` next to the ``nascomp`` package.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["library_dir", "LIBRARY_KINDS"]

LIBRARY_KINDS = ("blocks", "zoo", "search_spaces", "studies")

_PACKAGE_DIR = Path(__file__).resolve().parent


def library_dir(kind: str) -> Path:
    """Return the folder holding the ``kind`` library (one of :data:`LIBRARY_KINDS`).

    Raises:
        ValueError: ``kind`` is not a library kind.
        FileNotFoundError: the folder is in neither place (a broken install).
    """
    if kind not in LIBRARY_KINDS:
        raise ValueError(f"unknown library kind '{kind}' (valid: {', '.join(LIBRARY_KINDS)})")
    for candidate in (_PACKAGE_DIR / "library" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"nascomp's '{kind}' library is missing (looked in {_PACKAGE_DIR / 'library' / kind})")
