"""The values of a recipe field that are written as text: durations, input shapes, objectives.

Used by the recipe file (:func:`nascomp.search.recipe.load_recipe`) and its command-line overrides
(:meth:`nascomp.search.recipe.Recipe.with_overrides`) alike, so a flag and a file accept the same spellings.
"""

from __future__ import annotations

import re
from typing import Any

from nascomp._shape import as_input_shape
from nascomp.errors import SearchError

__all__ = ["OBJECTIVES", "parse_duration", "parse_input_shape", "parse_objectives"]

OBJECTIVES = ("accuracy", "macs", "latency")


def parse_duration(value: Any) -> float | None:
    """``"8m"``, ``"90s"``, ``"1h"``, ``"1h30m"`` or a number of seconds -> seconds; ``None``/``"none"`` -> None.

    Raises:
        SearchError: anything else.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)s?)?", text)
        if not text or parts is None or not any(parts.groups()):
            raise SearchError(f"cannot read duration '{value}': write seconds or e.g. '90s', '8m', '1h30m'")
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise SearchError(f"duration must be positive, got '{value}'")
    return seconds


def parse_input_shape(value: Any) -> tuple[int, int, int]:
    """``"3x224x224"``, ``[3, 224, 224]`` -> ``(3, 224, 224)`` (:func:`nascomp._shape.as_input_shape`).

    Raises:
        SearchError: not three positive integers.
    """
    shape = as_input_shape(value)
    if shape is None:
        raise SearchError(f"input shape must be CxHxW of positive integers, e.g. 3x224x224; found {value!r}")
    return shape


def parse_objectives(value: Any) -> tuple[str, ...]:
    """``"accuracy"``, ``"accuracy,macs"``, ``["accuracy", "latency"]`` -> a tuple of :data:`OBJECTIVES`, accuracy
    first.

    Raises:
        SearchError: anything else (an unknown objective, accuracy not first, a repeat, more than two).
    """
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    if not items or items[0] != "accuracy" or any(v not in OBJECTIVES for v in items) or len(set(items)) != len(items) \
            or len(items) > 2:
        raise SearchError(f"objectives must be 'accuracy', 'accuracy,macs' or 'accuracy,latency', got {value!r}")
    return tuple(items)
