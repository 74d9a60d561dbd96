"""``nascomp profile SPEC``: exact MACs, params and activations from the spec alone (nothing is built); with
``--latency``, the forward latency on a device, predicted from the lookup table and measured."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from nascomp.cli._common import make_console, add_spec_arguments, fmt_int, fmt_shape, spec_overrides
from nascomp.cli._memory_profile import add_memory_arguments, memory_json, training_memory
from nascomp.hardware.names import CACHE_ENV

if TYPE_CHECKING:  # the command's work loads torch: imported inside the functions, so that --help answers at once
    from nascomp.cost.profile import Profile
    from nascomp.hardware import LatencyModel, LatencySettings
    from nascomp.hardware.measure import LatencyMeasurement
    from nascomp.hardware.model import LatencyPrediction

NAME = "profile"
HELP = "exact MACs, params and activations of a spec, computed without building it; --latency on a device"
DESCRIPTION = (
    "Print the cost of SPEC (file or zoo name) computed from the spec alone. MACs are multiply-accumulates of "
    "conv, linear and matmul ops: torch.utils.flop_counter.FlopCounterMode's total / 2, the figure torchvision's "
    "model cards call GFLOPS. Bias, BatchNorm, activations, pooling and elementwise ops are not counted. "
    "With --latency: the forward latency (eval mode, channels-last; on CUDA the AMP dtype training uses) predicted "
    "before building from a per-device lookup table of measured ops (built once, cached; see docs/latency.md), "
    "then measured on the built net (median and IQR in ms)."
)


def _positive_or_raw(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text  # LatencySettings names it in a one-line error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--per-node", action="store_true", help="also print one row per top-level node")
    parser.add_argument("--expand", action="store_true", help="with --per-node: one row per primitive op")
    lat = parser.add_argument_group("latency")
    lat.add_argument("--latency", action="store_true", help="predict and measure the forward latency")
    lat.add_argument("--no-measure", action="store_true", help="with --latency: the prediction alone (nothing built)")
    lat.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    lat.add_argument("--batch-size", type=_positive_or_raw, default=1, metavar="B", help="samples per forward (default 1)")
    lat.add_argument("--threads", type=_positive_or_raw, default=1, metavar="T", help="torch threads on CPU (default 1)")
    lat.add_argument(
        "--latency-cache", metavar="DIR", default=None,
        help=f"folder of the lookup tables (default ${CACHE_ENV}, else the user's cache folder)",
    )
    add_memory_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _settings(args: argparse.Namespace) -> LatencySettings:
    from nascomp.hardware import LatencySettings

    return LatencySettings(device=args.device, batch_size=args.batch_size, threads=args.threads)


def _latency(args: argparse.Namespace, prof: Profile, settings: LatencySettings) -> tuple[LatencyModel, LatencyPrediction, LatencyMeasurement | None]:
    """Predict (measuring the table's missing ops first) and measure. A bar on a terminal; elsewhere a few plain
    lines on stdout (on stderr with --json: stdout holds the one JSON object). SIGINT/SIGTERM stop it between two
    measurements, keeping what was measured (:class:`~nascomp._stop.Stopped`: one line, exit 130/143)."""
    from nascomp._progress import WorkProgress
    from nascomp._stop import StopFlag
    from nascomp.graph.build import build
    from nascomp.hardware import LatencyModel, measure_latency
    from nascomp.spec.load import load_spec

    overrides = spec_overrides(args)
    cache = Path(args.latency_cache) if args.latency_cache else None
    lines = sys.stderr if args.json else sys.stdout
    progress = WorkProgress.for_streams(lines_to=lines)
    with StopFlag(on_first=lambda msg: print(f"nascomp profile: {msg}", file=lines, flush=True)) as stop:
        model = LatencyModel.open(settings, cache_dir=cache, progress=progress, stop=stop)
        predicted = model.predict(args.spec, **overrides)
        measured = None
        if not args.no_measure:
            stop.check("stopped before measuring the net (the latency table is kept); rerun the same command")
            spec = load_spec(args.spec, **overrides)
            measured = measure_latency(build(spec), tuple(spec.input_shape), settings)
    return model, predicted, measured


def _json(prof: Profile, settings: LatencySettings | None, model, predicted, measured) -> dict[str, Any]:
    from nascomp.cost.profile import MACS_CONVENTION

    out: dict[str, Any] = {
        "name": prof.name, "input_shape": list(prof.input_shape), "output_shape": list(prof.output_shape),
        "macs": prof.macs, "params": prof.params, "activations": prof.activations, "macs_convention": MACS_CONVENTION,
    }
    if settings is None:
        return out
    out["settings"] = {**settings.fingerprint(), "description": settings.describe()}
    out["predicted_latency_ms"] = predicted.latency_ms
    out["prediction"] = {
        "op_sum_ms": predicted.op_sum_ms, "ops": predicted.ops, "scale": predicted.scale,
        "per_op_ms": predicted.per_op_ms, "overhead_ms": predicted.overhead_ms,
        "compute_ms": predicted.compute_ms, "memory_ms": predicted.memory_ms,
        "compute_scale": predicted.compute_scale, "memory_scale": predicted.memory_scale,
        "calibration_nets": predicted.calibration_nets, "table": str(model.path) if model.path else None,
    }
    if measured is not None:
        out["measured_latency_ms"] = measured.median_ms
        out["measured_q1_ms"] = measured.q1_ms
        out["measured_q3_ms"] = measured.q3_ms
        out["measured_iqr_ms"] = measured.iqr_ms
        out["measured_cpu_ms"] = measured.cpu_median_ms
        out["repeats"] = measured.repeats
        out["warmup"] = measured.warmup
        out["load_average"] = measured.load_average
        out["cpu_count"] = os.cpu_count()
    return out


def _print_latency(console, settings: LatencySettings, model, predicted: LatencyPrediction, measured) -> None:
    fp = settings.fingerprint()
    console.print(f"latency ({settings.describe()}; {fp['device_name']}, torch {fp['torch']}):", highlight=False)
    cal = (f", calibrated on {predicted.calibration_nets} nets: x{predicted.compute_scale:.2f} on ops with MACs "
           f"({predicted.compute_ms:.2f} ms), x{predicted.memory_scale:.2f} on the others ({predicted.memory_ms:.2f} ms)"
           if predicted.calibration_nets else ", not calibrated")
    console.print(
        f"  predicted {predicted.latency_ms:.2f} ms per batch (lookup table: {predicted.ops} ops sum to "
        f"{predicted.op_sum_ms:.2f} ms{cal}; {model.path})",
        highlight=False,
    )
    if measured is None:
        return
    line = (
        f"  measured  {measured.median_ms:.2f} ms per batch (wall clock, median of {measured.repeats} after "
        f"{measured.warmup} warm-up; IQR {measured.q1_ms:.2f}-{measured.q3_ms:.2f} ms)"
    )
    console.print(line, highlight=False)
    if measured.cpu_median_ms is not None:
        load = f"load average {measured.load_average:.1f} on {os.cpu_count()} CPUs" if measured.load_average is not None else "load unknown"
        console.print(
            f"            {measured.cpu_median_ms:.2f} ms of CPU time (the wall clock on an idle core; {load})",
            highlight=False,
        )


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.profile import MACS_CONVENTION, profile

    want_latency = args.latency or args.no_measure
    settings = _settings(args) if want_latency else None  # bad device/threads/batch: one line before any work
    prof = profile(args.spec, **spec_overrides(args))
    model = predicted = measured = None
    if settings is not None:
        model, predicted, measured = _latency(args, prof, settings)
    memory = training_memory(args, spec_overrides(args))
    if args.json:
        print(json.dumps({**_json(prof, settings, model, predicted, measured),
                          **(memory_json(memory) if memory else {})}, indent=1))
        return 0
    console = make_console()
    if args.per_node or args.expand:
        table = Table(title=f"{prof.name}: cost per node ({MACS_CONVENTION})", title_justify="left")
        for col, justify in (("node", "left"), ("type", "left"), ("output shape", "left"), ("MACs", "right"),
                             ("params", "right"), ("activations", "right")):
            table.add_column(col, justify=justify)
        for row in prof.rows(expand=args.expand):
            table.add_row(row.id, row.type, fmt_shape(row.out_shape), fmt_int(row.macs), fmt_int(row.params), fmt_int(row.activations))
        console.print(table)
    console.print(prof.summary(), highlight=False)
    console.print(
        f"  MACs {fmt_int(prof.macs)} | params {fmt_int(prof.params)} | activations {fmt_int(prof.activations)} "
        f"(conv/linear outputs) | output {fmt_shape(prof.output_shape)}",
        highlight=False,
    )
    if settings is not None:
        _print_latency(console, settings, model, predicted, measured)
    if memory is not None:
        console.print(memory.summary(), highlight=False)
    return 0
