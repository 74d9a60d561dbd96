"""``nascomp profile SPEC --memory``: the predicted peak memory of one training step (kept apart from the latency
options of ``profile_cmd.py``; ``--batch-size`` is shared with them)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from nascomp.errors import NascompError
from nascomp.hardware.names import MEMORY_OPTIMIZERS

if TYPE_CHECKING:
    from nascomp.hardware.memory import TrainingMemory

__all__ = ["add_memory_arguments", "training_memory", "memory_json"]


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training memory")
    group.add_argument("--memory", action="store_true",
                       help="predict the peak memory of one training step at --batch-size (float32, from the spec; "
                            "docs/memory.md)")
    group.add_argument("--optimizer", choices=tuple(MEMORY_OPTIMIZERS), default="adamw",
                       help="with --memory: the optimizer whose state is held (adamw: 2x the parameters, the "
                            "default of the search and of nascomp train; sgd with momentum: 1x)")


def training_memory(args: argparse.Namespace, overrides: dict[str, Any]) -> TrainingMemory | None:
    """The prediction ``--memory`` asks for, or ``None`` without it.

    Raises:
        NascompError: a batch size that is not a whole number of at least 1.
    """
    if not getattr(args, "memory", False):
        return None
    batch = args.batch_size
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise NascompError(f"--batch-size must be a whole number of at least 1, found {batch!r}")
    from nascomp.hardware.memory import predict_training_memory

    return predict_training_memory(args.spec, batch_size=batch, optimizer=args.optimizer, **overrides)


def memory_json(mem: TrainingMemory) -> dict[str, Any]:
    """The prediction as JSON fields (bytes)."""
    return {
        "predicted_training_memory_bytes": mem.peak_bytes,
        "training_memory": {
            "batch_size": mem.batch_size, "optimizer": mem.optimizer, "dtype": "float32", "peak_bytes": mem.peak_bytes,
            "peak_phase": mem.peak_phase, "params_bytes": mem.params_bytes, "grads_bytes": mem.grads_bytes,
            "optimizer_bytes": mem.optimizer_bytes, "batch_bytes": mem.batch_bytes, "saved_bytes": mem.saved_bytes,
        },
    }
