"""CIFAR-10 and the group actions on images.

The group in this project is the left-right mirror ``g`` (an involution). It acts on
images by reversing the width axis. Flattened images use PyTorch's row-major order
of a ``(C, H, W)`` tensor: pixel ``(c, h, w)`` sits at index ``c*H*W + h*W + w``.

Where the data comes from, in order (:func:`load_cifar10`):

1. an explicit path: the ``path`` argument or the environment variable ``EQLIB_DATA``,
   pointing at torchvision's ``cifar-10-batches-py`` folder, at an image-folder tree
   (``train/<class>/*``, ``test/<class>/*``), or at a ``.tar.gz`` of either;
2. a local cache of decoded arrays (``EQLIB_CACHE``, default ``~/.cache/eqlib``);
3. torchvision's download of the official release (Colab, ordinary machines).

Decoded arrays are cached as an uncompressed ``.npz`` so a second load of all 60,000
images takes well under two seconds.

Order. The official release is already shuffled, and its order is kept. An image-folder tree
lists its files class by class, so its images are put into one seeded, stratified random order
per split (:func:`stratified_order`, seed :data:`ORDER_SEED`): each class's images in a random
order, dealt out in rounds of one image per class, the classes in a new random order each
round. Every prefix ``x_train[:n]`` or ``x_test[:n]`` is then a random sample of the split with
each class within one image of ``n / 10``, whatever ``n`` a page takes (a plain random
permutation leaves a few points of imbalance at ``n = 1,000``). The seed is part of the data's
fingerprint and of every page's provenance.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from eqlib.atomic import atomic_write

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (3, 32, 32)
SOURCES = ("official", "jpeg")
ORDER_SEED = 0          # the seed of the random order of an image-folder tree (see the module's docstring)
_CACHE_FORMAT = 3       # 3: image-folder trees in a seeded random order


# --------------------------------------------------------------------------- actions
def _flip(x, axis_from_end: int, image_shape):
    """Reverse one spatial axis of ``(..., H, W)`` grids or flat images ``(..., C*H*W)``."""
    numel = int(np.prod(image_shape))
    if x.ndim >= 1 and x.shape[-1] == numel:          # flattened (..., C*H*W)
        y = x.reshape(*x.shape[:-1], *image_shape)
        y = y.flip(axis_from_end) if isinstance(y, torch.Tensor) else np.flip(y, axis_from_end)
        return y.reshape(x.shape)
    if x.ndim < 2:
        raise ValueError(f"expected images (..., C, H, W) or flattened images (..., {numel}) "
                         f"for image_shape={tuple(image_shape)}; got shape {tuple(x.shape)}")
    return x.flip(axis_from_end) if isinstance(x, torch.Tensor) else np.flip(x, axis_from_end).copy()


def mirror(x, image_shape=IMAGE_SHAPE):
    """Left-right mirror of images ``(..., C, H, W)``, any ``(..., H, W)`` grid, or flat ``(..., C*H*W)``."""
    return _flip(x, -1, tuple(image_shape))


def vflip(x, image_shape=IMAGE_SHAPE):
    """Up-down flip, the control transformation (CIFAR-10 is not up-down symmetric)."""
    return _flip(x, -2, tuple(image_shape))



# --------------------------------------------------------------------------- data set
@dataclass(frozen=True)
class CIFAR10:
    """Decoded CIFAR-10: uint8 images ``(N, 3, 32, 32)`` and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str        # "official" (torchvision's pickled release) or "jpeg" (JPEG copy)
    origin: str        # the path or cache file it was read from
    fingerprint: str   # identifies the data for cache keys
    mean: np.ndarray   # (3,) per-channel mean of the training images, in [0, 1] units
    std: np.ndarray    # (3,) per-channel standard deviation of the training images

    @property
    def order(self) -> str:
        """How the images are ordered: the official release's own order, or the seeded shuffle."""
        return ("the official release's own order" if self.source == "official"
                else f"shuffled per split with seed {ORDER_SEED}, so every prefix is a uniform sample")

    @property
    def description(self) -> str:
        what = ("official CIFAR-10 release (torchvision)" if self.source == "official"
                else "JPEG copy of CIFAR-10 (pixel values differ slightly from the official release)")
        return f"{what}: {len(self.x_train):,} training + {len(self.x_test):,} test images, {self.order}"

    def normalize(self, x: np.ndarray) -> torch.Tensor:
        """uint8 ``(N, 3, 32, 32)`` -> float32 ``(N, 3072)``, standardised per channel.

        The mean and standard deviation are per channel and computed on the training
        set, so normalisation commutes with the mirror (and with the up-down flip).
        """
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"expected uint8 images (N, 3, 32, 32); got {x.dtype} {x.shape}")
        scale = torch.from_numpy(1.0 / (255.0 * self.std))[:, None, None]
        shift = torch.from_numpy(-self.mean / self.std)[:, None, None]
        t = torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32)
        return t.mul_(scale).add_(shift).reshape(len(x), -1)

    def tensors(self):
        """Normalised flat tensors ``(x_train, y_train, x_test, y_test)``, made once per data set object and
        shared by every later call (callers must not modify them in place; none does)."""
        cached = self.__dict__.get("_tensors")
        if cached is None:
            cached = (self.normalize(self.x_train), torch.from_numpy(self.y_train),
                      self.normalize(self.x_test), torch.from_numpy(self.y_test))
            object.__setattr__(self, "_tensors", cached)
        return cached

    def with_test_images(self, n: int) -> "CIFAR10":
        """The same data with only the first ``n`` test images (a uniform sample: the split is shuffled), under
        its own fingerprint, so that models trained on it are cached apart."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(self.x_test):
            raise ValueError(f"the number of test images must be an integer in 1..{len(self.x_test)}; got {n!r}")
        if n == len(self.x_test):
            return self
        return replace(self, x_test=self.x_test[:n], y_test=self.y_test[:n], fingerprint=f"{self.fingerprint}-test{n}")

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`, returning floats in [0, 1] of shape ``(N, 3, 32, 32)``."""
        x = x.reshape(-1, *IMAGE_SHAPE)
        return (x * torch.from_numpy(self.std)[:, None, None] + torch.from_numpy(self.mean)[:, None, None]).clamp(0, 1)


