"""The in-memory data sources: scikit-learn's digits, Fashion-MNIST (IDX files) and CIFAR-10 (python batches).

Each loader returns a :class:`RawSource`: uint8 ``(N, C, H, W)`` images at the requested size, int64 labels, the
class names, and the official test split where the data set has one (Fashion-MNIST's t10k, CIFAR-10's
``test_batch``). Image folders stream from disk instead (:mod:`nascomp.data.folder`).
"""

from __future__ import annotations

import io
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nascomp.data.idx import read_idx
from nascomp.errors import DataError

__all__ = ["RawSource", "load_digits", "load_fashion_mnist", "load_cifar10", "FASHION_MNIST_DIR", "FASHION_CLASSES"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the four IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
_FASHION_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
                  "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


@dataclass(frozen=True)
class RawSource:
    """A whole data set in memory.

    Attributes:
        images: uint8 ``(N, C, H, W)`` images of the training split.
        labels: int64 ``(N,)``.
        classes: Class names, index order.
        test_images: uint8 ``(M, C, H, W)`` of the official test split, or ``None`` (a held-out split is used).
        test_labels: int64 ``(M,)`` or ``None``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None


def _resize(images: torch.Tensor, size: tuple[int, int], channels: int, chunk: int = 8192) -> torch.Tensor:
    """uint8 ``(N, C, h, w)`` -> uint8 ``(N, channels, *size)`` (bilinear with antialias; 1 channel replicated)."""
    if tuple(images.shape[-2:]) != size:
        parts = []
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk].float().div_(255.0)
            part = F.interpolate(part, size=size, mode="bilinear", align_corners=False, antialias=True)
            parts.append(part.clamp_(0, 1).mul_(255).round_().to(torch.uint8))
        images = torch.cat(parts) if parts else images.new_zeros((0, images.shape[1], *size))
    if images.shape[1] != channels:
        if images.shape[1] != 1:
            raise DataError(f"cannot turn {images.shape[1]}-channel images into {channels}-channel input")
        images = images.expand(-1, channels, -1, -1)
    return images.contiguous()


def load_digits(folder: Path | None = None, *, size: tuple[int, int], channels: int) -> RawSource:
    """scikit-learn's bundled handwritten digits: 1,797 8x8 grayscale images (values 0-16), 10 classes, no test
    split of its own."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = torch.from_numpy((bunch.images * (255.0 / 16.0)).round().astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return RawSource(_resize(images, size, channels), labels, tuple(str(c) for c in bunch.target_names))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_fashion_mnist(folder: Path | None, *, size: tuple[int, int], channels: int) -> RawSource:
    """Fashion-MNIST (Xiao et al., arXiv:1708.07747; Zalando, MIT licence): 60,000 training and 10,000 test 28x28
    grayscale images of 10 clothing classes, read from the four IDX files (gzipped or not) in ``folder``
    (default: :data:`FASHION_MNIST_DIR`, Debian's ``dataset-fashion-mnist``)."""
    folder = folder or FASHION_MNIST_DIR
    found = {key: _find_idx(folder, stem) for key, stem in _FASHION_FILES.items()}
    missing = [_FASHION_FILES[key] + "[.gz]" for key, path in found.items() if path is None]
    if missing:
        where = "is missing" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        raise DataError(
            f"Fashion-MNIST folder '{folder}' {where}: install Debian's 'dataset-fashion-mnist' package "
            f"(apt-get install dataset-fashion-mnist) or give the folder holding the four IDX files as "
            f"--data fashion-mnist:DIR (or use scikit-learn's bundled --data digits)"
        )
    arrays = {key: read_idx(path) for key, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"Fashion-MNIST {split} files in '{folder}' do not match: images {images.shape}, "
                            f"labels {labels.shape}")
        if len(labels) and int(labels.max()) >= len(FASHION_CLASSES):
            raise DataError(f"Fashion-MNIST {split} labels in '{folder}' go up to {int(labels.max())}; expected 0-9")

    def tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(arrays[f"{split}_images"].copy()).unsqueeze(1)
        return _resize(images, size, channels), torch.from_numpy(arrays[f"{split}_labels"].astype(np.int64))

    (x, y), (xt, yt) = tensors("train"), tensors("test")
    return RawSource(x, y, FASHION_CLASSES, xt, yt)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds: dicts, lists, strings, numbers and numpy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load '{module}.{name}' (not part of a CIFAR-10 batch)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        entry = _CifarUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as exc:  # noqa: BLE001 - any unreadable batch is the same user error
        raise DataError(f"cannot read CIFAR-10 batch '{path}': {exc}") from None
    if not isinstance(entry, dict):
        raise DataError(f"CIFAR-10 batch '{path}' is malformed: expected a pickled dict")
    return entry


def _cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    entry = _unpickle(path)
    try:
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = [int(v) for v in entry["labels"]]
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"CIFAR-10 batch '{path}' is malformed: {exc}") from None
    if len(data) != len(labels):
        raise DataError(f"CIFAR-10 batch '{path}' is malformed: {len(data)} images but {len(labels)} labels")
    return data, labels


def load_cifar10(folder: Path, *, size: tuple[int, int], channels: int) -> RawSource:
    """CIFAR-10 (Krizhevsky 2009) in torchvision's ``cifar-10-batches-py`` layout: five training batches,
    ``test_batch`` (the official test split) and ``batches.meta``.

    ``folder`` may be the ``cifar-10-batches-py`` folder or its parent (torchvision's ``root``). Nothing is
    downloaded. Batches are read with a restricted unpickler that only rebuilds numpy arrays.
    """
    base = folder / "cifar-10-batches-py" if (folder / "cifar-10-batches-py").is_dir() else folder
    missing = [name for name in (*_CIFAR_TRAIN, "test_batch", "batches.meta") if not (base / name).is_file()]
    if missing:
        raise DataError(
            f"'{folder}' is not a CIFAR-10 folder: missing {', '.join(missing)} (expected torchvision's "
            f"'cifar-10-batches-py' layout; download and extract it yourself, nascomp never downloads)"
        )
    if channels != 3:
        raise DataError(f"CIFAR-10 images are RGB; the net takes {channels}-channel input (it needs 3)")
    chunks, labels = [], []
    for name in _CIFAR_TRAIN:
        data, batch_labels = _cifar_batch(base / name)
        chunks.append(data)
        labels.extend(batch_labels)
    test_data, test_labels = _cifar_batch(base / "test_batch")
    classes = tuple(str(c) for c in _unpickle(base / "batches.meta").get("label_names", []))
    every = labels + test_labels
    if not classes or max(every) >= len(classes) or min(every) < 0:
        raise DataError(f"CIFAR-10 folder '{base}' is malformed: labels do not match the class names")
    return RawSource(
        _resize(torch.from_numpy(np.concatenate(chunks)), size, channels), torch.tensor(labels, dtype=torch.int64),
        classes, _resize(torch.from_numpy(test_data), size, channels), torch.tensor(test_labels, dtype=torch.int64),
    )
