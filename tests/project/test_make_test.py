"""``make test`` gives the distributed test the project's throwaway PostgreSQL server where PostgreSQL is installed,
as CI does, and still runs the suite where it is not (issue 22).

The Makefile and ``.ci/`` are copied into a scratch folder whose ``.venv/bin/pytest`` is a stub that prints the
``NASCOMP_TEST_POSTGRES_URL`` it was given, so the recipe runs as written without running the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _scratch(tmp_path: Path, start_postgres: str | None = None) -> Path:
    folder = tmp_path / "repo copy"
    (folder / ".ci").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, folder / name)
    script = folder / ".ci" / "start_postgres.sh"
    if start_postgres is None:
        shutil.copy2(ROOT / ".ci" / "start_postgres.sh", script)
    else:
        script.write_text(start_postgres)
        script.chmod(0o755)
    (folder / ".venv" / "bin").mkdir(parents=True)
    stub = folder / ".venv" / "bin" / "pytest"
    stub.write_text('#!/bin/sh\necho "pytest sees NASCOMP_TEST_POSTGRES_URL=${NASCOMP_TEST_POSTGRES_URL:-none}"\n')
    stub.chmod(0o755)
    (folder / ".venv" / ".installed").touch()  # newer than pyproject.toml: `setup` has nothing to do
    return folder


def _make_test(folder: Path) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k != "NASCOMP_TEST_POSTGRES_URL"}
    return subprocess.run(["make", "-s", "test"], cwd=folder, env=env, capture_output=True, text=True, timeout=180)


def test_without_postgresql_the_suite_still_runs_and_says_why_it_skips(tmp_path):
    folder = _scratch(tmp_path, "#!/bin/sh\necho 'start_postgres: PostgreSQL is not installed' >&2\nexit 3\n")
    result = _make_test(folder)
    assert result.returncode == 0, result.stderr
    assert "pytest sees NASCOMP_TEST_POSTGRES_URL=none" in result.stdout
    assert "no PostgreSQL server: the distributed test will skip" in result.stdout


@pytest.mark.postgres  # it may start the server (reused when running): not in `make test-fast`
def test_with_postgresql_installed_make_test_starts_the_throwaway_server(tmp_path):
    installed = any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb") is not None
    if not installed:
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql)")
    result = _make_test(_scratch(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "pytest sees NASCOMP_TEST_POSTGRES_URL=postgresql+psycopg://nascomp:nascomp@127.0.0.1:55432/nascomp" in (
        result.stdout), result.stdout + result.stderr


def test_start_postgres_no_install_refuses_in_one_line_where_postgresql_is_missing(tmp_path):
    if any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb") is not None:
        pytest.skip("PostgreSQL is installed here: nothing to refuse")
    result = subprocess.run([str(ROOT / ".ci" / "start_postgres.sh"), "--no-install"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "start_postgres: PostgreSQL is not installed (no initdb and psql found); apt-get install postgresql"]
