"""The convolutional page's module: its protocol, its one-call computation on small synthetic data, and
its verdict and findings on planted layer rows."""
import pytest

from eqlib import protocol
from eqlib.pages import cnn
from conftest import synthetic_cifar
from numerics import FLOAT32
from test_conv import round_off

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
    from eqlib import conv
    x = synthetic_cifar(n_train=200, n_test=64).tensors()[2][:TINY["n_merge"]]      # the merge's test images

    def round_off_of(mid):
        # float32: each image's logits and its mirror's are within round_off of the same exact logits
        # (the midpoint's weights are exactly symmetric), read relative to ||f(x)|| as the error is
        f = mid(x).detach().norm(dim=1)
        return float((2 * round_off(mid, x, dtype=FLOAT32)[1] * mid.config.classes ** 0.5 / f).median())

    for key, cell in res["cells"].items():
        inv = cell["loss"]["merge"]["invariance"]
        act, seed = key.split("|")
        model = models[(act, int(seed), "loss")]
        naive = conv.interpolate(model, conv.mirrored(model), 0.5)
        assert inv["naive"] < round_off_of(naive), "the naive midpoint's kernels are symmetric: exactly invariant"
        if key.startswith("tanh") and all(conv._action(r).is_involution() for r in cell["loss"]["layers"]):
            aligned = conv.interpolate(model, conv.aligned_mirror(model, [conv._action(r) for r in cell["loss"]["layers"]]),
                                       0.5)
            assert inv["aligned"] < round_off_of(aligned), \
                "the aligned midpoint too, where every fitted action is an involution"


def test_texts_tables_and_figures_are_made_from_the_results(computed):
    res, _ = computed
    v = cnn.verdict(res)
    texts = cnn.texts(res, v)
    assert not set(texts) & set(cnn.protocol_texts(res["protocol"])), "the protocol's phrases are glued once, before the run"
    assert texts["verdict"] == v["word"] and cnn.protocol_texts(res["protocol"])["n_seeds"] == "2" \
        and "of 4 activation–seed pairs" in texts["finding_invariant"]
    assert texts["verdict_tanh"] in cnn.WORDS and texts["n_test"] == "64"
    for header, rows in (cnn.test_rows(res), cnn.layer_rows(res), cnn.pass_rows(res), cnn.split_rows(res), cnn.merge_rows(res)):
        assert rows and all(len(r) == len(header) for r in rows)
    assert len(cnn.error_bars(res).data) == 2 * (len(cnn.KINDS) + 2)
    assert len(cnn.first_layer_labels(res["cells"]["tanh|0"]["loss"]["layers"][0])) == 4


def planted(passing, control=None):
    """Results whose loss networks (and controls) pass exactly the layers listed per (activation, seed)."""
    rows = lambda ok: [{"layer": i + 1, "passes": {"all": i + 1 in ok}} for i in range(3)]
    control = control or {a: [set()] * 3 for a in passing}
    acts = ("tanh", "relu")
    return {"protocol": {"activations": acts, "seeds": (0, 1, 2), "channels": (8, 8, 8)},
            "cells": {f"{a}|{s}": {"loss": {"layers": rows(passing[a][s])}, "control": {"layers": rows(control[a][s])}}
                      for a in acts for s in range(3)}}


@pytest.mark.parametrize("passing, words, word", [
    ({"tanh": [{1, 2, 3}] * 3, "relu": [{1, 2, 3}, {1, 2, 3}, {3}]}, ("layerwise equivariant",) * 2, "layerwise equivariant"),
    ({"tanh": [{1, 2, 3}] * 3, "relu": [{3}, {3}, set()]}, ("layerwise equivariant", "layerwise equivariant in part"),
     "layerwise equivariant in part"),
    ({"tanh": [{1, 2, 3}] * 3, "relu": [set(), {3}, set()]}, ("layerwise equivariant", "not layerwise equivariant"),
     "layerwise equivariant in part"),
    ({"tanh": [set(), set(), {3}], "relu": [set(), set(), {1, 2, 3}]}, ("not layerwise equivariant",) * 2,
     "not layerwise equivariant"),
])
def test_the_verdict_is_per_activation_and_in_part_overall_unless_both_agree(passing, words, word):
    v = cnn.verdict(planted(passing))
    assert (v["per_activation"]["tanh"], v["per_activation"]["relu"]) == words and v["word"] == word


def test_the_controls_passing_layers_are_counted_beside_the_verdict():
    v = cnn.verdict(planted({"tanh": [{1, 2, 3}] * 3, "relu": [{1, 2, 3}] * 3},
                            control={"tanh": [{1, 2, 3}] * 3, "relu": [{3}, set(), set()]}))
    assert v["all_pass"] == 6 and v["control_all_pass"] == 3 and v["control_some_pass"] == 4


def test_the_protocol_and_its_overrides_are_checked():
    assert cnn.protocol("full") == protocol.OTHERS["cnn"]["full"] and cnn.protocol("quick").seeds == (0, 1)
    assert cnn.protocol("full", epochs=4, channels=[8, 8, 8]).channels == (8, 8, 8)
    with pytest.raises(ValueError, match="profile='fast' is not allowed"):
        cnn.protocol("fast")
    with pytest.raises(ValueError, match=r"activations=\['gelu'\]: allowed tanh, relu"):
        cnn.protocol("full", activations=["gelu"])
