"""The one text form of a tensor shape (messages, tables, drawings); torch-free so the CLI can use it early."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_shape"]


def format_shape(shape: Sequence[int | str], sep: str = ", ") -> str:
    """A shape as Python writes a tuple (``(3, 224, 224)``, ``(10,)``), or its sizes joined by ``sep``.

    Args:
        shape: Sizes (batch excluded, unless given as a name such as ``"N"``).
        sep: ``", "`` for the tuple form; ``"x"`` or ``"×"`` for ``3x224x224``.

    Example:
        >>> format_shape((3, 224, 224)), format_shape((10,)), format_shape(("N", 10))
        ('(3, 224, 224)', '(10,)', '(N, 10)')
        >>> format_shape((3, 224, 224), sep="x")
        '3x224x224'
    """
    if sep != ", ":
        return sep.join(str(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
