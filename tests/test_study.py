import math

import pytest

from eqlib.paper import PAPER_TABLE
from eqlib.study import (CRITERIA, Setting, check_settings, decay_for, most_moved, overall, settings, verdict)


def planted(scale=1.0, negated=(8, 9, 7), swap=(), spread=0.1):
    """A setting's six rows made of the paper's values times ``scale`` (three seeds, ±``spread``), with
    the activations swapped in the rows of ``swap``; GELU negated-copy counts per seed."""
    rows = {}
    for key, paper in PAPER_TABLE.items():
        v = {a: [paper[a] * scale * f for f in (1 - spread, 1.0, 1 + spread)] for a in ("tanh", "gelu")}
        rows[key] = {"tanh": v["gelu"], "gelu": v["tanh"]} if key in swap else v
    return {"rows": rows, "negated": {"autoencoder": list(negated), "classifier": list(negated)}}


def test_the_paper_itself_reproduces_the_paper():
    v = verdict(planted())
    assert v["verdict"] == "reproduces" and all(v["holds"].values())
    assert v["tanh_below_gelu"] == 6 and v["within"] == 12 and v["gelu_f2_over_f1"] == pytest.approx(0.11 / 0.40)


def test_right_orderings_at_the_wrong_scale_partly_reproduce():
    v = verdict(planted(scale=5.0))
    assert v["verdict"] == "partly reproduces" and v["within"] == 0
    assert [k for k, ok in v["holds"].items() if not ok] == ["magnitudes"]
    v = verdict(planted(negated=(0, 1, 9)))
    assert v["verdict"] == "partly reproduces" and [k for k, ok in v["holds"].items() if not ok] == ["negated"], \
        "negated copies in one GELU seed of three is not 'most seeds'"


def test_a_swapped_first_layer_row_does_not_reproduce():
    v = verdict(planted(swap=[("autoencoder", "first_layer", "mirror")]))
    assert v["tanh_below_gelu"] == 5 and v["holds"]["tanh_below_gelu"], "5 of 6 pairs is enough for that criterion"
    assert not v["holds"]["disjoint"] and v["verdict"] == "does not reproduce", "but the first-layer ranges overlap"
    v = verdict(planted(swap=[("classifier", "first_two_layers", "mirror"), ("autoencoder", "first_layer", "updown")]))
    assert v["tanh_below_gelu"] == 4 and v["verdict"] == "does not reproduce"


def test_each_ordering_alone_decides_and_the_last_two_only_grade():
    """Planted tables in which exactly one criterion fails."""
    t = planted()
    t["rows"][("classifier", "first_layer", "mirror")]["tanh"][2] = 0.2        # one Tanh seed above a GELU seed
    v = verdict(t)
    assert [k for k, ok in v["holds"].items() if not ok] == ["disjoint"] and v["verdict"] == "does not reproduce"
    t = planted()
    t["rows"][("autoencoder", "first_two_layers", "mirror")]["gelu"] = [0.25, 0.26, 0.27]   # f2 > f1 / 2
    v = verdict(t)
    assert [k for k, ok in v["holds"].items() if not ok] == ["gelu_f2_half"] and v["verdict"] == "does not reproduce"
    v = verdict(planted(scale=5.0, negated=(0, 0, 0)))
    assert [k for k, ok in v["holds"].items() if not ok] == ["negated", "magnitudes"] and v["verdict"] == "partly reproduces"


def test_left_right_must_be_below_up_down_in_every_seed():
    t = planted()
    t["rows"][("classifier", "first_layer", "updown")]["gelu"][2] = 0.01      # one seed's up-down below its left-right
    v = verdict(t)
    assert not v["holds"]["lr_below_ud"] and v["lr_below_ud"]["classifier gelu"] is False
    assert v["verdict"] == "does not reproduce"


def test_criteria_are_stated_once_each_and_the_decay_shrinks_an_unused_weight_by_e():
    assert [k for k, _ in CRITERIA] == ["tanh_below_gelu", "disjoint", "lr_below_ud", "gelu_f2_half", "negated",
                                        "magnitudes"]
    lam = decay_for(1e-3, 20, 50_000, 256)
    steps = 20 * 196
    assert lam == pytest.approx(1 / (1e-3 * steps)) and (1 - 1e-3 * lam) ** steps == pytest.approx(math.exp(-1), rel=1e-3)


def test_the_grid_varies_one_factor_at_a_time_from_the_default():
    cells = settings(0.25)
    assert cells[0] == Setting("default", "default", "default", {}, ("autoencoder", "classifier"))
    assert all(len(c.overrides) == (2 if c.factor == "weight decay" else 1) for c in cells[1:])
    assert {c.factor for c in cells} == {"default", "widths", "weight", "init", "length", "weight decay"}
    assert next(c for c in cells if c.factor == "length").tasks == ("autoencoder",)
    with pytest.raises(ValueError, match="distinct names"):
        check_settings(cells + cells[-1:])
    with pytest.raises(ValueError, match="first setting must be the default"):
        check_settings(cells[1:])


def test_overall_names_the_settings_and_most_moved_finds_the_largest_change():
    vs = {"default": {"verdict": "does not reproduce", "ratio": {"k": 4.0}},
          "a": {"verdict": "partly reproduces", "ratio": {"k": 1.0}},
          "b": {"verdict": "does not reproduce", "ratio": {"k": 20.0}}}
    assert overall(vs) == "a partly reproduces the paper"
    assert most_moved(vs, "k") == ("b", 20.0), "a 5x change beats a 4x one"
    vs["a"]["verdict"] = "does not reproduce"
    assert overall(vs) == "no setting reproduces the paper, not even partly"


def test_the_page_states_the_criteria_word_for_word():
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks" / "protocol_study.ipynb").read_text())
    text = next("".join(c["source"]) for c in nb["cells"] if "## The criteria, decided before the run" in "".join(c["source"]))
    for i, (_, criterion) in enumerate(CRITERIA, 1):
        assert f"{i}. {criterion};" in text or f"{i}. {criterion}." in text, f"criterion {i} on the page: {criterion}"
