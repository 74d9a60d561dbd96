"""The training engine: epochs of optimizer steps, then validation. ``nascomp train`` (:func:`nascomp.train.train_spec`)
and the search's proxy (:func:`nascomp.train.fit`) are two configurations of it (:class:`EngineConfig`).

One epoch: the train split's batches from :func:`nascomp.data.pipeline.batches` (shuffled and augmented from
``(seed, epoch)``), the first :func:`epoch_steps` of them through one :class:`~nascomp.train.step.TrainStep` each
(mixed precision on CUDA, channels-last on CPU and CUDA, the optimizer and schedule of :mod:`nascomp.train.optim`),
a check that the loss is finite after every step, batch-norm recalibration, then validation
(:mod:`nascomp.train.evaluation`). Callbacks see every step and every epoch; an epoch callback may pause the run
(:class:`~nascomp.train.state.PauseTraining`) and a stop predicate may interrupt it after any step, both with a state
from which :meth:`Engine.run` goes on exactly (bitwise on the CPU; :mod:`nascomp.train.state`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nascomp.data.pipeline import batches, train_batches
from nascomp.errors import NascompError
from nascomp.train.evaluation import evaluate, recalibrate_batch_norm
from nascomp.train.optim import make_optimizer, make_schedule
from nascomp.train.state import PauseTraining, TrainingPaused, capture_state, restore_rng
from nascomp.train.step import TrainStep, amp_settings

__all__ = ["EngineConfig", "Engine", "EpochReport", "TrainingDiverged", "TrainingInterrupted", "steps_per_epoch",
           "epoch_steps"]

#: Steps between two divergence checks on an accelerator (on the CPU: every step).
DIVERGENCE_CHECK_STEPS = 50


def steps_per_epoch(train_images: int, batch_size: int) -> int:
    """Optimizer steps of a full epoch on ``train_images`` images: the batches the pipeline yields (a last batch of
    one image is dropped: batch norm cannot normalise it), at least 1. The one rule of ``nascomp train``, the
    search's proxy and its rungs (:func:`epoch_steps`).

    Example:
        >>> steps_per_epoch(4500, 64), steps_per_epoch(321, 32)
        (71, 10)
    """
    return max(1, train_batches(train_images, batch_size))


def epoch_steps(train_images: int, batch_size: int, *, epochs: int,
                data_fractions: tuple[float, ...] | None = None) -> list[int]:
    """Optimizer steps of each epoch: all of a full epoch's (:func:`steps_per_epoch`), or under ``data_fractions``
    the first ``ceil(f_e * train_images / batch_size)`` of them (at least 1).

    Example:
        >>> epoch_steps(4500, 64, epochs=3, data_fractions=(1 / 9, 1 / 3, 1.0))
        [8, 24, 71]
    """
    full = steps_per_epoch(train_images, batch_size)
    if data_fractions is None:
        return [full] * epochs
    return [min(full, max(1, math.ceil(f * train_images / batch_size))) for f in data_fractions]


class TrainingDiverged(NascompError, RuntimeError):
    """The loss became NaN or infinite (the search records the trial as failed with this message; ``nascomp train``
    stops with it, exit code 2)."""


class TrainingInterrupted(Exception):
    """``should_stop()`` returned true (Ctrl-C, a time limit): training stopped after the current step.

    Attributes:
        state: The training state at that step (:mod:`nascomp.train.state`), from which the run goes on exactly;
            ``None`` when the run was asked not to keep states.
    """

    def __init__(self, message: str, state: dict | None = None):
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class EngineConfig:
    """What the engine does. Built by :meth:`nascomp.train.TrainConfig.engine_config` (the proxy) and
    :meth:`nascomp.train.RunConfig.engine_config` (``nascomp train``), which validate their values.

    Attributes:
        epochs: Passes over the training split.
        batch_size: Images per step.
        optimizer: ``adamw`` or ``sgd`` (:func:`nascomp.train.optim.make_optimizer`).
        lr: Peak learning rate.
        weight_decay: Weight decay.
        decay_norms_and_biases: Decay every parameter (the proxy) or only conv and linear weights.
        lr_schedule: ``warmup_cosine`` or ``one_cycle`` (:func:`nascomp.train.optim.make_schedule`).
        warmup_epochs: ``warmup_cosine``: warm-up length in epochs (at most a fifth of the run).
        warmup_fraction: ``one_cycle``: share of the steps spent warming up.
        label_smoothing: Inception-v3 label smoothing in [0, 1) (Szegedy et al., arXiv:1512.00567, section 7).
        data_fractions: The share of the train split each epoch trains on (:func:`epoch_steps`); ``None``: all.
        val_strides: Every how many validation images each epoch validates on; ``None``: all, every epoch.
        bn_recalibration_batches: Train batches (unaugmented, the epoch's shuffle) over which batch-norm running
            statistics are recomputed before each validation; 0: off.
        augment: The source's standard augmentation of training batches.
        workers: DataLoader worker processes decoding image folders.
        eval_batch_size: Images per evaluation batch.
        compile: Run the model through ``torch.compile``.
    """

    epochs: int
    batch_size: int
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    decay_norms_and_biases: bool = False
    lr_schedule: str = "warmup_cosine"
    warmup_epochs: float = 1.0
    warmup_fraction: float = 0.25
    label_smoothing: float = 0.0
    data_fractions: tuple[float, ...] | None = None
    val_strides: tuple[int, ...] | None = None
    bn_recalibration_batches: int = 0
    augment: bool = False
    workers: int = 0
    eval_batch_size: int = 500
    compile: bool = False


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch.

    Attributes:
        epoch: 0-based.
        lr: Learning rate of the epoch's last step.
        train_loss: Mean label-smoothed training loss over the epoch's images.
        train_images: Images trained on.
        train_seconds: Wall time of the steps.
        val_accuracy: Top-1 validation accuracy (0-1).
        val_loss: Mean validation cross-entropy (no label smoothing).
        seconds: Wall time of the epoch, validation included.
    """

    epoch: int
    lr: float
    train_loss: float
    train_images: int
    train_seconds: float
    val_accuracy: float
    val_loss: float
    seconds: float


class Engine:
    """A model, its data and :class:`EngineConfig`, ready to train.

    Args:
        model: A freshly built classifier ``(N, C, H, W) -> (N, num_classes)`` (auxiliary outputs are ignored);
            moved to ``device`` (channels-last on CPU and CUDA).
        data: :class:`~nascomp.data.ImageData` or :class:`~nascomp.data.FolderData`.
        config: What to do.
        device: Where to train.
        seed: Seeds the shuffling and augmentation of each epoch (the caller seeds the initialisation).

    Attributes:
        model, runner: The module, and what is called (``torch.compile(model)`` or ``model``).
        optimizer, scheduler, scaler: The optimizer, its schedule and the float16 gradient scaler (or ``None``).
        autocast, precision: The mixed-precision context factory (``None`` on CPU) and its description.
        epoch_steps, total_steps: Optimizer steps of each epoch and of the run.
        history, losses: Validation accuracy and loss of every finished epoch (those of a resumed state included).
        divergence_check_steps: Steps between two checks that the loss is finite: 1 on the CPU, else
            :data:`DIVERGENCE_CHECK_STEPS` (each check is a host sync); an epoch's end is always checked.

    Example:
        >>> from nascomp.data import load_data
        >>> data = load_data("digits", image_size=8)
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
        >>> reports = Engine(net, data, EngineConfig(epochs=2, batch_size=64, lr=3e-3)).run()
        >>> len(reports), reports[-1].val_accuracy > 0.8
        (2, True)
    """

    def __init__(self, model: nn.Module, data, config: EngineConfig, *, device: torch.device | str = "cpu",
                 seed: int = 0):
        self.data, self.config, self.seed = data, config, seed
        self.device = device = torch.device(device)
        # channels-last on CPU too: measured 6-35 % faster training steps, up to 2x faster evaluation of in-band
        # SE-ResNeXt nets on 2 CPU cores (oneDNN), as on CUDA (2026-12-02)
        self.channels_last = device.type in ("cpu", "cuda")
        model.to(device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.autocast, self.scaler, self.precision = amp_settings(device)
        self.optimizer = make_optimizer(model, config)
        self.epoch_steps = epoch_steps(len(data.y_train), config.batch_size, epochs=config.epochs,
                                       data_fractions=config.data_fractions)
        self.total_steps = sum(self.epoch_steps)
        self.scheduler = make_schedule(self.optimizer, config, self.epoch_steps)
        self.runner = torch.compile(model) if config.compile else model
        self.step = TrainStep(self.runner, self.optimizer, self.scheduler, autocast=self.autocast, scaler=self.scaler,
                              criterion=nn.CrossEntropyLoss(label_smoothing=config.label_smoothing))
        # the loss is checked for divergence every step on the CPU (free) and every DIVERGENCE_CHECK_STEPS on an
        # accelerator, where each check is a host sync that stalls the queue of kernels
        self.divergence_check_steps = 1 if device.type == "cpu" else DIVERGENCE_CHECK_STEPS
        self.history: list[float] = []
        self.losses: list[float] = []
        self._start = (0, 0)

    def resume(self, state: dict[str, Any]) -> None:
        """Go on from ``state`` (:mod:`nascomp.train.state`: the model's, optimizer's, schedule's and gradient
        scaler's state, torch's RNG, the epoch and step reached, and the finished epochs' ``history`` and
        ``losses``) on the next :meth:`run`; the model's weights are replaced."""
        self.model.load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        self.history, self.losses = list(state["history"]), list(state["losses"])
        self._start = (int(state["epoch"]), int(state["step"]))

    def state(self, epoch: int, step: int) -> dict[str, Any]:
        """The state of the run at ``epoch`` (0-based, in progress) after ``step`` of its steps."""
        return capture_state(model=self.model, optimizer=self.optimizer, scheduler=self.scheduler, epoch=epoch,
                             step=step, history=self.history, losses=self.losses, total_steps=self.total_steps,
                             epochs=self.config.epochs, scaler=self.scaler)

    def evaluate(self, split: str = "val", *, stride: int = 1) -> tuple[float, float]:
        """``(top-1 accuracy, mean cross-entropy)`` of the model on a split (:func:`nascomp.train.evaluation.evaluate`)."""
        return evaluate(self.runner, self.data, split, device=self.device, batch_size=self.config.eval_batch_size,
                        workers=self.config.workers, channels_last=self.channels_last, autocast=self.autocast,
                        stride=stride)

    def _train_batches(self, epoch: int, augment: bool):
        return batches(self.data, "train", batch_size=self.config.batch_size, epoch=epoch, seed=self.seed, train=True,
                       augment=augment, workers=self.config.workers, device=self.device,
                       channels_last=self.channels_last)

    def _check_finite(self, loss_sum: torch.Tensor, epoch: int, step: int) -> None:
        """Raise :class:`TrainingDiverged` when the epoch's summed loss is NaN or infinite (one host sync)."""
        if not torch.isfinite(loss_sum):
            late = "" if self.divergence_check_steps == 1 else f" (checked every {self.divergence_check_steps} steps)"
            raise TrainingDiverged(f"loss became {float(loss_sum)} at epoch {epoch + 1}, step {step}{late}")

    def run(self, *, on_step: Callable[[int, int], None] | None = None,
            on_epoch: Callable[[EpochReport], None] | None = None,
            should_stop: Callable[[], bool] | None = None, keep_states: bool = True) -> list[EpochReport]:
        """Train the remaining epochs (all of them, or those after a :meth:`resume`).

        Args:
            on_step: Called as ``on_step(step, steps_of_the_epoch)`` (1-based step) after every optimizer step.
            on_epoch: Called with each finished epoch's :class:`EpochReport`; may raise to stop (the exception
                propagates), or :class:`~nascomp.train.state.PauseTraining` to pause.
            should_stop: Polled after every step; when it returns true, :class:`TrainingInterrupted` is raised.
            keep_states: Give :class:`TrainingInterrupted` and :class:`~nascomp.train.state.TrainingPaused` the
                state to go on from (a copy of the weights and the optimizer's state); ``False``: ``None``.

        Returns:
            The reports of the epochs trained by this call.

        Raises:
            TrainingDiverged: the loss became NaN or infinite (message: the epoch and step, 1-based).
            TrainingInterrupted: ``should_stop()`` returned true.
            TrainingPaused: ``on_epoch`` raised ``PauseTraining`` (its state goes on at the next epoch).
        """
        config, reports = self.config, []
        start_epoch, start_step = self._start
        for epoch in range(start_epoch, config.epochs):
            self.runner.train()
            started, loss_sum, images, lr = time.perf_counter(), torch.zeros((), device=self.device), 0, 0.0
            steps, step, skip = self.epoch_steps[epoch], 0, start_step if epoch == start_epoch else 0
            for xb, yb in self._train_batches(epoch, config.augment):
                if skip:  # a resumed epoch: the batches its first steps trained on (the order is seeded per epoch)
                    skip -= 1
                    step += 1
                    if step >= steps:
                        break
                    continue
                step += 1
                lr = self.optimizer.param_groups[0]["lr"]
                loss = self.step(xb, yb)
                loss_sum += loss * len(yb)  # non-finite from the first non-finite loss on (a loss is >= 0)
                images += len(yb)
                if step % self.divergence_check_steps == 0:
                    self._check_finite(loss_sum, epoch, step)
                if on_step is not None:
                    on_step(step, steps)
                if should_stop is not None and should_stop():
                    raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {step}",
                                              self.state(epoch, step) if keep_states else None)
                if step >= steps:  # the epoch's share of the train split (multi-fidelity rungs)
                    break
            self._check_finite(loss_sum, epoch, step)  # the epoch's last steps, between two checks on CUDA
            train_seconds = time.perf_counter() - started
            if config.bn_recalibration_batches:
                with self.autocast() if self.autocast is not None else contextlib.nullcontext():
                    recalibrate_batch_norm(self.runner, self._train_batches(epoch, False),
                                           config.bn_recalibration_batches)
            accuracy, val_loss = self.evaluate("val", stride=config.val_strides[epoch] if config.val_strides else 1)
            self.history.append(accuracy)
            self.losses.append(val_loss)
            report = EpochReport(epoch=epoch, lr=lr, train_loss=float(loss_sum) / max(1, images), train_images=images,
                                 train_seconds=train_seconds, val_accuracy=accuracy, val_loss=val_loss,
                                 seconds=time.perf_counter() - started)
            reports.append(report)
            if on_epoch is not None:
                try:
                    on_epoch(report)
                except PauseTraining as exc:
                    raise TrainingPaused(str(exc) or f"paused after epoch {epoch + 1}",
                                         self.state(epoch + 1, 0) if keep_states else None) from None
        return reports
