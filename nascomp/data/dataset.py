"""The data a run trains on (train / validation / test splits), the ``--data`` argument parser and seeded splits.

Splits: the test split is the data set's official one where it has one (Fashion-MNIST's t10k, CIFAR-10's
``test_batch``), else a stratified held-out share whose seed is fixed per data set (:data:`TEST_SEEDS`), never the
user's ``--seed``: no search or training run, whatever its seed, trains or chooses on it. Validation is then split
from the rest with the user's seed; ``max_images`` subsamples that rest (train + validation) only.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from nascomp.errors import DataError

__all__ = ["ImageData", "FolderData", "load_data", "parse_data_source", "DATA_KINDS", "stratified_split",
           "TEST_FRACTION", "TEST_SEEDS", "SPLITS"]

#: The ``--data`` forms.
DATA_KINDS = ("digits", "fashion-mnist", "cifar10", "imagefolder")
SPLITS = ("train", "val", "test")
#: Share of each class held out as the test split of a data set without an official one.
TEST_FRACTION = 0.15
#: The fixed seed of each data set's held-out test split (a CRC-32 of its name; never the user's seed).
TEST_SEEDS = {kind: zlib.crc32(kind.encode()) & 0x7FFFFFFF for kind in DATA_KINDS}
#: Sources whose native images are grayscale (replicated to 3 channels when the net wants RGB).
_GRAYSCALE = ("digits", "fashion-mnist")
#: Native image size of the fixed-size sources (the default training size); image folders default to 224.
NATIVE_SIZE = {"digits": 8, "fashion-mnist": 28, "cifar10": 32, "imagefolder": 224}

_USAGE = ("use 'digits', 'fashion-mnist[:DIR]' (the four IDX files), 'cifar10:DIR' (torchvision's CIFAR-10 "
          "folder) or 'imagefolder:DIR' (one subfolder per class)")


class _TensorSplit(Dataset):
    """uint8 images and labels in memory; ``__getitems__`` fetches a whole batch with one indexing op."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return self.images[idx], self.labels[idx]


class _SplitsMixin:
    name: str
    classes: tuple[str, ...]
    y_train: torch.Tensor
    y_val: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def small_images(self) -> bool:
        """CIFAR-sized (at most 64 px): augmented by pad-4-and-crop + flip rather than RandomResizedCrop."""
        return max(self.image_shape[1:]) <= 64  # type: ignore[attr-defined]

    def labels(self, split: str) -> torch.Tensor:
        return {"train": self.y_train, "val": self.y_val, "test": self.y_test}[split]

    def identity(self) -> dict:
        """What makes these splits these splits (for checkpoints): source, sizes, classes and a hash of labels."""
        digest = hashlib.sha256()
        for split in SPLITS:
            digest.update(self.labels(split).numpy().tobytes())
        return {"source": self.name, "classes": list(self.classes), "image_shape": list(self.image_shape),  # type: ignore[attr-defined]
                "sizes": [len(self.labels(s)) for s in SPLITS], "labels_sha256": digest.hexdigest()}

    def __len__(self) -> int:
        return sum(len(self.labels(s)) for s in SPLITS)

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, C, H, W)`` in [0, 255] -> float32 in [-1, 1]."""
        return x.float().div_(127.5).sub_(1.0)


@dataclass(frozen=True, eq=False)
class ImageData(_SplitsMixin):
    """Train, validation and test images held in memory.

    Attributes:
        name: The source as given (``digits``, ``cifar10:/data/cifar``).
        x_train, x_val, x_test: ``(N, C, H, W)`` uint8 images of each split.
        y_train, y_val, y_test: ``(N,)`` int64 class indices.
        classes: Class names, index order.
        test_source: ``official`` or ``held-out (seed S)``.
        skipped: Bad files left out (always empty for in-memory sources).
        hflip: Whether horizontal flips are a valid augmentation (not for digits, whose mirror images are not
            digits).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: tuple[str, ...]
    x_test: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.uint8))
    y_test: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    test_source: str = "official"
    skipped: tuple[str, ...] = ()
    hflip: bool = True
    in_memory = True

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def dataset(self, split: str, *, train: bool = False, augment: bool = False) -> Dataset:
        """The split as a map-style dataset (augmentation of in-memory data is done per batch, not here)."""
        x = {"train": self.x_train, "val": self.x_val, "test": self.x_test}[split]
        return _TensorSplit(x, self.labels(split))


