"""Train a candidate for a few epochs on in-memory data and measure validation accuracy after each epoch.

The schedule is AdamW (or SGD with Nesterov momentum) under a one-cycle learning rate (Smith & Topin, "Super-
Convergence", arXiv:1708.07120), which gets a from-scratch ResNet-50 past 95 % on digits in three epochs. Label
smoothing is the Inception-v3 recipe (Szegedy et al., arXiv:1512.00567, section 7), y = (1 - a) one_hot + a / C,
through ``torch.nn.CrossEntropyLoss(label_smoothing=a)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from nascomp.data import ImageData

__all__ = ["TrainConfig", "FitResult", "TrainingDiverged", "TrainingInterrupted", "fit", "evaluate"]

OPTIMIZERS = ("adamw", "sgd")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the trial is recorded as failed with this message."""


class TrainingInterrupted(Exception):
    """``should_stop()`` returned true (Ctrl-C): training stopped after the current step."""


@dataclass(frozen=True)
class TrainConfig:
    """A trial's training schedule.

    Attributes:
        epochs: Passes over the training split.
        batch_size: Images per step.
        lr: Peak learning rate of the one-cycle schedule.
        weight_decay: Decoupled (AdamW) or L2 (SGD) weight decay.
        label_smoothing: Inception-v3 label smoothing ``a`` in [0, 1).
        optimizer: ``adamw`` or ``sgd`` (momentum 0.9, Nesterov).
        warmup_fraction: Share of the steps spent raising the learning rate (one-cycle ``pct_start``).
    """

    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    optimizer: str = "adamw"
    warmup_fraction: float = 0.25

    def __post_init__(self) -> None:
        from nascomp.errors import SearchError

        if self.epochs < 1 or self.batch_size < 1:
            raise SearchError(f"epochs and batch_size must be at least 1, got {self.epochs} and {self.batch_size}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise SearchError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.optimizer not in OPTIMIZERS:
            raise SearchError(f"unknown optimizer '{self.optimizer}' (valid: {', '.join(OPTIMIZERS)})")
        if not (self.lr > 0 and 0.0 < self.warmup_fraction < 1.0 and self.weight_decay >= 0):
            raise SearchError("lr must be positive, warmup_fraction in (0, 1) and weight_decay non-negative")


@dataclass
class FitResult:
    """What a training run produced.

    Attributes:
        accuracy: Validation accuracy (0-1) after the last epoch run.
        history: Validation accuracy after each epoch.
        seconds: Wall time of training and evaluation.
    """

    accuracy: float
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, device: torch.device | str = "cpu",
             batch_size: int = 500) -> float:
    """Top-1 accuracy (0-1) of ``model`` on uint8 images ``x`` ``(N, C, H, W)`` and labels ``y`` ``(N,)``."""
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        xb = ImageData.normalize(x[start : start + batch_size].to(device))
        correct += int((model(xb).argmax(1) == y[start : start + batch_size].to(device)).sum())
    return correct / max(1, len(y))


def fit(
    model: nn.Module,
    data: ImageData,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FitResult:
    """Train ``model`` on ``data.x_train`` and report validation accuracy after every epoch.

    Args:
        model: A freshly built classifier ``(N, C, H, W) -> (N, num_classes)``.
        data: Train and validation images.
        config: The schedule.
        device: Where to train.
        seed: Seeds the shuffling (the caller seeds the weight initialisation before building ``model``).
        on_epoch: Called as ``on_epoch(epoch, accuracy)`` (0-based epoch); may raise (e.g. ``optuna.TrialPruned``)
            to stop early, and the exception propagates.
        on_step: Called as ``on_step(step, steps_per_epoch)`` after every optimizer step (progress bars).
        should_stop: Polled after every step; when it returns true, :class:`TrainingInterrupted` is raised.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
        TrainingInterrupted: ``should_stop()`` returned true.

    Example:
        >>> from nascomp.data import load_data
        >>> data = load_data("digits", image_size=8)
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
        >>> fit(net, data, TrainConfig(epochs=2)).accuracy > 0.8
        True
    """
    start_time = time.perf_counter()
    model.to(device)
    steps_per_epoch = math.ceil(len(data.y_train) / config.batch_size)
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
        )
    total_steps = config.epochs * steps_per_epoch
    if config.warmup_fraction * total_steps >= 2:
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=config.warmup_fraction
        )
    else:  # too few steps for a warm-up phase (torch's OneCycleLR divides by zero): cosine decay from lr
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(data.y_train), generator=generator)
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            if len(idx) < 2 and step > 0:  # BatchNorm cannot train on a single image
                continue
            xb = ImageData.normalize(data.x_train[idx].to(device))
            loss = criterion(model(xb), data.y_train[idx].to(device))
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"loss became {float(loss.detach())} at epoch {epoch + 1}, step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if on_step is not None:
                on_step(step + 1, steps_per_epoch)
            if should_stop is not None and should_stop():
                raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {step + 1}")
        accuracy = evaluate(model, data.x_val, data.y_val, device=device)
        history.append(accuracy)
        if on_epoch is not None:
            on_epoch(epoch, accuracy)
    return FitResult(accuracy=history[-1], history=history, seconds=time.perf_counter() - start_time)
