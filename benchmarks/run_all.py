"""Run every benchmark in this folder, one after the other (``make bench``).

Each benchmark runs nascomp and its reference side by side in one process and prints ratios; speed is never
asserted in tests. ``bench_search_quality.py`` measures search quality instead (default vs random vs the scaled
canonical net, 5 seeds, retrained winners): about an hour on 2 cores, docs/search.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"=== {script.name}", flush=True)
        failures += subprocess.run([sys.executable, str(script)], check=False).returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
