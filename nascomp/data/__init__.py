"""Image classification data: scikit-learn's digits, Fashion-MNIST, CIFAR-10 folders and image folders.

In-memory sources load as ``uint8`` tensors; image folders stream from disk. Every source has train, validation and
test splits (see :mod:`nascomp.data.dataset`); :func:`nascomp.data.pipeline.batches` feeds any of them to a model.
Nothing is ever downloaded.
"""

from nascomp.data.dataset import DATA_KINDS, FolderData, ImageData, load_data, parse_data_source
from nascomp.data.pipeline import batches

__all__ = ["ImageData", "FolderData", "load_data", "parse_data_source", "DATA_KINDS", "batches"]
