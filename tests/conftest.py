"""Shared test configuration.

Tests that need an external service or binary (PostgreSQL, Graphviz's ``dot``) call :func:`require_service`: it
skips them with the reason when the service is missing on a developer machine, and fails them when
``NASCOMP_REQUIRE_SERVICES=1`` (set by ``.ci/run``), so CI never passes a skipped check off as green.
"""

from __future__ import annotations

import os

import pytest


def require_service(available: bool, what: str) -> None:
    """Skip (locally) or fail (CI) the calling test when ``what`` is not available."""
    if available:
        return
    if os.environ.get("NASCOMP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required in CI (NASCOMP_REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"{what} is not available on this machine")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets one torch thread: `-n 2` on 2 cores then uses each core once instead of
    oversubscribing them with 2 x 2 threads (which makes the heavy equivalence tests slower, not faster)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
