"""Entry point of the ``nascomp`` command.

Sub-commands are listed explicitly in :data:`COMMANDS`; each is a module exposing ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. A :class:`~nascomp.errors.NascompError` (bad spec, budget,
data, ...) is printed as one line on stderr and exits with code 2, never with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
from collections.abc import Sequence
from importlib import metadata

from nascomp._secrets import mask_credentials
from nascomp._stop import Stopped
from nascomp.cli._common import name_the_set
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
EXIT_BROKEN_PIPE = 1  # as rich's Console and Python's docs ("Note on SIGPIPE") end a program whose reader left

# A value that starts like a negative number (-4G, -1, -.5, -1e3): argparse takes it for an option unless it is a
# plain number; glued to its flag (--budget=-4G) it is read as the value, then checked by the command.
_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (exit 2), like every other nascomp error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    try:
        return metadata.version("nascomp")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree that was never installed
        return "unknown (not installed)"


def _valued_options(parser: argparse.ArgumentParser) -> set[str]:
    """Option strings of ``parser`` that take exactly one value (``--budget X``)."""
    return {opt for action in parser._actions if action.option_strings and action.nargs is None  # noqa: SLF001
            for opt in action.option_strings if opt.startswith("--")}


def _glue_negative_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``[..., "--budget", "-4G"]`` -> ``[..., "--budget=-4G"]`` for options of the chosen sub-command that take a
    value, so the value reaches the command (which refuses it with a precise message) instead of argparse
    mistaking it for an unknown option."""
    subparsers = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)  # noqa: SLF001
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if subparsers is None or command is None or argv[command] not in subparsers.choices:
        return argv
    valued = _valued_options(subparsers.choices[argv[command]])
    out = argv[: command + 1]
    i = command + 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg in valued and i + 1 < len(argv) and _NEGATIVE_VALUE.match(argv[i + 1]):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option; the top level has no valued options)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _make_parser(modules, chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``chosen`` sub-command gets its arguments (some need torch: ``nascomp --help`` and a
    usage error must answer at once, without importing it). ``chosen=None`` adds every command's arguments."""
    parser = _Parser(
        prog="nascomp",
        description="Declare CNNs as YAML graphs of blocks, know their exact cost, reproduce the classic nets, "
        "and search for a better one under a compute budget. Costs are MACs (multiply-accumulates), the figure "
        "torchvision's model cards print as 'GFLOPS'.",
    )
    parser.add_argument("--version", action="version", version=f"nascomp {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in modules:
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        if chosen is None or chosen == module.NAME:
            module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _load_commands():
    return [importlib.import_module(path) for path in COMMANDS]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 after Ctrl-C, 143 after SIGTERM, 1 when the
    reader of its output left: `nascomp build resnet50 | head -1`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    modules = _load_commands()
    chosen = _chosen_command(argv)
    parser = _make_parser(modules, chosen if chosen in {m.NAME for m in modules} else "")
    args = parser.parse_args(_glue_negative_values(argv, parser))
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:  # `nascomp ... | head`: the reader left; end quietly (Python's docs, "Note on SIGPIPE")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush does not raise again
        return EXIT_BROKEN_PIPE
    except Stopped as exc:  # a long step (a latency table) honoured a stop between two measurements, kept its work
        print(f"nascomp {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except NascompError as exc:
        exc = name_the_set(args, exc)
        message = mask_credentials(str(exc))  # a URL a message quotes (a driver's error): its password never shows
        print(f"nascomp {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # a second signal (StopFlag's Aborted) or Ctrl-C outside any stop flag
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"nascomp: {str(exc) or 'interrupted'}", file=sys.stderr)
        return 128 + int(signum)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
