import os
import numpy as np
import pytest
import torch

from eqlib.data import (DataNotFoundError, load_cifar10, mirror, stratified_order, vflip)
from conftest import tar_gz, write_image_folder, write_pickled_release
from numerics import FLOAT32, sum_tol


def test_mirror_reverses_width_and_is_an_involution():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    assert torch.equal(mirror(x)[..., 0], x[..., 31]), "mirror must reverse the width axis"
    assert torch.equal(mirror(mirror(x)), x), "mirror is an involution"
    assert torch.equal(vflip(x)[..., 0, :], x[..., 31, :]), "vflip must reverse the height axis"


def test_flattened_order_is_c_h_w_row_major():
    x = torch.randn(5, 3, 32, 32)
    flat = x.reshape(5, -1)
    assert torch.equal(mirror(flat), mirror(x).reshape(5, -1)), "flat mirror must match image mirror"
    assert torch.equal(vflip(flat), vflip(x).reshape(5, -1)), "flat vflip must match image vflip"
    c, h, w = 2, 7, 3
    assert flat[0, c * 1024 + h * 32 + w] == x[0, c, h, w], "pixel (c,h,w) sits at c*H*W + h*W + w"


def test_mirror_on_numpy_and_other_shapes():
    x = np.arange(48.0).reshape(1, 48)
    y = mirror(x, image_shape=(3, 4, 4))
    assert np.array_equal(y.reshape(3, 4, 4), x.reshape(3, 4, 4)[..., ::-1]), "numpy flat mirror"
    grid = torch.randn(2, 8, 16, 16)        # attention maps (B, heads, G, G)
    assert torch.equal(mirror(grid), grid.flip(-1)), "grids flip their last axis"


def test_mirror_rejects_a_vector_of_the_wrong_length():
    with pytest.raises(ValueError, match="3072"):
        mirror(torch.randn(100))


def test_image_folder_round_trip_and_cache(tmp_path, cache, monkeypatch):
    expected = write_image_folder(tmp_path / "cifar")
    d = load_cifar10(tmp_path / "cifar", cache=cache)
    assert d.source == "jpeg" and "JPEG" in d.description and "seed 0" in d.description
    tr, te = (stratified_order(expected[s][1], s) for s in ("train", "test"))
    assert np.array_equal(d.x_train, expected["train"][0][tr]), "pixels survive decoding (in the seeded order)"
    assert np.array_equal(d.y_train, expected["train"][1][tr]), "labels follow CIFAR-10's class order"
    assert np.array_equal(d.y_test, expected["test"][1][te])
    assert len(list(cache.glob("cifar10-jpeg-*.npz"))) == 1, "decoded arrays are cached"
    again = load_cifar10(tmp_path / "cifar", cache=cache)
    assert np.array_equal(again.x_test, d.x_test) and again.fingerprint == d.fingerprint
    # with no explicit path the local cache is used
    monkeypatch.delenv("EQLIB_DATA", raising=False)
    assert load_cifar10(cache=cache, download=False).fingerprint == d.fingerprint


def test_tar_gz_of_image_folder(tmp_path, cache):
    expected = write_image_folder(tmp_path / "cifar10-jpeg", per_class=(1, 1))
    archive = tar_gz(tmp_path / "cifar10-jpeg", tmp_path / "c.tar.gz")
    d = load_cifar10(archive, cache=cache)
    assert np.array_equal(d.x_test, expected["test"][0][stratified_order(expected["test"][1], "test")])


def test_pickled_release_folder_and_archive(tmp_path, cache):
    folder = write_pickled_release(tmp_path)
    d = load_cifar10(folder, cache=cache)
    assert d.source == "official" and d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32)
    d2 = load_cifar10(tar_gz(folder, tmp_path / "cifar-10-python.tar.gz"), cache=cache)
    assert np.array_equal(d2.x_train, d.x_train), "archive and folder decode to the same arrays"