@dataclass(frozen=True, eq=False)
class FolderData(_SplitsMixin):
    """An image folder's splits, streamed from disk (:mod:`nascomp.data.folder`).

    Attributes:
        paths: Every usable file; ``idx_train`` / ``idx_val`` / ``idx_test`` index it.
        y_train, y_val, y_test: int64 labels of each split.
        skipped: Bad files left out (``--skip-bad-images``).
    """

    name: str
    paths: tuple[str, ...]
    all_labels: torch.Tensor
    idx_train: torch.Tensor
    idx_val: torch.Tensor
    idx_test: torch.Tensor
    classes: tuple[str, ...]
    size: tuple[int, int]
    channels: int
    test_source: str = ""
    skipped: tuple[str, ...] = ()
    hflip: bool = True
    in_memory = False

    @property
    def y_train(self) -> torch.Tensor:  # type: ignore[override]
        return self.all_labels[self.idx_train]

    @property
    def y_val(self) -> torch.Tensor:  # type: ignore[override]
        return self.all_labels[self.idx_val]

    @property
    def y_test(self) -> torch.Tensor:  # type: ignore[override]
        return self.all_labels[self.idx_test]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)

    def dataset(self, split: str, *, train: bool = False, augment: bool = False) -> Dataset:
        """The split as a map-style dataset that decodes each file when asked (in DataLoader workers)."""
        from nascomp.data.folder import FolderImages

        idx = {"train": self.idx_train, "val": self.idx_val, "test": self.idx_test}[split]
        return FolderImages(self.paths, self.all_labels, idx, size=self.size, channels=self.channels,
                            train=train, augment=augment)


def parse_data_source(source: str) -> tuple[str, Path | None]:
    """Split a ``--data`` argument into its kind and folder.

    Raises:
        DataError: unknown kind, a folder given to ``digits`` or missing for ``cifar10`` / ``imagefolder``.

    Example:
        >>> parse_data_source("digits")
        ('digits', None)
        >>> parse_data_source("imagefolder:/data/pets")
        ('imagefolder', PosixPath('/data/pets'))
    """
    kind, sep, folder = str(source).partition(":")
    kind = kind.strip().lower()
    if kind not in DATA_KINDS:
        raise DataError(f"unknown data source '{source}': {_USAGE}")
    if kind == "digits":
        if sep:
            raise DataError(f"data source '{source}': 'digits' is bundled with scikit-learn and takes no folder")
        return kind, None
    if not folder.strip():
        if kind == "fashion-mnist":
            return kind, None
        raise DataError(f"data source '{source}' names no folder: write '{kind}:DIR'")
    return kind, Path(folder).expanduser()


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into two parts, per class, reproducibly from ``seed``.

    Each class with at least two images puts ``round(n * val_fraction)`` of them (at least one) in the second part.

    Returns:
        ``(train_idx, val_idx)``, each sorted.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"validation fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    rng = np.random.RandomState(seed)
    train, val = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_val = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, int(round(len(idx) * val_fraction))))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    empty = np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(train or [empty])), np.sort(np.concatenate(val or [empty]))


