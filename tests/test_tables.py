from eqlib import tables
from eqlib.stats import stats
from eqlib.metric import DEFAULT_READING
from eqlib.pages.activations_summary import summary_table
from eqlib.pages.attention_heads import flat_metric_table
from eqlib.pages.merging import merging_table
from eqlib.pages.mlp_filters import floor_tests_table, propagation_table, seed_counts_table
from eqlib.pages.mlp_summary import configuration_floor_tests_table, verdict_texts


def fake_analysis(explained, unmatched):
    counts = {"self-symmetric": explained, "anti-symmetric": 0, "mirrored pair": 0, "mirrored-negated pair": 0,
              "inactive": 64 - explained - unmatched, "unmatched": unmatched}
    return {"counts": counts, "explained": explained, "weights": {"explained": explained // 2},
            "bypass_pairs": [], "bypass_share": 0.0, "linear_r2": 0.9,
            "propagation": {"layer_residuals": [0.1, 0.2], "function_errors": [0.3, 0.4]}}


def test_label_table_gives_mean_sd_and_per_seed_values():
    header, rows = tables.labels({"equivariant": [fake_analysis(40, 20), fake_analysis(44, 18)],
                                  "control": [fake_analysis(1, 60), fake_analysis(3, 58)],
                                  "init": [fake_analysis(0, 64), fake_analysis(0, 64)]})
    assert header == ["label", "equivariant", "per seed", "control (weight 0)", "per seed", "at initialisation", "per seed"]
    explained, weights = rows[-2], rows[-1]
    assert explained[1] == "42.0 ± 2.8" and explained[2] == [40, 44] and explained[4] == [1, 3] and explained[6] == [0, 0]
    assert weights[0] == "explained, weights metric" and weights[2] == [20, 22]
    assert [r[0] for r in rows[:6]] == ["self-symmetric", "anti-symmetric", "mirrored pair", "mirrored-negated pair",
                                        "inactive", "unmatched"]


def test_metric_and_propagation_tables_cover_every_reading_depth_and_flip():
    per = {"mirror": [0.1, 0.2], "updown": [0.3, 0.5]}
    floor = {"mirror": [0.05, 0.1], "updown": [0.3, 0.5]}
    metric = {r: {"equivariant": {"first_layer": per, "first_layer_pre": floor, "first_two_layers": per,
                                  "first_two_layers_pre": floor}} for r in ("gaussian", "images")}
    samples = {"gaussian": {"fit": 20_000, "eval": 100_000}, "images": {"fit": 20_000, "eval": 10_000}}
    header, rows = tables.metric_table(metric, samples)
    assert len(rows) == 2 * 2 and rows[1][-2:] == ["0.400 ± 0.141", "0.400 ± 0.141"] and rows[2][1] == "20,000 / 10,000"
    assert rows[0][-1] == "0.075 ± 0.035", "the floor beside the value"
    header, rows = floor_tests_table(metric)
    assert rows[0] == ["Gaussian", "2 to 2", "1 to 1", "yes"], "left-right twice its floor in every seed (up-down at it)"
    assert tables.tested_readings(metric) == {"tested": "Gaussian, images", "at_floor": "none"}
    metric["images"]["equivariant"]["first_layer_pre"] = per
    assert tables.tested_readings(metric) == {"tested": "Gaussian", "at_floor": "images"}
    header, rows = propagation_table({"equivariant": [fake_analysis(1, 1), fake_analysis(2, 2)]})
    assert len(rows) == 2 and rows[1][1] == "0.200 ± 0.000"


def test_seed_counts_and_verdict_texts():
    header, rows = seed_counts_table({"a": {"gaussian": [True, False, True]}})
    assert rows == [["Gaussian", "2 of 3 seeds"]]
    v = {"within": 6, "rows": 12, "order": 3, "pairs": 6, "lr_below_ud": 8, "lr_rows": 8, "median_ratio": 1.93}
    assert verdict_texts(v) == {"within": "6 of 12", "order": "3 of 6", "lr": "8 of 8", "ratio": "1.9"}
    assert stats([1, 3])["mean"] == 2


def test_merging_table_reports_barriers_before_and_after_alignment():
    res = {"mirrored": {k: [{"naive": [1, 3, 1], "aligned": [1, 1, 1]}] for k in ("equivariant", "control")},
           "seeds_pairs": {k: [{"naive": [1, 2, 1], "aligned": [1, 1.5, 1]}] * 2 for k in ("equivariant", "control")}}
    header, rows = merging_table(res)
    assert rows[0][:6] == ["with its mirrored copy", "equivariant", 1, "2.000 ± 0.000", "0.000 ± 0.000", "–"]
    assert rows[2][2] == 2 and rows[2][4] == "0.500 ± 0.000"


def test_activation_summary_row_counts_the_seeds_where_the_prediction_holds():
    metric = {DEFAULT_READING: {"equivariant": {"first_layer": {"mirror": [0.1, 0.2], "updown": [0.3, 0.4]},
                                                "first_layer_pre": {"mirror": [0.05, 0.05], "updown": [0.3, 0.4]}}}}
    agg = {k: stats([1.0, 2.0]) for k in ("explained", "active", "negation_only", "in_group", "unconstrained")}
    res = {"relu": {"predicted_group": "permutations with positive scalings", "aggregate": agg, "metric": metric,
                    "aggregate_init": {"explained": stats([0, 0])}}}
    header, rows = summary_table(res, {"relu": {"holds": 1, "n": 2, "applicable": True, "structure": 2,
                                                             "residual": 1}})
    assert rows[0][0] == "relu" and rows[0][-3:] == ["2 of 2", "1 of 2", "1 of 2"]
    assert rows[0][3] == "0.0 ± 0.0", "the null: explained at initialisation"
    assert rows[0][-7:-3] == ["0.150 ± 0.071", "–", "0.050 ± 0.000", "0.350 ± 0.071"], \
        "value, no centred variant in this results file, floor, up-down"
    assert len(header) == len(rows[0])
    metric[DEFAULT_READING]["equivariant"]["first_layer_centred"] = {"mirror": [0.4, 0.6], "updown": [0.7, 0.7]}
    header, rows = summary_table(res, {"relu": {"holds": 1, "n": 2, "applicable": True, "structure": 2,
                                                             "residual": 1}})
    assert rows[0][-6] == "0.500 ± 0.141" and header[-6] == "the same, centred"


def test_the_attention_metric_table_puts_each_value_beside_its_floor():
    per, floor = {"mirror": [0.1, 0.3], "updown": [0.5, 0.5]}, {"mirror": [0.2, 0.2], "updown": [0.4, 0.4]}
    metric = {"covariance": {"equivariant": {"latent": per, "latent_pre": floor}}}
    header, rows = flat_metric_table(metric, {"covariance": {"fit": 100, "eval": 200}})
    assert header[-2:] == ["equivariant", "floor"] and rows[0] == ["covariance", "100 / 200", "left-right (mirror)",
                                                                   "0.200 ± 0.141", "0.200 ± 0.000"]


def test_configuration_floor_tests_name_the_readings_per_configuration():
    off = {"first_layer": {"mirror": [0.3, 0.3], "updown": [0.3, 0.3]},
           "first_layer_pre": {"mirror": [0.1, 0.1], "updown": [0.1, 0.1]}}
    at = {"first_layer": {"mirror": [0.1, 0.1], "updown": [0.1, 0.1]}, "first_layer_pre": off["first_layer_pre"]}
    res = {("autoencoder", "tanh"): {"metric": {"covariance": {"equivariant": off}, "gaussian": {"equivariant": at}}}}
    header, rows = configuration_floor_tests_table(res)
    assert rows == [["tanh autoencoder", "covariance", "Gaussian"]]
