"""The in-memory data set a trial trains on, the ``--data`` argument parser and the seeded split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nascomp.errors import DataError

__all__ = ["ImageData", "load_data", "parse_data_source", "DATA_KINDS", "stratified_split"]

#: The ``--data`` forms: ``digits``, ``cifar10:DIR``, ``imagefolder:DIR``.
DATA_KINDS = ("digits", "cifar10", "imagefolder")

_USAGE = "use 'digits', 'cifar10:DIR' (torchvision's CIFAR-10 folder) or 'imagefolder:DIR' (one subfolder per class)"


@dataclass(frozen=True)
class ImageData:
    """Train and validation images held in memory.

    Attributes:
        name: The source as given (``digits``, ``cifar10:/data/cifar``).
        x_train: ``(N_train, C, H, W)`` uint8 images.
        y_train: ``(N_train,)`` int64 class indices.
        x_val: ``(N_val, C, H, W)`` uint8 images.
        y_val: ``(N_val,)`` int64 class indices.
        classes: Class names, index order.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, C, H, W)`` in [0, 255] -> float32 in [-1, 1]."""
        return x.float().div_(127.5).sub_(1.0)

    def __len__(self) -> int:
        return len(self.y_train) + len(self.y_val)


def parse_data_source(source: str) -> tuple[str, Path | None]:
    """Split a ``--data`` argument into its kind and folder.

    Raises:
        DataError: unknown kind, a folder given to ``digits`` or missing for the others.

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
        raise DataError(f"data source '{source}' names no folder: write '{kind}:DIR'")
    return kind, Path(folder).expanduser()


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train and validation, per class, reproducibly from ``seed``.

    Each class with at least two images puts ``round(n * val_fraction)`` of them (at least one) in validation.

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
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def load_data(
    source: str,
    *,
    image_size: int | tuple[int, int] = 32,
    channels: int = 3,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_images: int | None = None,
) -> ImageData:
    """Load a data source into memory at ``image_size`` and split it from ``seed``.

    Args:
        source: ``digits`` (scikit-learn's 1,797 8x8 handwritten digits, 10 classes), ``cifar10:DIR`` (the
            ``cifar-10-batches-py`` layout torchvision uses; DIR may be that folder or its parent; the 50,000
            training images are split, the test batch is left alone) or ``imagefolder:DIR`` (``DIR/<class>/<image>``).
        image_size: Side (or (H, W)) every image is resized to.
        channels: 1 (grayscale) or 3 (RGB); grayscale sources are replicated to 3 channels.
        val_fraction: Share of each class held out for validation.
        seed: Seed of the split (and of the ``max_images`` subsample).
        max_images: Keep at most this many images (a stratified, seeded subsample), or all.

    Raises:
        DataError: unknown source, missing or malformed folder, unreadable image, fewer than two classes.

    Example:
        >>> data = load_data("digits", image_size=32, seed=0)
        >>> len(data), data.num_classes, data.image_shape
        (1797, 10, (3, 32, 32))
    """
    from nascomp.data import sources

    kind, folder = parse_data_source(source)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if channels not in (1, 3):
        raise DataError(f"data source '{source}': images must have 1 or 3 channels, the architecture wants {channels}")
    if folder is not None and not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise DataError(f"data folder '{folder}' {what} (from --data {source})")
    loader = {"digits": sources.load_digits, "cifar10": sources.load_cifar10, "imagefolder": sources.load_imagefolder}
    images, labels, classes = loader[kind](folder, size=size, channels=channels)
    if len(classes) < 2:
        raise DataError(f"data source '{source}' has {len(classes)} class(es); a classifier needs at least 2")
    labels_np = labels.numpy()
    if max_images is not None and max_images < len(labels_np):
        if max_images < 2 * len(classes):
            raise DataError(f"max_images={max_images} is too few for {len(classes)} classes (need at least 2 per class)")
        keep, _ = stratified_split(labels_np, 1.0 - max_images / len(labels_np), seed + 1)
        images, labels, labels_np = images[torch.from_numpy(keep)], labels[torch.from_numpy(keep)], labels_np[keep]
    train_idx, val_idx = stratified_split(labels_np, val_fraction, seed)
    if len(val_idx) == 0:
        raise DataError(f"data source '{source}' is too small to hold out a validation set (each class needs 2 images)")
    return ImageData(
        name=str(source),
        x_train=images[torch.from_numpy(train_idx)],
        y_train=labels[torch.from_numpy(train_idx)],
        x_val=images[torch.from_numpy(val_idx)],
        y_val=labels[torch.from_numpy(val_idx)],
        classes=tuple(classes),
    )
