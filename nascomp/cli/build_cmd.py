"""``nascomp build SPEC``: validate a spec, infer every shape, build the module and print a table."""

from __future__ import annotations

import argparse

from rich.table import Table

from nascomp.cli._common import make_console, add_spec_arguments, fmt_int, fmt_shape, spec_overrides
from nascomp.spec.load import load_spec

NAME = "build"
HELP = "validate a spec, infer its shapes and build it; print node, type, output shape and params"
DESCRIPTION = (
    "Validate SPEC (file or zoo name), infer the output shape of every node, build the torch module and print a "
    "table. Exit code 2 on an invalid spec, with one line naming file:line and node."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--expand", action="store_true", help="one row per primitive op instead of per top-level node")


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.budget import format_macs
    from nascomp.cost.profile import MACS_CONVENTION, profile
    from nascomp.graph.build import build

    spec = load_spec(args.spec, **spec_overrides(args))
    prof = profile(spec)
    model = build(spec)
    n_params = sum(p.numel() for p in model.parameters())
    table = Table(title=f"{spec.name}  input {fmt_shape(spec.input_shape)}", title_justify="left")
    table.add_column("node")
    table.add_column("type")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    for row in prof.rows(expand=args.expand):
        table.add_row(row.id, row.type, fmt_shape(row.out_shape), fmt_int(row.params))
    console = make_console()
    console.print(table)
    console.print(
        f"built {type(model).__name__}: {fmt_int(n_params)} params, output {fmt_shape(('N', *prof.output_shape))}; "
        f"{prof.macs:,} MACs = {format_macs(prof.macs)} ({MACS_CONVENTION})",
        highlight=False,
    )
    return 0
