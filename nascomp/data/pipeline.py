"""The one input pipeline of search and training: split dataset -> DataLoader -> batch augmentation -> model input.

In-memory data is fetched a whole batch at a time (one indexing op, no worker processes); image folders are decoded
in DataLoader worker processes. Both then go through the same batch step on the training device: random crop with
zero padding of an eighth of the side (4 pixels at 32) and horizontal flip for CIFAR-sized images (He et al., "Deep Residual Learning", arXiv:1512.03385,
section 4.2), flip only for image folders (whose RandomResizedCrop ran in the workers), then scaling to [-1, 1].

Shuffling and augmentation draw from generators seeded from ``(seed, epoch)``, so an epoch's batches do not depend
on what ran before it (a resumed run sees the same batches as an uninterrupted one).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, Subset

from nascomp.errors import DataError

__all__ = ["batches", "epoch_generator", "pad_crop_flip", "EpochBatchSampler", "train_batches"]


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch, stream)`` (numpy's SeedSequence mixes them)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(stream)]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def train_batches(n: int, batch_size: int) -> int:
    """Batches in one training pass over ``n`` images: every batch of ``batch_size``, the last one dropped when it
    would hold a single image (and others came before it). What :class:`EpochBatchSampler` yields when training,
    and so the optimizer steps of a full epoch (:func:`nascomp.train.engine.steps_per_epoch`).

    Example:
        >>> train_batches(321, 32), train_batches(322, 32), train_batches(1, 32)
        (10, 11, 1)
    """
    full, rest = divmod(n, batch_size)
    return full + (1 if rest and (rest >= 2 or full == 0) else 0)


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of indices: shuffled from ``generator`` (training) or in order; a last batch of one image is dropped
    when training (BatchNorm cannot normalise over a single image)."""

    def __init__(self, n: int, batch_size: int, *, generator: torch.Generator | None):
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def _order(self) -> list[int]:
        if self.generator is None:
            return list(range(self.n))
        return torch.randperm(self.n, generator=self.generator).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            if self.generator is not None and len(batch) < 2 and start > 0:
                continue
            yield batch

    def __len__(self) -> int:
        if self.generator is not None:
            return train_batches(self.n, self.batch_size)
        return -(-self.n // self.batch_size)


def pad_crop_flip(x: torch.Tensor, generator: torch.Generator, *, pad: int | None = None, crop: bool = True,
                  flip: bool = True) -> torch.Tensor:
    """Random ``pad``-pixel zero-padded crop (when ``crop``) and horizontal flip of each image of a batch.

    ``pad`` defaults to an eighth of the side: 4 pixels at 32 (the CIFAR recipe), 4 at 28, 1 at 8.

    Args:
        x: ``(N, C, H, W)`` images (any dtype, any device).
        generator: CPU generator of the offsets and flips (drawn on the CPU, so results match across devices).
        crop: Random crops; flip: random horizontal flips (with probability 0.5).

    Returns:
        ``(N, C, H, W)``, same dtype and device.
    """
    n, c, h, w = x.shape
    pad = max(1, round(max(h, w) / 8)) if pad is None else pad
    flips = torch.rand(n, generator=generator) < 0.5
    if crop:
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    if not flip:
        return x
    return torch.where(flips.to(x.device)[:, None, None, None], x.flip(-1), x)


def _identity(batch):
    return batch


def batches(
    data,
    split: str,
    *,
    batch_size: int,
    epoch: int = 0,
    seed: int = 0,
    train: bool = False,
    augment: bool = False,
    workers: int = 0,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
    stride: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` model batches of one split: ``x`` float32 ``(B, C, H, W)`` in [-1, 1] on ``device``,
    ``y`` int64 ``(B,)``.

    Args:
        data: :class:`~nascomp.data.ImageData` or :class:`~nascomp.data.FolderData`.
        split: ``train``, ``val`` or ``test``.
        batch_size: Images per batch.
        epoch, seed: Seed the shuffling and augmentation of this epoch (``train`` only).
        train: Shuffle (and augment when ``augment``); otherwise in order, evaluation transform.
        augment: The source's standard augmentation (see the module docstring).
        workers: DataLoader worker processes decoding an image folder (in-memory data always uses 0).
        device: Where batches go.
        channels_last: Return ``x`` in channels-last memory format (CUDA convolutions prefer it).
        stride: Only every ``stride``-th image of the split (indices 0, stride, 2 stride, ...; 1: all).

    Raises:
        DataError: an image that cannot be decoded (one line naming it).
    """
    dataset = data.dataset(split, train=train, augment=augment)
    if stride > 1:
        dataset = Subset(dataset, range(0, len(dataset), stride))
    device = torch.device(device)
    sampler = EpochBatchSampler(len(dataset), batch_size,
                                generator=epoch_generator(seed, epoch, 0) if train else None)
    in_memory = getattr(data, "in_memory", True)
    loader = DataLoader(
        dataset, batch_sampler=sampler, num_workers=0 if in_memory else workers,
        collate_fn=_identity if in_memory else None, pin_memory=device.type == "cuda",
        generator=epoch_generator(seed, epoch, 1) if train else None,
        persistent_workers=False,
    )
    augment_gen = epoch_generator(seed, epoch, 2) if (train and augment) else None
    iterator = iter(loader)
    while True:
        try:
            xb, yb = next(iterator)
        except StopIteration:
            return
        except DataError as exc:  # re-raised from a worker with its traceback in the message: keep the last line
            text = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cannot decode an image"
            raise DataError(text.split("DataError: ", 1)[-1]) from None
        xb = xb.to(device, non_blocking=True)
        if augment_gen is not None:
            xb = pad_crop_flip(xb, augment_gen, crop=in_memory and data.small_images,
                               flip=data.hflip)
        x = xb.float().div_(127.5).sub_(1.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, yb.to(device, non_blocking=True)
