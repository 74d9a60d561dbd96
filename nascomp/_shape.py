"""The one text form of a tensor shape (messages, tables, drawings); torch-free so the CLI can use it early."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["format_shape", "as_input_shape"]

_SHAPE_TEXT = re.compile(r"^\s*(\d+)\s*[x×,]\s*(\d+)\s*[x×,]\s*(\d+)\s*$")


def as_input_shape(value: Any) -> tuple[int, int, int] | None:
    """The one check of an input shape: ``(C, H, W)`` of positive integers, or ``None`` when ``value`` is not one.

    Args:
        value: A sequence of three integers (bools refused), or text such as ``"3x224x224"`` (also ``×`` or ``,``).

    Example:
        >>> as_input_shape([3, 224, 224]), as_input_shape("3x32x32"), as_input_shape((3, 0, 8)), as_input_shape([True, 2, 2])
        ((3, 224, 224), (3, 32, 32), None, None)
    """
    if isinstance(value, str):
        match = _SHAPE_TEXT.match(value)
        value = [int(g) for g in match.groups()] if match else ()
    try:
        shape = tuple(value)
    except TypeError:
        return None
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        return None
    return shape  # type: ignore[return-value]


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
