"""Predicted latency before building: the sum of a per-device lookup table over a spec's ops, and a fitted overhead.

FBNet (Wu et al., arXiv:1812.03443) and Once-for-All (Cai et al., arXiv:1908.09791) predict a net's latency as the
sum of its operators' latencies, each looked up in a table measured once on the target device. nascomp keys the
table on what the spec already knows (:mod:`nascomp.hardware.table`), so a prediction expands the spec (as
:func:`nascomp.profile` does), looks up each op of the eval-mode graph, and builds no module. An op configuration
not in the table is measured on demand (a progress bar on a terminal, a few plain lines elsewhere:
:class:`~nascomp._progress.WorkProgress`) and cached; a stop request (:class:`~nascomp._stop.StopFlag`) is honoured
between two op measurements, and what was measured is kept, so the next run resumes the table.

The sum of ops measured alone misses what a whole net does differently (caches, allocator reuse, in-place ReLUs),
and it misses it more for the ops without MACs (BN, ReLU, concat, pooling, SE's products) than for convolutions;
:meth:`LatencyModel.calibrate` fits ``measured = compute_scale * compute_ms + memory_scale * memory_ms +
overhead_ms`` (:mod:`nascomp.hardware.fit`) on nets measured whole (by default four zoo nets and four random points
of each shipped search space, :data:`DEFAULT_CALIBRATION_NETS`), once per input shape, and keeps the fit in the
table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nascomp._progress import WorkProgress
from nascomp._stop import StopFlag
from nascomp.cost.profile import profile
from nascomp.graph.build import build
from nascomp.graph.expansion_tree import PrimNode, needed_nodes
from nascomp.hardware.fit import FIT_METHOD, CalibrationRow, fit_calibration, split_by_class
from nascomp.hardware.measure import LatencyMeasurement, measure_latency
from nascomp.hardware.names import CACHE_ENV
from nascomp.hardware.settings import LatencyError, LatencySettings
from nascomp.errors import SpecError
from nascomp.hardware.table import LatencyTable, measure_call_overhead, measure_op, node_key
from nascomp.spec.load import SpecSource, load_spec

__all__ = ["LatencyModel", "LatencyPrediction", "CACHE_ENV", "DEFAULT_CALIBRATION_NETS", "CALIBRATION_SPEC_DIR",
           "default_cache_dir", "shape_key"]

#: Random points of the shipped search spaces, frozen as specs (their ``doc`` says how they were drawn).
CALIBRATION_SPEC_DIR = Path(__file__).parent / "calibration_nets"

_ZOO_CALIBRATION_NETS = ("resnet18", "resnet50", "densenet121", "se_resnext50_32x4d")


def _interleaved(*families: Sequence[str]) -> tuple[str, ...]:
    """Round robin over ``families``: measured in this order, a drift of the machine's speed during the calibration
    spreads over every kind of net instead of falling on one (docs/latency.md: 10-20 % over minutes here)."""
    out: list[str] = []
    for i in range(max(len(f) for f in families)):
        out.extend(f[i] for f in families if i < len(f))
    return tuple(out)


# Measured whole (once per device fingerprint and input shape) to fit the calibration: four zoo nets (plain,
# grouped + SE, dense; 69 to 427 ops) and four random points of each shipped search space (0.3-3 GMACs at 3x224x224).
# The zoo nets alone cannot separate the two scales of the fit (nascomp/hardware/fit.py; docs/latency.md).
DEFAULT_CALIBRATION_NETS: tuple[str, ...] = _interleaved(
    _ZOO_CALIBRATION_NETS,
    *(
        [str(p) for p in sorted(CALIBRATION_SPEC_DIR.glob(f"{space}_cal*.yaml"))]
        for space in sorted({p.name.rsplit("_cal", 1)[0] for p in CALIBRATION_SPEC_DIR.glob("*_cal*.yaml")})
    ),
)


def default_cache_dir() -> Path:
    """``$NASCOMP_LATENCY_CACHE`` when set, else the user's cache folder (platformdirs) ``/nascomp/latency``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nascomp")) / "latency"


def shape_key(input_shape: Sequence[int]) -> str:
    """``(3, 224, 224)`` -> ``"3x224x224"`` (the key of a calibration)."""
    return "x".join(str(int(v)) for v in input_shape)


