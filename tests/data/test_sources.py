"""Fashion-MNIST from IDX files, CIFAR-10's restricted unpickler, fixed test splits, streamed image folders with
bad files, and the batch augmentation of the one pipeline."""

import gzip
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from nascomp.data import batches, load_data
from nascomp.data.dataset import TEST_SEEDS, _plan_splits
from nascomp.data.idx import read_idx, write_idx
from nascomp.data.pipeline import epoch_generator, pad_crop_flip
from nascomp.errors import DataError


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_and_header(tmp_path, compress):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x.idx", arr, compress=compress)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == compress
    header = (gzip.decompress(raw) if compress else raw)[:16]
    # the IDX header written by hand: magic 0x00000803, then big-endian sizes 2, 3, 4
    assert header == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    assert np.array_equal(read_idx(path), arr)


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(DataError, match="holds 2 bytes of data"):
        read_idx(tmp_path / "short")


def _write_fashion(folder, n_train=40, n_test=20, compress=True):
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    suffix = ".gz" if compress else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", rng.randint(0, 256, (n, 28, 28)), compress=compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, compress=compress)
    return folder


@pytest.mark.parametrize("compress", [False, True])
def test_fashion_mnist_reads_idx_and_uses_t10k_as_test(tmp_path, compress):
    folder = _write_fashion(tmp_path / "fm", compress=compress)
    data = load_data(f"fashion-mnist:{folder}", image_size=None, channels=1, val_fraction=0.25)
    assert data.image_shape == (1, 28, 28) and data.num_classes == 10 and data.classes[9] == "Ankle boot"
    assert len(data.y_test) == 20 and len(data.y_train) + len(data.y_val) == 40
    images = read_idx(folder / f"t10k-images-idx3-ubyte{'.gz' if compress else ''}")
    assert torch.equal(data.x_test[:, 0], torch.from_numpy(images))
    # grayscale replicated for an RGB net
    rgb = load_data(f"fashion-mnist:{folder}", image_size=None, channels=3, val_fraction=0.25)
    assert rgb.image_shape == (3, 28, 28) and torch.equal(rgb.x_test[:, 2], data.x_test[:, 0])


def test_fashion_mnist_missing_names_the_package_and_dir_form(tmp_path, monkeypatch):
    from nascomp.data import sources

    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path / "not-installed")  # as if the package were absent
    (tmp_path / "empty").mkdir()
    for source in ("fashion-mnist", f"fashion-mnist:{tmp_path / 'empty'}", f"fashion-mnist:{tmp_path / 'nowhere'}"):
        with pytest.raises(DataError) as info:
            load_data(source)
        assert "'dataset-fashion-mnist'" in str(info.value) and "fashion-mnist:DIR" in str(info.value), source


def test_installed_fashion_mnist_is_the_real_set():
    import pathlib

    from tests.conftest import require_service

    require_service(pathlib.Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    "Debian's dataset-fashion-mnist (.ci/run installs it)")
    data = load_data("fashion-mnist", image_size=None, channels=1, max_images=100)
    # Xiao et al. (arXiv:1708.07747): 10,000 test images, 1,000 per class
    assert torch.bincount(data.y_test).tolist() == [1000] * 10


def test_held_out_test_split_is_disjoint_and_fixed_across_seeds():
    labels = np.repeat(np.arange(4), 50)
    splits = [_plan_splits(labels, kind="digits", official_test=False, val_fraction=0.2, seed=seed,
                           max_images=m, n_classes=4, source="digits") for seed in (0, 1, 7) for m in (None, 60)]
    for train, val, test in splits:
        assert not set(train) & set(test) and not set(val) & set(test) and not set(train) & set(val)
        assert np.array_equal(test, splits[0][2])  # the same test split whatever the seed or subsample
    assert len(splits[0][2]) == 4 * round(50 * 0.15)
    assert not np.array_equal(splits[0][1], splits[2][1])  # validation does follow the seed
    assert TEST_SEEDS["digits"] != TEST_SEEDS["imagefolder"]
    a, b = load_data("digits", image_size=8, seed=0), load_data("digits", image_size=8, seed=5)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)


def _write_cifar(root, per_batch=4):
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as fh:
            pickle.dump({"data": rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8),
                         "labels": [j % 2 for j in range(per_batch)]}, fh)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": ["a", "b"]}, fh)
    return base


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_cifar_unpickler_refuses_anything_but_arrays(tmp_path):
    base = _write_cifar(tmp_path / "c")
    data = load_data(f"cifar10:{tmp_path / 'c'}", image_size=32, val_fraction=0.25)
    with open(base / "test_batch", "rb") as fh:
        expected = pickle.load(fh)["data"].reshape(-1, 3, 32, 32)
    assert torch.equal(data.x_test, torch.from_numpy(expected))
    with open(base / "data_batch_2", "wb") as fh:
        pickle.dump({"data": _Evil(), "labels": []}, fh)
    with pytest.raises(DataError, match="refusing to load 'posix.system'|refusing to load 'os.system'"):
        load_data(f"cifar10:{tmp_path / 'c'}")
    with pytest.raises(DataError, match="CIFAR-10 images are RGB"):
        load_data(f"cifar10:{tmp_path / 'c'}", channels=1)


