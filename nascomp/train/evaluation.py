"""Evaluation of a classifier on a split, and the batch-norm recalibration that precedes it in the training engine
(:mod:`nascomp.train.engine`)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from nascomp.data.pipeline import batches

__all__ = ["evaluate", "recalibrate_batch_norm"]


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, train_batches, num_batches: int) -> int:
    """Reset every batch norm's running mean and variance and recompute them as the plain average over the first
    ``num_batches`` of ``train_batches`` (forward passes in train mode, ``momentum=None``; weights untouched).

    Source: the BN recalibration of Guo et al., "Single Path One-Shot NAS", arXiv:1904.00420 (section 3.3), as
    used by Cai et al., "Once-for-All", arXiv:1908.09791. Returns the number of batches used (0 without batch norms);
    the model is left in train mode with every momentum restored.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
        >>> data = [(torch.ones(4, 1, 2, 2) * k, None) for k in (1.0, 3.0)]
        >>> recalibrate_batch_norm(net, iter(data), 2), net[1].momentum
        (2, 0.1)
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the mean of the batch statistics
    model.train()
    used = 0
    try:
        for xb, _ in train_batches:
            model(xb)
            used += 1
            if used >= num_batches:
                break
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return used


@torch.no_grad()
def evaluate(model: nn.Module, data, split: str = "val", *, device: torch.device | str = "cpu",
             batch_size: int = 500, workers: int = 0, channels_last: bool = False,
             autocast=None, stride: int = 1) -> tuple[float, float]:
    """Top-1 accuracy (0-1) and mean cross-entropy of ``model`` on one split of ``data``.

    Args:
        data: :class:`~nascomp.data.ImageData` or :class:`~nascomp.data.FolderData`.
        split: ``val`` or ``test`` (``train`` in evaluation mode also works).
        autocast: A context-manager factory for mixed precision (CUDA), or ``None``.
        stride: Evaluate every ``stride``-th image of the split only (1: all).

    Returns:
        ``(accuracy, loss)``.
    """
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    for xb, yb in batches(data, split, batch_size=batch_size, device=device, workers=workers,
                          channels_last=channels_last, stride=stride):
        with autocast() if autocast is not None else contextlib.nullcontext():
            logits = model(xb)
        logits = logits.float()
        correct += int((logits.argmax(1) == yb).sum())
        loss_sum += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
        n += len(yb)
    return correct / max(1, n), loss_sum / max(1, n)
