"""The rich console nascomp prints to: the CLI creates one per command and passes it down (training, search
reports); library callers that pass none get the same default.

A bottom-layer helper, so that ``train`` and ``search`` never import the CLI for it.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["make_console"]


def make_console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr); when that stream is not a terminal, 160 columns (unless ``COLUMNS``
    says otherwise) so that tables of long node names are not truncated in logs."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or "COLUMNS" in os.environ:
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=160)
