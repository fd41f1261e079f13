import json

import pytest

from eqlib.chapters import (check_seeds, load_or_run_mlp, mlp_chapter, mlp_configs, sensitivity_reading,
                            sensitivity_settings)
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


def test_load_or_run_reads_an_existing_file_and_refuses_a_mismatched_one(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"config": {"train": {"task": "classifier"}, "model": {"activations": ["gelu"]}},
                                "metric": {}}))
    never = lambda: pytest.fail("data must not be loaded when the results file exists")
    assert load_or_run_mlp(path, "classifier", "gelu", [0], data=never)["metric"] == {}
    with pytest.raises(ValueError, match="r.json holds the gelu classifier, not the tanh autoencoder"):
        load_or_run_mlp(path, "autoencoder", "tanh", [0], data=never)


def test_sensitivity_settings_validate_and_deduplicate():
    s = sensitivity_settings([0.3, 1.0], [10, 20], [10.0], default_weight=1.0, default_epochs=20)
    assert s == [(0.3, 20, "step"), (1.0, 10, "step"), (1.0, 20, "step"), (10.0, 20, "linear")], \
        "the default run appears once, though both sweeps contain it"
    for kw, msg in ((dict(weights=[]), "weights"), (dict(weights=[-1.0]), "weights"),
                    (dict(epoch_grid=[0]), "epoch_grid"), (dict(ramp_weights=[-2]), "ramp_weights")):
        args = {"weights": [1.0], "epoch_grid": [20], "ramp_weights": [], **kw}
        with pytest.raises(ValueError, match=msg):
            sensitivity_settings(**args)


def test_sensitivity_reading_is_written_from_the_rows():
    row = lambda w, e, s, m: {"weight": w, "epochs": e, "schedule": s, "metric_mirror": m, "metric_control": 2 * m,
                              "reconstruction": 0.1 * w, "equivariance_error": 0.5 / e, "explained": int(10 * w),
                              "counts": {"mirrored pair": 2, "mirrored-negated pair": int(w)}}
    rows = [row(0.3, 20, "step", 0.4), row(1.0, 10, "step", 0.35), row(1.0, 20, "step", 0.3), row(3.0, 20, "step", 0.2)]
    t = sensitivity_reading(rows)
    assert t["w_range"] == "0.3 to 3.0" and t["w_metric"] == "0.400 to 0.200" and t["w_pairs"] == "2 to 5"
    assert t["e_range"] == "10 to 20" and t["e_e2e"] == "0.050 to 0.025" and t["ramps"] == "no ramp was run"
