"""``load_spec``: read a spec from a file, a zoo name or YAML text, with parameter overrides."""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from nascomp._shape import as_input_shape
from nascomp.errors import SpecError, UnknownNetError
from nascomp.registry import did_you_mean
from nascomp.spec._yaml import load_yaml
from nascomp.spec.library import file_stamp, library_for
from nascomp.spec.model import Spec
from nascomp.spec.parse import parse_spec, read_yaml_file

__all__ = ["load_spec", "SpecSource"]

SpecSource = Spec | str | os.PathLike | dict


@lru_cache(maxsize=256)
def _parse_file(path: str, stamp: tuple) -> tuple[Spec, tuple[tuple[Path, int | None], ...]]:
    raw = read_yaml_file(Path(path))
    spec, imports = parse_spec(raw, path, Path(path).parent)
    return spec, tuple(imports)


@lru_cache(maxsize=256)
def _load_file(path: str, stamp: tuple, import_stamps: tuple) -> Spec:
    """The spec of ``path`` with its library; cached on the versions of the file AND of every file it imports."""
    spec, imports = _parse_file(path, stamp)
    return dataclasses.replace(spec, library=library_for(spec.blocks, list(imports), path))


def _load_text(text: str) -> Spec:
    raw = load_yaml(text)
    spec, imports = parse_spec(raw, None, None)
    return dataclasses.replace(spec, library=library_for(spec.blocks, imports, None))


def _load_mapping(mapping: dict, source: str | os.PathLike | None) -> Spec:
    file = str(source) if source is not None else None
    base = Path(source).parent if source is not None else None
    spec, imports = parse_spec(mapping, file, base)
    return dataclasses.replace(spec, library=library_for(spec.blocks, imports, file))


def _from_path(path: Path) -> Spec:
    try:
        path.stat()
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {path}") from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    if path.is_dir():
        raise SpecError(f"expected a YAML spec file, found a directory: {path}")
    resolved = str(path.resolve())
    stamp = file_stamp(path)
    _, imports = _parse_file(resolved, stamp)
    return _load_file(resolved, stamp, tuple(file_stamp(p) for p, _ in imports))


def _resolve(source: SpecSource, origin: str | os.PathLike | None = None) -> Spec:
    from nascomp.zoo import zoo_names, zoo_path, zoo_registry

    if isinstance(source, Spec):
        return source
    if isinstance(source, dict):
        return _load_mapping(source, origin)
    if isinstance(source, os.PathLike):
        return _from_path(Path(source))
    if not isinstance(source, str):
        raise SpecError(f"expected a Spec, a path, a zoo name or YAML text, found {type(source).__name__}")
    if "\n" in source or ": " in source or source.lstrip().startswith("{"):
        return _load_text(source)
    if source in zoo_registry():
        return _from_path(zoo_path(source))
    path = Path(source)
    if path.exists() or path.suffix in (".yaml", ".yml") or os.sep in source:
        return _from_path(path)
    hint = did_you_mean(source, zoo_names())
    raise UnknownNetError(
        f"'{source}' is neither a spec file nor a zoo net{hint} (zoo nets: {', '.join(zoo_names())})"
    )


def load_spec(source: SpecSource, *, origin: str | os.PathLike | None = None, **overrides: Any) -> Spec:
    """Load and structurally validate a spec.

    Args:
        source: A :class:`Spec`, a path to a YAML file, the name of a zoo net (``"resnet50"``), YAML text, or a
            mapping already read from YAML (e.g. the ``architecture:`` of a search space).
        origin: For a mapping: the file it came from (messages name it; ``imports`` resolve relative to it).
        **overrides: New values for the spec's ``params`` (``num_classes=10``) and/or ``input_shape=(C, H, W)``.

    Returns:
        The :class:`Spec`. Shapes and parameter values are checked later, by :func:`nascomp.build` and
        :func:`nascomp.profile`, still before anything is allocated.

    Raises:
        SpecError: missing file, malformed YAML, structural errors, or an override the spec does not declare.
        UnknownNetError: a name that is none of a spec file, YAML text or a zoo net (a :class:`SpecError`).

    Example:
        >>> spec = load_spec("resnet50", num_classes=10)
        >>> spec.params["num_classes"]
        10
    """
    spec = _resolve(source, origin)
    if not overrides:
        return spec
    changes: dict[str, Any] = {}
    if "input_shape" in overrides:
        shape = overrides.pop("input_shape")
        if shape is not None:
            if as_input_shape(shape) is None or isinstance(shape, str):
                raise SpecError(f"input_shape must be (C, H, W) of positive integers, found {tuple(shape)!r}", file=spec.file)
            changes["input_shape"] = as_input_shape(shape)
    unknown = [k for k in overrides if k not in spec.params]
    if unknown:
        valid = ", ".join(sorted(spec.params)) or "none"
        hint = did_you_mean(unknown[0], list(spec.params))
        raise SpecError(
            f"spec '{spec.name}' has no parameter '{unknown[0]}'{hint} (its params: {valid}; and input_shape)",
            file=spec.file,
        )
    if overrides:
        changes["params"] = {**spec.params, **overrides}
    return dataclasses.replace(spec, **changes)
