"""Hardware-aware cost: latency on a target device, measured (:func:`measure_latency`) and predicted before building
(:class:`LatencyModel`), and the peak memory of a training step predicted from the spec
(:func:`predict_training_memory`).

At the cost layer: imports spec, ops, graph and cost only.
"""

from nascomp._lazy import lazy_exports

__all__ = [
    "LatencySettings", "LatencyError", "LatencyMeasurement", "measure_latency", "measure_callable", "LatencyModel",
    "LatencyPrediction", "LatencyTable", "op_key", "node_key", "default_cache_dir", "CACHE_ENV", "cuda_amp_dtype",
    "MEMORY_OPTIMIZERS", "TrainingMemory", "format_bytes", "predict_training_memory",
]
__getattr__, __dir__ = lazy_exports(__name__, {  # imported on first use: most of these load torch
    "LatencyMeasurement": "nascomp.hardware.measure",
    "measure_callable": "nascomp.hardware.measure",
    "measure_latency": "nascomp.hardware.measure",
    "MEMORY_OPTIMIZERS": "nascomp.hardware.names",
    "TrainingMemory": "nascomp.hardware.memory",
    "format_bytes": "nascomp.hardware.memory",
    "predict_training_memory": "nascomp.hardware.memory",
    "CACHE_ENV": "nascomp.hardware.names",
    "LatencyModel": "nascomp.hardware.model",
    "LatencyPrediction": "nascomp.hardware.model",
    "default_cache_dir": "nascomp.hardware.model",
    "LatencyError": "nascomp.hardware.settings",
    "LatencySettings": "nascomp.hardware.settings",
    "cuda_amp_dtype": "nascomp.hardware.settings",
    "LatencyTable": "nascomp.hardware.table",
    "node_key": "nascomp.hardware.table",
    "op_key": "nascomp.hardware.table",
})
