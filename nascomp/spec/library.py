"""The block library: built-in blocks from ``blocks/*.yaml`` plus a spec's own (``blocks:`` and ``imports:``).

A block name defined twice (in two files, or in a spec and the library) is an error naming both places.
The built-in library is reloaded when a file in ``blocks/`` changes (path, ``st_mtime_ns`` and size). Expanded
block instances are memoised by the expander (:mod:`nascomp.graph.block_cache`), not here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from nascomp._resources import library_dir
from nascomp.errors import RegistryError, SpecError
from nascomp.registry import Registry
from nascomp.spec.expr import Evaluator
from nascomp.spec.model import BlockDef
from nascomp.spec.parse import parse_block_defs, read_yaml_file
from nascomp.spec._yaml import YamlMap

__all__ = ["BlockLibrary", "builtin_library", "load_block_file"]

class BlockLibrary:
    """Block definitions by name, and the expression evaluator their expansion uses.

    Args:
        blocks: The registry of block definitions.
    """

    def __init__(self, blocks: Registry[BlockDef]):
        self.blocks = blocks
        self.evaluator = Evaluator()  # with its memo of evaluated expressions

    def get(self, name: str) -> BlockDef:
        return self.blocks.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.blocks

    def extended(self, defs: dict[str, BlockDef], origin_of: dict[str, str]) -> "BlockLibrary":
        """A new library with ``defs`` added (sharing this one's expression evaluator).

        Raises:
            SpecError: a name in ``defs`` already exists.
        """
        if not defs:
            return self
        registry = self.blocks.copy()
        for name, block in defs.items():
            try:
                registry.register(name, block, origin=origin_of[name])
            except RegistryError as exc:
                raise SpecError(str(exc), file=block.file, line=block.line) from None
        lib = BlockLibrary(registry)
        lib.evaluator = self.evaluator
        return lib


def _origin(block: BlockDef) -> str:
    return f"{block.file}:{block.line}" if block.file else f"<text>:{block.line}"


def load_block_file(path: Path) -> dict[str, BlockDef]:
    """Read a block file (``blocks: {name: definition, ...}``).

    Raises:
        SpecError: unreadable or malformed file.
    """
    raw = read_yaml_file(path)
    if not isinstance(raw, YamlMap) or "blocks" not in raw:
        raise SpecError("a block file must be a mapping with a 'blocks' key", file=str(path), line=1)
    extra = [k for k in raw if k not in ("blocks", "doc")]
    if extra:
        raise SpecError(f"unknown key '{extra[0]}' in a block file (valid: blocks, doc)", file=str(path), line=raw.line_of(extra[0]))
    return parse_block_defs(raw["blocks"], str(path), raw.line_of("blocks"))


def file_stamp(path: Path) -> tuple[str, int, int] | None:
    """What tells a file's version: resolved path, ``st_mtime_ns`` and size (``None``: the file is missing)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def _block_files() -> tuple[tuple[str, int, int] | None, ...]:
    return tuple(sorted(file_stamp(p) for p in library_dir("blocks").glob("*.yaml")))


@lru_cache(maxsize=4)
def _builtin_library(files: tuple[tuple[str, int, int], ...]) -> BlockLibrary:
    registry: Registry[BlockDef] = Registry("block")
    for path, _, _ in files:
        for name, block in load_block_file(Path(path)).items():
            try:
                registry.register(name, block, origin=_origin(block))
            except RegistryError as exc:
                raise SpecError(str(exc), file=block.file, line=block.line) from None
    return BlockLibrary(registry)


def builtin_library() -> BlockLibrary:
    """The library of built-in blocks (``blocks/*.yaml``), reloaded when a file there changes."""
    return _builtin_library(_block_files())


def library_for(spec_blocks: dict[str, BlockDef], imports: list[tuple[Path, Any]], spec_file: str | None) -> BlockLibrary:
    """The built-in library extended with a spec's imported and local blocks.

    A file imported twice under different names (``blk.yaml``, ``./blk.yaml``, a symlink) is read once: imports are
    told apart by resolved path.
    """
    defs: dict[str, BlockDef] = {}
    origins: dict[str, str] = {}

    def add(name: str, block: BlockDef) -> None:
        if name in defs:
            raise SpecError(
                f"duplicate block '{name}': defined in {origins[name]} and again in {_origin(block)}",
                file=block.file,
                line=block.line,
            )
        defs[name] = block
        origins[name] = _origin(block)

    seen: set[Path] = set()
    for path, line in imports:
        if not path.is_file():
            raise SpecError(f"imported block file not found: {path}", file=spec_file, line=line)
        if path.resolve() in seen:  # the same file named twice ('blk.yaml', './blk.yaml') is one import
            continue
        seen.add(path.resolve())
        for name, block in load_block_file(path).items():
            add(name, block)
    for name, block in spec_blocks.items():
        add(name, block)
    return builtin_library().extended(defs, origins)
