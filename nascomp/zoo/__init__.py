"""The canonical nets: one YAML spec per name in the ``zoo/`` library folder (``zoo/resnet50.yaml``...).

The registry is built from the folder listing (explicitly, at call time); an unknown name lists the valid ones.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from nascomp._resources import library_dir
from nascomp.registry import Registry

__all__ = ["zoo_registry", "zoo_names", "zoo_path"]


@lru_cache(maxsize=1)
def _registry(folder: str) -> Registry[Path]:
    registry: Registry[Path] = Registry("zoo net")
    for path in sorted(Path(folder).glob("*.yaml")):
        registry.register(path.stem, path, origin=str(path))
    return registry


def zoo_registry() -> Registry[Path]:
    """Names of the canonical nets mapped to their spec files."""
    return _registry(str(library_dir("zoo")))


def zoo_names() -> list[str]:
    """Sorted names of the canonical nets."""
    return zoo_registry().names()


def zoo_path(name: str) -> Path:
    """The spec file of zoo net ``name``.

    Raises:
        RegistryError: unknown name (the message lists the valid names).
    """
    return zoo_registry().get(name)
