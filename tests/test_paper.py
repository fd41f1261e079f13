import pytest

from eqlib.pages.mlp_summary import paper_table, side_by_side, table_rows, verdict_counts
from eqlib.paper import PAPER_TABLE, within_factor


def fake_metric(scale=1.0, updown_two_layers=1.0, control_scale=1.0):
    """Chapter-shaped results whose means are the paper's values times ``scale`` (3 seeds)."""
    out = {}
    for task in ("autoencoder", "classifier"):
        for act in ("tanh", "gelu"):
            layers = {}
            for d in ("first_layer", "first_two_layers"):
                flips = {}
                for f in ("mirror", "updown"):
                    v = PAPER_TABLE.get((task, d, f), {}).get(act, updown_two_layers)
                    flips[f] = [v * scale * 0.9, v * scale, v * scale * 1.1]
                layers[d] = flips
                layers[f"{d}_pre"] = {f: [x / 2 for x in v] for f, v in flips.items()}     # floors at half
            ctrl = {d: {f: [x * control_scale for x in v] for f, v in fl.items()} for d, fl in layers.items()}
            out[(task, act)] = {"gaussian": {"equivariant": layers, "control": ctrl},
                                "images": {"equivariant": layers, "control": ctrl}}
    return out


def test_the_paper_against_itself_agrees_on_every_verdict():
    rows = side_by_side(fake_metric())
    assert len(rows) == 6 * 2 * 2
    eq = [r for r in rows if r["kind"] == "equivariant"]
    assert all(all(r["within"].values()) for r in eq)
    assert all(all(r["tanh_below_gelu"].values()) for r in eq), "the paper has Tanh below GELU in every row"
    lr = [r for r in eq if r["flip"] == "mirror"]
    assert all(all(r["mirror_below_updown"].values()) for r in lr)
    assert all(v is None for r in eq if r["flip"] == "updown" for v in r["mirror_below_updown"].values())
    c = verdict_counts(rows)["gaussian"]
    assert (c["within"], c["rows"], c["order"], c["pairs"], c["lr_below_ud"], c["lr_rows"]) == (12, 12, 6, 6, 8, 8)
    assert c["median_ratio"] == pytest.approx(1.0)


def test_ten_times_the_paper_is_outside_the_factor_and_orderings_can_fail():
    rows = side_by_side(fake_metric(scale=10.0, updown_two_layers=0.001, control_scale=0.1))
    c = verdict_counts(rows)["images"]
    assert c["within"] == 0 and c["median_ratio"] == pytest.approx(10.0)
    two = [r for r in rows if r["layers"] == "first_two_layers" and r["kind"] == "equivariant"]
    assert not any(r["mirror_below_updown"]["images"] for r in two), "up-down made tiny: left-right is not below it"
    assert verdict_counts(rows, "control")["images"]["within"] == 12, "a tenth of ten times the paper is the paper"
    assert within_factor(1.9, 1.0) and not within_factor(2.1, 1.0) and within_factor(0.5, 1.0)


def test_missing_configuration_is_named():
    m = fake_metric()
    del m[("classifier", "gelu")]
    with pytest.raises(ValueError, match="classifier', 'gelu"):
        side_by_side(m)


def test_the_paper_shaped_table_has_the_papers_six_rows_and_our_values_beside_them():
    rows = side_by_side(fake_metric(scale=2.5))
    header, out = paper_table(rows, reading="images")
    assert len(out) == 6 and [o[0] for o in out][:3] == ["AE, 1st layer, left-right", "AE, 1st two, left-right",
                                                          "AE, 1st layer, up-down"]
    first = out[0]
    assert first[1] == "0.029" and first[2] == f"{0.029 * 2.5:.3f} ± {0.029 * 2.5 * 0.1:.3f}"
    assert first[3] == f"{0.029 * 2.5 / 2:.3f} ± {0.029 * 2.5 * 0.05:.3f}", "the floor beside the value"
    assert first[7] == "✗✗" and first[8] == "✓" and out[2][9] == "––", "2.5x is outside the factor; orderings hold"
    header, all_rows = table_rows(rows, primary="images")
    assert len(all_rows) == 24 and header[3:5] == ["Gaussian", "images"]
