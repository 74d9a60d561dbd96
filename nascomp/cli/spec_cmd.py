"""``nascomp spec NAME_OR_PATH -o my.yaml``: copy the full YAML of a zoo net, a spec file or a study's best
architecture, to edit and build."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from nascomp._atomic import atomic_path
from nascomp.errors import NascompError, SpecError
from nascomp.registry import did_you_mean
from nascomp.spec import load_yaml
from nascomp.spec.load import load_spec
from nascomp.zoo import zoo_names, zoo_path, zoo_registry

NAME = "spec"
HELP = "write the full YAML of a zoo net, a spec file or a study's best architecture, ready to edit and build"
DESCRIPTION = (
    "Copy the spec of SOURCE to -o FILE (or print it): SOURCE is a zoo net name (`nascomp zoo`), a spec file, a run "
    "folder holding best.yaml (written by `nascomp search`), or a study name whose runs/<study>/best.yaml exists "
    "under the current folder. A spec file is already the full architecture, so the copy is its text unchanged "
    "(comments and layout kept) under a header naming the source. The copy is checked to rebuild to the same "
    "params and MACs. An existing FILE is kept unless --force."
)

_HEADER_RE = re.compile(r"\A# Copied by `nascomp spec [^\n]*\n(?:# Edit it, then [^\n]*\n)?")

BEST = "best.yaml"
RUNS = Path("runs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="NAME_OR_PATH", help="zoo net, spec file, run folder, or study name")
    parser.add_argument("-o", "--output", metavar="FILE", help="file to write (default: print to stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def resolve_source(source: str) -> tuple[Path, str]:
    """The spec file ``source`` names, and a description of it for the header.

    Raises:
        NascompError: nothing by that name (the message lists the zoo nets and what was looked for).
    """
    if source in zoo_registry():
        return zoo_path(source), f"zoo net '{source}'"
    path = Path(source)
    if path.is_dir():
        best = path / BEST
        if not best.is_file():
            raise NascompError(f"folder '{path}' has no {BEST}; give a spec file, a run folder with {BEST}, or a zoo net")
        return best, f"best architecture of the run in {path}"
    if path.is_file():
        return path, str(path)
    run_best = RUNS / source / BEST
    if path.name == source and run_best.is_file():
        return run_best, f"best architecture of study '{source}' ({run_best})"
    hint = did_you_mean(source, zoo_names())
    raise NascompError(
        f"'{source}' is not a zoo net, a spec file, a run folder or a study with {RUNS / source / BEST}{hint} "
        f"(zoo nets: {', '.join(zoo_names())})"
    )


def header(description: str, source_arg: str) -> str:
    return (
        f"# Copied by `nascomp spec {source_arg}` from {description}.\n"
        "# Edit it, then check it with `nascomp build FILE`, `nascomp profile FILE` or `nascomp draw FILE -o FILE.svg`.\n"
    )


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.profile import profile

    path, description = resolve_source(args.source)
    original = profile(load_spec(path))  # the source must be a valid spec (errors name its file and line, size)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NascompError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    copy = header(description, args.source) + _HEADER_RE.sub("", text)  # a copy of a copy gets one header
    if not args.output:
        sys.stdout.write(copy)
        return 0
    dest = Path(args.output)
    if dest.exists() and dest.resolve() == path.resolve():
        raise NascompError(f"{dest} is the source file itself; write the copy elsewhere")
    if dest.is_dir():
        raise NascompError(f"{dest} is a folder; give a file name, e.g. {dest / (original.name + '.yaml')}")
    if dest.exists() and not args.force:
        raise NascompError(f"{dest} exists; use --force to overwrite it")
    with atomic_path(dest) as tmp:
        tmp.write_text(copy, encoding="utf-8")
        _check_copy(copy, dest, original)
    print(f"wrote {dest}: {original.summary()}")
    return 0


def _check_copy(copy: str, dest: Path, original) -> None:
    """The copy, read as if at ``dest``, must rebuild to the original's params and MACs (relative ``imports:`` can
    break when the copy lands in another folder)."""
    from nascomp.cost.profile import profile

    try:
        rebuilt = profile(load_spec(load_yaml(copy, file=str(dest)), origin=dest))
    except SpecError as exc:
        raise NascompError(
            f"the copy would not build at {dest}: {exc.detail} (its 'imports:' are relative to the original's "
            f"folder; copy those block files next to {dest.name} or write it into the original's folder)"
        ) from None
    if (rebuilt.params, rebuilt.macs) != (original.params, original.macs):
        raise NascompError(
            f"the copy at {dest} resolves its 'imports:' to other block files: {rebuilt.params:,} params and "
            f"{rebuilt.macs:,} MACs instead of {original.params:,} and {original.macs:,}; write it into the "
            f"original's folder"
        )
