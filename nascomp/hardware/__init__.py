"""Latency on a target device: measured (:func:`measure_latency`) and predicted before building (:class:`LatencyModel`).

At the cost layer: imports spec, ops, graph and cost only.
"""

from nascomp.hardware.measure import LatencyMeasurement, measure_callable, measure_latency
from nascomp.hardware.model import CACHE_ENV, LatencyModel, LatencyPrediction, default_cache_dir
from nascomp.hardware.settings import LatencyError, LatencySettings, cuda_amp_dtype
from nascomp.hardware.table import LatencyTable, node_key, op_key

__all__ = [
    "LatencySettings", "LatencyError", "LatencyMeasurement", "measure_latency", "measure_callable", "LatencyModel",
    "LatencyPrediction", "LatencyTable", "op_key", "node_key", "default_cache_dir", "CACHE_ENV", "cuda_amp_dtype",
]
