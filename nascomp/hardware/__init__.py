"""Hardware-aware cost: latency on a target device, measured (:func:`measure_latency`) and predicted before building
(:class:`LatencyModel`), and the peak memory of a training step predicted from the spec
(:func:`predict_training_memory`).

At the cost layer: imports spec, ops, graph and cost only.
"""

from nascomp.hardware.measure import LatencyMeasurement, measure_callable, measure_latency
from nascomp.hardware.memory import MEMORY_OPTIMIZERS, TrainingMemory, format_bytes, predict_training_memory
from nascomp.hardware.model import CACHE_ENV, LatencyModel, LatencyPrediction, default_cache_dir
from nascomp.hardware.settings import LatencyError, LatencySettings, cuda_amp_dtype
from nascomp.hardware.table import LatencyTable, node_key, op_key

__all__ = [
    "LatencySettings", "LatencyError", "LatencyMeasurement", "measure_latency", "measure_callable", "LatencyModel",
    "LatencyPrediction", "LatencyTable", "op_key", "node_key", "default_cache_dir", "CACHE_ENV", "cuda_amp_dtype",
    "MEMORY_OPTIMIZERS", "TrainingMemory", "format_bytes", "predict_training_memory",
]
