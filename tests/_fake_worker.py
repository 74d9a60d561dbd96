"""``nascomp search`` with a stand-in for training, for the multi-worker tests and ``benchmarks/bench_workers.py``.

Usage: ``python tests/_fake_worker.py search RECIPE --storage URL --study-name NAME ...`` (any ``nascomp`` command
line). Everything is the real command (recipe, census, budget screening, storage, slots, heartbeats, twins,
outputs) except :func:`nascomp.train.fit`, which here sleeps ``NASCOMP_FAKE_TRAIN_S`` seconds (default 1) per epoch
and returns an accuracy derived from the model's parameter count, so that a test with several worker processes on
two CPU cores stays fast and its timing is predictable. When ``NASCOMP_FAKE_TRAIN_LOG`` names a file, each training
appends ``start PID ARCH`` and ``end PID ARCH`` lines (``ARCH``: a hash of the built model's structure) so a test can
count how often each architecture was really trained.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import nascomp.search.study as search_study
from nascomp.cli.main import main
from nascomp.train import FitResult, TrainingInterrupted


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


if __name__ == "__main__":
    search_study.fit = fake_fit
    sys.exit(main(sys.argv[1:]))
