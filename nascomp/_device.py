"""The ``--device`` argument of ``search`` and ``train``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import torch

from nascomp.errors import NascompError

__all__ = ["resolve_device"]


def resolve_device(name: str, *, error: type[NascompError] = NascompError) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; any other name as :class:`torch.device` reads it.

    Raises:
        error: a name torch cannot read, or a CUDA device on a machine without one.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise error(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise error(f"device '{name}' requested but CUDA is not available here; use --device cpu")
    return device
