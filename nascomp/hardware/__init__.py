"""Hardware-aware cost: training memory predicted from the spec (and, with the latency modules, speed)."""

from nascomp.hardware.memory import MEMORY_OPTIMIZERS, TrainingMemory, format_bytes, predict_training_memory

__all__ = ["MEMORY_OPTIMIZERS", "TrainingMemory", "format_bytes", "predict_training_memory"]
