"""What a first-time user meets while the latency table is cold (issue 20): progress off a terminal is a few plain
lines on stdout, never blank lines on stderr; a stop (SIGTERM, Ctrl-C) is honoured between two op measurements,
keeps what was measured, and the next run resumes the table.

The CLI tests run ``nascomp`` in a subprocess with stdout and stderr piped (not terminals), on a cold temporary
cache folder, and stop it as soon as it has said it is measuring: no table is ever measured in full. Speed is never
asserted; the counts of measured configurations are read from the table file and the progress lines.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests._cli import _command
from tests._search import TINY_BUDGET, write_tiny_space
from nascomp._progress import WorkProgress, format_elapsed
from nascomp._stop import StopFlag, Stopped
from nascomp.hardware import LatencyModel, LatencySettings
from nascomp.hardware import model as model_module

TINY = """\
name: tiny
input_shape: [3, 32, 32]
params: {num_classes: 10}
nodes:
  - {id: conv1, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
  - {id: bn1, type: batch_norm2d}
  - {id: relu1, type: relu}
  - {id: conv2, type: conv2d, out_channels: 32, kernel_size: 3, padding: 1, stride: 2}
  - {id: pool, type: global_pool, keepdim: false}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""
SETTINGS = "cpu, batch 1, 1 thread, float32, channels-last"
START = re.compile(r"^latency table \(" + re.escape(SETTINGS) + r"\): 0 of (\d+) operator configurations measured "
                   r"\(0 s\)$")


# -- WorkProgress: throttled plain lines off a terminal ----------------------------------------------------------
class _Clock:
    def __init__(self, step_s: float):
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        value = self.now
        self.now += self.step_s
        return value


def test_plain_lines_are_throttled_and_close_the_task():
    out = io.StringIO()
    progress = WorkProgress(lines=out, interval_s=20.0, clock=_Clock(7.0))  # each clock reading is 7 s later
    with progress.task("latency table", total=10, items="operator configurations") as advance:
        for _ in range(10):
            advance()
    # clock readings: the start 0 (printed), the advances at 7, 14, 21 (printed), 28, 35, 42 (printed), 49, 56,
    # 63 (printed), 70 (10 of 10: left to the closing line), the end 77 (printed)
    assert out.getvalue().splitlines() == [
        "latency table: 0 of 10 operator configurations measured (0 s)",
        "latency table: 3 of 10 operator configurations measured (21 s)",
        "latency table: 6 of 10 operator configurations measured (42 s)",
        "latency table: 9 of 10 operator configurations measured (1 min 3 s)",
        "latency table: 10 of 10 operator configurations measured (1 min 17 s)",
    ]


def test_many_short_tasks_share_one_throttle():
    out = io.StringIO()
    progress = WorkProgress(lines=out, interval_s=20.0, clock=_Clock(1.0))
    for _ in range(30):  # 30 tasks of 2 configurations: 4 clock readings each, 120 s in all
        with progress.task("latency table", total=2, items="operator configurations") as advance:
            advance()
            advance()
    lines = out.getvalue().splitlines()
    assert all(lines) and 2 <= len(lines) <= 2 * (120 // 20 + 1)  # a start and a closing line per printed task
    assert lines[0] == "latency table: 0 of 2 operator configurations measured (0 s)"


def test_quiet_and_lines_elsewhere_leave_stdout_and_stderr_alone(capsys):
    for progress in (WorkProgress.quiet(), WorkProgress.for_streams(lines_to=io.StringIO())):
        with progress.task("latency table", total=3, items="operator configurations") as advance:
            advance()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # pytest's streams are not terminals: no bar, no blank line


def test_format_elapsed():
    assert [format_elapsed(s) for s in (0, 59.4, 60, 70, 3599, 3720)] == ["0 s", "59 s", "1 min 0 s", "1 min 10 s",
                                                                          "59 min 59 s", "1 h 2 min"]


# -- the model: a stop between two measurements keeps what was measured --------------------------------------------
def test_a_stop_keeps_the_measured_configurations_and_the_next_model_resumes(tmp_path, monkeypatch):
    import yaml

    stop = StopFlag()
    measured: list[str] = []

    def fake_measure_op(node, settings, overhead=0.0):  # the stop arrives while the third op is measured
        measured.append(node.name)
        if len(measured) == 3:
            stop.request(signal.SIGTERM)
        return 0.5

    monkeypatch.setattr(model_module, "measure_op", fake_measure_op)
    monkeypatch.setattr(model_module, "measure_call_overhead", lambda settings: 0.01)
    spec = yaml.safe_load(TINY)
    model = LatencyModel.open(LatencySettings(), cache_dir=tmp_path, progress=False, calibration_nets=(), stop=stop)
    total = len(model.missing(model.nodes(spec)))
    assert total == 6
    with pytest.raises(Stopped) as info:
        model.predict(spec)
    assert info.value.exit_code == 143
    assert str(info.value).startswith("interrupted by SIGTERM: stopped measuring the latency lookup table after 3 "
                                      "of 6 operator configurations (kept in ")
    kept = json.loads((tmp_path / LatencySettings().cache_name()).read_text(encoding="utf-8"))["entries"]
    assert len(kept) == 3 and len(measured) == 3  # the fourth was never started

    again = LatencyModel.open(LatencySettings(), cache_dir=tmp_path, progress=False, calibration_nets=())
    assert len(again.missing(again.nodes(spec))) == total - 3
    assert again.predict(spec).ops == 6 and len(measured) == 6  # only the three missing ones were measured


# -- the command line, stdout and stderr not terminals ------------------------------------------------------------
class _Cli:
    """``nascomp ARGS`` in the background; its stdout lines arrive on a queue as they are printed."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([*_command(), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern, timeout_s: float = 240) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, (self.stdout, self.proc.wait(), self.proc.stderr.read())
            self.stdout.append(line)
            match = pattern.match(line)
            if match:
                return match

    def stop(self, timeout_s: float = 120) -> tuple[int, str]:
        """SIGTERM; the exit code and stderr. The bound only keeps a broken build from hanging the suite: the
        table it stops in the middle of takes minutes."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        while (line := self.lines.get(timeout=30)) is not None:
            self.stdout.append(line)
        return code, self.proc.stderr.read()


def _entries(cache: Path) -> dict[str, float]:
    return json.loads((cache / LatencySettings().cache_name()).read_text(encoding="utf-8"))["entries"]


def test_cli_sigterm_during_a_cold_table_keeps_it_and_a_rerun_resumes(tmp_path):
    spec = tmp_path / "tiny net.yaml"
    spec.write_text(TINY, encoding="utf-8")
    cache = tmp_path / "latency cache"
    args = ("profile", str(spec), "--latency", "--latency-cache", str(cache))

    first = _Cli(*args, cwd=tmp_path)
    total = int(first.wait_for(START).group(1))  # the calibration nets' ops at 3x32x32: hundreds
    time.sleep(1.0)  # let it measure some
    code, err = first.stop()
    assert code == 143, err
    assert err.count("\n") == 1, repr(err)  # one line on stderr, no blank line from a progress bar
    match = re.fullmatch(r"nascomp profile: interrupted by SIGTERM: stopped measuring the latency lookup table after "
                         r"(\d+) of (\d+) operator configurations \(kept in (.+)\); rerun the same command to resume "
                         r"it\n", err)
    assert match and int(match.group(2)) == total and Path(match.group(3)) == cache / LatencySettings().cache_name()
    kept = _entries(cache)
    assert 0 < len(kept) == int(match.group(1)) < total
    assert all(first.stdout) and any("SIGTERM: stopping after the current step" in s for s in first.stdout)

    second = _Cli(*args, cwd=tmp_path)
    assert int(second.wait_for(START).group(1)) == total - len(kept)  # resumed: only the rest is measured
    code, err = second.stop()
    assert code == 143 and err.count("\n") == 1, err
    assert set(kept) <= set(_entries(cache))


def test_cli_search_stopped_while_its_latency_table_builds_ends_as_a_stopped_search(tmp_path):
    space = write_tiny_space(tmp_path / "space dir")
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    search = _Cli("search", "--space", str(space), "--data", "digits", "--input-shape", "3x16x16",
                  "--budget", str(TINY_BUDGET), "--latency-budget", "1s", "--image-size", "8", "--epochs", "1",
                  "--pruner", "median", "--census", "5", "--device", "cpu", "--timeout", "none", "--trials", "1",
                  "--out", str(out), cwd=tmp_path, env={"NASCOMP_LATENCY_CACHE": str(cache)})
    total = int(search.wait_for(START).group(1))  # the feasibility check calibrates first: a cold table
    time.sleep(1.0)
    code, err = search.stop()
    assert code == 143, err
    assert err.count("\n") == 1, repr(err)
    assert err.startswith("nascomp search: interrupted by SIGTERM: stopped measuring the latency lookup table after ")
    assert err.rstrip().endswith("rerun the same command to resume it")
    assert 0 < len(_entries(cache)) < total
    assert not out.exists()  # nothing was recorded yet: no half-written run folder is left
