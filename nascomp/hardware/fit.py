"""The calibration fit: from the sum of ops measured alone to a whole net's latency, two scales by op class.

A lookup table (:mod:`nascomp.hardware.table`) times each op alone, on inputs it reuses call after call. Inside a net
the ops that do little arithmetic per byte (batch norm, ReLU, concat, pooling, SE's sigmoid and product, additions:
every op without MACs) cost about twice their isolated time on the machine of docs/latency.md, while convolutions
and linear layers (the ops with MACs) cost about what they cost alone. One scale on the whole sum cannot express
that, so nets of equal op sum but a different share of memory-bound ops are misranked (DenseNets, with their
concatenations and hundreds of BN/ReLU pairs, most of all). The fit is therefore::

    latency_ms = compute_scale * compute_ms + memory_scale * memory_ms + overhead_ms

where ``compute_ms`` sums the table over the ops with MACs and ``memory_ms`` over the others (both from the spec
alone), and ``overhead_ms`` is the measured call of an empty graph. The two scales are fitted by non-negative least
squares (``scipy.optimize.nnls``, Lawson and Hanson 1974) on the *relative* error, so that a 20 ms net counts as
much as a 200 ms one, over nets measured whole (:meth:`nascomp.hardware.model.LatencyModel.calibrate`). With fewer
than :data:`MIN_TWO_SCALE_NETS` nets, or when either scale comes out 0 (a class the calibration nets cannot
separate), the fit falls back to one scale on the whole sum (the same least squares, one column).

Held out on measured random points of the two shipped spaces inside their budget bands (docs/latency.md, "Why the
band misranks"), the two scales fitted on the default calibration nets cut the median error from 8.7 / 7.7 % (one
scale on four zoo nets) to 6.5 / 5.4 % and raised Spearman's rho from 0.81 / 0.78 to 0.83 / 0.81 (DenseNet /
SE-ResNeXt); a scale per op type, a per-op term and a bytes-moved term did not do better on held-out points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from nascomp.graph.expansion_tree import PrimNode

__all__ = ["CalibrationRow", "CalibrationFit", "fit_calibration", "split_by_class", "is_compute_op", "FIT_METHOD",
           "MIN_TWO_SCALE_NETS"]

#: Name of the fit stored with each calibration; a calibration without it (an older table) is fitted again.
FIT_METHOD = "two-class-nnls-v1"
#: Nets needed before two scales are fitted (fewer: one scale).
MIN_TWO_SCALE_NETS = 4


def is_compute_op(node: PrimNode) -> bool:
    """Whether ``node`` is compute-bound for the fit: it has MACs (conv, linear, matmul), from the spec."""
    return node.macs > 0


def split_by_class(nodes: Iterable[PrimNode], ms: Iterable[float]) -> tuple[float, float]:
    """``(compute_ms, memory_ms)``: the table's ms of ``nodes`` summed over ops with MACs, and over the others."""
    compute = memory = 0.0
    for node, t in zip(nodes, ms, strict=True):
        if is_compute_op(node):
            compute += t
        else:
            memory += t
    return compute, memory


@dataclass(frozen=True)
class CalibrationRow:
    """One net measured whole for the calibration.

    Attributes:
        compute_ms: Table ms summed over its ops with MACs.
        memory_ms: Table ms summed over its other ops.
        ops: Number of ops.
        measured_ms: Its measured latency, ms per batch (the thread's CPU time on one CPU thread).
    """

    compute_ms: float
    memory_ms: float
    ops: int
    measured_ms: float

    @property
    def op_sum_ms(self) -> float:
        return self.compute_ms + self.memory_ms


@dataclass(frozen=True)
class CalibrationFit:
    """``latency_ms = compute_scale * compute_ms + memory_scale * memory_ms + overhead_ms``.

    Attributes:
        compute_scale: Scale of the ops with MACs.
        memory_scale: Scale of the other ops (equal to ``compute_scale`` for a one-scale fit).
        overhead_ms: Per-net overhead (the call of an empty graph), not fitted.
        two_scales: Whether two scales were fitted (else one on the whole sum).
        nets: Number of nets fitted on (0: no calibration, both scales 1).
    """

    compute_scale: float
    memory_scale: float
    overhead_ms: float
    two_scales: bool
    nets: int

    def predict_ms(self, compute_ms: float, memory_ms: float) -> float:
        """The predicted latency in ms from the two table sums."""
        return self.compute_scale * compute_ms + self.memory_scale * memory_ms + self.overhead_ms


def fit_calibration(
    rows: Sequence[CalibrationRow], overhead_ms: float = 0.0, *, two_scales: bool = True,
) -> CalibrationFit:
    """Fit the two scales on ``rows`` (see the module docstring for the method and its source).

    Args:
        rows: Nets measured whole, with their table sums by class.
        overhead_ms: The call overhead added once per net (subtracted from each measurement before fitting).
        two_scales: ``False`` fits one scale on the whole sum whatever the number of rows.

    Returns:
        A :class:`CalibrationFit`; with no usable row, scales 1 (the plain sum).

    Example:
        >>> rows = [CalibrationRow(c, m, 10, 1.0 * c + 2.0 * m) for c, m in [(10, 1), (20, 5), (5, 5), (8, 2)]]
        >>> fit = fit_calibration(rows)
        >>> round(fit.compute_scale, 6), round(fit.memory_scale, 6), fit.two_scales
        (1.0, 2.0, True)
    """
    usable = [r for r in rows if r.op_sum_ms > 0 and r.measured_ms - overhead_ms > 0]
    if not usable:
        return CalibrationFit(1.0, 1.0, overhead_ms, False, 0)
    y = np.array([r.measured_ms - overhead_ms for r in usable])
    weight = 1.0 / y  # least squares on the relative error
    if two_scales and len(usable) >= MIN_TWO_SCALE_NETS:
        design = np.array([[r.compute_ms, r.memory_ms] for r in usable])
        coef, _ = nnls(design * weight[:, None], y * weight)
        if coef[0] > 0 and coef[1] > 0:
            return CalibrationFit(float(coef[0]), float(coef[1]), overhead_ms, True, len(usable))
    total = np.array([r.op_sum_ms for r in usable]) * weight
    scale = float(total @ (y * weight) / (total @ total))
    return CalibrationFit(scale, scale, overhead_ms, False, len(usable))
