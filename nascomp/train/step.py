"""One training step on a batch: forward (mixed precision on CUDA), loss, backward, optimizer and schedule step.

The training engine (:mod:`nascomp.train.engine`: ``nascomp train`` and the search's proxy) runs every step through it,
as does ``benchmarks/bench_train.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["TrainStep", "amp_settings"]


def amp_settings(device: torch.device) -> tuple[Callable[[], contextlib.AbstractContextManager] | None,
                                                torch.amp.GradScaler | None, str]:
    """Automatic mixed precision for ``device``: ``(autocast factory, grad scaler, description)``.

    CUDA: bfloat16 where the GPU supports it (no loss scaling needed), else float16 with a GradScaler. CPU: none
    (float32 throughout).
    """
    if device.type != "cuda":
        return None, None, "float32"
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler, f"AMP {str(dtype).removeprefix('torch.')}"


class TrainStep:
    """``step(x, y) -> loss``: one optimizer step on a batch.

    Args:
        model: The (possibly compiled) module; its first output is the logits (auxiliary outputs are ignored).
        optimizer: The optimizer.
        scheduler: Stepped after every optimizer step, or ``None``.
        criterion: Loss of ``(logits, y)``.
        autocast: Mixed-precision context factory (see :func:`amp_settings`), or ``None``.
        scaler: float16 gradient scaler, or ``None``.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler=None, *,
                 criterion: nn.Module | None = None, autocast=None, scaler: torch.amp.GradScaler | None = None):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.criterion = criterion or nn.CrossEntropyLoss()
        self.autocast = autocast or contextlib.nullcontext
        self.scaler = scaler if scaler is not None and scaler.is_enabled() else None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            out = self.model(x)
            if isinstance(out, (tuple, list)):
                out = out[0]
            loss = self.criterion(out.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach()
