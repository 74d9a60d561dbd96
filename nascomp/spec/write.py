"""The one spec writer: a spec mapping back to YAML text that rebuilds to the same net.

Every spec nascomp writes (a search's ``best.yaml`` and ``baseline.yaml``, :meth:`SearchSpace.export
<nascomp.search.space.search_space.SearchSpace.export>`, a training run's ``spec.yaml``, ``nascomp scale``) goes through
:func:`spec_mapping` and :func:`spec_yaml`, so they agree on three things:

- plain values: dicts, lists and scalars only (the loader's line-tracking mappings become plain dicts);
- ``imports`` rewritten one way: each path made absolute, relative to the folder of the file the spec came from
  (the current folder for a spec without a file), so the written spec rebuilds from any folder;
- one layout: keys in the spec format's order (``name``, ``doc``, ``input_shape``, ``params``, then the rest as
  written), a ``reference`` section dropped (its figures describe the configuration it was written for), and a
  multi-line ``doc`` as a literal block, one node per line.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from nascomp._atomic import write_atomic

__all__ = ["plain", "spec_mapping", "spec_yaml", "write_spec", "absolute_imports"]

#: Keys a written spec opens with, in this order; the others follow in the order of the source.
_HEAD = ("name", "doc", "input_shape", "params")
#: Keys never written: the reference figures of the source configuration.
_DROPPED = ("reference",)


def plain(value: Any) -> Any:
    """Deep copy of YAML data into plain dicts and lists (``yaml.safe_dump`` refuses the line-tracking types).

    Example:
        >>> plain({"a": (1, 2), 3: [{"b": None}]})
        {'a': [1, 2], '3': [{'b': None}]}
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return copy.copy(value)


def absolute_imports(imports: list[str], origin: str | os.PathLike | None) -> list[str]:
    """``imports`` as absolute paths, each resolved against the folder of ``origin`` (the current folder when
    ``origin`` is ``None``), as the loader resolves them."""
    base = Path(origin).parent if origin is not None else Path.cwd()
    return [str((base / p).resolve()) for p in imports]


def spec_mapping(raw: Mapping[str, Any], *, origin: str | os.PathLike | None = None, name: str | None = None,
                 doc: str | None = None, input_shape: tuple[int, int, int] | list[int] | None = None,
                 params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A plain spec mapping of ``raw`` ready to write, with the given fields set.

    Args:
        raw: A spec mapping (``Spec.raw``, a space's ``architecture``, or a mapping built in code).
        origin: The file ``raw`` came from (its ``imports`` resolve relative to it), or ``None``.
        name: New ``name`` (default: ``raw``'s).
        doc: New ``doc`` (default: ``raw``'s; none written when both are empty).
        input_shape: New ``(C, H, W)`` (default: ``raw``'s).
        params: Values merged over ``raw``'s ``params`` (new keys appended, existing ones replaced in place).

    Returns:
        A mapping of plain values, keys in the spec format's order, ``reference`` dropped and ``imports``
        absolute: :func:`nascomp.load_spec` of it gives the same net as ``raw`` with these fields.
    """
    src = plain(raw)
    fields: dict[str, Any] = {"name": name if name is not None else src.get("name"),
                              "doc": doc if doc is not None else src.get("doc"),
                              "input_shape": list(input_shape) if input_shape is not None else src.get("input_shape"),
                              "params": {**(src.get("params") or {}), **plain(dict(params or {}))}}
    out = {key: value for key, value in fields.items() if value not in (None, "", {})}
    for key, value in src.items():
        if key in _HEAD or key in _DROPPED:
            continue
        out[key] = absolute_imports(value, origin) if key == "imports" and isinstance(value, list) else value
    return out


class _SpecDumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (the ``doc``) as literal blocks, as hand-written specs have them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_SpecDumper.add_representer(str, _str)


def spec_yaml(mapping: Mapping[str, Any]) -> str:
    """A spec mapping as YAML text: keys in the mapping's order, flow style for leaf collections (one node per
    line), lines up to 120 characters, the ``doc`` as a literal block.

    Example:
        >>> print(spec_yaml({"name": "tiny", "doc": "two\\nlines", "nodes": [{"id": "fc", "type": "linear"}]}), end="")
        name: tiny
        doc: |-
          two
          lines
        nodes:
        - {id: fc, type: linear}
    """
    return yaml.dump(plain(mapping), Dumper=_SpecDumper, sort_keys=False, default_flow_style=None, width=120,
                     allow_unicode=True)


def write_spec(mapping: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write :func:`spec_yaml` of ``mapping`` to ``path`` atomically (a crash leaves the old file or none).

    Raises:
        DiskFullError: no space left for the file.
    """
    return write_atomic(path, spec_yaml(mapping))
