"""``nascomp scale NET --budget B``: a canonical net scaled to a compute budget (EfficientNet-style compound
scaling at fixed resolution), the baseline a searched net must beat at equal cost."""

from __future__ import annotations

import argparse
import sys

from nascomp._atomic import write_atomic
from nascomp.cli._common import parse_input_shape, parse_overrides

NAME = "scale"
HELP = "scale a zoo net, spec file or search-space point to a MACs budget (width x w, depth x d); write the spec"
DESCRIPTION = (
    "Scale NET to the largest net whose exact MACs are at most --budget: every width times one multiplier w, "
    "rounded to a multiple of 8 (never below 8, never more than 10 %% below), and, where width alone cannot reach "
    "the budget, repeat counts times d, rounded up: compound scaling as in EfficientNet (arXiv:1905.11946) with "
    "the resolution held fixed. NET is a zoo name, a spec file, or a search-space point: SPACE for the space's "
    "default architecture (se_resnext = resnet50), SPACE:POINT for a named point (se_resnext:resnext50_32x4d). "
    "MACs = FlopCounterMode FLOPs / 2, what papers call FLOPs: --budget 1GFLOPs = 1e9 MACs. The spec goes to "
    "stdout (summary on stderr), or to -o FILE (written atomically). See docs/scale.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", metavar="NET",
                        help="a zoo name (see `nascomp zoo`), a spec file, or SPACE[:POINT] of a search space")
    parser.add_argument("--budget", required=True, metavar="B",
                        help="MACs budget, e.g. 1GFLOPs, 600MMACs or 4e9 (FLOPs are counted as MACs)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the scaled spec here (default: stdout)")
    parser.add_argument("--input", metavar="CxHxW", help="input shape to scale at instead of the spec's, e.g. 3x32x32")
    parser.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                        help="override a spec param (repeatable), e.g. num_classes=10")
    parser.add_argument("--name", help="name of the scaled spec (default NET_scaled)")


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.budget import format_macs, parse_budget
    from nascomp.search.space.points import scale

    budget = parse_budget(args.budget)
    overrides = parse_overrides(args.set)
    result = scale(args.net, budget, input_shape=parse_input_shape(args.input), name=args.name, **overrides)
    text = result.to_yaml()
    summary = (
        f"{result.spec['name']}: {result.macs:,} MACs = {format_macs(result.macs)} "
        f"({result.macs / budget:.1%} of the {format_macs(budget)} budget; MACs = FlopCounterMode FLOPs / 2, "
        f"the field's \"FLOPs\"), {result.params:,} params, width x{result.width_multiplier:.3f}, "
        f"depth x{result.depth_multiplier:.3f} (unscaled: {format_macs(result.base_macs)})"
    )
    if args.output:
        path = write_atomic(args.output, text)
        print(f"wrote {path}: {summary}")
    else:
        sys.stdout.write(text)
        print(summary, file=sys.stderr)
    return 0
