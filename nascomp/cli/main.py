"""Entry point of the ``nascomp`` command.

Sub-commands are listed explicitly in :data:`COMMANDS`; each is a module exposing ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. A :class:`~nascomp.errors.NascompError` (bad spec, budget,
data, ...) is printed as one line on stderr and exits with code 2, never with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nascomp.errors import NascompError

__all__ = ["main", "COMMANDS"]

# Explicit list (no discovery by side effect): module paths of the sub-commands, in help order.
COMMANDS: tuple[str, ...] = (
    "nascomp.cli.build_cmd",
    "nascomp.cli.profile_cmd",
    "nascomp.cli.zoo_cmd",
    "nascomp.cli.blocks_cmd",
    "nascomp.cli.draw_cmd",
    "nascomp.cli.export_cmd",
    "nascomp.cli.spec_cmd",
    "nascomp.cli.search_cmd",
    "nascomp.cli.train_cmd",
    "nascomp.cli.report_cmd",
    "nascomp.cli.scale_cmd",
)

EXIT_USAGE = 2


def _make_parser(modules) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nascomp",
        description="Declare CNNs as YAML graphs of blocks, know their exact cost, reproduce the classic nets, "
        "and search for a better one under a compute budget. Costs are MACs (multiply-accumulates), the figure "
        "torchvision's model cards print as 'GFLOPS'.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in modules:
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _load_commands():
    return [importlib.import_module(path) for path in COMMANDS]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    parser = _make_parser(_load_commands())
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except NascompError as exc:
        print(f"nascomp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nascomp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