@dataclass(frozen=True)
class LatencyPrediction:
    """A predicted latency and its parts.

    Attributes:
        latency_ms: The prediction: ``compute_scale * compute_ms + memory_scale * memory_ms + overhead_ms``.
        op_sum_ms: Sum of the table's entries over the eval-mode ops (``compute_ms + memory_ms``).
        ops: Number of primitive ops summed.
        scale: The overall factor on the op sum, ``(latency_ms - overhead_ms) / op_sum_ms`` (1 before calibration).
        per_op_ms: Always 0 (a per-op term was tried and dropped; kept for the JSON's keys).
        overhead_ms: Per-net overhead (the call of an empty graph).
        calibration_nets: Nets the calibration at this input shape was fitted on (0: the plain sum).
        compute_ms: Table sum over the ops with MACs (conv, linear).
        memory_ms: Table sum over the other ops (BN, ReLU, concat, pooling, elementwise).
        compute_scale: Fitted scale of ``compute_ms``.
        memory_scale: Fitted scale of ``memory_ms``.
    """

    latency_ms: float
    op_sum_ms: float
    ops: int
    scale: float
    per_op_ms: float
    overhead_ms: float
    calibration_nets: int = 0
    compute_ms: float = 0.0
    memory_ms: float = 0.0
    compute_scale: float = 1.0
    memory_scale: float = 1.0


