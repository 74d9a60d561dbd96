"""Where the expander is and what each step hands back: the records of one scope's walk.

:class:`Frame` locates the node being expanded (its qualified path, the user-facing file and line, the block it is
in) for error messages; :class:`Tensor` is a value inside a scope; :class:`Placed` is what expanding one node adds
to its scope. Used by :mod:`nascomp.graph.expander`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from nascomp.graph.expansion_tree import PrimNode, Sub
from nascomp.ops import Shape

__all__ = ["Frame", "Tensor", "Placed", "shape_vars"]


class Tensor(NamedTuple):
    """A value inside a scope: the relative name of its producer (or :data:`INPUT`) and its shape."""

    ref: str
    shape: Shape


class Placed(NamedTuple):
    """What expanding one node adds to its scope: new items, and the value that stands for the node's output."""

    items: tuple[PrimNode | Sub, ...]
    out: Tensor


@dataclass(frozen=True)
class Frame:
    """Where the expansion is: the qualified path and the outermost (user-facing) file and line."""

    path: str
    file: str | None
    line: int | None
    block: str | None = None

    def child(self, node_id: str) -> "Frame":
        return Frame(f"{self.path}.{node_id}" if self.path else node_id, self.file, self.line, self.block)

    def sibling(self, node_id: str) -> "Frame":
        """The frame of ``node_id`` in the same scope as this one (a flat copy of a repeated node)."""
        parent = self.path.rsplit(".", 1)[0] if "." in self.path else ""
        return Frame(parent, self.file, self.line, self.block).child(node_id)


def shape_vars(shape: Shape) -> dict[str, Any]:
    """The names a scope on inputs of ``shape`` may use: ``in_channels``, ``in_shape`` and, for images,
    ``in_height`` and ``in_width``."""
    names: dict[str, Any] = {"in_channels": shape[0], "in_shape": list(shape)}
    if len(shape) == 3:
        names["in_height"] = shape[1]
        names["in_width"] = shape[2]
    return names
