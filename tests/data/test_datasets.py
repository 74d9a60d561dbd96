"""Data sources: digits (bundled with scikit-learn), CIFAR-10 folders and image folders; seeded splits."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from nascomp.data import ImageData, load_data, parse_data_source
from nascomp.data.dataset import stratified_split
from nascomp.errors import DataError


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", image_size=16, seed=0)


def test_digits_is_the_real_set(digits):
    # scikit-learn's digits: 1,797 8x8 images of 10 classes (about 180 each)
    assert len(digits) == 1797
    assert digits.num_classes == 10
    assert digits.classes == tuple(str(i) for i in range(10))
    assert digits.image_shape == (3, 16, 16)
    assert digits.x_train.dtype == torch.uint8
    # a fixed 15 % of each class (178-183 images) is the test split: round(n_c * 0.15) per class
    from sklearn.datasets import load_digits
    per_class = np.bincount(load_digits().target).tolist()
    assert torch.bincount(digits.y_test, minlength=10).tolist() == [round(n * 0.15) for n in per_class]
    # then a stratified 20 % of the rest, round(n_c * 0.2) per class, is validation
    rest = torch.bincount(torch.cat([digits.y_train, digits.y_val]), minlength=10).tolist()
    assert torch.bincount(digits.y_val, minlength=10).tolist() == [round(n * 0.2) for n in rest]
    assert len(digits.y_train) + len(digits.y_val) + len(digits.y_test) == 1797


def test_grayscale_is_replicated_and_normalized(digits):
    x = digits.x_train[:4]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    norm = ImageData.normalize(x)
    assert norm.dtype == torch.float32 and norm.min() >= -1 and norm.max() <= 1


def test_split_is_deterministic_by_seed(digits):
    again = load_data("digits", image_size=16, seed=0)
    other = load_data("digits", image_size=16, seed=1)
    assert torch.equal(digits.y_val, again.y_val) and torch.equal(digits.x_val, again.x_val)
    assert not torch.equal(digits.x_val, other.x_val)


def test_stratified_split_disjoint_and_complete():
    labels = np.repeat(np.arange(3), [10, 5, 2])
    train, val = stratified_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(17))
    assert np.bincount(labels[val]).tolist() == [2, 1, 1]


def test_max_images_subsamples(digits):
    small = load_data("digits", image_size=8, seed=0, max_images=200)
    assert 195 <= len(small.y_train) + len(small.y_val) <= 205
    assert set(small.y_train.tolist()) == set(range(10))
    # the test split is not subsampled
    assert torch.equal(small.y_test, digits.y_test)


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("mnist", "unknown data source 'mnist'"),
        ("digits:/tmp", "takes no folder"),
        ("imagefolder:", "names no folder"),
        ("cifar10", "names no folder"),
    ],
)
def test_bad_sources(source, fragment):
    with pytest.raises(DataError, match=fragment):
        parse_data_source(source)


def _write_images(folder, classes=("cat", "dog"), per_class=4, size=(20, 12)):
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            arr = np.full((size[1], size[0], 3), 40 * c + 10 * i, dtype=np.uint8)
            Image.fromarray(arr).save(folder / name / f"{i}.png")


def test_imagefolder_with_spaces(tmp_path):
    root = tmp_path / "my images"
    _write_images(root)
    data = load_data(f"imagefolder:{root}", image_size=8, seed=0, val_fraction=0.25)
    assert data.classes == ("cat", "dog")
    assert len(data) == 8 and len(data.y_val) == 2 and len(data.y_test) == 2
    assert data.image_shape == (3, 8, 8)
    # a uniform image stays uniform through the resize and center crop (decoded from disk when asked)
    image, _ = data.dataset("train")[0]
    assert image.shape == (3, 8, 8) and int(image.max()) == int(image.min())


def test_imagefolder_grayscale(tmp_path):
    _write_images(tmp_path / "d")
    assert load_data(f"imagefolder:{tmp_path / 'd'}", image_size=8, channels=1).image_shape == (1, 8, 8)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(f"imagefolder:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class subfolders"):
        load_data(f"imagefolder:{tmp_path / 'empty'}")
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        load_data(f"imagefolder:{tmp_path / 'noimg'}")
    _write_images(tmp_path / "bad")
    (tmp_path / "bad" / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        load_data(f"imagefolder:{tmp_path / 'bad'}")
    _write_images(tmp_path / "one", classes=("only",))
    with pytest.raises(DataError, match="at least 2"):
        load_data(f"imagefolder:{tmp_path / 'one'}")


def _write_cifar(root, per_batch=6):
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for i in range(1, 6):
        entry = {"data": rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": [(i + j) % 3 for j in range(per_batch)]}
        with open(base / f"data_batch_{i}", "wb") as fh:
            pickle.dump(entry, fh)
    entry = {"data": rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8), "labels": [j % 3 for j in range(per_batch)]}
    with open(base / "test_batch", "wb") as fh:
        pickle.dump(entry, fh)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": ["airplane", "automobile", "bird"]}, fh)
    return base


def test_cifar10_layout(tmp_path):
    base = _write_cifar(tmp_path / "cifar data")
    for folder in (tmp_path / "cifar data", base):  # torchvision's root, or the batches folder itself
        data = load_data(f"cifar10:{folder}", image_size=32, seed=0)
        assert len(data) == 36 and data.classes == ("airplane", "automobile", "bird")
        assert len(data.y_test) == 6 and len(data.y_train) + len(data.y_val) == 30  # test_batch is the test split
        assert data.image_shape == (3, 32, 32)


def test_cifar10_errors(tmp_path):
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="not a CIFAR-10 folder: missing data_batch_1"):
        load_data(f"cifar10:{tmp_path / 'c'}")
    base = _write_cifar(tmp_path / "d")
    (base / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read CIFAR-10 batch"):
        load_data(f"cifar10:{tmp_path / 'd'}")
