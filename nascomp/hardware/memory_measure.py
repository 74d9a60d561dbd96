"""Measure the peak memory of a training step on CPU, with the allocator's own figures (torch's profiler).

The CPU allocator has no ``max_memory_allocated``; torch's profiler with ``profile_memory=True`` records every
allocation and free of the CPU allocator (address and bytes). Everything the step touches (a copy of the model, the
optimizer, the batch) is created inside the profiled region, so replaying those records gives the bytes held at
every moment; the peak of a steady-state step (the last of ``steps``, with gradients and optimizer state in place)
is the most held during that step. (The records' own running total, ``Total Allocated``, is process-wide and also
drops when the garbage collector frees blocks allocated before the profiler started, so it is not used.) The step is the one :func:`nascomp.train.fit` runs: channels-last, float32,
forward, cross-entropy, ``zero_grad(set_to_none=True)``, backward, optimizer step (SGD: momentum 0.9, Nesterov,
weight decay; AdamW: fused on CPU).
"""

from __future__ import annotations

import copy
import gc
import json
import os
import tempfile

import torch
from torch import nn

__all__ = ["measure_training_peak"]

_STEP = "nascomp.memory_step"


def _optimizer(model: nn.Module, name: str) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-4, fused=True)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    raise ValueError(f"unknown optimizer '{name}' (valid: sgd, adamw)")


def measure_training_peak(model: nn.Module, input_shape: tuple[int, int, int], *, batch_size: int,
                          optimizer: str = "adamw", num_classes: int | None = None, steps: int = 2) -> int:
    """The CPU allocator's peak, in bytes, during the last of ``steps`` training steps of a copy of ``model``.

    Args:
        model: A classifier ``(N, *input_shape) -> (N, num_classes)`` (copied; the original is not touched).
        input_shape: ``(C, H, W)``.
        batch_size: Images per step.
        optimizer: ``adamw`` or ``sgd``.
        num_classes: Label range; default the model's output width (one probe forward).
        steps: Steps to run; the peak of the last is returned (2 or more: a steady state).

    Returns:
        Bytes held at the step's highest moment: parameters, gradients, optimizer state, batch, activations and
        temporaries, as the CPU allocator counted them.
    """
    gc.collect()  # free earlier objects now, not while profiling
    torch.manual_seed(0)
    x_cpu = torch.randn(batch_size, *input_shape)
    if num_classes is None:
        with torch.no_grad():
            num_classes = int(model.eval()(x_cpu[:1]).shape[-1])
    y_cpu = torch.randint(0, num_classes, (batch_size,))
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        net = copy.deepcopy(model).to(memory_format=torch.channels_last).train()
        opt = _optimizer(net, optimizer)
        x = x_cpu.to(memory_format=torch.channels_last).clone()
        y = y_cpu.clone()
        criterion = nn.CrossEntropyLoss()
        for i in range(steps):
            with torch.profiler.record_function(f"{_STEP}{i}"):
                out = net(x)
                loss = criterion(out[0] if isinstance(out, (tuple, list)) else out, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            del out, loss
    return _peak_of_last_step(prof, f"{_STEP}{steps - 1}")


def _peak_of_last_step(prof: torch.profiler.profile, step_name: str) -> int:
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    finally:
        os.unlink(path)
    span = next((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("ph") == "X" and e.get("name") == step_name)
    memory = sorted((e for e in events if e.get("name") == "[memory]" and e["args"].get("Device Type") == 0),
                    key=lambda e: e["ts"])
    # replay this session's allocations (a free of a block allocated before it, e.g. by the garbage collector, is
    # ignored: the allocator's own running total would count it)
    blocks: dict[int, int] = {}
    held = peak = 0
    for event in memory:
        size, addr = event["args"]["Bytes"], event["args"]["Addr"]
        if size > 0:
            blocks[addr] = size
            held += size
        elif addr in blocks:
            held -= blocks.pop(addr)
        if span[0] <= event["ts"] <= span[1]:
            peak = max(peak, held)
    return peak
