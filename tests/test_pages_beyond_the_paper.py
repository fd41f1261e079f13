import json

import numpy as np
import pytest

from conftest import synthetic_cifar
from eqlib.pages.activation import activation_chapter, activation_verdict, load_or_run_activation
from eqlib.pages.augmentation import augmentation_chapter
from eqlib.pages.common import EQUIVARIANT_ENOUGH
from eqlib.pages.dihedral import dihedral_chapter, end_to_end_ratios
from eqlib.pages.emergence import emergence_chapter
from eqlib.pages.merging import barrier, merging_chapter
from numerics import sum_tol

TINY = dict(hidden=(8, 6), epochs=2, batch_size=128)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("EQLIB_CACHE", str(tmp_path))
    return synthetic_cifar()


def test_activation_chapter_analyses_each_seed_in_its_own_group(data):
    res, models = activation_chapter("relu", data, [0, 1], n_images=300, n_fit=200, n_eval=100, **TINY)
    assert res["scaling"] == "positive" and len(res["per_seed"]) == 2 and len(models) == 2
    for a in res["per_seed"]:
        assert sum(a["counts"].values()) == 8 and a["activation"] == "relu"
        assert np.isfinite(a["in_group"]) and np.isfinite(a["unconstrained"])
    assert len(res["metric"]["covariance"]["equivariant"]["first_layer"]["mirror"]) == 2
    assert activation_verdict(res)["n"] == 2 and activation_verdict(res)["applicable"]


def test_activation_verdict_follows_its_stated_thresholds():
    seed = lambda explained, active, ig, un: {"explained": explained, "active": active, "in_group": ig, "unconstrained": un}
    res = {"activation": "relu", "per_seed": [seed(40, 64, 0.1, 0.08), seed(20, 64, 0.1, 0.08), seed(40, 64, 0.3, 0.1)]}
    v = activation_verdict(res)
    assert [r["holds"] for r in v["per_seed"]] == [True, False, False]
    assert (v["structure"], v["residual"]) == (2, 2), "each half of the criterion is counted on its own"
    res["activation"] = "identity"
    v = activation_verdict(res)
    assert v["holds"] is None and not v["applicable"], "GL(n) predicts no discrete structure: no verdict"


def test_load_or_run_activation_writes_then_reads_and_refuses_another_activation(data, tmp_path):
    path = tmp_path / "sigmoid.json"
    r = load_or_run_activation(path, "sigmoid", [0], lambda: data, profile="quick", n_images=300, n_fit=200,
                               n_eval=100, **TINY)
    assert json.loads(path.read_text())["activation"] == "sigmoid" and r["seeds"] == [0]
    assert load_or_run_activation(path, "sigmoid", [0], lambda: pytest.fail("must not load data"))["seeds"] == [0]
    with pytest.raises(ValueError, match="holds the sigmoid results, not the relu results"):
        load_or_run_activation(path, "relu", [0], lambda: data)


def test_augmentation_and_d4_runs_fork_from_the_shared_snapshot(data):
    res, _ = augmentation_chapter(data, [0], tasks=("autoencoder",), n_images=300, n_fit=200, n_eval=100, **TINY)
    f = res["tasks"]["autoencoder"]["forked_at"]
    assert f["augmentation"]["0"] == 1 and f["control"]["0"] == 1 and f["equivariant"]["0"] == 0
    d4, _ = dihedral_chapter(data, [0], n_images=50, **TINY)
    assert d4["forked_at"]["d4"]["0"] == 1 and len(d4["fits"]["d4"][0]["defect"]) == 8
    assert len(d4["end_to_end"]["control"][0]) == 8