def _folder(root, per_class=6, size=(20, 14)):
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((size[1], size[0], 3), 60 * c + 9 * i, dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_image_folder_streams_through_a_worker(tmp_path):
    data = load_data(f"imagefolder:{_folder(tmp_path / 'imgs')}", image_size=12, val_fraction=0.25)
    assert not data.in_memory and data.image_shape == (3, 12, 12)
    seen = []
    for x, y in batches(data, "train", batch_size=3, train=True, augment=True, workers=1, epoch=0, seed=0):
        assert x.shape[1:] == (3, 12, 12) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
        seen.append(y)
    assert sorted(torch.cat(seen).tolist()) == sorted(data.y_train.tolist())


def test_bad_image_stops_or_is_skipped(tmp_path):
    root = _folder(tmp_path / "imgs")
    (root / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"cannot read image '.*notes\.txt'.*--skip-bad-images"):
        load_data(f"imagefolder:{root}", image_size=8)
    data = load_data(f"imagefolder:{root}", image_size=8, skip_bad_images=True)
    assert len(data.skipped) == 1 and data.skipped[0].endswith("notes.txt") and len(data) == 12


def test_truncated_image_fails_when_decoded_with_one_line(tmp_path):
    root = _folder(tmp_path / "imgs", per_class=8)
    good = (root / "cat" / "0.png").read_bytes()
    (root / "cat" / "0.png").write_bytes(good[:60])  # the header survives, the pixels do not
    data = load_data(f"imagefolder:{root}", image_size=8, val_fraction=0.25)
    with pytest.raises(DataError) as info:
        for split in ("train", "val", "test"):
            list(batches(data, split, batch_size=4, workers=1))
    assert "0.png" in str(info.value) and "\n" not in str(info.value)


def test_pad_crop_flip_is_a_shifted_window_of_the_padded_image():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    out = pad_crop_flip(x, epoch_generator(0, 0, 2), pad=2, flip=False)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, dy : dy + 6, dx : dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    flipped = pad_crop_flip(x, torch.Generator().manual_seed(1), crop=False)
    assert all(torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1)) for i in range(2))
    # the same (seed, epoch) gives the same augmentation
    assert torch.equal(pad_crop_flip(x, epoch_generator(3, 1, 2)), pad_crop_flip(x, epoch_generator(3, 1, 2)))


def _modes(folder):
    """One tiny image per PIL mode a user's folder may hold (issue 22), with its expected RGB and grayscale pixels
    from PIL's own conversion (16-bit: the values / 65535, scaled to 0-255: PIL's convert('L') would clip them)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    images = {
        "palette.png": Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16),
        "gray.png": Image.fromarray(rgb).convert("L"),
        "rgba.png": Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (5, 7), dtype=np.uint8)])),
        "cmyk.jpg": Image.fromarray(rgb).convert("CMYK"),
    }
    expected = {}
    for name, image in images.items():
        image.save(folder / name, **({"quality": 95} if name.endswith(".jpg") else {}))
        with Image.open(folder / name) as saved:
            expected[name] = (np.asarray(saved.convert("RGB")), np.asarray(saved.convert("L")))
    deep = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    deep[0, :3] = (0, 65535, 32896)  # black, white, and a mid value that truncation to the low byte would ruin
    Image.fromarray(deep).save(folder / "gray16.png")
    with Image.open(folder / "gray16.png") as saved:
        assert saved.mode == "I;16"  # really a 16-bit PNG
    scaled = np.round(deep.astype(np.float64) / 65535 * 255).astype(np.uint8)
    expected["gray16.png"] = (np.dstack([scaled] * 3), scaled)
    return expected


def test_images_of_every_mode_decode_as_pil_converts_them(tmp_path):
    from nascomp.data.folder import decode_file

    for name, (want_rgb, want_gray) in _modes(tmp_path).items():
        rgb = decode_file(str(tmp_path / name), 3)
        gray = decode_file(str(tmp_path / name), 1)
        assert rgb.dtype == gray.dtype == torch.uint8 and rgb.shape == (3, 5, 7) and gray.shape == (1, 5, 7), name
        assert np.array_equal(rgb.permute(1, 2, 0).numpy(), want_rgb), name
        # libpng's and libjpeg's RGB -> gray weights round differently from PIL's (ITU-R 601-2): one level at most
        assert np.abs(gray[0].numpy().astype(int) - want_gray.astype(int)).max() <= 1, name
    gray16 = decode_file(str(tmp_path / "gray16.png"), 1)[0]
    assert gray16[0, :3].tolist() == [0, 255, 128]


def test_a_folder_of_16_bit_palette_rgba_and_cmyk_images_trains(tmp_path):
    """Issue 22: a 16-bit PNG stopped `train` with "Promotion for uint16"."""
    root = tmp_path / "imgs"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        _modes(root / name)
    data = load_data(f"imagefolder:{root}", image_size=8, val_fraction=0.2)
    for split in ("train", "val", "test"):
        for x, _ in batches(data, split, batch_size=4, train=split == "train", augment=True, workers=0):
            assert x.shape[1:] == (3, 8, 8) and x.dtype == torch.float32 and torch.isfinite(x).all()
