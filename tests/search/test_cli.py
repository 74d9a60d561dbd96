"""``nascomp search`` through a subprocess, as a user runs it: bad inputs exit 2 with one line and write nothing;
a short search in a folder with spaces writes its outputs, and rerunning with more trials tops the study up."""

import csv

import optuna
import pytest

from tests._cli import assert_one_line_error, run_cli
from tests._search import write_tiny_space

# One thread per trial: two test workers share two cores.
ENV = {"OMP_NUM_THREADS": "1", "COLUMNS": "160"}


def _search(tmp_path, *args):
    return run_cli("search", *args, cwd=tmp_path, env=ENV)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--budget", "4 bananas"], ["cannot read budget '4 bananas'", "e.g. '4GFLOPs'", "MACs"]),
        (["--budget", "1KFLOPs"], ["no architecture of space 'se_resnext' fits the budget of 1 KMACs",
                                   "cheapest found costs"]),
        (["--data", "imagefolder:no such folder"], ["data folder 'no such folder' does not exist"]),
        (["--data", "mnist"], ["unknown data source 'mnist'"]),
        (["--space", "se_resnxt"], ["unknown search space 'se_resnxt'; did you mean 'se_resnext'?"]),
        (["no_such_recipe"], ["unknown recipe 'no_such_recipe'", "default"]),
        (["--timeout", "soon"], ["cannot read duration 'soon'"]),
        (["--storage", "mysql-ish"], ["cannot read storage 'mysql-ish'"]),
        (["--budget", "4"], ["fits the budget of 4 MACs: the cheapest found costs"]),  # no "4 MACs (4 MACs)"
        (["--epochs", "0"], ["epochs and batch_size must be at least 1, got 0 and 64 (from --epochs 0)"]),
    ],
)
def test_bad_inputs_exit_2_with_one_line_and_write_nothing(tmp_path, args, fragments):
    result = _search(tmp_path, *args, "--out", "out dir", "--census", "20")
    line = assert_one_line_error(result, *fragments)
    assert line.startswith("nascomp search: error: ")
    assert not (tmp_path / "out dir").exists() and not (tmp_path / "runs").exists()


@pytest.mark.slow  # three CLI runs: about 2 minutes on a busy 2-core machine
def test_short_search_then_top_up(tmp_path):
    space = write_tiny_space(tmp_path / "my spaces")
    out = tmp_path / "search out"
    common = ["--space", str(space), "--budget", "300KMACs", "--input-shape", "3x16x16", "--epochs", "1",
              "--image-size", "8", "--census", "20", "--out", str(out), "--no-progress", "--data", "digits"]
    first = _search(tmp_path, *common, "--trials", "3")
    assert first.returncode == 0, first.stderr
    assert "of 20 uniformly sampled points" in first.stdout and "Summary" in first.stdout
    for name in ("best.yaml", "trials.csv", "history.png", "pareto.png", "study.db"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert len(rows) == 3 and all(int(r["macs"]) <= 300_000 for r in rows)
    # best.yaml rebuilds with the recorded MACs
    best = min(rows, key=lambda r: (-float(r["accuracy"] or 0), int(r["number"])))
    profiled = run_cli("profile", str(out / "best.yaml"), cwd=tmp_path, env=ENV)
    assert profiled.returncode == 0, profiled.stderr
    assert f"{int(best['macs']):,}" in profiled.stdout
    second = _search(tmp_path, *common, "--trials", "5")
    assert second.returncode == 0, second.stderr
    assert "resuming study" in second.stdout
    storage = f"sqlite:///{out / 'study.db'}"
    assert len(optuna.load_study(study_name="tiny space-300KMACs-digits", storage=storage).trials) == 5
    assert len(list(csv.DictReader(open(out / "trials.csv")))) == 5


@pytest.mark.slow  # a real SIGINT to a running search
def test_ctrl_c_saves_and_exits_130(tmp_path):
    import os
    import signal
    import subprocess
    import time

    from tests._cli import _command

    space = write_tiny_space(tmp_path)
    out = tmp_path / "interrupted run"
    proc = subprocess.Popen(
        [*_command(), "search", "--space", str(space), "--budget", "2MMACs", "--input-shape", "3x16x16",
         "--epochs", "30", "--image-size", "8", "--census", "5", "--trials", "6", "--out", str(out), "--no-progress",
         "--data", "digits", "--pruner", "median"],
        cwd=tmp_path, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (out / "study.db").exists():
            time.sleep(0.5)
        time.sleep(3)  # inside the first trial's 30 epochs
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "stopping after the current step" in stdout
    study = optuna.load_study(study_name="tiny space-2MMACs-digits", storage=f"sqlite:///{out / 'study.db'}")
    last = study.trials[-1]
    assert last.state == optuna.trial.TrialState.FAIL and last.user_attrs["interrupted"]
    assert (out / "trials.csv").is_file() and (out / "history.png").is_file()
