"""Hardware budgets: parse ``"40ms"`` into milliseconds and ``"8GiB"`` into bytes, strictly (a unit is required).

A bare number is refused: ``40`` could be milliseconds or seconds, ``8`` gigabytes or gibibytes, and a budget
misread by a factor of 1000 silently searches the wrong space. The rule follows :func:`nascomp.cost.parse_budget`:
one regular expression, one clear error listing the accepted forms.
"""

from __future__ import annotations

import math
import re

from nascomp.errors import BudgetError

__all__ = ["parse_latency_budget", "parse_memory_budget", "format_ms", "TIME_UNITS", "MEMORY_UNITS"]

#: Time units (case-sensitive: ``ms`` and ``Ms`` differ) -> milliseconds.
TIME_UNITS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3}
#: Memory units (case-insensitive) -> bytes: decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB).
MEMORY_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}

_NUMBER = r"(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_TIME_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>s|ms|us|µs)\s*$")
_MEMORY_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>[kmgt]i?b|b)\s*$", re.I)

_TIME_FORMS = "a number and a time unit s, ms or us, e.g. '40ms', '0.04s' or '40000us'"
_MEMORY_FORMS = ("a number and a unit B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), "
                 "e.g. '8GiB'")


def parse_latency_budget(text: str) -> float:
    """Parse a latency budget into milliseconds.

    Args:
        text: ``"40ms"``, ``"40 ms"``, ``"0.04s"``, ``"40000us"``.

    Returns:
        The budget in ms (positive, finite).

    Raises:
        BudgetError: no time unit (``"40"``), another unit (``"40 mb"``), or not positive.

    Example:
        >>> parse_latency_budget("40ms"), parse_latency_budget("0.04s"), parse_latency_budget("40000us")
        (40.0, 40.0, 40.0)
    """
    match = _TIME_RE.match(str(text)) if isinstance(text, str) else None
    if match is None:
        raise BudgetError(f"latency budget '{text}' is not a time: expected {_TIME_FORMS}")
    value = float(match["number"].replace("_", "")) * TIME_UNITS[match["unit"]]
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"latency budget '{text}' must be a positive time, e.g. '40ms'")
    return value


def parse_memory_budget(text: str) -> int:
    """Parse a memory budget into bytes.

    Args:
        text: ``"8GiB"``, ``"8 GiB"``, ``"512MB"``, ``"1e9B"``.

    Returns:
        The budget in bytes, rounded down (at least 1).

    Raises:
        BudgetError: no unit (``"8"``), another unit (``"8 ms"``), or below one byte.

    Example:
        >>> parse_memory_budget("8GiB"), parse_memory_budget("512 MB")
        (8589934592, 512000000)
    """
    match = _MEMORY_RE.match(str(text)) if isinstance(text, str) else None
    if match is None:
        raise BudgetError(f"memory budget '{text}' is not an amount of memory: expected {_MEMORY_FORMS}")
    value = float(match["number"].replace("_", "")) * MEMORY_UNITS[match["unit"].lower()]
    if not math.isfinite(value) or value < 1:
        raise BudgetError(f"memory budget '{text}' must be at least 1 byte, e.g. '8GiB'")
    return int(value)


def format_ms(ms: float) -> str:
    """``12.345 -> '12.3 ms'``: one decimal from 1 ms, none from 100 ms, three significant digits below 1 ms.

    Example:
        >>> format_ms(40), format_ms(0.1234), format_ms(1234.4)
        ('40.0 ms', '0.123 ms', '1234 ms')
    """
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms" if ms >= 1 else f"{ms:.3g} ms"
