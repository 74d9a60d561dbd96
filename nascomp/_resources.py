"""Locate the YAML libraries (blocks, zoo, search spaces, studies) in a checkout or an installed wheel.

In a wheel they live in ``nascomp/library/<kind>/`` (``pyproject.toml`` force-includes them); in a source checkout
(editable installs, tests) they are the top-level folders ``<kind>/`` next to the ``nascomp`` package.
"""

from __future__ import annotations

import os
from pathlib import Path

from nascomp.errors import NascompError

__all__ = ["library_dir", "library_names", "find_library_file", "LIBRARY_KINDS"]

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


def library_names(kind: str) -> list[str]:
    """Names (file stems) of the YAML files of the ``kind`` library."""
    return sorted(p.stem for p in library_dir(kind).glob("*.yaml"))


def find_library_file(
    kind: str, name_or_path: str | os.PathLike, *, what: str, error: type[NascompError] = NascompError
) -> Path:
    """Resolve a user's argument to a YAML file: a path (anything with a .yaml/.yml suffix, a separator, or an
    existing file) or the name of a file in the ``kind`` library.

    Raises:
        error: a path that is not a file, or an unknown name (the message lists the valid names, closest first).
    """
    from nascomp.registry import did_you_mean  # local: registry imports errors only, but keep this module light

    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or os.sep in text or path.exists():
        if not path.is_file():
            raise error(f"{what} file not found: {path}")
        return path
    builtin = library_dir(kind) / f"{text}.yaml"
    if builtin.is_file():
        return builtin
    names = library_names(kind)
    hint = did_you_mean(text, names)
    raise error(f"unknown {what} '{text}'{hint} (built-in: {', '.join(names)}; or a YAML file)")
