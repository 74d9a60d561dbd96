"""Image classification data for search trials: scikit-learn's digits, CIFAR-10 folders, image folders.

Every source loads into memory at the proxy resolution as ``uint8`` tensors and is split into train and validation
sets deterministically from a seed (stratified per class). Nothing is ever downloaded.
"""

from nascomp.data.dataset import ImageData, load_data, parse_data_source, DATA_KINDS

__all__ = ["ImageData", "load_data", "parse_data_source", "DATA_KINDS"]
