"""``nascomp profile SPEC``: exact MACs, params and activations from the spec alone (nothing is built)."""

from __future__ import annotations

import argparse

from rich.table import Table

from nascomp.cli._common import make_console, add_spec_arguments, fmt_int, fmt_shape, spec_overrides

NAME = "profile"
HELP = "exact MACs, params and activations of a spec, computed without building it"
DESCRIPTION = (
    "Print the cost of SPEC (file or zoo name) computed from the spec alone. MACs are multiply-accumulates of "
    "conv, linear and matmul ops: torch.utils.flop_counter.FlopCounterMode's total / 2, the figure torchvision's "
    "model cards call GFLOPS. Bias, BatchNorm, activations, pooling and elementwise ops are not counted."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--per-node", action="store_true", help="also print one row per top-level node")
    parser.add_argument("--expand", action="store_true", help="with --per-node: one row per primitive op")


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.profile import MACS_CONVENTION, profile

    prof = profile(args.spec, **spec_overrides(args))
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
    return 0
