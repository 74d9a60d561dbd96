"""The expander's memo of block instances: the same block, parameter values and input shape give the same subgraph.

This is what makes costing thousands of candidates a second possible. Entries are keyed on the block definition
object itself (held by the entry, so its id cannot be reused while the entry lives): a block file that is edited
and loaded again gives new definitions, so an expansion of the old text is never returned for the new one.
"""

from __future__ import annotations

from typing import Any

from nascomp.graph.expansion_tree import Expansion
from nascomp.ops import Shape
from nascomp.spec.model import BlockDef

__all__ = ["BlockCache", "BLOCK_CACHE"]


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


class BlockCache:
    """Expansions of block instances by (definition, parameter values as given, input shape).

    Args:
        max_entries: Size at which the memo is emptied (a bound on memory, far above one search's needs).
    """

    def __init__(self, max_entries: int = 200_000):
        self.max_entries = max_entries
        self._entries: dict[tuple, tuple[BlockDef, Expansion]] = {}

    def get(self, block: BlockDef, given: dict[str, Any], in_shape: Shape) -> Expansion | None:
        hit = self._entries.get((id(block), _freeze(given), in_shape))
        return hit[1] if hit is not None and hit[0] is block else None

    def put(self, block: BlockDef, given: dict[str, Any], in_shape: Shape, expansion: Expansion) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[(id(block), _freeze(given), in_shape)] = (block, expansion)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


BLOCK_CACHE = BlockCache()  # the process-wide memo that expand_nodes uses unless given one