def test_emergence_replays_every_epoch_and_merging_reports_both_paths(data):
    res, traces = emergence_chapter(data, [0], n_fit=300, n_eval=100, **TINY)
    assert res["epochs"] == 2 and res["switch_epoch"] == 1
    assert [r["epoch"] for r in res["labels"]["control"][0]] == [0, 1, 2]
    assert len(res["metric"]["equivariant"][0]["first_layer"]["mirror"]) == 3
    m = merging_chapter(data, [0, 1], n_images=50, alphas=(0, 0.5, 1), **TINY)
    assert "aligned_first" in m["mirrored"]["control"][0] and "aligned_first" not in m["seeds_pairs"]["control"][0]
    assert len(m["mirrored"]["equivariant"]) == 2 and m["seeds_pairs"]["control"][0]["pair"] == [0, 1]
    p = m["seeds_pairs"]["equivariant"][0]
    # aligned b is b with its hidden neurons permuted and negated exactly, so its 8- and 6-term hidden sums (and
    # tanh(-t) against -tanh(t)) round in other orders: its output moves by sum_tol of their absolute terms
    # (|tanh| <= 1, GELU's slope and |GELU(t)| / |t| <= 1.13), and the float64 loss, a mean of 50 x 3072 squares,
    # by twice that over the residuals' rms, and by its own sum's round-off on each side
    from eqlib.protocol import mlp_configs
    from eqlib.train import train_seeds
    b = train_seeds(*mlp_configs("autoencoder", "tanh", **TINY), data, [1])[1]["equivariant"].model   # from the cache
    (W2, b2), (W3, b3) = ((lin.weight.detach().double().abs(), lin.bias.detach().double().abs()) for lin in b.linears[1:])
    df = 1.13 * sum_tol(8 + 1 + 6 + 1 + 1) * float((W3 @ (W2.sum(1) + b2) + b3).max())
    rtol = 2 * 2 * df / p["naive"][-1] ** 0.5 + 2 * sum_tol(50 * 3072 + 1)
    assert np.isclose(p["naive"][-1], p["aligned"][-1], rtol=rtol, atol=0), "aligning changes b's parameters, not its function"


def test_emergence_and_merging_read_their_analyses_from_the_cache_the_second_time(data):
    """A page that only draws again (a change to a figure) recomputes nothing: the per-epoch labels and metric
    and the merge paths are cached per input, and the second run reads them, equal to the first."""
    from eqlib import memo
    first = (emergence_chapter(data, [0], n_fit=300, n_eval=100, **TINY)[0],
             merging_chapter(data, [0, 1], n_images=50, alphas=(0, 0.5, 1), **TINY))
    misses, hits = memo.STATS["misses"], memo.STATS["hits"]
    again = (emergence_chapter(data, [0], n_fit=300, n_eval=100, **TINY)[0],
             merging_chapter(data, [0, 1], n_images=50, alphas=(0, 0.5, 1), **TINY))
    assert memo.STATS["misses"] == misses, "nothing is computed again"
    assert memo.STATS["hits"] - hits == 2 + 1 + 2 * (2 + 1), "labels of 2 traces, 1 metric, per kind 2 mirrored paths and 1 seed pair"
    assert json.dumps(again, sort_keys=True, default=str) == json.dumps(first, sort_keys=True, default=str)


def test_barrier_is_the_excess_over_the_chord():
    assert barrier([1.0, 1.0, 1.0]) == 0.0
    assert barrier([1.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert barrier([1.0, 1.5, 3.0]) == 0.0, "a path below its chord has no barrier"


def test_end_to_end_ratios_compare_each_seed_with_its_own_control():
    res = {"end_to_end": {"d4": [[0.0, 0.1, 0.1], [0.0, 0.3, 0.3]], "control": [[0.0, 0.4, 0.2], [0.0, 0.3, 0.3]]}}
    ratios = end_to_end_ratios(res)
    assert ratios == pytest.approx([1 / 3, 1.0]), "mean over the non-identity elements, seed by seed"
    # a ratio of sums of hand-made decimals: a few roundings off the threshold 1/3 it is meant to equal
    assert [r <= EQUIVARIANT_ENOUGH * (1 + sum_tol(4)) for r in ratios] == [True, False]
