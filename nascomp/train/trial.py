"""The search's proxy: a trial's training schedule (:class:`TrainConfig`) and :func:`fit`, the training engine
(:mod:`nascomp.train.engine`) in that configuration.

The schedule is AdamW (or SGD with Nesterov momentum) under a one-cycle learning rate (Smith & Topin, "Super-
Convergence", arXiv:1708.07120), which gets a from-scratch ResNet-50 past 95 % on digits in three epochs, every
parameter decayed, no augmentation. Label smoothing is the Inception-v3 recipe (Szegedy et al., arXiv:1512.00567,
section 7), y = (1 - a) one_hot + a / C, through ``torch.nn.CrossEntropyLoss(label_smoothing=a)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from nascomp.train.config import OPTIMIZERS
from nascomp.train.engine import (Engine, EngineConfig, EpochReport, TrainingDiverged, TrainingInterrupted,
                                  epoch_steps)

__all__ = ["TrainConfig", "FitResult", "TrainingDiverged", "TrainingInterrupted", "fit"]


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
        data_fractions: Multi-fidelity proxy: the share of the train split each epoch trains on (one value per
            epoch, each in (0, 1], non-decreasing), e.g. ``(1/9, 1/3, 1)``. Epoch ``e`` takes the first
            ``ceil(f_e * n / batch_size)`` batches of its seeded shuffle, a seeded random subset that grows with
            the epoch (the rung); the validation split is never subsampled. ``None``: every epoch sees all of it.
        val_fractions: The share of the validation split each epoch validates on (one value per epoch, each in
            (0, 1], the last 1): every ``round(1 / f)``-th image of the split, a fixed strided subset (stratified
            also where the split is ordered by class). Validating 1,500 images costs as much as about 8 training
            steps; the first rungs of successive halving only need a coarse rank. ``None``: all of it every epoch.
        bn_recalibration_batches: Before each validation, batch-norm running statistics are recomputed from this
            many train batches of the epoch (cumulative average, the weights unchanged): "BN recalibration" of
            Guo et al., "Single Path One-Shot NAS", arXiv:1904.00420, and Cai et al., "Once-for-All",
            arXiv:1908.09791. A proxy stopped after a dozen steps at peak learning rate otherwise validates with
            running statistics that lag the weights: measured on Fashion-MNIST, 4 in-band SE-ResNeXt nets after
            14 steps scored 0.10-0.14 (chance) with their running statistics and 0.38-0.56 recalibrated. 0: off.
    """

    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    optimizer: str = "adamw"
    warmup_fraction: float = 0.25
    data_fractions: tuple[float, ...] | None = None
    val_fractions: tuple[float, ...] | None = None
    bn_recalibration_batches: int = 4

    def epoch_steps(self, train_images: int) -> list[int]:
        """Optimizer steps of each epoch on a train split of ``train_images`` images: all its batches, or the
        first ``ceil(f_e * n / batch_size)`` of them under ``data_fractions`` (at least 1); the engine's one rule
        (:func:`nascomp.train.engine.epoch_steps`).

        Example:
            >>> TrainConfig(epochs=3, data_fractions=(1 / 9, 1 / 3, 1.0)).epoch_steps(7500)
            [14, 40, 118]
        """
        return epoch_steps(train_images, self.batch_size, epochs=self.epochs, data_fractions=self.data_fractions)

    def engine_config(self) -> EngineConfig:
        """This schedule as the engine runs it: one-cycle, every parameter decayed, no augmentation, in-memory
        batches fetched in the main process, validation batches of 500."""
        return EngineConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
                            weight_decay=self.weight_decay, decay_norms_and_biases=True, lr_schedule="one_cycle",
                            warmup_fraction=self.warmup_fraction, label_smoothing=self.label_smoothing,
                            data_fractions=self.data_fractions, val_strides=tuple(self.val_strides()),
                            bn_recalibration_batches=self.bn_recalibration_batches, augment=False, workers=0,
                            eval_batch_size=500)

    def val_strides(self) -> list[int]:
        """Every how many validation images each epoch validates on (1: all of them).

        Example:
            >>> TrainConfig(epochs=3, val_fractions=(1 / 3, 1.0, 1.0)).val_strides()
            [3, 1, 1]
        """
        return [max(1, round(1.0 / f)) for f in (self.val_fractions or [1.0] * self.epochs)]

    def val_images(self, val_images: int) -> list[int]:
        """Images each epoch validates on, of a validation split of ``val_images``.

        Example:
            >>> TrainConfig(epochs=3, val_fractions=(1 / 3, 1.0, 1.0)).val_images(1500)
            [500, 1500, 1500]
        """
        return [len(range(0, val_images, k)) for k in self.val_strides()]

    def __post_init__(self) -> None:
        from nascomp.errors import SearchError

        if self.data_fractions is not None:
            fractions = tuple(float(f) for f in self.data_fractions)
            object.__setattr__(self, "data_fractions", fractions)
            if len(fractions) != self.epochs:
                raise SearchError(f"data_fractions needs one share per epoch ({self.epochs}), got {len(fractions)}")
            if any(not 0.0 < f <= 1.0 for f in fractions) or list(fractions) != sorted(fractions):
                raise SearchError(f"data_fractions must be non-decreasing shares in (0, 1], got {list(fractions)}")

        if self.val_fractions is not None:
            shares = tuple(float(f) for f in self.val_fractions)
            object.__setattr__(self, "val_fractions", shares)
            if len(shares) != self.epochs:
                raise SearchError(f"val_fractions needs one share per epoch ({self.epochs}), got {len(shares)}")
            if any(not 0.0 < f <= 1.0 for f in shares) or shares[-1] != 1.0:
                raise SearchError(f"val_fractions must be shares in (0, 1] ending with 1.0 (the last epoch validates "
                                  f"on the whole split), got {list(shares)}")
        if self.bn_recalibration_batches < 0:
            raise SearchError(f"bn_recalibration_batches must be 0 (off) or more, got {self.bn_recalibration_batches}")
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
        losses: Validation cross-entropy (mean over images, no label smoothing) after each epoch.
    """

    accuracy: float
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


def fit(
    model: nn.Module,
    data,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: dict | None = None,
) -> FitResult:
    """Train ``model`` on the train split of ``data`` and report validation accuracy after every epoch: the
    training engine of ``nascomp train`` (:class:`~nascomp.train.engine.Engine`) with :meth:`TrainConfig.engine_config`
    (without augmentation: a three-epoch proxy compares candidates, it does not train them to the end).

    Args:
        model: A freshly built classifier ``(N, C, H, W) -> (N, num_classes)``.
        data: :class:`~nascomp.data.ImageData` or :class:`~nascomp.data.FolderData`.
        config: The schedule.
        device: Where to train.
        seed: Seeds the shuffling (the caller seeds the weight initialisation before building ``model``).
        on_epoch: Called as ``on_epoch(epoch, accuracy)`` (0-based epoch); may raise (e.g. ``optuna.TrialPruned``)
            to stop early, and the exception propagates; :class:`~nascomp.train.state.PauseTraining` pauses.
        on_step: Called as ``on_step(step, steps_per_epoch)`` after every optimizer step (progress bars).
        should_stop: Polled after every step; when it returns true, :class:`TrainingInterrupted` is raised.
        resume: A state from :class:`~nascomp.train.state.TrainingPaused` or :class:`TrainingInterrupted` of the
            same model, data, config and seed: training goes on from it exactly as if it had never stopped
            (bitwise on the CPU). ``model`` is then freshly built (its weights are replaced).

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
        TrainingInterrupted: ``should_stop()`` returned true (its ``state`` resumes the run).
        TrainingPaused: ``on_epoch`` raised ``PauseTraining`` (its ``state`` resumes the run at the next epoch).

    Example:
        >>> from nascomp.data import load_data
        >>> data = load_data("digits", image_size=8)
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
        >>> fit(net, data, TrainConfig(epochs=3)).accuracy > 0.8
        True
    """
    start_time = time.perf_counter()
    engine = Engine(model, data, config.engine_config(), device=device, seed=seed)
    if resume is not None:
        engine.resume(resume)

    def epoch_done(report: EpochReport) -> None:
        if on_epoch is not None:
            on_epoch(report.epoch, report.val_accuracy)

    engine.run(on_step=on_step, on_epoch=epoch_done, should_stop=should_stop)
    return FitResult(accuracy=engine.history[-1], history=list(engine.history),
                     seconds=time.perf_counter() - start_time, losses=list(engine.losses))
