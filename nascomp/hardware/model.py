"""Predicted latency before building: the sum of a per-device lookup table over a spec's ops, and a fitted overhead.

FBNet (Wu et al., arXiv:1812.03443) and Once-for-All (Cai et al., arXiv:1908.09791) predict a net's latency as the
sum of its operators' latencies, each looked up in a table measured once on the target device. nascomp keys the
table on what the spec already knows (:mod:`nascomp.hardware.table`), so a prediction expands the spec (as
:func:`nascomp.profile` does), looks up each op of the eval-mode graph, and builds no module. An op configuration
not in the table is measured on demand (a progress bar shows it) and cached.

The sum of ops measured alone misses what a whole net does differently (caches, allocator reuse, in-place ReLUs);
:meth:`LatencyModel.calibrate` fits ``measured = scale * op_sum + overhead_ms`` by least squares on a few nets
measured whole (by default four zoo nets), once per input shape, and keeps the fit in the table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nascomp.cost.profile import profile
from nascomp.graph.build import build
from nascomp.graph.expansion import PrimNode, needed_nodes
from nascomp.hardware.measure import LatencyMeasurement, measure_latency
from nascomp.hardware.names import CACHE_ENV
from nascomp.hardware.settings import LatencyError, LatencySettings
from nascomp.errors import SpecError
from nascomp.hardware.table import LatencyTable, measure_call_overhead, measure_op, node_key
from nascomp.spec.load import SpecSource, load_spec

__all__ = ["LatencyModel", "LatencyPrediction", "CACHE_ENV", "DEFAULT_CALIBRATION_NETS", "default_cache_dir", "shape_key"]

# Measured whole (once per device fingerprint and input shape) to fit the calibration: plain, grouped + SE and
# densely connected nets, from 69 to 427 ops.
DEFAULT_CALIBRATION_NETS: tuple[str, ...] = ("resnet18", "resnet50", "densenet121", "se_resnext50_32x4d")


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
        latency_ms: The prediction: ``scale * op_sum_ms + per_op_ms * ops + overhead_ms``.
        op_sum_ms: Sum of the table's entries over the eval-mode ops.
        ops: Number of primitive ops summed.
        scale: Fitted scale (1 before calibration).
        per_op_ms: Cost per op of running inside a net (0: read from the calibration, which no longer fits it).
        overhead_ms: Per-net overhead (the call of an empty graph).
        calibration_nets: Nets the calibration at this input shape was fitted on (0: the plain sum).
    """

    latency_ms: float
    op_sum_ms: float
    ops: int
    scale: float
    per_op_ms: float
    overhead_ms: float
    calibration_nets: int = 0


