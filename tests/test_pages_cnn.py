"""The convolutional page's module: its protocol, its one-call computation on small synthetic data, and
its verdict and findings on planted layer rows."""
import pytest

from eqlib.pages import cnn
from conftest import synthetic_cifar

TINY = dict(channels=(4, 4), pools=(True, False), epochs=2, train_size=200, seeds=(0, 1), n_fit=8, n_eval=16,
            n_merge=32, alphas=(0.0, 0.5, 1.0))


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EQLIB_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield cnn.compute(synthetic_cifar(n_train=200, n_test=64), cnn.protocol("quick", **TINY))


def test_every_condition_is_trained_from_one_snapshot_and_every_layer_read(computed):
    res, models = computed
    assert set(res["cells"]) == {"tanh|0", "tanh|1", "relu|0", "relu|1"} and len(models) == 12
    for cell in res["cells"].values():
        assert set(cell) == {"loss", "augment", "control", "init"}
        assert cell["loss"]["forked_at"] == 0 and cell["augment"]["forked_at"] == cell["control"]["forked_at"] == 1
        for kind in cnn.CONDITIONS:
            assert len(cell[kind]["layers"]) == 2 and cell[kind]["layers"][0]["e_init"] == cell["init"]["layers"][0]["e"]
            assert len(cell[kind]["merge"]["aligned"]["accuracy"]) == 3
    tanh = res["cells"]["tanh|0"]["loss"]["merge"]["invariance"]
    assert tanh["naive"] < 1e-5 and tanh["aligned"] < 1e-5, "both midpoints are mirror invariant for Tanh"


def test_texts_tables_and_figures_are_made_from_the_results(computed):
    res, _ = computed
    v = cnn.verdict(res)
    texts = cnn.texts(res, v)
    assert texts["verdict"] == v["word"] and texts["n_seeds"] == "2" and "of 4 activation–seed pairs" in texts["finding_invariant"]
    for header, rows in (cnn.test_rows(res), cnn.layer_rows(res), cnn.pass_rows(res), cnn.split_rows(res), cnn.merge_rows(res)):
        assert rows and all(len(r) == len(header) for r in rows)
    assert len(cnn.error_bars(res).data) == 2 * (len(cnn.KINDS) + 2)
    assert len(cnn.first_layer_labels(res["cells"]["tanh|0"]["loss"]["layers"][0])) == 4


def planted(passing):
    """Results whose loss networks pass exactly the layers listed per (activation, seed)."""
    rows = lambda ok: [{"layer": i + 1, "passes": {"all": i + 1 in ok}} for i in range(3)]
    acts = ("tanh", "relu")
    return {"protocol": {"activations": acts, "seeds": (0, 1, 2), "channels": (8, 8, 8)},
            "cells": {f"{a}|{s}": {"loss": {"layers": rows(passing[a][s])}} for a in acts for s in range(3)}}


@pytest.mark.parametrize("passing, word", [
    ({"tanh": [{1, 2, 3}] * 3, "relu": [{1, 2, 3}, {1, 2, 3}, {3}]}, "layerwise equivariant"),
    ({"tanh": [{3}] * 3, "relu": [{1, 2, 3}, set(), set()]}, "layerwise equivariant in part"),
    ({"tanh": [set(), set(), {3}], "relu": [set(), set(), {1, 2, 3}]}, "not layerwise equivariant"),
])
def test_the_verdict_counts_passing_layers_over_activations_and_seeds(passing, word):
    v = cnn.verdict(planted(passing))
    assert v["word"] == word and v["pairs"] == 6


def test_the_protocol_and_its_overrides_are_checked():
    assert cnn.protocol("full") == cnn.PROFILES["full"] and cnn.protocol("quick").seeds == (0, 1)
    assert cnn.protocol("full", epochs=4, channels=[8, 8, 8]).channels == (8, 8, 8)
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        cnn.protocol("fast")
    with pytest.raises(ValueError, match="activations .*'gelu'"):
        cnn.protocol("full", activations=["gelu"])
