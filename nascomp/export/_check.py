"""Shared pieces of the exporters: example inputs, output comparison, and quiet calls into torch's exporters."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

from nascomp.errors import NascompError

__all__ = ["example_input", "compare", "quiet", "EXPORT_BATCH", "CHECK_BATCH", "RTOL", "ATOL"]

EXPORT_BATCH = 2  # traced/exported with batch 2: torch.export specialises a batch dimension of 1 to a constant
CHECK_BATCH = 3  # checked with another batch size, so a batch size baked into the graph shows up
RTOL = 1e-4
ATOL = 1e-5


def example_input(input_shape: tuple[int, ...], batch: int, seed: int = 0) -> torch.Tensor:
    """A reproducible ``(batch, *input_shape)`` standard-normal input."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *input_shape), generator=generator)


def compare(expected: torch.Tensor, got: torch.Tensor, what: str, rtol: float = RTOL, atol: float = ATOL) -> float:
    """Max absolute difference of two outputs; raises when they differ by more than ``atol + rtol * max|expected|``.

    Raises:
        NascompError: different shapes, or a difference beyond the tolerance.
    """
    got = torch.as_tensor(got)
    if tuple(got.shape) != tuple(expected.shape):
        raise NascompError(f"{what}: output shape {tuple(got.shape)} differs from the built model's {tuple(expected.shape)}")
    diff = float((got.float() - expected.float()).abs().max()) if expected.numel() else 0.0
    bound = atol + rtol * float(expected.abs().max()) if expected.numel() else atol
    if not diff <= bound:  # also catches NaN
        raise NascompError(
            f"{what}: outputs differ from the built model's by up to {diff:.3g} (tolerance {bound:.3g}); "
            f"the exported file is kept for inspection"
        )
    return diff


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the deprecation and tracer warnings torch's exporters print for straight-line fx code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
