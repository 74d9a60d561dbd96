"""``nascomp zoo``: list the canonical nets with their cost."""

from __future__ import annotations

import argparse
import re

from rich.table import Table

from nascomp._shape import format_shape
from nascomp.cli._common import make_console, fmt_int
from nascomp.spec.load import load_spec
from nascomp.zoo import zoo_names

NAME = "zoo"
HELP = "list the canonical nets: name, family, input size, params, MACs, reference"

_FAMILIES = (
    ("legacy_se", "SENet (legacy)"), ("se_resnext", "SE-ResNeXt"), ("se_resnet", "SE-ResNet"), ("resnext", "ResNeXt"),
    ("wide_resnet", "Wide ResNet"), ("resnet", "ResNet"), ("densenet", "DenseNet"), ("inception", "Inception"),
    ("googlenet", "Inception"), ("vgg", "VGG"), ("alexnet", "AlexNet"),
)


def family_of(name: str) -> str:
    for prefix, family in _FAMILIES:
        if name.startswith(prefix):
            return family
    return re.sub(r"\d.*", "", name) or name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", help="only nets of this family (case-insensitive substring)")


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.budget import format_macs
    from nascomp.cost.profile import MACS_CONVENTION, profile

    table = Table(title=f"nascomp zoo ({MACS_CONVENTION})", title_justify="left")
    for col, justify in (("name", "left"), ("family", "left"), ("input", "left"), ("params", "right"),
                         ("MACs", "right"), ("reference", "left")):
        table.add_column(col, justify=justify)
    for name in zoo_names():
        family = family_of(name)
        if args.family and args.family.lower() not in family.lower():
            continue
        spec = load_spec(name)
        prof = profile(spec)
        reference = (spec.reference or {}).get("source", "")
        table.add_row(name, family, format_shape(spec.input_shape, sep="x"), fmt_int(prof.params), format_macs(prof.macs, digits=4), str(reference))
    make_console().print(table)
    return 0
