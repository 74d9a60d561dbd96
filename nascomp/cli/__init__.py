"""The ``nascomp`` command line (argparse). Each sub-command lives in its own module."""

from nascomp.cli.main import main

__all__ = ["main"]