def test_env_variable_is_an_explicit_path(tmp_path, cache, monkeypatch):
    write_image_folder(tmp_path / "cifar", per_class=(1, 1))
    monkeypatch.setenv("EQLIB_DATA", str(tmp_path / "cifar"))
    assert load_cifar10(cache=cache).x_train.shape == (10, 3, 32, 32)


def test_missing_data_names_the_three_ways(tmp_path, cache, monkeypatch):
    monkeypatch.delenv("EQLIB_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="does not exist") as e:
        load_cifar10(tmp_path / "nope", cache=cache)
    assert "EQLIB_DATA" in str(e.value) and "download" in str(e.value)
    with pytest.raises(DataNotFoundError, match="EQLIB_CACHE"):
        load_cifar10(cache=cache, download=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="image folder"):
        load_cifar10(tmp_path / "empty", cache=cache)


def test_bad_files_give_clear_errors(tmp_path, cache):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="cannot read archive"):
        load_cifar10(bad, cache=cache)
    (tmp_path / "c" / "train" / "zebra").mkdir(parents=True)
    (tmp_path / "c" / "train" / "zebra" / "0.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown class folder 'zebra'"):
        load_cifar10(tmp_path / "c", cache=cache)


def test_truncated_cache_is_decoded_again(tmp_path, cache):
    write_image_folder(tmp_path / "cifar", per_class=(1, 1))
    d = load_cifar10(tmp_path / "cifar", cache=cache)
    f = next(cache.glob("cifar10-jpeg-*.npz"))
    f.write_bytes(f.read_bytes()[:1000])
    again = load_cifar10(tmp_path / "cifar", cache=cache)
    assert np.array_equal(again.x_train, d.x_train), "a truncated cache must never be loaded"


