"""The per-device lookup table: measured latency of each distinct operator configuration (FBNet/OFA style).

A key holds everything the spec knows about one primitive op that can change its latency: the op type, its checked
parameters (kernel, stride, padding, groups, bias, ...), its input shapes (batch excluded), the dtype and the memory
format (the batch size, threads, device and torch version are the table's :meth:`fingerprint
<nascomp.hardware.settings.LatencySettings.fingerprint>`). Each configuration is measured once, in isolation, as a
one-op ``torch.fx`` graph on random inputs, minus the cost of calling an empty graph (so the table holds the op's
own time, not the Python call around it).

The table is a JSON file; a table of another fingerprint is refused (:class:`~nascomp.hardware.settings.LatencyError`).
Writes merge with what is on disk and replace the file atomically, so two processes filling one table lose nothing
but a duplicate measurement.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import fx, nn

from nascomp._atomic import write_atomic
from nascomp.graph.expansion_tree import PrimNode
from nascomp.hardware.measure import make_inputs, measure_callable, prepare_module
from nascomp.hardware.settings import LatencyError, LatencySettings
from nascomp.ops import Shape

__all__ = ["op_key", "node_key", "measure_op", "measure_call_overhead", "LatencyTable", "TABLE_FORMAT"]

TABLE_FORMAT = 1
# Operators are measured with a shorter stopping rule than nets: there are hundreds of them.
# In a net each op's weights are used once per forward pass, so they come from memory, not from a cache warmed by
# the previous call: an op whose weights (and buffers) hold ROTATE_MIN_BYTES or more is timed as copies called in
# turn, enough copies to hold ROTATE_BYTES (twice a 32 MiB L3 cache), at most ROTATE_MAX_COPIES.
ROTATE_BYTES = 64 * 2**20
ROTATE_MIN_BYTES = 16 * 2**10
ROTATE_MAX_COPIES = 64
OP_MEASURE = {"max_time_s": 0.3, "rel_ci": 0.03, "min_repeats": 5, "min_warmup": 1, "warmup_s": 0.02}


def op_key(op: str, params: Mapping[str, Any], in_shapes: Iterable[Shape], settings: LatencySettings) -> str:
    """The table key of one op configuration (a compact, order-independent JSON string).

    Example:
        >>> op_key("relu", {}, [(8, 4, 4)], LatencySettings())
        '["relu",{},[[8,4,4]],"float32","channels_last"]'
    """
    shapes = [list(s) for s in in_shapes]
    return json.dumps(
        [op, dict(params), shapes, settings.dtype, settings.memory_format],
        sort_keys=True, separators=(",", ":"), default=str,
    )


def node_key(node: PrimNode, settings: LatencySettings) -> str:
    """:func:`op_key` of an expanded node."""
    return op_key(node.op.name, node.params, node.in_shapes, settings)


def _graph_module(node: PrimNode | None, n_inputs: int) -> fx.GraphModule:
    """A GraphModule running ``node`` alone on ``n_inputs`` placeholders (``None``: returns its input)."""
    root = nn.Module()
    graph = fx.Graph()
    args = [graph.placeholder(f"x{i}") for i in range(n_inputs)]
    if node is None:
        graph.output(args[0])
        return fx.GraphModule(root, graph)
    module = node.op.module(node.params, list(node.in_shapes))
    if module is not None:
        root.add_module("op", module)
        out = graph.call_module("op", tuple(args))
    else:
        out = node.op.emit(graph, args, node.params, "op")
    graph.output(out)
    return fx.GraphModule(root, graph)


def _time_graph(gm: fx.GraphModule, shapes: list[Shape], settings: LatencySettings) -> float:
    """Median ms of ``gm`` on random inputs; a module with weights is run as copies in rotation (cold weights)."""
    prepare_module(gm, settings)
    xs = make_inputs(shapes, settings)
    weight_bytes = sum(t.numel() * t.element_size() for t in (*gm.parameters(), *gm.buffers()))
    copies = 1 if weight_bytes < ROTATE_MIN_BYTES else min(ROTATE_MAX_COPIES, math.ceil(ROTATE_BYTES / weight_bytes))
    if copies == 1:
        return measure_callable(lambda: gm(*xs), settings, **OP_MEASURE).compute_ms
    ring = itertools.cycle([gm, *(copy.deepcopy(gm) for _ in range(copies - 1))])
    return measure_callable(lambda: next(ring)(*xs), settings, **OP_MEASURE).compute_ms


def measure_call_overhead(settings: LatencySettings) -> float:
    """ms of calling an empty one-input GraphModule (subtracted from each op's time)."""
    return _time_graph(_graph_module(None, 1), [(8, 8, 8)], settings)


def measure_op(node: PrimNode, settings: LatencySettings, call_overhead_ms: float = 0.0) -> float:
    """Median ms of ``node`` alone on random inputs, minus ``call_overhead_ms`` (never below 0)."""
    gm = _graph_module(node, len(node.in_shapes))
    return max(0.0, _time_graph(gm, list(node.in_shapes), settings) - call_overhead_ms)


@dataclass
class LatencyTable:
    """Measured op latencies of one fingerprint, and the fit that turns their sum into a net's latency.

    Attributes:
        fingerprint: :meth:`LatencySettings.fingerprint` of the settings it was measured under.
        entries: :func:`op_key` -> median ms of that op alone (call overhead subtracted).
        call_overhead_ms: ms of calling an empty graph (a net pays it once).
        calibration: The fit ``{"scale": a, "overhead_ms": b, "nets": n, ...}`` (see
            :meth:`nascomp.hardware.model.LatencyModel.calibrate`), or empty.
        path: The file it is kept in, or ``None``.
    """

    fingerprint: dict[str, Any]
    entries: dict[str, float] = field(default_factory=dict)
    call_overhead_ms: float | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: Path, fingerprint: dict[str, Any]) -> "LatencyTable":
        """The table at ``path`` (an empty one when the file is missing).

        Raises:
            LatencyError: the file is not a latency table, or it belongs to another fingerprint.
        """
        if not path.exists():
            return cls(fingerprint=dict(fingerprint), path=path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or raw.get("format") != TABLE_FORMAT:
                raise ValueError("not a nascomp latency table")
            theirs = raw["fingerprint"]
            entries = {str(k): float(v) for k, v in raw.get("entries", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LatencyError(
                f"latency table {path} cannot be read ({exc}); delete it to measure a new one"
            ) from None
        if theirs != fingerprint:
            diff = ", ".join(
                f"{k} {theirs.get(k)!r} (here {fingerprint.get(k)!r})"
                for k in sorted(set(theirs) | set(fingerprint)) if theirs.get(k) != fingerprint.get(k)
            )
            raise LatencyError(
                f"latency table {path} belongs to another device fingerprint: {diff}; delete it, or point "
                f"NASCOMP_LATENCY_CACHE (--latency-cache) at another folder"
            )
        overhead = raw.get("call_overhead_ms")
        return cls(
            fingerprint=dict(theirs), entries=entries, call_overhead_ms=None if overhead is None else float(overhead),
            calibration=dict(raw.get("calibration") or {}), path=path,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": TABLE_FORMAT, "fingerprint": self.fingerprint, "call_overhead_ms": self.call_overhead_ms,
                "calibration": self.calibration, "entries": dict(sorted(self.entries.items())),
            },
            indent=1,
        )

    def save(self) -> None:
        """Merge with the file on disk (its entries and calibrations kept, ours win) and write it atomically."""
        if self.path is None:
            return
        if self.path.exists():
            try:
                disk = LatencyTable.load(self.path, self.fingerprint)
            except LatencyError:
                disk = None
            if disk is not None:
                self.entries = {**disk.entries, **self.entries}
                if self.call_overhead_ms is None:
                    self.call_overhead_ms = disk.call_overhead_ms
                self.calibration = {**disk.calibration, **self.calibration}  # per input shape
        os.makedirs(self.path.parent, exist_ok=True)
        write_atomic(self.path, self.to_json())
