"""``nascomp train`` through a subprocess: a run end to end, kill -9 then resume, SIGTERM, and bad input."""

import csv
import os
import signal
import subprocess
import time

import pytest
import torch

import nascomp
from tests._cli import _command, assert_one_line_error, run_cli
from tests._train import QUICK, TINY_SPEC, write_spec

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def test_train_end_to_end(tmp_path):
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    result = run_cli("train", str(spec), *QUICK, "--epochs", "2", "--lr", "0.1", "--out", str(out), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 2  # --no-progress: one line per epoch
    assert "test accuracy" in result.stdout and "standard error, n = 269 test images" in result.stdout
    assert "MACs = the field's FLOPs" in result.stdout and "skipped images 0" in result.stdout
    model = nascomp.build(nascomp.load_spec(out / "spec.yaml"))
    model.load_state_dict(torch.load(out / "weights.pt", weights_only=True), strict=True)
    # `nascomp build` rebuilds the exact spec trained
    assert run_cli("build", str(out / "spec.yaml")).returncode == 0


def _wait_for(path, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _start(args, cwd):
    return subprocess.Popen([*_command(), *args], cwd=cwd, env={**os.environ, **ONE_THREAD},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_kill_9_mid_run_then_the_same_command_finishes(tmp_path):
    spec = write_spec(tmp_path)
    args = ["train", str(spec), *QUICK, "--max-images", "1000", "--epochs", "4", "--out", str(tmp_path / "out")]
    proc = _start(args, tmp_path)
    _wait_for(tmp_path / "out" / "metrics.csv", proc)  # epoch 1 is finished and checkpointed
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [int(r["epoch"]) for r in csv.DictReader((tmp_path / "out" / "metrics.csv").open())]
    assert done and done[-1] < 4 and not (tmp_path / "out" / "weights.pt").exists()
    again = run_cli(*args, cwd=tmp_path, env=ONE_THREAD)
    assert again.returncode == 0, again.stderr
    assert f"resuming {tmp_path / 'out' / 'checkpoint.pt'} after epoch {done[-1]}/4" in again.stdout
    assert [int(r["epoch"]) for r in csv.DictReader((tmp_path / "out" / "metrics.csv").open())] == [1, 2, 3, 4]
    assert (tmp_path / "out" / "weights.pt").exists()


def test_sigterm_stops_after_a_step_and_says_how_to_resume(tmp_path):
    spec = write_spec(tmp_path)
    args = ["train", str(spec), *QUICK, "--max-images", "1000", "--epochs", "30", "--out", str(tmp_path / "out")]
    proc = _start(args, tmp_path)
    _wait_for(tmp_path / "out" / "metrics.csv", proc)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert "Resume by running the same command again" in stdout
    rows = list(csv.DictReader((tmp_path / "out" / "metrics.csv").open()))
    assert 1 <= len(rows) < 30 and not (tmp_path / "out" / "weights.pt").exists()


def test_epochs_0_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = run_cli("train", "resnet18", "--data", "digits", "--epochs", "0", "--out", str(out))
    assert_one_line_error(result, "--epochs must be a whole number of at least 1")
    assert not out.exists()


def test_unwritable_out(tmp_path):
    (tmp_path / "a file").write_text("x")
    for out in (tmp_path / "a file" / "run", "/proc/nascomp-run"):
        result = run_cli("train", "resnet18", *QUICK, "--epochs", "1", "--out", str(out))
        assert_one_line_error(result, f"--out {out}")


def test_num_classes_is_the_datas_and_cannot_be_set(tmp_path):
    """It would be replaced by the data's class count without a word (a fresh-user report): refused instead."""
    result = run_cli("train", "resnet18", *QUICK, "--epochs", "1", "--set", "num_classes=ten",
                     "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "--set num_classes=ten", "takes the class count from the data")
    assert not (tmp_path / "o").exists()


def test_channels_the_data_cannot_give(tmp_path):
    result = run_cli("train", "resnet18", *QUICK, "--epochs", "1", "--input", "4x32x32", "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "takes 4-channel input", "digits gives 1-channel (grayscale) images")
    assert not (tmp_path / "o").exists()


def test_foreign_checkpoint_via_cli(tmp_path):
    spec = write_spec(tmp_path)
    out = str(tmp_path / "out")
    assert run_cli("train", str(spec), *QUICK, "--epochs", "1", "--out", out, env=ONE_THREAD).returncode == 0
    other = write_spec(tmp_path, TINY_SPEC.replace("width: 8", "width: 4"), "other.yaml")
    result = run_cli("train", str(other), *QUICK, "--epochs", "1", "--out", out)
    assert_one_line_error(result, "is from another spec", "refusing to load it", "delete")
    checkpoint = tmp_path / "out" / "checkpoint.pt"  # issue 22: a truncated file's message was cut mid-sentence
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    result = run_cli("train", str(spec), *QUICK, "--epochs", "1", "--out", out)
    line = assert_one_line_error(result, f"cannot resume from {checkpoint}: the file is truncated or corrupt",
                                 f"delete {checkpoint}")
    assert "high" not in line and "weights_only=False" not in line and line.endswith(str(checkpoint))


def _image_folder(tmp_path):
    """Two classes of six 12x12 PNGs each, in ``tmp_path / "imgs"``."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "imgs"
    for c, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 12, 3), 40 * c + 7 * i, dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_corrupt_image_stops_or_is_skipped(tmp_path):
    root = _image_folder(tmp_path)
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    args = ["train", str(write_spec(tmp_path)), "--data", f"imagefolder:{root}", "--image-size", "8", "--epochs", "1",
            "--batch-size", "4", "--workers", "1", "--no-progress", "--out", str(tmp_path / "out")]
    assert_one_line_error(run_cli(*args), "broken.jpg", "--skip-bad-images")
    result = run_cli(*args, "--skip-bad-images", env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert "skipped images 1" in result.stdout


def test_an_image_that_fails_to_decode_mid_epoch_leaves_no_output_folder(tmp_path):
    """Issue 22: a data error found mid-epoch left a half-made folder (spec.yaml alone)."""
    root = _image_folder(tmp_path)
    broken = root / "b" / "0.png"
    broken.write_bytes(broken.read_bytes()[:60])  # the header survives the start-up scan, the pixels do not
    out = tmp_path / "out"
    result = run_cli("train", str(write_spec(tmp_path)), "--data", f"imagefolder:{root}", "--image-size", "8",
                     "--epochs", "1", "--batch-size", "4", "--workers", "0", "--no-progress", "--out", str(out),
                     env=ONE_THREAD)
    assert_one_line_error(result, f"cannot decode image '{broken}'")
    assert not out.exists()


def test_a_spec_whose_shapes_do_not_fit_names_its_file_and_leaves_no_runs_folder(tmp_path):
    spec = tmp_path / "groups.yaml"
    # torch itself refuses this layer: Conv2d(3, 8, 3, groups=4) raises "in_channels must be divisible by groups"
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        torch.nn.Conv2d(3, 8, 3, groups=4)
    spec.write_text("name: g\ninput_shape: [3, 8, 8]\nnodes:\n"
                    "  - {id: c1, type: conv2d, out_channels: 8, kernel_size: 3, groups: 4}\n")
    result = run_cli("train", spec.name, "--data", "digits", "--epochs", "1", cwd=tmp_path)
    assert_one_line_error(result, f"{spec}:4: node 'c1': groups=4 does not divide in_channels=3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups.yaml"]  # no runs/, nothing half-written
