"""An image folder (``DIR/<class>/<image>``) streamed from disk, never held in memory.

Files are listed and checked once at start by reading only their headers (PIL's lazy ``Image.open``): a file whose
header is not a PNG, JPEG, GIF or WebP image (the formats ``torchvision.io.decode_image`` decodes) is a bad file.
Without ``skip_bad_images`` the first bad file stops the run with a :class:`~nascomp.errors.DataError` naming it
and the ``--skip-bad-images`` flag; with it, bad files are left out and counted. A file whose header is fine but
whose pixels are broken is found only when decoded, and stops the run the same way.

Images are decoded in :class:`torch.utils.data.DataLoader` worker processes with ``torchvision.io.decode_image``
in RGB or grayscale mode, which converts as PIL's ``convert('RGB')`` / ``convert('L')`` do: palette images are
expanded, grayscale is replicated to RGB, an alpha channel is dropped, CMYK JPEGs are converted (all checked
against PIL in tests/data/test_sources.py). 16-bit PNGs are scaled to 8 bits (:func:`to_uint8`).
Training crops use RandomResizedCrop (Szegedy et al., "Going deeper with convolutions", arXiv:1409.4842; scale
0.08-1, ratio 3/4-4/3, torchvision's defaults); evaluation resizes the shorter side to ``size / 0.875`` and takes
the center crop (torchvision's reference ``Resize(256)`` + ``CenterCrop(224)``).
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from nascomp.errors import DataError

__all__ = ["FolderListing", "list_image_folder", "FolderImages", "decode_file", "to_uint8"]

#: Formats torchvision.io.decode_image reads (PIL's format names).
DECODABLE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
EVAL_CROP_FRACTION = 0.875


@dataclass(frozen=True)
class FolderListing:
    """The usable files of an image folder.

    Attributes:
        paths: Image files, class by class, each class sorted.
        labels: int64 ``(N,)`` class index of each file.
        classes: Sorted class (subfolder) names.
        skipped: Bad files left out (only with ``skip_bad_images``).
    """

    paths: tuple[str, ...]
    labels: torch.Tensor
    classes: tuple[str, ...]
    skipped: tuple[str, ...] = ()


def _is_decodable(path: Path) -> str | None:
    """``None`` when the header is a decodable image, else why not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.format not in DECODABLE_FORMATS:
                return f"{img.format} is not one of {', '.join(DECODABLE_FORMATS)}"
            if min(img.size) < 1:
                return "it has no pixels"
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        return f"not an image ({type(exc).__name__})"
    return None


def list_image_folder(folder: Path, *, skip_bad_images: bool = False) -> FolderListing:
    """List ``folder/<class>/**`` (torchvision's ImageFolder rule: classes are the sorted subfolder names; files
    and folders starting with ``.`` are ignored) and check every file's header.

    Raises:
        DataError: no class subfolders, a class without usable images, or (without ``skip_bad_images``) a bad file.
    """
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"image folder '{folder}' has no class subfolders (expected DIR/<class>/<image>)")
    paths, labels, skipped = [], [], []
    for index, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(class_dir).parts))
        usable = 0
        for path in files:
            why = _is_decodable(path)
            if why is not None:
                if not skip_bad_images:
                    raise DataError(f"cannot read image '{path}': {why}; remove it or pass --skip-bad-images")
                skipped.append(str(path))
                continue
            paths.append(str(path))
            labels.append(index)
            usable += 1
        if usable == 0:
            raise DataError(f"class folder '{class_dir}' holds no images ({', '.join(DECODABLE_FORMATS)})")
    return FolderListing(tuple(paths), torch.tensor(labels, dtype=torch.int64), tuple(p.name for p in class_dirs),
                         tuple(skipped))


class FolderImages(Dataset):
    """Decode ``paths[indices[i]]`` to a uint8 ``(C, H, W)`` tensor of ``size``.

    Args:
        paths: Every file of the folder.
        labels: Their class indices.
        indices: The files of this split.
        size: ``(H, W)`` of every image returned.
        channels: 1 (grayscale) or 3 (RGB).
        train: RandomResizedCrop (train) or resize + center crop (evaluation).
        augment: With ``train``: random crops; without: the evaluation transform.

    Raises:
        DataError: a file cannot be decoded (in a worker, re-raised by :func:`nascomp.data.pipeline.batches`).
    """

    def __init__(self, paths: tuple[str, ...], labels: torch.Tensor, indices: torch.Tensor, *,
                 size: tuple[int, int], channels: int, train: bool, augment: bool):
        from torchvision.transforms import v2

        self.paths, self.labels, self.indices = paths, labels, indices
        self.channels = channels
        if train and augment:
            self.transform = v2.RandomResizedCrop(size, antialias=True)
        else:
            resize = tuple(round(s / EVAL_CROP_FRACTION) for s in size)
            self.transform = v2.Compose([v2.Resize(min(resize), antialias=True), v2.CenterCrop(size)])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        index = int(self.indices[i])
        return self.transform(decode_file(self.paths[index], self.channels)), int(self.labels[index])


def decode_file(path: str, channels: int) -> torch.Tensor:
    """Decode an image file to uint8 ``(channels, H, W)``: RGB or grayscale whatever the file's own mode (see the
    module docstring); an animated GIF gives its first frame.

    Raises:
        DataError: the file cannot be decoded (one line naming it).
    """
    from torchvision.io import ImageReadMode, decode_image, read_file

    mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    try:
        image = decode_image(read_file(path), mode=mode)
    except (RuntimeError, OSError, ValueError) as exc:
        reason = _decoder_reason(exc)
        raise DataError(f"cannot decode image '{path}': {reason} (its header read fine, so the start-up scan "
                        f"and --skip-bad-images cannot catch it); remove or replace the file") from None
    if image.ndim == 4:  # an animated GIF: its first frame
        image = image[0]
    return to_uint8(image)


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """A decoded image as uint8, each value scaled by ``255 / max`` of its type and rounded.

    ``decode_image`` gives 16-bit PNGs as uint16 (0-65535), which the resize transforms cannot take
    ("Promotion for uint16"); ``round(x * 255 / 65535)`` maps 65535 to 255 and keeps the image's contrast (PIL's own
    ``convert('L')`` clips 16-bit values at 255 instead, which turns most of an image white).

    Args:
        image: ``(C, H, W)`` uint8 or uint16.

    Returns:
        ``(C, H, W)`` uint8 (the same tensor when it already is).
    """
    if image.dtype == torch.uint8:
        return image
    if image.dtype != torch.uint16:
        raise DataError(f"decoded images are uint8 or uint16, found {image.dtype}")
    return ((image.to(torch.int32) * 255 + 32767) // 65535).to(torch.uint8)


def _decoder_reason(exc: Exception) -> str:
    """The decoder's message without the C++ source location torchvision prefixes (``operator(), /path/x.cpp:79, ``)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^(?:[\w:<>~]+\(\), )?\S+\.(?:cpp|cc|h):\d+, ", "", text)
