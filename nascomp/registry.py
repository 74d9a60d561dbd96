"""A small explicit registry: names map to objects; duplicates and unknown names are errors.

A duplicate registration raises and names both definitions; an unknown name raises, lists the valid names and
suggests the closest ones (``difflib``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from nascomp.errors import RegistryError

__all__ = ["Registry", "closest_names", "did_you_mean"]

T = TypeVar("T")


def closest_names(name: str, valid: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names of ``valid`` closest to ``name`` (difflib ratio >= 0.5)."""
    return difflib.get_close_matches(name, valid, n=n, cutoff=0.5)


def did_you_mean(name: str, valid: list[str]) -> str:
    """The hint for an unknown ``name``: ``"; did you mean 'a' or 'b'?"``, or ``""`` when nothing is close.

    Example:
        >>> did_you_mean("resnt18", ["resnet18", "vgg16"])
        "; did you mean 'resnet18'?"
        >>> did_you_mean("zzz", ["resnet18"])
        ''
    """
    close = closest_names(str(name), valid)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """Maps snake_case names to objects.

    Args:
        kind: What the registry holds, for messages ("op", "block", "zoo net").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}

    def register(self, name: str, item: T, origin: str = "<python>") -> T:
        """Add ``item`` under ``name``.

        Raises:
            RegistryError: ``name`` is already registered (the message names both origins).
        """
        if name in self._items:
            raise RegistryError(
                f"duplicate {self.kind} '{name}': defined in {self._origins[name]} and again in {origin}; "
                f"rename one of them"
            )
        self._items[name] = item
        self._origins[name] = origin
        return item

    def get(self, name: str) -> T:
        """Return the item registered as ``name``.

        Raises:
            RegistryError: unknown name; the message lists the closest and all valid names.
        """
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        valid = sorted(self._items)
        return f"unknown {self.kind} '{name}'{did_you_mean(name, valid)} (valid: {', '.join(valid)})"

    def origin(self, name: str) -> str:
        return self._origins[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def copy(self) -> "Registry[T]":
        new: Registry[T] = Registry(self.kind)
        new._items = dict(self._items)
        new._origins = dict(self._origins)
        return new

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
