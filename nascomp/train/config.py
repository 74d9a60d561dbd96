"""The schedule and settings of a full training run (``nascomp train``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nascomp.errors import NascompError

if TYPE_CHECKING:
    from nascomp.train.engine import EngineConfig

__all__ = ["RunConfig", "OPTIMIZERS", "DEFAULT_LR"]

#: The optimizers of the training engine (:func:`nascomp.train.optim.make_optimizer`), of ``nascomp train`` and of
#: the search's proxy alike.
OPTIMIZERS = ("adamw", "sgd")
#: Peak learning rate per optimizer when ``lr`` is not given (SGD: Goyal et al.'s 0.1 per 256 images, scaled by
#: the batch size; AdamW: 1e-3, Loshchilov & Hutter arXiv:1711.05101). AdamW is the default optimizer: measured on
#: Fashion-MNIST (docs/train.md, "Defaults"), SGD at 0.05 diverged in short runs of deep nets (training loss 10 after
#: 10 steps of SE-ResNeXt-50) where AdamW trained, and matched it on small nets.
DEFAULT_LR = {"sgd": 0.1, "adamw": 1e-3}


@dataclass(frozen=True)
class RunConfig:
    """Settings of one training run.

    Attributes:
        data: The ``--data`` source (``fashion-mnist``, ``digits``, ``cifar10:DIR``, ``imagefolder:DIR``).
        epochs: Passes over the training split.
        batch_size: Images per step.
        lr: Peak learning rate after warm-up; ``None`` for :data:`DEFAULT_LR` (SGD: ``0.1 * batch_size / 256``).
        optimizer: ``adamw`` (default) or ``sgd`` (momentum 0.9, Nesterov).
        weight_decay: On conv and linear weights only (never on norm weights or biases).
        label_smoothing: Inception-v3 label smoothing in [0, 1).
        warmup_epochs: Linear warm-up length, at most a fifth of the run.
        image_size: Training side in pixels; ``None`` for the data's native size (224 for image folders).
        val_fraction: Share of the non-test images held out for validation.
        seed: Seeds initialisation, validation split, shuffling and augmentation.
        max_images: Train on a seeded stratified subset of at most this many train + validation images.
        augment: The source's standard augmentation (``--no-augment`` turns it off).
        skip_bad_images: Image folders: leave out undecodable files (counted in the summary) instead of stopping.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``...
        compile: Wrap the model in ``torch.compile``.
        workers: DataLoader worker processes decoding image folders.
        eval_batch_size: Images per evaluation batch.
        bn_recalibration_images: Before every evaluation, batch-norm running statistics are recomputed as the
            plain average over this many unaugmented train images (rounded up to whole batches; 0: off); the BN
            recalibration of Guo et al., arXiv:1904.00420, with Cai et al.'s 2,000 images (arXiv:1908.09791).
    """

    data: str = "fashion-mnist"
    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None
    optimizer: str = "adamw"
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: float = 1.0
    image_size: int | None = None
    val_fraction: float = 0.1
    seed: int = 0
    max_images: int | None = None
    augment: bool = True
    skip_bad_images: bool = False
    device: str = "auto"
    compile: bool = False
    workers: int = 2
    eval_batch_size: int = 500
    bn_recalibration_images: int = 2000

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            problems.append(f"--epochs must be a whole number of at least 1, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            problems.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got '{self.optimizer}'")
        if not 0.0 <= self.label_smoothing < 1.0:
            problems.append(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if not self.weight_decay >= 0 or not self.warmup_epochs >= 0:
            problems.append("weight decay and warm-up epochs must not be negative")
        if self.image_size is not None and self.image_size < 1:
            problems.append(f"--image-size must be at least 1 pixel, got {self.image_size}")
        if not 0.0 < self.val_fraction < 1.0:
            problems.append(f"the validation fraction must be in (0, 1), got {self.val_fraction}")
        if self.max_images is not None and self.max_images < 1:
            problems.append(f"--max-images must be at least 1, got {self.max_images}")
        if self.bn_recalibration_images < 0:
            problems.append(f"bn_recalibration_images must be 0 (off) or more, got {self.bn_recalibration_images}")
        if self.workers < 0:
            problems.append(f"--workers must not be negative, got {self.workers}")
        if problems:
            raise NascompError(problems[0])

    @property
    def peak_lr(self) -> float:
        """``lr``, or the optimizer's default (SGD scaled linearly with the batch size, Goyal et al.)."""
        if self.lr is not None:
            return float(self.lr)
        return DEFAULT_LR["sgd"] * self.batch_size / 256 if self.optimizer == "sgd" else DEFAULT_LR["adamw"]

    @property
    def bn_recalibration_batches(self) -> int:
        """Train batches that hold ``bn_recalibration_images`` (rounded up; 0: off)."""
        return math.ceil(self.bn_recalibration_images / self.batch_size)

    def engine_config(self) -> EngineConfig:
        """These settings as the training engine runs them (:class:`nascomp.train.engine.EngineConfig`): the
        warm-up + cosine schedule, no weight decay on norms and biases, the standard augmentation."""
        from nascomp.train.engine import EngineConfig  # loads torch: not at import (the CLI's --help)

        return EngineConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.peak_lr,
                            weight_decay=self.weight_decay, decay_norms_and_biases=False, lr_schedule="warmup_cosine",
                            warmup_epochs=self.warmup_epochs, label_smoothing=self.label_smoothing,
                            bn_recalibration_batches=self.bn_recalibration_batches, augment=self.augment,
                            workers=self.workers, eval_batch_size=self.eval_batch_size, compile=self.compile)

    def schedule_identity(self) -> dict:
        """What must match for a checkpoint to be resumed: the schedule, its seed and the data settings."""
        keep = ("epochs", "batch_size", "optimizer", "weight_decay", "label_smoothing", "warmup_epochs",
                "seed", "augment", "val_fraction", "max_images")
        out = {k: getattr(self, k) for k in keep}
        out["lr"] = self.peak_lr
        return out

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)
