"""Shared fixtures: small CIFAR-10 look-alikes written by the tests themselves.

Synthetic data lives here only; the library and the book never fall back to it.
"""
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from eqlib.data import CLASSES, IMAGE_SHAPE, _channel_stats, CIFAR10


@pytest.fixture
def cache(tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    return d


def random_images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, *IMAGE_SHAPE), dtype=np.uint8)


def write_image_folder(root, per_class=(3, 2), fmt="png", seed=0):
    """``root/train/<class>/k.png`` and ``root/test/<class>/k.png``; lossless so tests can compare pixels."""
    rng = np.random.default_rng(seed)
    expected = {}
    for split, n in zip(("train", "test"), per_class):
        xs, ys = [], []
        for label, cls in enumerate(CLASSES):
            (root / split / cls).mkdir(parents=True)
            for k in range(n):
                img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(img).save(root / split / cls / f"{k:04d}.{fmt}")
                xs.append(img.transpose(2, 0, 1))
                ys.append(label)
        expected[split] = (np.stack(xs), np.asarray(ys))
    return expected


def write_pickled_release(root, n_per_batch=4, seed=0):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    return folder


def tar_gz(folder, dest):
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return dest


def synthetic_cifar(n_train=512, n_test=256, seed=0) -> CIFAR10:
    """An in-memory CIFAR10 object of random images, for fast training tests."""
    rng = np.random.default_rng(seed)
    x_train, x_test = random_images(n_train, seed), random_images(n_test, seed + 1)
    return CIFAR10(x_train, rng.integers(0, 10, n_train), x_test, rng.integers(0, 10, n_test),
                   source="jpeg", origin="synthetic (tests only)", fingerprint=f"synthetic-{seed}-{n_train}",
                   **_channel_stats(x_train))


@pytest.fixture(scope="session")
def cifar():
    """The real CIFAR-10 (EQLIB_DATA or the local cache); tests that need it skip where it is absent."""
    from eqlib.data import DataNotFoundError, load_cifar10
    try:
        return load_cifar10(download=False)
    except DataNotFoundError:
        pytest.skip("real CIFAR-10 not available (set EQLIB_DATA)")