def test_normalisation_is_per_channel_and_commutes_with_the_mirror(tmp_path, cache):
    write_image_folder(tmp_path / "cifar", per_class=(4, 1))
    d = load_cifar10(tmp_path / "cifar", cache=cache)
    x = d.normalize(d.x_train).view(-1, 3, 32, 32)
    # the statistics are exact (float64 histograms); each normalised pixel is off by at most five float32
    # roundings (the statistics' casts, the scale's and the shift's divisions, the product and the sum) of values
    # up to (1 + mean) / std, and moves the mean and the std by no more; reduced in float64, whose own round-off
    # over the 40 x 1024 pixels of a channel is far below
    x64 = x.double()
    tol = sum_tol(5, FLOAT32) * float(((1 + torch.from_numpy(d.mean).double()) / torch.from_numpy(d.std).double()).max()) \
        + sum_tol(x[:, 0].numel()) * float(x64.abs().max())
    assert torch.allclose(x64.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64), rtol=0, atol=tol), \
        "training set has zero mean per channel"
    assert torch.allclose(x64.std((0, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64), rtol=0, atol=tol), \
        "and unit std"
    # elementwise: the same roundings on the same values, in mirrored places
    assert torch.equal(d.normalize(np.flip(d.x_train, -1).copy()), mirror(d.normalize(d.x_train)))
    # normalise and denormalise: about thirteen half-eps float32 roundings of values at most 1, then x 255
    assert torch.allclose(d.denormalize(d.normalize(d.x_test)) * 255, torch.from_numpy(d.x_test).float(), rtol=0,
                          atol=255 * sum_tol(7, FLOAT32))
    with pytest.raises(ValueError, match="uint8"):
        d.normalize(d.x_train.astype(np.float32))


@pytest.mark.skipif(not os.environ.get("EQLIB_DATA"), reason="set EQLIB_DATA to the full CIFAR-10")
def test_full_cifar10_from_environment(monkeypatch):
    d = load_cifar10()
    assert d.x_train.shape == (50000, 3, 32, 32) and d.x_test.shape == (10000, 3, 32, 32)
    assert np.bincount(d.y_train).tolist() == [5000] * 10, "5,000 training images per class"
    assert np.bincount(d.y_test).tolist() == [1000] * 10, "1,000 test images per class"
    import eqlib.data
    monkeypatch.setattr(eqlib.data, "_decode", lambda p: pytest.fail("second load must read the cache"))
    assert load_cifar10().fingerprint == d.fingerprint


def test_image_folder_is_decoded_in_a_seeded_stratified_order(tmp_path, cache):
    """Not class by class: each prefix holds every class within one image of its share."""
    expected = write_image_folder(tmp_path / "cifar", per_class=(6, 3))
    d = load_cifar10(tmp_path / "cifar", cache=cache)
    order = stratified_order(expected["train"][1], "train")
    assert np.array_equal(d.x_train, expected["train"][0][order]) and np.array_equal(d.y_train, expected["train"][1][order])
    assert sorted(order.tolist()) == list(range(60)), "a permutation of the files"
    for n in range(1, 61):
        counts = np.bincount(d.y_train[:n], minlength=10)
        assert counts.max() - counts.min() <= 1, f"prefix {n}: {counts}"
    assert not np.array_equal(order, stratified_order(expected["train"][1], "train", seed=1)), "the seed matters"


def book_sample_sizes():
    """Every prefix length n >= 1,000 that the book's notebooks and profiles take of a split."""
    import json
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    sizes = set()
    for nb in (root / "notebooks").glob("*.ipynb"):
        for c in json.loads(nb.read_text())["cells"]:
            if "parameters" in c["metadata"].get("tags", []):
                sizes |= {int(v.replace("_", "")) for v in re.findall(r"^(?:train_size|n_\w+) = ([\d_]+)", "".join(c["source"]), re.M)}
    import importlib.util
    import sys
    if str(root / "book") not in sys.path:           # build.py imports its neighbour progress.py
        sys.path.insert(0, str(root / "book"))
    spec = importlib.util.spec_from_file_location("build", root / "book" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for chapters in build.PROFILES.values():
        for params in chapters.values():
            sizes |= {v for k, v in params.items() if (k == "train_size" or k.startswith("n_")) and isinstance(v, int)}
    from dataclasses import asdict
    from eqlib import protocol
    for chapter in protocol.CHAPTERS:                              # the protocol's, in every profile
        for profile in protocol.PROFILES:
            sizes |= {v for k, v in asdict(protocol.resolve(chapter, profile)).items()
                      if (k == "train_size" or k.startswith("n_")) and isinstance(v, int)}
    for p in protocol.OTHERS["cnn"].values():                      # the CNN page's
        sizes |= {v for k, v in asdict(p).items() if (k == "train_size" or k.startswith("n_")) and isinstance(v, int)}

    for f in (root / "eqlib").rglob("*.py"):                       # literal prefixes in the library
        sizes |= {int(v.replace("_", "")) for v in re.findall(r"\[:([\d_]+)\]", f.read_text())}
    return sorted(n for n in sizes if n >= 1000)


def test_every_prefix_the_book_uses_is_class_balanced(cifar):
    sizes = book_sample_sizes()
    assert 5000 in sizes and 20_000 in sizes, sizes
    for split, y in (("train", cifar.y_train), ("test", cifar.y_test)):
        for n in sizes:
            if n > len(y):
                continue
            share = np.bincount(y[:n], minlength=10) / n
            assert np.all(np.abs(share - 0.1) <= 0.03), f"{split}[:{n}] class shares {np.round(share, 3)}"


def test_a_test_subset_has_its_own_fingerprint_and_bad_sizes_are_named():
    from conftest import synthetic_cifar
    data = synthetic_cifar(n_train=20, n_test=10)
    sub = data.with_test_images(4)
    assert len(sub.x_test) == 4 and (sub.x_test == data.x_test[:4]).all() and len(sub.x_train) == 20
    assert sub.fingerprint != data.fingerprint and data.with_test_images(10) is data
    with pytest.raises(ValueError, match=r"integer in 1..10; got 11"):
        data.with_test_images(11)
