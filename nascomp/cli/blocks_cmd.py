"""``nascomp blocks [NAME]``: list the built-in blocks, or print one block's YAML definition to read or copy."""

from __future__ import annotations

import argparse

from rich.table import Table

from nascomp.cli._common import make_console
from nascomp.errors import SpecError
from nascomp.spec.library import builtin_library

NAME = "blocks"
HELP = "list the built-in blocks, or print the YAML of one (to read or copy into your own spec)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="a block name: print its YAML definition")


def _block_text(name: str) -> str:
    """The block's definition as written in its file (``name:`` and its indented body)."""
    library = builtin_library()
    try:
        block = library.get(name)
    except Exception as exc:  # RegistryError: unknown name, lists the valid ones
        raise SpecError(str(exc)) from None
    lines = open(block.file, encoding="utf-8").read().splitlines()
    start = block.line - 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    body = "\n".join(line[indent:] for line in lines[start:end]).rstrip()
    return f"# from {block.file}:{block.line}\nblocks:\n" + "\n".join("  " + l if l else l for l in body.splitlines())


def run(args: argparse.Namespace) -> int:
    console = make_console()
    if args.name:
        text = _block_text(args.name)
        console.print(text, highlight=False, markup=False)
        return 0
    table = Table(title="built-in blocks (nascomp blocks NAME prints one)", title_justify="left")
    table.add_column("block")
    table.add_column("params (default)")
    table.add_column("summary")
    library = builtin_library()
    for name in library.blocks.names():
        block = library.get(name)
        params = ", ".join(
            p.name if p.required else f"{p.name}={p.default}" for p in block.params.values()
        )
        flat = " ".join(block.doc.split())
        summary = flat if len(flat) <= 100 else flat[:99].rsplit(" ", 1)[0] + " …"
        table.add_row(name, params, summary)
    console.print(table)
    return 0
