"""What a training run leaves in its output folder: spec.yaml, metrics.csv, curves.png, weights.pt, summary.json.

Every file is written atomically (a crash leaves the previous version or nothing, never half a file).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from nascomp._atomic import atomic_path, write_atomic

__all__ = ["TrainSummary", "write_metrics_csv", "write_curves", "write_weights", "write_summary",
           "METRIC_COLUMNS"]

METRIC_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_accuracy", "seconds", "images_per_second")


@dataclass
class TrainSummary:
    """The result of :func:`nascomp.train.train_spec`.

    Attributes:
        spec_name: Name of the spec trained.
        out: Output folder.
        epochs: Epochs of the schedule; ``epochs_done``: epochs finished (less after an interrupt).
        interrupted: Stopped by Ctrl-C or SIGTERM; ``exit_code`` is then 130 or 143 (else 0).
        test_accuracy: Top-1 accuracy (0-1) on the test split, evaluated once at the end (``None`` if interrupted).
        test_stderr: Its binomial standard error ``sqrt(p (1 - p) / n)``.
        test_n: Images in the test split; ``test_source``: ``official`` or the held-out rule.
        val_accuracy: Validation accuracy after the last finished epoch.
        params: Trainable parameters; ``macs``: multiply-accumulates of one image at ``input_shape`` (FLOPs in the
            field's convention = MACs; FlopCounterMode FLOPs / 2).
        images_per_second: Training throughput (training steps only, no evaluation).
        skipped_images: Bad files left out of an image folder (``--skip-bad-images``).
        seconds: Wall time of this process's run.
    """

    spec_name: str
    out: str
    data: str
    device: str
    epochs: int
    epochs_done: int
    input_shape: tuple[int, int, int]
    num_classes: int
    params: int
    macs: int
    interrupted: bool = False
    exit_code: int = 0
    test_accuracy: float | None = None
    test_stderr: float | None = None
    test_n: int = 0
    test_source: str = ""
    val_accuracy: float | None = None
    images_per_second: float = 0.0
    skipped_images: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["macs_convention"] = "MACs (multiply-accumulates) = the field's CNN 'FLOPs' = FlopCounterMode FLOPs / 2"
        return out


def write_metrics_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in METRIC_COLUMNS})
    return write_atomic(path, buf.getvalue())


def write_curves(path: Path, rows: list[dict], *, title: str) -> Path:
    """Loss (train, validation) and validation accuracy per epoch, as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train (with augmentation)")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], "o-", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * r["val_accuracy"] for r in rows], "o-", color="tab:green")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("validation accuracy (%)")
    fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path


def write_weights(path: Path, model: torch.nn.Module) -> Path:
    """The model's ``state_dict`` (CPU tensors), loadable with ``torch.load(path, weights_only=True)``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path, needed_bytes=tensor_bytes(state)) as tmp:
        torch.save(state, tmp)
    return path


def tensor_bytes(value: Any) -> int:
    """Bytes of the tensors in ``value`` (nested dicts, lists, tuples), plus 1 KiB per tensor of zip overhead: about
    the size ``torch.save`` writes."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size() + 1024
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def write_summary(path: Path, summary: TrainSummary) -> Path:
    return write_atomic(path, json.dumps(summary.to_json(), indent=2) + "\n")
