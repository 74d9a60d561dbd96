"""Run the ``nascomp`` CLI in a subprocess, as a user would (shared by the CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _command() -> list[str]:
    """The installed ``nascomp`` script next to this Python, else the same entry point through ``-c``."""
    script = Path(sys.executable).parent / "nascomp"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from nascomp.cli.main import main; sys.exit(main())"]


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``nascomp ARGS`` in a subprocess, text output captured."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*_command(), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit code 2, one line on stderr and nothing else (no traceback, no blank line such as a rich progress bar
    leaves off a terminal) containing every fragment; returns that line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, repr(result.stderr)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
