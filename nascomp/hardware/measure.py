"""Measured latency: warm up, then repeat until the median is stable (or a time cap), median and quartiles in ms.

The method follows timm's ``benchmark.py`` (warm-up iterations, then timed ones, channels-last, AMP on CUDA) with
an adaptive repeat count: after ``min_repeats`` samples it stops as soon as the 95 % confidence interval of the
median (from order statistics: ranks ``n/2 +- 0.98 sqrt(n)``) is within ``rel_ci`` of the median, or after
``max_time_s`` seconds of sampling, or ``max_repeats`` samples. On CUDA each sample is timed with CUDA events after
a synchronize; on CPU with ``time.perf_counter`` and, with one thread, also with the thread's CPU time
(``time.thread_time``): on a shared machine the wall clock counts the time other processes hold the core (measured
here at a load average of 5 on 2 cores: resnet50 at 3x224x224 took 324 ms of wall clock and 125 ms of CPU time), the
CPU time does not, and on an idle core the two agree. The stopping rule watches the CPU time where there is one. A
sample runs the callable ``number`` times and counts the mean, so that operators of microseconds are not lost in
the timer's resolution (chosen automatically: at least 1 ms per sample).

This is nascomp's one measuring function: :func:`measure_latency` (a whole net), the lookup table (one operator
at a time) and ``benchmarks/`` all call :func:`measure_callable`.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nascomp.hardware.settings import LatencySettings

__all__ = ["LatencyMeasurement", "measure_latency", "measure_callable", "make_inputs"]

MIN_SAMPLE_S = 1e-3  # a sample lasts at least this long (several calls of a tiny operator)


@dataclass(frozen=True)
class LatencyMeasurement:
    """A measured latency: per forward pass (one batch of ``settings.batch_size``), in milliseconds.

    Attributes:
        median_ms: Median wall-clock time over the timed samples (CUDA: event time).
        q1_ms: First quartile of the wall-clock time.
        q3_ms: Third quartile.
        repeats: Timed samples.
        warmup: Untimed warm-up calls before them.
        number: Calls per sample (the sample's time is divided by it).
        settings: Where and how it was measured.
        cpu_median_ms: On CPU with one thread, the median CPU time of the calling thread (``time.thread_time``):
            the wall-clock latency the net has on an otherwise idle core, whatever else runs on the machine.
            ``None`` on CUDA or with several threads.
        cpu_q1_ms: Its first quartile.
        cpu_q3_ms: Its third quartile.
        load_average: The machine's 1-minute load average when the measurement ended (``os.getloadavg``).
    """

    median_ms: float
    q1_ms: float
    q3_ms: float
    repeats: int
    warmup: int
    number: int
    settings: LatencySettings
    cpu_median_ms: float | None = None
    cpu_q1_ms: float | None = None
    cpu_q3_ms: float | None = None
    load_average: float | None = None

    @property
    def iqr_ms(self) -> float:
        """Interquartile range ``q3_ms - q1_ms``."""
        return self.q3_ms - self.q1_ms

    @property
    def compute_ms(self) -> float:
        """The figure the latency model predicts: ``cpu_median_ms`` where there is one, else ``median_ms``."""
        return self.cpu_median_ms if self.cpu_median_ms is not None else self.median_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms, "q1_ms": self.q1_ms, "q3_ms": self.q3_ms, "iqr_ms": self.iqr_ms,
            "cpu_median_ms": self.cpu_median_ms, "cpu_q1_ms": self.cpu_q1_ms, "cpu_q3_ms": self.cpu_q3_ms,
            "repeats": self.repeats, "warmup": self.warmup, "number": self.number, "load_average": self.load_average,
        }


def _median_ci_ok(samples: list[float], rel_ci: float) -> bool:
    """Is the 95 % CI of the median (order statistics) within ``rel_ci`` of it, each side on average?"""
    n = len(samples)
    ordered = sorted(samples)
    half = 0.98 * math.sqrt(n)  # 1.96 * sqrt(n) / 2
    lo = ordered[max(0, math.floor(n / 2 - half))]
    hi = ordered[min(n - 1, math.ceil(n / 2 + half))]
    median = statistics.median(ordered)
    return median > 0 and (hi - lo) / 2 <= rel_ci * median


def _quartiles(samples: list[float]) -> tuple[float, float, float]:
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, median, q3


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # not on this platform
        return None


def measure_callable(
    fn: Callable[[], Any], settings: LatencySettings, *, number: int | None = None, min_repeats: int = 10,
    max_repeats: int = 200, max_time_s: float = 2.0, rel_ci: float = 0.02, min_warmup: int = 3,
    warmup_s: float = 0.1,
) -> LatencyMeasurement:
    """Time ``fn()`` (which must already hold its inputs on ``settings``' device) under ``settings``.

    The stopping rule watches the thread's CPU time on CPU with one thread (other processes on a shared machine
    then cannot keep it sampling), else the wall clock (CUDA: events).

    Args:
        fn: The work of one call (a forward pass).
        settings: Device, threads, dtype; ``fn`` runs inside :meth:`LatencySettings.running`.
        number: Calls per timed sample; default: enough for :data:`MIN_SAMPLE_S` (1 for any real net).
        min_repeats: Samples before the stopping rule is consulted.
        max_repeats: Samples at most.
        max_time_s: Seconds of sampling at most (at least ``min_repeats`` samples are always taken).
        rel_ci: Stop when the median's 95 % CI half-width is within this fraction of it.
        min_warmup: Warm-up calls at least (then more until ``warmup_s`` seconds have passed, at most 10).
        warmup_s: Seconds of warm-up at least.

    Returns:
        A :class:`LatencyMeasurement` in ms per call.
    """
    cuda = settings.is_cuda
    cpu_clock = not cuda and settings.threads == 1
    if cuda:
        torch.cuda.set_device(settings.torch_device)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    with settings.running():
        warmup = 0
        start = time.perf_counter()
        while warmup < min_warmup or (time.perf_counter() - start < warmup_s and warmup < 10):
            fn()
            sync()
            warmup += 1
        if number is None:
            once = (time.perf_counter() - start) / warmup
            number = max(1, min(10_000, math.ceil(MIN_SAMPLE_S / max(once, 1e-9))))
        wall: list[float] = []
        cpu: list[float] = []
        began = time.perf_counter()
        while True:
            if cuda:
                begin_event = torch.cuda.Event(enable_timing=True)
                end_event = torch.cuda.Event(enable_timing=True)
                sync()
                begin_event.record()
                for _ in range(number):
                    fn()
                end_event.record()
                end_event.synchronize()
                wall.append(begin_event.elapsed_time(end_event) / number)
            else:
                c0 = time.thread_time()
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                wall.append(1000 * (time.perf_counter() - t0) / number)
                cpu.append(1000 * (time.thread_time() - c0) / number)
            n = len(wall)
            if n >= max_repeats:
                break
            watched = cpu if cpu_clock else wall
            if n >= min_repeats and (time.perf_counter() - began >= max_time_s or _median_ci_ok(watched, rel_ci)):
                break
    q1, median, q3 = _quartiles(wall)
    cpu_q = _quartiles(cpu) if cpu_clock else (None, None, None)
    return LatencyMeasurement(
        median_ms=median, q1_ms=q1, q3_ms=q3, repeats=len(wall), warmup=warmup, number=number, settings=settings,
        cpu_median_ms=cpu_q[1], cpu_q1_ms=cpu_q[0], cpu_q3_ms=cpu_q[2], load_average=_load_average(),
    )


def make_inputs(shapes: list[tuple[int, ...]], settings: LatencySettings, seed: int = 0) -> list[torch.Tensor]:
    """Random inputs of ``(batch_size, *shape)`` on the device, 4-D ones in the settings' memory format."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for shape in shapes:
        x = torch.randn((settings.batch_size, *shape), generator=generator)
        if x.dim() == 4 and settings.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out.append(x.to(settings.torch_device))
    return out


def prepare_module(model: nn.Module, settings: LatencySettings) -> nn.Module:
    """``model`` in eval mode on the device and in the memory format (in place; returned for chaining)."""
    model.eval().to(settings.torch_device)
    if settings.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def measure_latency(
    model: nn.Module, input_shape: tuple[int, int, int], settings: LatencySettings, **kwargs: Any
) -> LatencyMeasurement:
    """Measure the forward latency of ``model`` on inputs ``(settings.batch_size, *input_shape)``.

    The model is put in eval mode and moved to the device and memory format **in place**; it runs under
    ``torch.inference_mode`` (and ``torch.autocast`` for a dtype other than float32), with ``settings.threads``
    intra-op threads on CPU.

    Args:
        model: Any module taking one ``(N, C, H, W)`` tensor.
        input_shape: ``(C, H, W)``, batch excluded.
        settings: Where and how to measure.
        **kwargs: Stopping rule of :func:`measure_callable` (``max_time_s``, ``rel_ci``...).

    Returns:
        A :class:`LatencyMeasurement`: median and quartiles in ms per forward pass of one batch.

    Example:
        >>> m = measure_latency(torch.nn.Conv2d(3, 8, 3), (3, 32, 32), LatencySettings())
        >>> m.q1_ms <= m.median_ms <= m.q3_ms
        True
    """
    prepare_module(model, settings)
    (x,) = make_inputs([tuple(input_shape)], settings)
    return measure_callable(lambda: model(x), settings, **kwargs)
