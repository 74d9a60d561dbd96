"""TorchScript export: ``torch.jit.trace`` of the built model, saved with ``torch.jit.save``.

Tracing is exact for nascomp models: their ``forward`` is straight-line torch.fx code with no data-dependent
control flow, so the trace records every op (``torch.jit.script`` cannot compile the nested ``Scope`` containers,
whose own ``forward`` is never called). The traced module is batch-size independent. TorchScript is deprecated by
torch (in favour of ``torch.export``) but still loads with ``torch.jit.load`` and in libtorch (C++).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from nascomp._atomic import atomic_path
from nascomp.export._check import CHECK_BATCH, EXPORT_BATCH, compare, example_input, quiet

__all__ = ["export_torchscript", "verify_torchscript"]


def export_torchscript(model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...]) -> Path:
    """Trace ``model`` (in eval mode) and save it to ``path``, atomically.

    Args:
        model: The built model, ``(N, *input_shape) -> (N, ...)``; set to eval mode.
        path: Output file (``.pt``).
        input_shape: ``(C, H, W)`` of one sample.

    Returns:
        ``path``; load it with ``torch.jit.load(path)``.

    Raises:
        NascompError: the folder does not exist or cannot be written (nothing is left at ``path``).

    Example:
        >>> model = nascomp.build("resnet18", input_shape=(3, 64, 64))
        >>> export_torchscript(model, "resnet18.pt", (3, 64, 64))
        PosixPath('resnet18.pt')
    """
    model.eval()
    example = example_input(tuple(input_shape), EXPORT_BATCH)
    with atomic_path(path) as tmp, quiet(), torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
        torch.jit.save(traced, str(tmp))
    return Path(path)


def verify_torchscript(model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...], *, seed: int = 1) -> float:
    """Load the saved module with ``torch.jit.load`` and compare with ``model`` on a random batch of 3.

    Returns:
        The largest absolute difference between the two outputs.

    Raises:
        NascompError: the outputs differ beyond ``1e-5 + 1e-4 * max|output|``.
    """
    x = example_input(tuple(input_shape), CHECK_BATCH, seed)
    model.eval()
    with quiet(), torch.no_grad():
        loaded = torch.jit.load(str(path))
        expected = model(x)
        got = loaded(x)
    return compare(expected, got, f"TorchScript model {path}")
