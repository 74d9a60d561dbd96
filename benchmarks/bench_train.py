"""Training throughput: ``nascomp train``'s step path against a plain hand-written PyTorch loop.

Both train ResNet-18 (nascomp's zoo spec built by ``nascomp.build`` vs ``torchvision.models.resnet18``, the same net:
same params and MACs, see docs/zoo.md) with 10 classes on the same in-memory uint8 images (3x32x32 by default),
the same batch size, in one process, in interleaved rounds (nascomp, reference, reference, nascomp, ...). nascomp's
path is the one ``train_spec`` runs: :func:`nascomp.data.pipeline.batches` (seeded shuffling, batch fetch,
optional augmentation, scaling to [-1, 1]) -> :class:`nascomp.train.step.TrainStep` (label-smoothed loss, SGD with
Nesterov momentum over two parameter groups, the warm-up + cosine schedule stepped every step). The reference is
the loop a user would write: random permutation, index, scale, forward, cross-entropy, backward, SGD step. On CUDA
both use the same autocast dtype and channels_last (the reference gets what a careful hand-written loop has).

Prints images/s per round and the median ratio nascomp / reference (goal: at least 0.98), with and without
nascomp's augmentation (the reference never augments, so the second ratio includes augmentation's cost).

Usage:
    python benchmarks/bench_train.py [--size 32] [--batch 64] [--rounds 5] [--steps 10] [--device auto] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nascomp  # noqa: E402
from nascomp.data.dataset import ImageData  # noqa: E402
from nascomp.data.pipeline import batches  # noqa: E402
from nascomp.train.config import RunConfig  # noqa: E402
from nascomp.train.optim import make_optimizer, make_schedule  # noqa: E402
from nascomp.train.step import TrainStep, amp_settings  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_data(n: int, size: int) -> ImageData:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return ImageData("synthetic", x, y, x[:64], y[:64], tuple(str(i) for i in range(10)))


class Nascomp:
    def __init__(self, data: ImageData, batch: int, device: torch.device, augment: bool):
        spec = nascomp.load_spec("resnet18", num_classes=10, input_shape=data.image_shape)
        torch.manual_seed(0)
        self.model = nascomp.build(spec).to(device)
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.model.to(memory_format=torch.channels_last)
        config = RunConfig(data="synthetic", epochs=100, batch_size=batch, lr=0.01)
        optimizer = make_optimizer(self.model, config.engine_config())
        autocast, scaler, _ = amp_settings(device)
        spe = len(data.y_train) // batch
        schedule = make_schedule(optimizer, config.engine_config(), [spe] * config.epochs)
        self.step = TrainStep(self.model, optimizer, schedule,
                              criterion=nn.CrossEntropyLoss(label_smoothing=0.1), autocast=autocast, scaler=scaler)
        self.data, self.batch, self.device, self.augment = data, batch, device, augment
        self.epoch = 0

    def run(self, steps: int) -> int:
        self.model.train()
        images = 0
        for i, (x, y) in enumerate(batches(self.data, "train", batch_size=self.batch, epoch=self.epoch, train=True,
                                           augment=self.augment, device=self.device, channels_last=self.cuda)):
            if i == steps:
                break
            self.step(x, y)
            images += len(y)
        self.epoch += 1
        return images


class Reference:
    def __init__(self, data: ImageData, batch: int, device: torch.device):
        torch.manual_seed(0)
        self.model = torchvision.models.resnet18(num_classes=10).to(device)
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
        self.autocast, self.scaler, _ = amp_settings(device)
        self.loss = nn.CrossEntropyLoss()
        self.x, self.y, self.batch, self.device = data.x_train, data.y_train, batch, device

    def run(self, steps: int) -> int:
        self.model.train()
        order = torch.randperm(len(self.y))
        for i in range(steps):
            idx = order[i * self.batch : (i + 1) * self.batch]
            x = self.x[idx].to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
            if self.cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            y = self.y[idx].to(self.device, non_blocking=True)
            with self.autocast() if self.autocast else contextlib.nullcontext():
                loss = self.loss(self.model(x).float(), y)
            self.opt.zero_grad(set_to_none=True)
            if self.scaler is not None and self.scaler.is_enabled():
                self.scaler.scale(loss).backward()
                self.scaler.step(self.opt)
                self.scaler.update()
            else:
                loss.backward()
                self.opt.step()
        return steps * self.batch


def timed(runner, steps: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    images = runner.run(steps)
    _sync(device)
    return images / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps per round per runner")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    data = make_data(args.batch * (args.steps + 1), args.size)
    runners = {"nascomp": Nascomp(data, args.batch, device, augment=False),
               "nascomp+aug": Nascomp(data, args.batch, device, augment=True),
               "reference": Reference(data, args.batch, device)}
    for runner in runners.values():  # warm-up (allocator, cuDNN autotuning)
        runner.run(2)
    rates: dict[str, list[float]] = {k: [] for k in runners}
    names = list(runners)
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            rates[name].append(timed(runners[name], args.steps, device))
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"ResNet-18, 10 classes, {args.batch}x3x{args.size}x{args.size}, {args.rounds} rounds x {args.steps} steps, "
          f"{device} ({gpu}, {torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"{'round':>5} {'nascomp img/s':>14} {'+aug img/s':>11} {'reference img/s':>16} {'ratio':>7} {'ratio+aug':>10}")
    ratios, ratios_aug = [], []
    for r in range(args.rounds):
        n, a, ref = rates["nascomp"][r], rates["nascomp+aug"][r], rates["reference"][r]
        ratios.append(n / ref)
        ratios_aug.append(a / ref)
        print(f"{r + 1:>5} {n:>14.1f} {a:>11.1f} {ref:>16.1f} {n / ref:>7.3f} {a / ref:>10.3f}")
    print(f"median ratio nascomp / reference: {statistics.median(ratios):.3f} (goal >= 0.98); "
          f"with augmentation: {statistics.median(ratios_aug):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