class DataNotFoundError(FileNotFoundError):
    pass


def cache_dir(path=None) -> Path:
    p = Path(path or os.environ.get("EQLIB_CACHE") or Path.home() / ".cache" / "eqlib")
    p.mkdir(parents=True, exist_ok=True)
    return p


_HOW_TO = (
    "Provide CIFAR-10 in one of three ways:\n"
    "  1. pass path=... or set EQLIB_DATA to torchvision's 'cifar-10-batches-py' folder, to an\n"
    "     image-folder tree (train/<class>/*.jpg, test/<class>/*.jpg) or to a .tar.gz of either;\n"
    "  2. keep a decoded cache in EQLIB_CACHE (default ~/.cache/eqlib) from an earlier load;\n"
    "  3. allow torchvision to download the official release (needs internet access).")


def load_cifar10(path=None, cache=None, download=True) -> CIFAR10:
    """Load CIFAR-10 from an explicit path, a local cache, or torchvision's download.

    Which source was used is reported in ``.source`` ("official" or "jpeg") and
    ``.description``.
    """
    cdir = cache_dir(cache)
    path = path if path is not None else os.environ.get("EQLIB_DATA") or None
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataNotFoundError(f"CIFAR-10 path {str(p)!r} does not exist.\n{_HOW_TO}")
        fp = _fingerprint(p)
        hit = _read_cache(cdir, fp)
        if hit is not None:
            return hit
        arrays, source = _decode(p)
        return _write_cache(cdir, fp, arrays, source, str(p))
    for source in SOURCES:   # the official release first
        for f in sorted(cdir.glob(f"cifar10-{source}-*.npz")):
            hit = _read_cache(cdir, f.stem.split("-", 2)[2])
            if hit is not None:
                return hit
    if download:
        root = cdir / "torchvision"
        try:
            import torchvision
            torchvision.datasets.CIFAR10(root, train=True, download=True)
            torchvision.datasets.CIFAR10(root, train=False, download=True)
        except Exception as e:  # no network, no torchvision: say how to provide the data
            raise DataNotFoundError(f"No CIFAR-10 found and torchvision's download failed ({e}).\n{_HOW_TO}") from e
        return load_cifar10(root / "cifar-10-batches-py", cache=cache, download=False)
    raise DataNotFoundError(f"No CIFAR-10 found.\n{_HOW_TO}")


