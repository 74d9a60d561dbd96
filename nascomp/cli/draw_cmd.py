"""``nascomp draw SPEC -o net.svg``: a Graphviz picture of a spec (blocks collapsed; ``--expand`` opens them)."""

from __future__ import annotations

import argparse

from nascomp.cli._common import add_spec_arguments, spec_overrides
from nascomp.errors import NascompError

NAME = "draw"
HELP = "draw a spec as a graph picture (.svg, .png, .pdf or .dot): shapes on the edges, MACs and params per node"
DESCRIPTION = (
    "Draw SPEC (file or zoo name) top to bottom: one box per top-level node (blocks, groups and repetitions "
    "collapsed, with their total MACs and params), the output shape (C×H×W, batch excluded) on every edge. "
    "--depth 2 opens blocks one level as clusters; --expand opens everything down to primitive ops. The format "
    "follows the suffix of -o; .svg/.png/.pdf need Graphviz's `dot` program (apt-get install graphviz / "
    "brew install graphviz), .dot writes DOT text and needs nothing."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nascomp.viz.draw import FORMATS  # loads torch: only when this command is chosen

    add_spec_arguments(parser)
    parser.add_argument(
        "-o", "--output", metavar="FILE",
        help=f"picture to write; format from the suffix ({', '.join(FORMATS)}); default <spec name>.svg",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--expand", action="store_true", help="open every block, group and repetition down to primitive ops")
    how.add_argument("--depth", type=int, default=1, metavar="N",
                     help="levels of nesting to draw: 1 (default) one box per top-level node, 2 opens blocks once, ...")


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.profile import profile
    from nascomp.viz.draw import draw

    if args.depth < 1:
        raise NascompError(f"--depth must be 1 or more, found {args.depth} (use --expand to open everything)")
    prof = profile(args.spec, **spec_overrides(args))
    output = args.output or f"{prof.name}.svg"
    path = draw(prof, output, depth=None if args.expand else args.depth)
    print(f"wrote {path} ({path.stat().st_size:,} bytes): {prof.summary()}")
    return 0
