"""Where and how latency is measured: the device, batch size, threads, memory format and dtype.

:class:`LatencySettings` is the one description of a latency measurement; its :meth:`~LatencySettings.fingerprint`
names the machine (CPU model or GPU name) and the software (torch version), so a lookup table measured under one
fingerprint is never used under another.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from nascomp.errors import NascompError

__all__ = ["LatencySettings", "LatencyError", "DTYPES", "cuda_amp_dtype", "cpu_model_name", "usable_cpu_cores"]

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class LatencyError(NascompError, ValueError):
    """Latency settings that cannot be used here (absent device, threads or batch size below 1, unknown dtype), or
    a latency table that belongs to another device fingerprint."""


def cuda_amp_dtype() -> str:
    """The autocast dtype nascomp's training uses on CUDA: bfloat16 where the GPU supports it, else float16
    (the rule of :func:`nascomp.train.step.amp_settings`)."""
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


@lru_cache(maxsize=1)
def cpu_model_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s ``model name``, as ``lscpu`` prints it), else the platform's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


@dataclass(frozen=True)
class LatencySettings:
    """How a forward latency is measured (and which lookup table predicts it).

    Attributes:
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        batch_size: Samples per forward pass (>= 1).
        threads: torch intra-op threads on CPU (>= 1); ignored on CUDA.
        channels_last: Inputs and weights in ``torch.channels_last`` memory format (the format training uses).
        dtype: ``float32``, ``bfloat16`` or ``float16``; ``None`` means float32 on CPU and, on CUDA, the autocast
            dtype training uses (:func:`cuda_amp_dtype`). Anything but float32 runs under ``torch.autocast``.

    Raises:
        LatencyError: a device torch cannot read or that is absent here (``cuda`` without a GPU), a batch size or
            thread count below 1, more CPU threads than cores this process may use (:func:`usable_cpu_cores`), or
            an unknown dtype.

    Example:
        >>> LatencySettings().describe()
        'cpu, batch 1, 1 thread, float32, channels-last'
    """

    device: str = "cpu"
    batch_size: int = 1
    threads: int = 1
    channels_last: bool = True
    dtype: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise LatencyError(f"batch size must be an integer >= 1, found {self.batch_size!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise LatencyError(f"threads must be an integer >= 1, found {self.threads!r}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise LatencyError(f"unknown device '{self.device}' (use cpu, cuda or cuda:N)") from None
        if device.type not in ("cpu", "cuda"):
            raise LatencyError(f"latency is measured on cpu or cuda[:N], found device '{self.device}'")
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise LatencyError(f"device '{self.device}' requested but CUDA is not available here; use --device cpu")
            index = 0 if device.index is None else device.index
            if index >= torch.cuda.device_count():
                raise LatencyError(
                    f"device '{self.device}' is absent: this machine has {torch.cuda.device_count()} CUDA device(s) "
                    f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
                )
            object.__setattr__(self, "device", f"cuda:{index}")
        else:
            object.__setattr__(self, "device", "cpu")
            cores = usable_cpu_cores()
            if self.threads > cores:  # oversubscribed threads time the scheduler, not the net
                raise LatencyError(f"threads {self.threads} is more than the {cores} CPU core"
                                   f"{'s' if cores != 1 else ''} this process may use; pass --threads {cores} or fewer")
        dtype = self.dtype
        if dtype is None:
            dtype = cuda_amp_dtype() if device.type == "cuda" else "float32"
        dtype = str(dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise LatencyError(f"unknown dtype '{self.dtype}' (use {', '.join(DTYPES)})")
        if device.type == "cpu" and dtype == "float16":
            raise LatencyError("float16 autocast is a CUDA setting; on cpu use float32 or bfloat16")
        object.__setattr__(self, "dtype", dtype)

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def memory_format(self) -> str:
        """``channels_last`` or ``contiguous``."""
        return "channels_last" if self.channels_last else "contiguous"

    def device_name(self) -> str:
        """The CPU model (``lscpu``'s model name) or the GPU's name."""
        if self.is_cuda:
            return torch.cuda.get_device_name(self.torch_device)
        return cpu_model_name()

    def fingerprint(self) -> dict[str, Any]:
        """What a latency figure depends on: device name, torch version, threads, batch size, dtype, memory format.

        Two tables agree only when their fingerprints are equal.
        """
        return {
            "device": self.device,
            "device_name": self.device_name(),
            "torch": torch.__version__,
            "threads": None if self.is_cuda else self.threads,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "memory_format": self.memory_format,
        }

    def describe(self) -> str:
        """One line for humans: ``cpu, batch 1, 1 thread, float32, channels-last``."""
        parts = [self.device, f"batch {self.batch_size}"]
        if not self.is_cuda:
            parts.append(f"{self.threads} thread" + ("s" if self.threads != 1 else ""))
        parts.append(self.dtype if not self.is_cuda else f"AMP {self.dtype}")
        parts.append("channels-last" if self.channels_last else "contiguous")
        return ", ".join(parts)

    def cache_name(self) -> str:
        """The table's file name under the cache folder: ``latency-cpu-b1-t1-float32-channels_last.json``."""
        device = self.device.replace(":", "")
        threads = "" if self.is_cuda else f"-t{self.threads}"
        return f"latency-{device}-b{self.batch_size}{threads}-{self.dtype}-{self.memory_format}.json"

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Run under these settings: intra-op threads (CPU; restored afterwards), ``torch.inference_mode`` and,
        for a dtype other than float32, ``torch.autocast`` on the device."""
        previous = torch.get_num_threads()
        autocast = (
            torch.autocast(self.torch_device.type, dtype=DTYPES[self.dtype])
            if self.dtype != "float32" else contextlib.nullcontext()
        )
        try:
            if not self.is_cuda:
                torch.set_num_threads(self.threads)
            with torch.inference_mode(), autocast:
                yield
        finally:
            if not self.is_cuda:
                torch.set_num_threads(previous)