def _plan_splits(labels: np.ndarray, *, kind: str, official_test: bool, val_fraction: float, seed: int,
                 max_images: int | None, n_classes: int, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(train, val, test)`` into ``labels`` (``test`` empty when the source has an official one)."""
    if official_test:
        pool, test = np.arange(len(labels)), np.zeros(0, dtype=np.int64)
    else:
        pool, test = stratified_split(labels, TEST_FRACTION, TEST_SEEDS[kind])
    if max_images is not None and max_images < len(pool):
        if max_images < 2 * n_classes:
            raise DataError(f"max_images={max_images} is too few for {n_classes} classes (need at least 2 per class)")
        keep, _ = stratified_split(labels[pool], 1.0 - max_images / len(pool), seed + 1)
        pool = pool[keep]
    train, val = stratified_split(labels[pool], val_fraction, seed)
    if len(val) == 0:
        raise DataError(f"data source '{source}' is too small to hold out a validation set (each class needs 2 images)")
    return pool[train], pool[val], test


def load_data(
    source: str,
    *,
    image_size: int | tuple[int, int] | None = 32,
    channels: int = 3,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_images: int | None = None,
    skip_bad_images: bool = False,
) -> ImageData | FolderData:
    """Load a data source (in memory, or streamed for image folders) and split it.

    Args:
        source: ``digits`` (scikit-learn's 1,797 8x8 handwritten digits, 10 classes), ``fashion-mnist[:DIR]``
            (70,000 28x28 clothing images from the four IDX files in DIR, default
            ``/usr/share/datasets/fashion-mnist``), ``cifar10:DIR`` (torchvision's ``cifar-10-batches-py``
            layout; DIR may be that folder or its parent) or ``imagefolder:DIR`` (``DIR/<class>/<image>``, streamed).
        image_size: Side (or (H, W)) every image is resized to; ``None`` for the source's native size.
        channels: 1 (grayscale) or 3 (RGB); grayscale sources are replicated to 3 channels.
        val_fraction: Share of each class of the non-test images held out for validation.
        seed: Seed of the validation split and of the ``max_images`` subsample (never of the test split).
        max_images: Keep at most this many train + validation images (a stratified, seeded subsample), or all.
        skip_bad_images: Image folders: leave out files that are not decodable images instead of stopping.

    Returns:
        :class:`ImageData` (in memory) or :class:`FolderData` (image folders, streamed).

    Raises:
        DataError: unknown source, missing or malformed folder, unreadable image, a channel count the data cannot
            give, fewer than two classes.

    Example:
        >>> data = load_data("digits", image_size=32, seed=0)
        >>> len(data), data.num_classes, data.image_shape
        (1797, 10, (3, 32, 32))
    """
    from nascomp.data import sources
    from nascomp.data.folder import list_image_folder

    kind, folder = parse_data_source(source)
    image_size = NATIVE_SIZE[kind] if image_size is None else image_size
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if channels not in (1, 3):
        raise DataError(f"data source '{source}' gives 1- or 3-channel images; the net takes {channels} channels")
    if folder is not None and not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        hint = ("; install Debian's 'dataset-fashion-mnist' package or give the folder of the four IDX files as "
                "--data fashion-mnist:DIR (or use scikit-learn's bundled --data digits)"
                if kind == "fashion-mnist" else "")
        raise DataError(f"data folder '{folder}' {what} (from --data {source}){hint}")
    if kind == "imagefolder":
        listing = list_image_folder(folder, skip_bad_images=skip_bad_images)
        labels, classes, official = listing.labels, listing.classes, False
    else:
        loader = {"digits": sources.load_digits, "fashion-mnist": sources.load_fashion_mnist,
                  "cifar10": sources.load_cifar10}[kind]
        raw = loader(folder, size=size, channels=channels)
        labels, classes, official = raw.labels, raw.classes, raw.test_images is not None
    if len(classes) < 2:
        raise DataError(f"data source '{source}' has {len(classes)} class(es); a classifier needs at least 2")
    train, val, test = _plan_splits(labels.numpy(), kind=kind, official_test=official, val_fraction=val_fraction,
                                    seed=seed, max_images=max_images, n_classes=len(classes), source=source)
    test_source = "official" if official else f"held-out {TEST_FRACTION:.0%} (fixed seed {TEST_SEEDS[kind]})"
    t = torch.from_numpy
    if kind == "imagefolder":
        return FolderData(str(source), listing.paths, listing.labels, t(train), t(val), t(test), tuple(classes),
                          size, channels, test_source, listing.skipped)
    x_test, y_test = (raw.test_images, raw.test_labels) if official else (raw.images[t(test)], raw.labels[t(test)])
    return ImageData(str(source), raw.images[t(train)], raw.labels[t(train)], raw.images[t(val)], raw.labels[t(val)],
                     tuple(classes), x_test, y_test, test_source, hflip=kind != "digits")
