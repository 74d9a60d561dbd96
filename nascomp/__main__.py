"""``python -m nascomp``: the same as the ``nascomp`` command."""

import sys

from nascomp.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
