"""``nascomp search`` with a stand-in for training, for the multi-worker tests and ``benchmarks/bench_workers.py``.

Usage: ``python tests/_fake_worker.py search RECIPE --storage URL --study-name NAME ...`` (any ``nascomp`` command
line). Everything is the real command (recipe, census, budget screening, storage, slots, heartbeats, twins,
outputs) except :func:`nascomp.train.fit`, which here sleeps ``NASCOMP_FAKE_TRAIN_S`` seconds (default 1) per epoch
and returns an accuracy derived from the model's parameter count, so that a test with several worker processes on
two CPU cores stays fast and its timing is predictable. With ``NASCOMP_FAKE_STEP_S`` set, the real ``fit`` runs
instead, each step slowed by that many seconds (successive halving's pauses and resumes need the real state). When ``NASCOMP_FAKE_TRAIN_LOG`` names a file, each training
appends ``start PID ARCH`` and ``end PID ARCH`` lines (``ARCH``: a hash of the built model's structure) so a test can
count how often each architecture was really trained.

Also the helpers that start such workers on a small test space (:func:`write_grid_recipe`, :func:`worker_env`,
:func:`start_worker`), shared by ``tests/search/test_distributed.py`` and the benchmark.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from nascomp.train import FitResult, TrainingInterrupted

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve()

#: 4 x 4 x 2 = 32 plain CNNs, all under 2 MMACs at 3x8x8: far more points than trials, so no point repeats.
GRID_SPACE = """\
name: grid
doc: A test space of plain CNNs (32 points).
dimensions:
  width: {choices: [4, 8, 12, 16]}
  depth: {low: 1, high: 4}
  kernel: {choices: [1, 3]}
architecture:
  name: grid
  input_shape: [3, 8, 8]
  params: {num_classes: 10, width: 8, depth: 1, kernel: 3}
  nodes:
    - {id: stem, type: conv_bn_act, out_channels: "${width}", kernel_size: 3, padding: 1}
    - {id: body, type: conv_bn_act, repeat: "${depth}", out_channels: "${width}", kernel_size: "${kernel}",
       padding: "${kernel // 2}"}
    - {id: pool, type: adaptive_avg_pool2d, output_size: 1}
    - {id: flatten, type: flatten}
    - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def write_grid_recipe(folder: Path, trials: int, sampler: str = "random") -> Path:
    """A recipe on :data:`GRID_SPACE`: 8x8 digits (400 images), 1 epoch, no pruning, a 10-point census."""
    folder.mkdir(parents=True, exist_ok=True)
    space = folder / "grid space.yaml"
    space.write_text(GRID_SPACE, encoding="utf-8")
    recipe = folder / "grid recipe.yaml"
    recipe.write_text(
        f"space: '{space}'\n"
        "budget: 2MFLOPs\n"
        "input_shape: [3, 8, 8]\n"
        "data: {source: digits, image_size: 8, val_fraction: 0.2, max_images: 400}\n"
        "train: {epochs: 1, batch_size: 32}\n"
        f"search: {{sampler: {sampler}, pruner: none, trials: {trials}, seed: 0, census: 10}}\n"
        "device: cpu\n",
        encoding="utf-8",
    )
    return recipe


def worker_env(log: Path | None = None, train_s: float = 1.0, heartbeat_s: float = 0.5) -> dict[str, str]:
    """The environment of a fake worker: fast heartbeats (stale after 6), ``train_s`` per epoch, one thread."""
    env = dict(os.environ, NASCOMP_HEARTBEAT_S=str(heartbeat_s), NASCOMP_FAKE_TRAIN_S=str(train_s),
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    if log is not None:
        env["NASCOMP_FAKE_TRAIN_LOG"] = str(log)
    return env


def start_worker(recipe: Path, storage: str, study: str, out: Path, env: dict[str, str],
                 extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """``nascomp search RECIPE --storage STORAGE --study-name STUDY --out OUT [EXTRA...]`` with fake training,
    output piped."""
    cmd = [sys.executable, str(WORKER), "search", str(recipe), "--storage", storage, "--study-name", study,
           "--out", str(out), "--no-progress", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _log(line: str) -> None:
    path = os.environ.get("NASCOMP_FAKE_TRAIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:  # one short write per line: O_APPEND keeps lines whole
            f.write(line + "\n")


def fake_fit(model, data, config, *, device="cpu", seed=0, on_epoch=None, on_step=None, should_stop=None):
    arch = hashlib.sha1(repr(model).encode()).hexdigest()[:12]
    _log(f"start {os.getpid()} {arch}")
    seconds = float(os.environ.get("NASCOMP_FAKE_TRAIN_S", "1"))
    params = sum(p.numel() for p in model.parameters())
    accuracy = 0.5 + (params % 997) / 2000
    history = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.perf_counter())))
            if should_stop is not None and should_stop():
                raise TrainingInterrupted(f"stopped in epoch {epoch + 1}")
        if on_step is not None:
            on_step(1, 1)
        history.append(accuracy)
        if on_epoch is not None:
            on_epoch(epoch, accuracy)
    _log(f"end {os.getpid()} {arch}")
    return FitResult(accuracy=accuracy, history=history, seconds=time.perf_counter() - started)


def slow_real_fit(model, data, config, *, on_step=None, **kw):
    """The real :func:`nascomp.train.fit` (pauses, saved states and resumes included), each step slowed by
    ``NASCOMP_FAKE_STEP_S`` seconds so that a test can kill a worker in the middle of a trial."""
    from nascomp.train import fit

    step_s = float(os.environ.get("NASCOMP_FAKE_STEP_S", "0.1"))

    def slow_step(step: int, steps: int) -> None:
        time.sleep(step_s)
        if on_step is not None:
            on_step(step, steps)

    return fit(model, data, config, on_step=slow_step, **kw)


if __name__ == "__main__":
    import nascomp.search.study as search_study
    from nascomp.cli.main import main

    search_study.fit = slow_real_fit if os.environ.get("NASCOMP_FAKE_STEP_S") else fake_fit
    sys.exit(main(sys.argv[1:]))