def _fingerprint(p: Path) -> str:
    h = hashlib.sha256(f"v{_CACHE_FORMAT}-order{ORDER_SEED}".encode())
    if p.is_file():
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    else:
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(f"{f.relative_to(p)}:{f.stat().st_size}:{f.stat().st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _read_cache(cdir: Path, fp: str):
    for source in SOURCES:
        f = cdir / f"cifar10-{source}-{fp}.npz"
        if f.exists():
            try:
                with np.load(f, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
                    origin = str(z["origin"])
                    stats = {k: z[k] for k in ("mean", "std")}
            except Exception:          # truncated or foreign cache file: decode again
                return None
            return CIFAR10(**arrays, **stats, source=source, origin=origin, fingerprint=fp)
    return None


def _write_cache(cdir: Path, fp: str, arrays: dict, source: str, origin: str) -> CIFAR10:
    f = cdir / f"cifar10-{source}-{fp}.npz"
    stats = _channel_stats(arrays["x_train"])
    with atomic_write(f) as out:
        np.savez(out, **arrays, **stats, origin=np.array(origin))
    return CIFAR10(**arrays, **stats, source=source, origin=origin, fingerprint=fp)


def _channel_stats(x: np.ndarray) -> dict:
    """Exact per-channel mean and std of uint8 images (N, 3, H, W), through histograms."""
    hist = np.stack([np.bincount(x[:, c].ravel(), minlength=256) for c in range(x.shape[1])])
    v = np.arange(256) / 255.0
    n = hist.sum(1)
    mean = (hist * v).sum(1) / n
    std = np.sqrt((hist * v**2).sum(1) / n - mean**2)
    return {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}


# --------------------------------------------------------------------------- decoders
def _decode(p: Path):
    """Return (arrays, source) for a pickled-release folder, an image folder, or a .tar.gz of either."""
    if p.is_dir():
        files = {str(f.relative_to(p)): f for f in p.rglob("*") if f.is_file()}
        return _decode_members({k: v.read_bytes for k, v in files.items()}, str(p))
    if p.is_file() and (p.name.endswith((".tar.gz", ".tgz", ".tar"))):
        try:
            with tarfile.open(p) as tar:
                members = {}
                for m in tar:
                    if m.isfile():
                        data = tar.extractfile(m).read()
                        members[m.name] = (lambda d=data: d)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ValueError(f"cannot read archive {str(p)!r}: {e}") from e
        return _decode_members(members, str(p))
    raise ValueError(f"CIFAR-10 path {str(p)!r} is neither a folder nor a .tar.gz / .tgz / .tar archive.\n{_HOW_TO}")


def _decode_members(members: dict, where: str):
    names = {n.replace("\\", "/"): r for n, r in members.items()}
    pickles = {n.rsplit("/", 1)[-1]: r for n, r in names.items()
               if n.rsplit("/", 1)[-1] in {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch"}}
    if len(pickles) == 6:
        def batch(name):
            d = pickle.loads(pickles[name](), encoding="bytes")
            return (np.asarray(d[b"data"], np.uint8).reshape(-1, *IMAGE_SHAPE),
                    np.asarray(d[b"labels"], np.int64))
        tr = [batch(f"data_batch_{i}") for i in range(1, 6)]
        te = batch("test_batch")
        arrays = dict(x_train=np.concatenate([a for a, _ in tr]), y_train=np.concatenate([b for _, b in tr]),
                      x_test=te[0], y_test=te[1])
        return arrays, "official"
    split = {"train": ([], []), "test": ([], [])}
    for n in sorted(names):
        parts = n.split("/")
        if len(parts) < 3 or parts[-3] not in split or not parts[-1].lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        cls = parts[-2]
        if cls not in CLASSES:
            raise ValueError(f"unknown class folder {cls!r} in {where!r}; allowed: {', '.join(CLASSES)}")
        split[parts[-3]][0].append(_decode_image(names[n](), n))
        split[parts[-3]][1].append(CLASSES.index(cls))
    if not split["train"][0] or not split["test"][0]:
        raise DataNotFoundError(
            f"{where!r} holds neither torchvision's cifar-10-batches-py files nor an image folder "
            f"with train/<class>/ and test/<class>/ images.\n{_HOW_TO}")
    arrays = {}
    for s, (xs, ys) in split.items():
        labels = np.asarray(ys, np.int64)
        order = stratified_order(labels, s)
        arrays[f"x_{s}"] = np.stack(xs)[order]
        arrays[f"y_{s}"] = labels[order]
    return arrays, "jpeg"


def stratified_order(labels, split: str, seed: int = ORDER_SEED) -> np.ndarray:
    """A seeded random order of one split, stratified by class: each class's indices shuffled,
    then dealt out in rounds of one per class (the classes in a fresh random order each round;
    a class that runs out drops out). Train and test get independent draws."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; allowed: train, test")
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, ("train", "test").index(split)])
    queues = [list(rng.permutation(np.flatnonzero(labels == c))) for c in np.unique(labels)]
    order = []
    while any(queues):
        for c in rng.permutation(len(queues)):
            if queues[c]:
                order.append(queues[c].pop())
    return np.asarray(order, dtype=np.int64)


def _decode_image(data: bytes, name: str) -> np.ndarray:
    from PIL import Image
    try:
        img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except Exception as e:
        raise ValueError(f"cannot decode image {name!r}: {e}") from e
    if img.shape != (32, 32, 3):
        raise ValueError(f"image {name!r} has shape {img.shape}; CIFAR-10 images are 32x32 RGB")
    return img.transpose(2, 0, 1)
