"""Amounts of memory as people read them: the one byte formatter for every message nascomp prints (a full disk,
training memory, memory budgets)."""

from __future__ import annotations

__all__ = ["format_bytes"]


def format_bytes(n: int | float) -> str:
    """``1536 -> '1.50 KiB'``; binary prefixes (KiB, MiB, GiB, TiB), three significant digits.

    Example:
        >>> format_bytes(8 * 2**30), format_bytes(512), format_bytes(3 * 2**20)
        ('8.00 GiB', '512 B', '3.00 MiB')
    """
    value = float(n)
    for prefix, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}" if value / scale >= 100 else f"{value / scale:.2f} {prefix}"
    return f"{value:.0f} B"