class LatencyModel:
    """Per-device latency model: lookup table of op latencies plus a fitted per-net overhead.

    Open one with :meth:`open`; it reads (or starts) the table of ``settings``' fingerprint in the cache folder.

    Example:
        >>> model = LatencyModel.open(LatencySettings(device="cpu", threads=1), cache_dir=Path("/tmp/lat"))
        >>> model.predict_ms("resnet18", input_shape=(3, 64, 64))  # doctest: +SKIP
        1.93
    """

    def __init__(
        self, settings: LatencySettings, table: LatencyTable, *, progress: bool | WorkProgress = True,
        calibration_nets: Sequence[SpecSource] = DEFAULT_CALIBRATION_NETS, stop: StopFlag | None = None,
    ):
        self.settings = settings
        self.table = table
        self.progress = progress
        self.calibration_nets = tuple(calibration_nets)
        self.stop = stop
        if isinstance(progress, WorkProgress):
            self._progress = progress
        else:
            self._progress = WorkProgress.for_streams() if progress else WorkProgress.quiet()

    @classmethod
    def open(
        cls, settings: LatencySettings, *, cache_dir: Path | None = None, progress: bool | WorkProgress = True,
        calibration_nets: Sequence[SpecSource] = DEFAULT_CALIBRATION_NETS, stop: StopFlag | None = None,
    ) -> "LatencyModel":
        """The model of ``settings``, its table read from ``cache_dir`` (default :func:`default_cache_dir`).

        ``progress``: ``True`` shows a bar when stderr is a terminal and a few plain lines on stdout otherwise
        (:meth:`WorkProgress.for_streams`), ``False`` nothing, or a :class:`~nascomp._progress.WorkProgress`.
        ``stop``: polled between two measurements; once set, what was measured is saved and
        :class:`~nascomp._stop.Stopped` is raised.

        Nothing is measured here. A prediction measures the op configurations missing from the table and, the
        first time an input shape is asked for, calibrates on ``calibration_nets`` at that shape
        (:meth:`calibrate`; ``()`` leaves the model uncalibrated: the plain sum of ops).

        Raises:
            LatencyError: the cached table belongs to another fingerprint or cannot be read.
        """
        folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        try:  # before any op is measured: a table that could not be saved would lose minutes of measuring
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from nascomp._atomic import why_not_a_folder

            why = why_not_a_folder(folder) if not folder.is_dir() else (exc.strerror or str(exc))
            raise LatencyError(f"cannot keep the latency lookup table in {folder}: {why} (choose another folder with "
                               f"--latency-cache or ${CACHE_ENV})") from None
        table = LatencyTable.load(folder / settings.cache_name(), settings.fingerprint())
        return cls(settings, table, progress=progress, calibration_nets=calibration_nets, stop=stop)

    @property
    def path(self) -> Path | None:
        """The table's file."""
        return self.table.path

    # -- the ops of a spec --------------------------------------------------------------------------------------
    def nodes(self, spec: SpecSource, input_shape: tuple[int, int, int] | None = None, **overrides: Any) -> list[PrimNode]:
        """The primitive ops that run in eval mode (aux heads excluded), from the expansion: nothing is built."""
        expansion = profile(spec, input_shape=input_shape, **overrides).expansion
        return needed_nodes(expansion, [expansion.qualified_output()])

    def missing(self, nodes: Iterable[PrimNode]) -> dict[str, PrimNode]:
        """The nodes whose configuration is not in the table yet, one per key."""
        out: dict[str, PrimNode] = {}
        for node in nodes:
            key = node_key(node, self.settings)
            if key not in self.table.entries and key not in out:
                out[key] = node
        return out

    def fill(self, nodes: Iterable[PrimNode]) -> int:
        """Measure every configuration of ``nodes`` missing from the table, then save it. Returns how many.

        Raises:
            Stopped: the model's stop flag was set; the configurations measured until then are saved first (the
                next run measures only the rest). A second signal (:class:`~nascomp._stop.Aborted`) saves them too.
        """
        todo = self.missing(nodes)
        if self.table.call_overhead_ms is None:
            self.table.call_overhead_ms = measure_call_overhead(self.settings)
        if not todo:
            if self.table.path is not None and not self.table.path.exists():
                self.table.save()
            return 0
        overhead = self.table.call_overhead_ms
        done = 0

        def stopped() -> str:
            kept = f"kept in {self.table.path}" if self.table.path is not None else "not kept (no cache file)"
            return (f"stopped measuring the latency lookup table after {done} of {len(todo)} operator "
                    f"configurations ({kept}); rerun the same command to resume it")

        try:
            with self._progress.task(f"latency table ({self.settings.describe()})", total=len(todo),
                                     items="operator configurations") as advance:
                for key, node in todo.items():
                    if self.stop is not None:
                        self.stop.check(stopped)
                    self.table.entries[key] = measure_op(node, self.settings, overhead)
                    done += 1
                    advance()
        except BaseException:  # a stop, an abort, an error: what was measured is kept (written atomically)
            if done:
                self.table.save()
            raise
        self.table.save()
        return len(todo)

    # -- prediction ---------------------------------------------------------------------------------------------
    def predict(self, spec: SpecSource, input_shape: tuple[int, int, int] | None = None, **overrides: Any) -> LatencyPrediction:
        """Predict the forward latency (ms per batch) of ``spec`` under the model's settings, without building it.

        Args:
            spec: Whatever :func:`nascomp.load_spec` accepts (file, zoo name, YAML text, mapping, Spec).
            input_shape: ``(C, H, W)``; default the spec's own.
            **overrides: Spec params (``num_classes=10``).

        Returns:
            A :class:`LatencyPrediction`.

        Raises:
            SpecError: the spec is invalid.
        """
        prof = profile(spec, input_shape=input_shape, **overrides)
        nodes = needed_nodes(prof.expansion, [prof.expansion.qualified_output()])
        cal = self.calibration_for(tuple(prof.input_shape))  # first: on a cold table it measures most of the ops
        if self.missing(nodes) or self.table.call_overhead_ms is None:
            self.fill(nodes)
        compute, memory = self._class_sums(nodes)
        total = compute + memory
        scale = float(cal.get("scale", 1.0))  # a calibration of an older table: one scale on the whole sum
        compute_scale = float(cal.get("compute_scale", scale))
        memory_scale = float(cal.get("memory_scale", scale))
        per_op = float(cal.get("per_op_ms", 0.0))
        overhead = float(cal.get("overhead_ms", self.table.call_overhead_ms or 0.0))
        body = compute_scale * compute + memory_scale * memory
        return LatencyPrediction(
            body + per_op * len(nodes) + overhead, total, len(nodes), body / total if total > 0 else compute_scale,
            per_op, overhead, int(cal.get("nets", 0)), compute, memory, compute_scale, memory_scale,
        )

    def _class_sums(self, nodes: Sequence[PrimNode]) -> tuple[float, float]:
        """``(compute_ms, memory_ms)`` of ``nodes`` from the table (:func:`~nascomp.hardware.fit.split_by_class`)."""
        return split_by_class(nodes, (self.table.entries[node_key(n, self.settings)] for n in nodes))

    def calibration_for(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """The calibration at ``input_shape``, fitted now (:meth:`calibrate`) if the table has none, or one of an
        older method (:data:`~nascomp.hardware.fit.FIT_METHOD`), and the model has calibration nets; ``{}`` (the
        plain sum) otherwise."""
        cal = self.table.calibration.get(shape_key(input_shape))
        if (cal is None or cal.get("method") != FIT_METHOD) and self.calibration_nets:
            cal = self.calibrate(self.calibration_nets, tuple(input_shape))
        return cal or {}

    def predict_ms(self, spec: SpecSource, input_shape: tuple[int, int, int] | None = None, **overrides: Any) -> float:
        """Predicted forward latency in ms per batch of ``settings.batch_size`` (see :meth:`predict`)."""
        return self.predict(spec, input_shape, **overrides).latency_ms

    # -- measurement and calibration ----------------------------------------------------------------------------
    def measure(self, spec: SpecSource, input_shape: tuple[int, int, int] | None = None, **overrides: Any) -> LatencyMeasurement:
        """Build ``spec`` and measure its forward latency under the model's settings (:func:`measure_latency`)."""
        loaded = load_spec(spec, **({"input_shape": input_shape} if input_shape else {}), **overrides)
        return measure_latency(build(loaded), tuple(loaded.input_shape), self.settings)

    def _measure_all(
        self, nets: Sequence[tuple[SpecSource, list[PrimNode]]], input_shape: tuple[int, int, int] | None,
        measure: Callable[..., LatencyMeasurement],
    ) -> Iterable[tuple[SpecSource, list[PrimNode], float]]:
        """``(spec, nodes, measured ms)`` of each net, measured whole by ``measure``, with its progress; the stop
        flag is polled between two nets (:class:`~nascomp._stop.Stopped`: the op table is kept, the nets are
        measured again on the next run)."""
        if not nets:
            return
        done = 0

        def stopped() -> str:
            return (f"stopped measuring the latency calibration nets after {done} of {len(nets)} (the operator table "
                    f"is kept in {self.table.path}; the nets are measured again when the command is rerun)")

        with self._progress.task(f"latency calibration ({self.settings.describe()})", total=len(nets),
                                 items="nets") as advance:
            for spec, nodes in nets:
                if self.stop is not None:
                    self.stop.check(stopped)
                measured = measure(spec, input_shape).compute_ms
                done += 1
                advance()
                yield spec, nodes, measured

    def calibrate(self, specs: Sequence[SpecSource], input_shape: tuple[int, int, int] | None = None, *,
                  measure: Callable[..., LatencyMeasurement] | None = None) -> dict[str, Any]:
        """Fit ``measured = compute_scale * compute_ms + memory_scale * memory_ms + overhead_ms`` on ``specs``
        measured whole, and keep it in the table.

        ``overhead_ms`` is the measured cost of calling an empty graph (a net pays it once); ``compute_ms`` and
        ``memory_ms`` sum the table over the net's ops with and without MACs; the two scales are fitted by
        non-negative least squares on the relative error of the measured time (:attr:`LatencyMeasurement.compute_ms`)
        (:func:`~nascomp.hardware.fit.fit_calibration`; one scale with fewer than four nets). A per-op term
        (``+ per_op_ms * ops``) was tried and dropped: fitted on four zoo nets it added 16 ms to random DenseNets of
        10-25 ms (docs/latency.md).

        The fit is kept per input shape (the ratio of a net to the sum of its ops changes with resolution: 1.09 at
        3x224x224 and 1.19 at 3x112x112 on the machine of docs/latency.md). Nets that do not fit the shape are
        skipped; with none left the fit is the plain sum (scale 1). The ops of every net are measured first (the
        table's progress bar), then the nets whole, one after the other (a second progress bar).

        Args:
            specs: The calibration nets.
            input_shape: The input shape (C, H, W) to measure and fit at; default each spec's own.
            measure: ``measure(spec, input_shape) -> LatencyMeasurement`` of a whole net; default :meth:`measure`
                (tests pass known figures here).

        Returns:
            The calibration stored under the shape: ``method``, ``compute_scale``, ``memory_scale``, ``scale`` (the
            one-scale fit on the same nets, for reference), ``per_op_ms`` (0), ``overhead_ms``, ``nets`` and the
            ``(compute_ms, memory_ms, ops, measured_ms)`` rows.
        """
        fitted: list[tuple[SpecSource, list[PrimNode]]] = []
        measure = self.measure if measure is None else measure
        for spec in specs:
            try:
                fitted.append((spec, self.nodes(spec, input_shape)))
            except SpecError:  # a calibration net that does not fit this input shape (too small for its strides)
                continue
        self.fill([n for _, nodes in fitted for n in nodes])
        rows = []
        for spec, nodes, measured in self._measure_all(fitted, input_shape, measure):
            compute, memory = self._class_sums(nodes)
            rows.append(CalibrationRow(compute, memory, len(nodes), measured))
        if self.table.call_overhead_ms is None:
            self.table.call_overhead_ms = measure_call_overhead(self.settings)
        overhead = float(self.table.call_overhead_ms or 0.0)
        fit = fit_calibration(rows, overhead)
        cal = {
            "method": FIT_METHOD, "compute_scale": fit.compute_scale, "memory_scale": fit.memory_scale,
            "two_scales": fit.two_scales, "scale": fit_calibration(rows, overhead, two_scales=False).compute_scale,
            "per_op_ms": 0.0,
            "overhead_ms": overhead, "nets": fit.nets,
            "rows": [[r.compute_ms, r.memory_ms, r.ops, r.measured_ms] for r in rows],
        }
        key = shape_key(input_shape if input_shape else tuple(load_spec(specs[0]).input_shape))
        self.table.calibration = {**self.table.calibration, key: cal}
        self.table.save()
        return cal
