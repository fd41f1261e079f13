import json

import pytest

from eqlib.pages.common import check_seeds
from eqlib.pages.mlp_filters import load_or_run_mlp, mlp_chapter, mlp_texts
from eqlib.protocol import mlp_configs
from conftest import synthetic_cifar


def test_check_seeds_names_the_bad_value():
    assert check_seeds([2, 0], 0) == [2, 0]
    for bad in ([], [1, 1], [-1], [True], "0", [0.5]):
        with pytest.raises(ValueError, match="seeds="):
            check_seeds(bad)
    with pytest.raises(ValueError, match="shown_seed=3 is not one of the seeds"):
        check_seeds([0, 1], 3)


def test_mlp_chapter_on_tiny_data_gives_per_seed_results_and_their_spread(tmp_path, monkeypatch):
    monkeypatch.setenv("EQLIB_CACHE", str(tmp_path))
    mc, tc = mlp_configs("autoencoder", "tanh", hidden=(8, 6), first_init_scale=0.01, epochs=2, batch_size=128)
    ch = mlp_chapter(mc, tc, synthetic_cifar(), [0, 1], n_fit=200, n_eval=100, n_images=600)
    r = ch.results()
    assert r["seeds"] == [0, 1] and len(r["per_seed"]["equivariant"]) == 2 and len(r["test"]["control"]) == 2
    assert set(r["metric"]) == {"gaussian", "uniform", "covariance", "images", "covariance_x0.25", "covariance_x4"}
    assert set(r["metric"]["uniform"]) == {"equivariant", "control", "init"}, "every metric beside its null"
    assert set(r["metric"]["uniform"]["init"]) == {"first_layer", "first_layer_pre", "first_two_layers",
                                                    "first_two_layers_pre"}, "every prefix beside its floor"
    assert len(r["metric"]["uniform"]["control"]["first_two_layers"]["updown"]) == 2
    assert r["metric_samples"]["images"] == {"fit": 200, "eval": 100} and r["metric_samples"]["covariance"]["eval"] == 100
    assert [a["explained"] for a in ch.analyses["init"]] == [0, 0], "the shared initialisation explains no neuron"
    assert all(r["loaded_from_cache"][k][s] is False for k in ("equivariant", "control") for s in ("0", "1"))
    assert r["metric_precision"] == {}, "one evaluation size for every reading: nothing more to state"
    ch2 = mlp_chapter(mc, tc, synthetic_cifar(), [0, 1], n_fit=200, n_eval=300, n_images=600, n_eval_other=100)
    r2 = ch2.results()
    assert r2["metric_samples"]["covariance"]["eval"] == 300 and r2["metric_samples"]["gaussian"]["eval"] == 100
    assert set(r2["metric_precision"]) == {"gaussian", "uniform", "images", "covariance_x0.25", "covariance_x4"}
    assert all(p["n_eval"] == 100 and 0 < p["relative_se"] < 1 for p in r2["metric_precision"].values())
    text = mlp_texts(ch2)["precision"]
    assert text.startswith("the primary reading uses 300 evaluation samples, as the paper does; the others use 100, "
                           "where the bootstrap standard error of a median is at most"), text


def test_load_or_run_reads_an_existing_file_and_refuses_a_mismatched_one(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"config": {"train": {"task": "classifier"}, "model": {"activations": ["gelu"]}},
                                "metric": {}}))
    never = lambda: pytest.fail("data must not be loaded when the results file exists")
    assert load_or_run_mlp(path, "classifier", "gelu", [0], data=never)["metric"] == {}
    with pytest.raises(ValueError, match="r.json holds the gelu classifier, not the tanh autoencoder"):
        load_or_run_mlp(path, "autoencoder", "tanh", [0], data=never)
