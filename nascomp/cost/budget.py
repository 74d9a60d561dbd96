"""Compute budgets: parse ``"4GFLOPs"`` into a MAC count, and print MAC counts back.

nascomp counts cost in MACs (multiply-accumulates of conv, linear and matmul; bias, BN and activations excluded).
That is the figure torchvision's model cards and most papers print as "FLOPs" or "GFLOPS" (ResNet-50: 4.1 G), so a
budget written in FLOPs is read as the same number of MACs: ``4GFLOPs == 4GMACs == 4e9``.
"""

from __future__ import annotations

import math
import re

from nascomp.errors import BudgetError

__all__ = ["parse_budget", "format_macs", "BUDGET_UNITS"]

_PREFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}

#: Units a budget may carry (case-insensitive), each optionally preceded by a K, M, G or T prefix.
BUDGET_UNITS = ("FLOPs", "FLOP", "MACs", "MAC")

_NUMBER = r"(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_BUDGET_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<prefix>[kmgt]?)\s*(?P<unit>flops?|macs?)?\s*$", re.I)

_ACCEPTED = (
    "a number with an optional K/M/G/T prefix and unit FLOPs or MACs (FLOPs are counted as MACs), "
    "e.g. '4GFLOPs', '4 GFLOPs', '600MFLOPs', '4GMACs' or '4e9'"
)


def parse_budget(text: str | int | float) -> int:
    """Parse a compute budget into a number of MACs.

    Args:
        text: ``"4GFLOPs"``, ``"4 GFLOPs"``, ``"600MFLOPs"``, ``"4GMACs"``, ``"4e9"``, ``"4G"`` (case-insensitive),
            or a positive number.

    Returns:
        The budget in MACs, rounded down to an integer.

    Raises:
        BudgetError: the text is not a positive number with an accepted unit; the message lists the accepted forms.

    Example:
        >>> parse_budget("4GFLOPs")
        4000000000
        >>> parse_budget("600 MMACs")
        600000000
    """
    if isinstance(text, bool):
        raise BudgetError(f"cannot read budget {text!r}: expected {_ACCEPTED}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _BUDGET_RE.match(str(text))
        if match is None and str(text).strip().startswith("-"):
            raise BudgetError(f"budget '{text}' is negative: expected {_ACCEPTED}")
        if match is None:
            raise BudgetError(f"cannot read budget '{text}': expected {_ACCEPTED}")
        value = float(match["number"].replace("_", "")) * _PREFIXES[match["prefix"].lower()]
    if not math.isfinite(value) or value < 1:
        raise BudgetError(f"budget '{text}' must be at least 1 MAC (finite and positive), e.g. '4GFLOPs'")
    return int(value)


def format_macs(macs: int | float, unit: str = "MACs", *, digits: int = 3) -> str:
    """Format a MAC count with a K/M/G/T prefix and ``digits`` significant digits: the one formatter for every MAC
    count nascomp prints (commands, tables, plots, messages).

    Example:
        >>> format_macs(4_089_184_256)
        '4.09 GMACs'
        >>> format_macs(512)
        '512 MACs'
        >>> format_macs(44_172_800), format_macs(4_089_184_256, digits=4)
        ('44.2 MMACs', '4.089 GMACs')
    """
    value = float(macs)
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.0f} {unit}"
