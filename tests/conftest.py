"""Shared fixtures: small CIFAR-10 look-alikes written by the tests themselves.

Synthetic data lives here only; the library and the book never fall back to it.
"""
import os
import pickle
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eqlib.data import CLASSES, IMAGE_SHAPE, _channel_stats, CIFAR10

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):      # make test's workers share the cores instead of each taking all
    # and so do the kernels and processes a worker starts (papermill, nbclient, a fresh venv): torch and OpenMP take
    # every core by default, and two workers' kernels at two threads each on two cores slow each other far more
    # than twofold (OpenMP's threads spin while they wait)
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = _share
    import torch
    torch.set_num_threads(int(_share))


ROUND_OFF_BOUNDS = ("sum_tol(", "dot_tol(", "cancel_tol(", "eps(")     # tests/numerics.py


def _states_a_bound(source: str, helpers=()) -> bool:
    return any(b in source for b in ROUND_OFF_BOUNDS) or any(f"{h}(" in source for h in helpers)


def pytest_collection_modifyitems(items):
    """A test that states a round-off bound (tests/numerics.py), itself or through a helper of its module that
    does, is a numerical test: ``make numerics`` runs these under every instruction set this machine can imitate,
    and CI under one besides the machine's own."""
    import inspect
    helpers = {}
    for item in items:
        fn, module = getattr(item, "function", None), getattr(item, "module", None)
        if module is not None and module.__name__ not in helpers:
            helpers[module.__name__] = {name for name, f in vars(module).items() if inspect.isfunction(f)
                                        and not name.startswith("test_") and f.__module__.startswith("test_")
                                        and _states_a_bound(inspect.getsource(f))}     # its own, or another test file's
        try:
            source = inspect.getsource(fn) if fn is not None else ""
        except (OSError, TypeError):
            source = ""
        if _states_a_bound(source, helpers.get(getattr(module, "__name__", None), ())):
            item.add_marker(pytest.mark.numerics)


@pytest.fixture
def child_venv():
    """Make a fresh venv that sees this environment's installed packages. ``venv
    --system-site-packages`` run from inside a venv (make's .venv) sees only the base interpreter's
    packages, so a .pth file adds the venv's own site-packages after the child's; the .pth files in
    them do not run (no editable eqlib of the checkout)."""
    def make(path: Path, with_pip: bool = True) -> Path:
        args = [sys.executable, "-m", "venv", "--system-site-packages", *([] if with_pip else ["--without-pip"])]
        subprocess.run([*args, str(path)], check=True, capture_output=True)
        python = path / "bin" / "python"
        child_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    check=True, capture_output=True, text=True).stdout.strip()
        own = [d for d in site.getsitepackages() if sys.prefix != sys.base_prefix and Path(d).is_relative_to(sys.prefix)]
        (Path(child_site) / "_parent_environment.pth").write_text("".join(f"{d}\n" for d in own))
        return python
    return make


@pytest.fixture
def cache(tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    return d


def cache_with_data(path: Path) -> Path:
    """A fresh cache folder, no network or analysis in it, holding the decoded CIFAR-10 of this environment's cache
    (hard links: the loader replaces a file atomically, never writes into one), so that a test that needs empty
    model caches does not decode the data set again. Without a decoded copy the folder starts empty."""
    import shutil
    from eqlib.data import cache_dir
    path.mkdir(parents=True, exist_ok=True)
    for f in cache_dir().glob("cifar10-*.npz"):
        try:
            os.link(f, path / f.name)
        except OSError:                     # another file system
            shutil.copyfile(f, path / f.name)
    return path


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
