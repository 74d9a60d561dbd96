"""``nascomp report`` on a finished study, through the CLI: it rewrites the outputs from the storage alone and prints
the top-trials table at 160 columns when stdout is not a terminal (as the search does), not rich's 80."""

from __future__ import annotations

from pathlib import Path

from tests._cli import run_cli
from tests._search import write_tiny_space

ENV = {"OMP_NUM_THREADS": "1"}


def test_report_rewrites_the_outputs_and_prints_the_table_wide_off_a_terminal(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # the width a log file gets, not the one a test runner set
    space = write_tiny_space(tmp_path / "spaces")
    out = tmp_path / "run"
    search = run_cli("search", "--space", str(space), "--budget", "300KMACs", "--input-shape", "3x16x16", "--epochs",
                     "1", "--image-size", "8", "--census", "5", "--out", str(out), "--no-progress", "--device", "cpu",
                     "--data", "digits", "--pruner", "median", "--trials", "3", "--study-name", "t", cwd=tmp_path,
                     env=ENV)
    assert search.returncode == 0, search.stderr
    (out / "best.yaml").unlink()
    report = run_cli("report", "--storage", f"sqlite:///{out / 'study.db'}", "--study-name", "t", "--out",
                     str(tmp_path / "again"), cwd=tmp_path, env=ENV)
    assert report.returncode == 0 and report.stderr == "", report.stderr
    assert (tmp_path / "again" / "best.yaml").is_file() and f"wrote {tmp_path / 'again' / 'best.yaml'}" in report.stdout
    widths = [len(line) for line in report.stdout.splitlines()]
    assert max(widths) > 80 and max(widths) <= 160, widths  # rich alone would wrap every line at 80
