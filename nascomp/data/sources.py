"""The three data sources, each returning ``(images uint8 (N, C, H, W), labels int64 (N,), class names)``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nascomp.errors import DataError

__all__ = ["load_digits", "load_cifar10", "load_imagefolder"]

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def _resize(images: torch.Tensor, size: tuple[int, int], channels: int) -> torch.Tensor:
    """float ``(N, C, h, w)`` in [0, 1] -> uint8 ``(N, channels, *size)``."""
    if tuple(images.shape[-2:]) != size:
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    if images.shape[1] != channels:
        images = images.expand(-1, channels, -1, -1) if images.shape[1] == 1 else images.mean(1, keepdim=True)
    return images.clamp(0, 1).mul(255).round().to(torch.uint8).contiguous()


def load_digits(folder: Path | None = None, *, size: tuple[int, int], channels: int):
    """scikit-learn's bundled handwritten digits: 1,797 8x8 grayscale images (values 0-16), 10 classes."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return _resize(images, size, channels), labels, [str(c) for c in bunch.target_names]


def load_cifar10(folder: Path, *, size: tuple[int, int], channels: int):
    """CIFAR-10 in torchvision's ``cifar-10-batches-py`` layout (the five training batches and ``batches.meta``).

    ``folder`` may be the ``cifar-10-batches-py`` folder or its parent (torchvision's ``root``). Nothing is
    downloaded; the test batch is not read (validation is split from the training batches).
    """
    base = folder / "cifar-10-batches-py" if (folder / "cifar-10-batches-py").is_dir() else folder
    missing = [name for name in (*_CIFAR_TRAIN, "batches.meta") if not (base / name).is_file()]
    if missing:
        raise DataError(
            f"'{folder}' is not a CIFAR-10 folder: missing {', '.join(missing)} (expected torchvision's "
            f"'cifar-10-batches-py' layout; download and extract it yourself, nascomp never downloads)"
        )
    chunks, labels = [], []
    for name in _CIFAR_TRAIN:
        entry = _unpickle(base / name)
        try:
            data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels.extend(int(v) for v in entry["labels"])
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"CIFAR-10 batch '{base / name}' is malformed: {exc}") from None
        chunks.append(data)
    meta = _unpickle(base / "batches.meta")
    classes = [str(c) for c in meta.get("label_names", [])]
    data = np.concatenate(chunks)
    if len(data) != len(labels) or not classes or max(labels) >= len(classes) or min(labels) < 0:
        raise DataError(f"CIFAR-10 folder '{base}' is malformed: labels do not match images or class names")
    images = torch.from_numpy(data).float().div_(255.0)
    return _resize(images, size, channels), torch.tensor(labels, dtype=torch.int64), classes


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
    except Exception as exc:  # noqa: BLE001 - any unreadable batch is the same user error
        raise DataError(f"cannot read CIFAR-10 batch '{path}': {exc}") from None
    if not isinstance(entry, dict):
        raise DataError(f"CIFAR-10 batch '{path}' is malformed: expected a pickled dict")
    return entry


def load_imagefolder(folder: Path, *, size: tuple[int, int], channels: int):
    """``folder/<class>/<image>``: class names are the sorted subfolder names (torchvision's ImageFolder rule)."""
    from PIL import Image, UnidentifiedImageError

    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"image folder '{folder}' has no class subfolders (expected DIR/<class>/<image>)")
    mode = "RGB" if channels == 3 else "L"
    images, labels = [], []
    for index, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise DataError(f"class folder '{class_dir}' holds no images ({', '.join(_IMAGE_SUFFIXES)})")
        for path in files:
            try:
                with Image.open(path) as img:
                    arr = np.asarray(img.convert(mode).resize(size[::-1], Image.BILINEAR), dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"cannot read image '{path}': {exc}") from None
            images.append(arr.reshape(size[0], size[1], channels).transpose(2, 0, 1))
            labels.append(index)
    return (
        torch.from_numpy(np.stack(images)),
        torch.tensor(labels, dtype=torch.int64),
        [p.name for p in class_dirs],
    )
