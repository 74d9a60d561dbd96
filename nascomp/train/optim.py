"""Optimizer with no weight decay on norm and bias parameters, and a linear-warm-up + cosine learning rate.

- SGD with Nesterov momentum 0.9 (Sutskever et al. 2013), or AdamW (Loshchilov & Hutter, arXiv:1711.05101).
- No weight decay on BatchNorm/GroupNorm/LayerNorm weights and on biases ("Bag of Tricks for Image Classification",
  He et al., arXiv:1812.01187, section 3.1): only parameters with two or more dimensions (conv and linear
  weights) are decayed.
- Linear warm-up (Goyal et al., "Accurate, Large Minibatch SGD", arXiv:1706.02677) then cosine decay to zero
  without restarts (Loshchilov & Hutter, "SGDR", arXiv:1608.03983), stepped after every optimizer step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nascomp.train.config import RunConfig

__all__ = ["fused_adamw", "param_groups", "make_optimizer", "make_schedule", "warmup_cosine", "warmup_steps"]


def fused_adamw(device: torch.device) -> bool:
    """Whether torch's fused AdamW kernel applies on ``device``: CPU and CUDA (elsewhere the for-loop one). Measured
    on 2 CPU cores, 2026-12-02: 0.015 s per step instead of 0.09 s for a 16.5 M-parameter SE-ResNeXt."""
    return device.type in ("cpu", "cuda")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights with ``ndim >= 2`` (decayed) and everything else (norm scales/shifts, biases; not)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, config.weight_decay)
    if config.optimizer == "adamw":
        first = next(model.parameters(), None)
        return torch.optim.AdamW(groups, lr=config.peak_lr, fused=first is not None and fused_adamw(first.device))
    return torch.optim.SGD(groups, lr=config.peak_lr, momentum=0.9, nesterov=True)


def warmup_steps(config: RunConfig, steps_per_epoch: int) -> int:
    """Warm-up length in steps: ``warmup_epochs`` of them, at most a fifth of the run."""
    total = config.epochs * steps_per_epoch
    return min(int(round(config.warmup_epochs * steps_per_epoch)), total // 5)


def warmup_cosine(step: int, *, warmup: int, total: int) -> float:
    """Learning-rate factor at ``step`` (0-based): ``(step + 1) / warmup`` while warming up, then
    ``0.5 * (1 + cos(pi * t))`` with ``t`` going from 0 to 1 over the remaining steps."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def make_schedule(optimizer: torch.optim.Optimizer, config: RunConfig, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch
    warmup = warmup_steps(config, steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup=warmup, total=total))
