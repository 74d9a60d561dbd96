"""Helpers shared by the CLI commands: argument parsing of shapes and overrides, number formatting."""

from __future__ import annotations

import argparse
from typing import Any

from nascomp._console import make_console  # re-exported: the CLI creates the consoles
from nascomp._shape import as_input_shape, format_shape
from nascomp.errors import NascompError, SpecError
from nascomp.spec import load_yaml

__all__ = ["make_console", "parse_input_shape", "parse_overrides", "add_spec_arguments", "spec_overrides",
           "name_the_set", "fmt_int", "fmt_shape"]

def parse_input_shape(text: str | None) -> tuple[int, int, int] | None:
    """``"3x224x224"`` -> ``(3, 224, 224)``.

    Raises:
        SpecError: not three positive integers separated by ``x``.
    """
    if text is None:
        return None
    shape = as_input_shape(text)
    if shape is None:
        raise SpecError(f"--input must be CxHxW of positive integers, e.g. 3x224x224; found '{text}'")
    return shape


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["num_classes=10"]`` -> ``{"num_classes": 10}`` (values read as YAML scalars, safely).

    Raises:
        SpecError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set expects NAME=VALUE (e.g. --set num_classes=10), found '{item}'")
        out[key.strip()] = load_yaml(value) if value.strip() else ""
    return out


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a spec file (YAML) or the name of a zoo net (see `nascomp zoo`)")
    parser.add_argument("--input", metavar="CxHxW", help="input shape to use instead of the spec's, e.g. 3x160x160")
    parser.add_argument(
        "--set", metavar="NAME=VALUE", action="append", default=[], help="override a spec param (repeatable), e.g. num_classes=10"
    )


def spec_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = parse_overrides(args.set)
    shape = parse_input_shape(args.input)
    if shape is not None:
        overrides["input_shape"] = shape
    return overrides


def name_the_set(args: argparse.Namespace, exc: NascompError) -> NascompError:
    """The error, prefixed with the ``--set NAME=VALUE`` that caused it when there is one.

    A spec error may surface far from the parameter it comes from (``--set num_classes=ten`` fails at node
    ``fc``'s ``out_features``). The spec is costed again without each ``--set`` in turn (analytic, no weights):
    the one whose removal makes the error go away is named.
    """
    items = getattr(args, "set", None)
    if not isinstance(exc, SpecError) or not items or not getattr(args, "spec", None):
        return exc
    from nascomp.cost.profile import profile

    for item in items:
        key = item.partition("=")[0].strip()
        try:
            overrides = spec_overrides(args)
            overrides.pop(key, None)
            profile(args.spec, **overrides)
        except NascompError:
            continue
        return SpecError(f"--set {item}: {exc}")
    return exc


def fmt_int(n: int) -> str:
    return f"{n:,}"


fmt_shape = format_shape  # the CLI's name for it