class LatencyModel:
    """Per-device latency model: lookup table of op latencies plus a fitted per-net overhead.

    Open one with :meth:`open`; it reads (or starts) the table of ``settings``' fingerprint in the cache folder.

    Example:
        >>> model = LatencyModel.open(LatencySettings(device="cpu", threads=1), cache_dir=Path("/tmp/lat"))
        >>> model.predict_ms("resnet18", input_shape=(3, 64, 64))  # doctest: +SKIP
        1.93
    """

    def __init__(
        self, settings: LatencySettings, table: LatencyTable, *, progress: bool = True,
        calibration_nets: Sequence[SpecSource] = DEFAULT_CALIBRATION_NETS,
    ):
        self.settings = settings
        self.table = table
        self.progress = progress
        self.calibration_nets = tuple(calibration_nets)

    @classmethod
    def open(
        cls, settings: LatencySettings, *, cache_dir: Path | None = None, progress: bool = True,
        calibration_nets: Sequence[SpecSource] = DEFAULT_CALIBRATION_NETS,
    ) -> "LatencyModel":
        """The model of ``settings``, its table read from ``cache_dir`` (default :func:`default_cache_dir`).

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
        return cls(settings, table, progress=progress, calibration_nets=calibration_nets)

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
        """Measure every configuration of ``nodes`` missing from the table, then save it. Returns how many."""
        todo = self.missing(nodes)
        if self.table.call_overhead_ms is None:
            self.table.call_overhead_ms = measure_call_overhead(self.settings)
        if not todo:
            if self.table.path is not None and not self.table.path.exists():
                self.table.save()
            return 0
        overhead = self.table.call_overhead_ms
        if self.progress:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            columns = (TextColumn("measuring ops ({task.description})"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn())
            with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task(self.settings.describe(), total=len(todo))
                for key, node in todo.items():
                    self.table.entries[key] = measure_op(node, self.settings, overhead)
                    bar.advance(task)
        else:
            for key, node in todo.items():
                self.table.entries[key] = measure_op(node, self.settings, overhead)
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
        if self.missing(nodes) or self.table.call_overhead_ms is None:
            self.fill(nodes)
        total = sum(self.table.entries[node_key(n, self.settings)] for n in nodes)
        cal = self.calibration_for(tuple(prof.input_shape))
        scale = float(cal.get("scale", 1.0))
        per_op = float(cal.get("per_op_ms", 0.0))
        overhead = float(cal.get("overhead_ms", self.table.call_overhead_ms or 0.0))
        return LatencyPrediction(
            scale * total + per_op * len(nodes) + overhead, total, len(nodes), scale, per_op, overhead,
            int(cal.get("nets", 0)),
        )

    def calibration_for(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """The calibration at ``input_shape``, fitted now (:meth:`calibrate`) if the table has none and the model
        has calibration nets; ``{}`` (the plain sum) otherwise."""
        cal = self.table.calibration.get(shape_key(input_shape))
        if cal is None and self.calibration_nets:
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

    def calibrate(self, specs: Sequence[SpecSource], input_shape: tuple[int, int, int] | None = None, *,
                  measure: Callable[..., LatencyMeasurement] | None = None) -> dict[str, Any]:
        """Fit ``measured = scale * op_sum + overhead_ms`` on ``specs`` measured whole, and keep it in the table.

        ``overhead_ms`` is the measured cost of calling an empty graph (a net pays it once); ``scale`` is the least
        squares fit through the origin of the measured time (:attr:`LatencyMeasurement.compute_ms`) minus that
        overhead against the sum of the net's ops. A per-op term (``+ per_op_ms * ops``) was tried and dropped: fitted on
        the four default nets it added 16 ms to random DenseNets of 10-25 ms (docs/latency.md).

        The fit is kept per input shape (the ratio of a net to the sum of its ops changes with resolution: 1.09 at
        3x224x224 and 1.19 at 3x112x112 on the machine of docs/latency.md). Nets that do not fit the shape are
        skipped; with none left the fit is the plain sum (scale 1).

        Args:
            specs: The calibration nets.
            input_shape: The input shape (C, H, W) to measure and fit at; default each spec's own.
            measure: ``measure(spec, input_shape) -> LatencyMeasurement`` of a whole net; default :meth:`measure`
                (tests pass known figures here).

        Returns:
            The calibration stored under the shape: ``scale``, ``per_op_ms`` (0), ``overhead_ms``, ``nets`` and the
            ``(op_sum_ms, ops, measured_ms)`` triples.
        """
        measure = self.measure if measure is None else measure
        rows = []
        for spec in specs:
            try:
                nodes = self.nodes(spec, input_shape)
            except SpecError:  # a calibration net that does not fit this input shape (too small for its strides)
                continue
            self.fill(nodes)
            total = sum(self.table.entries[node_key(n, self.settings)] for n in nodes)
            rows.append((total, len(nodes), measure(spec, input_shape).compute_ms))
        if self.table.call_overhead_ms is None:
            self.table.call_overhead_ms = measure_call_overhead(self.settings)
        overhead = float(self.table.call_overhead_ms or 0.0)
        sums_sq = sum(r[0] * r[0] for r in rows)
        scale = sum(r[0] * (r[2] - overhead) for r in rows) / sums_sq if rows and sums_sq > 0 else 1.0
        cal = {
            "scale": float(scale), "per_op_ms": 0.0, "overhead_ms": overhead, "nets": len(rows),
            "rows": [[float(a), int(b), float(c)] for a, b, c in rows],
        }
        key = shape_key(input_shape if input_shape else tuple(load_spec(specs[0]).input_shape))
        self.table.calibration = {**self.table.calibration, key: cal}
        self.table.save()
        return cal
