"""The one standard error of an accuracy, shared by training (the test accuracy) and search (every trial's).

A bottom-layer helper, so that :mod:`nascomp.search.trials.record` uses it without loading torch through
:mod:`nascomp.train`.
"""

from __future__ import annotations

__all__ = ["accuracy_se"]


def accuracy_se(accuracy: float, n: int | None) -> float | None:
    """Standard error of an accuracy measured on ``n`` images: ``sqrt(p (1 - p) / n)`` (binomial, the normal
    approximation), with ``p`` clipped to [0, 1]; ``None`` when ``n`` is unknown or 0.

    Args:
        accuracy: Top-1 accuracy ``p`` as a fraction (0-1).
        n: Images it was measured on.

    Example:
        >>> round(accuracy_se(0.9, 3000), 5)
        0.00548
    """
    if not n:
        return None
    p = min(1.0, max(0.0, float(accuracy)))
    return (p * (1.0 - p) / n) ** 0.5
