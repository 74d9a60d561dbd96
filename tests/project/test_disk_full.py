"""A full disk while writing (issue 22): one line naming the file and the space it needs, exit 2, the last good
checkpoint kept; unrelated errors pass through untouched.

The end-to-end test mounts a small tmpfs (root only: CI runs as root; elsewhere it skips, saying so) and always
unmounts it.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid

import pytest

from tests._cli import assert_one_line_error, run_cli
from nascomp._atomic import atomic_path, write_atomic
from nascomp._disk import is_disk_full
from nascomp.errors import DiskFullError

# A net whose checkpoint (weights + SGD momentum, float32) is about 1.0 MiB: one fits on a 2 MiB disk, two do not.
WIDE_SPEC = """\
name: wide
input_shape: [3, 16, 16]
params: {num_classes: 3}
nodes:
  - {id: conv, type: conv2d, out_channels: 200, kernel_size: 3, padding: 1}
  - {id: flat, type: flatten}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_enospc_and_edquot_in_an_atomic_write_name_the_file_and_the_space(tmp_path, code):
    dest = tmp_path / "weights.pt"
    dest.write_bytes(b"previous")
    with pytest.raises(DiskFullError) as info:
        with atomic_path(dest, needed_bytes=3 * 2**20):
            raise OSError(code, os.strerror(code))
    message = str(info.value)
    assert message.startswith(f"cannot write {dest}: ") and "it needs about 3.00 MiB more" in message
    assert ("quota" in message) == (code == errno.EDQUOT) and "\n" not in message
    assert dest.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["weights.pt"]


def test_unrelated_errors_are_not_taken_for_a_full_disk(tmp_path):
    # torch's writer's text on a disk with room to spare is not a full disk, nor is any other error
    roomy = RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0")
    assert shutil.disk_usage(tmp_path).free > 2**20 and not is_disk_full(roomy, tmp_path)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"), tmp_path)
    assert is_disk_full(RuntimeError("wrapper"), tmp_path) is False
    chained = RuntimeError("outer")
    chained.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert is_disk_full(chained, tmp_path)
    with pytest.raises(RuntimeError, match="unrelated"):
        with atomic_path(tmp_path / "x.bin"):
            raise RuntimeError("unrelated")
    assert write_atomic(tmp_path / "ok.txt", "fine").read_text() == "fine"


@pytest.fixture
def small_disk(tmp_path, request):
    """A tmpfs of 2 MiB (or the size a test's ``disk_size`` marker gives), unmounted afterwards (root and a kernel
    that allows it, else skipped)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    marker = request.node.get_closest_marker("disk_size")
    size = marker.args[0] if marker else "2M"
    mount_point = tmp_path / f"full-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.slow  # two training runs
def test_train_on_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, small_disk):
    spec = tmp_path / "wide.yaml"
    spec.write_text(WIDE_SPEC)
    out = small_disk / "run"
    args = ["train", str(spec), "--data", "digits", "--max-images", "300", "--epochs", "3", "--batch-size", "32", "--optimizer", "sgd",
            "--no-progress", "--device", "cpu", "--out", str(out)]
    result = run_cli(*args, env={"OMP_NUM_THREADS": "1"})
    checkpoint = out / "checkpoint.pt"
    assert_one_line_error(result, f"cannot write {checkpoint}: the disk is full (it needs about 1.03 MiB more)",
                          f"the last good checkpoint {checkpoint} is kept", "run the same command again to resume")
    assert "epoch 1/3" in result.stdout and "epoch 2/3" not in result.stdout
    import torch

    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1  # whole and loadable: epoch 1's
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    subprocess.run(["mount", "-o", "remount,size=8M", str(small_disk)], check=True)
    again = run_cli(*args, env={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stdout and (out / "weights.pt").is_file()


def test_train_that_cannot_write_its_first_checkpoint_leaves_no_folder(tmp_path, small_disk):
    spec = tmp_path / "wide.yaml"
    spec.write_text(WIDE_SPEC.replace("out_channels: 200", "out_channels: 600"))  # a 3 MiB checkpoint
    out = small_disk / "run"
    result = run_cli("train", str(spec), "--data", "digits", "--max-images", "300", "--epochs", "1",
                     "--batch-size", "32", "--no-progress", "--device", "cpu", "--out", str(out),
                     env={"OMP_NUM_THREADS": "1"})
    assert_one_line_error(result, f"cannot write {out / 'checkpoint.pt'}: the disk is full",
                          "no epoch had finished, so nothing was kept")
    assert not out.exists()


@pytest.mark.disk_size("60K")  # room for Optuna's first tables, not for the whole study
def test_a_search_whose_study_db_fills_the_disk_says_how_to_resume(tmp_path, small_disk):
    from tests._search import write_tiny_space

    out = small_disk / "run"
    result = run_cli("search", "--space", str(write_tiny_space(tmp_path / "spaces")), "--budget", "300KMACs",
                     "--input-shape", "3x16x16", "--epochs", "1", "--image-size", "8", "--census", "5", "--trials", "2",
                     "--out", str(out), "--no-progress", "--device", "cpu", "--data", "digits",
                     env={"OMP_NUM_THREADS": "1"})
    assert_one_line_error(result, f"cannot write {out / 'study.db'}: the disk is full",
                          f"the study in sqlite:///{out / 'study.db'} keeps every trial that finished",
                          "run the same command again to resume")
