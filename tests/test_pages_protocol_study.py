import math

import numpy as np

import pytest

from eqlib.metric import PAPER_READINGS
from eqlib.pages.protocol_study import study_reading_heatmap, table_exploratory, table_readings
from eqlib.study import (CRITERIA, STAGE2_RULE, Setting, check_settings, combine, contrast_cells, contrast_line, criteria,
                         decay_for, exploratory, implication_text, most_moved, overall, reading_ratios, readings_of,
                         settings, stage2_text, stage2_verdicts, study_verdicts, verdict)
from eqlib.paper import PAPER_TABLE
from numerics import sum_tol


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
    assert v["verdict"] == "reproduced" and all(v["holds"].values())
    assert v["tanh_below_gelu"] == 6 and v["within"] == 12 and v["gelu_f2_over_f1"] == pytest.approx(0.11 / 0.40)


def test_right_orderings_at_the_wrong_scale_partly_reproduce():
    v = verdict(planted(scale=5.0))
    assert v["verdict"] == "partly" and v["within"] == 0
    assert [k for k, ok in v["holds"].items() if not ok] == ["magnitudes"]
    v = verdict(planted(negated=(0, 1, 9)))
    assert v["verdict"] == "partly" and [k for k, ok in v["holds"].items() if not ok] == ["negated"], \
        "negated copies in one GELU seed of three is not 'most seeds'"


def test_a_swapped_first_layer_row_does_not_reproduce():
    v = verdict(planted(swap=[("autoencoder", "first_layer", "mirror")]))
    assert v["tanh_below_gelu"] == 5 and v["holds"]["tanh_below_gelu"], "5 of 6 pairs is enough for that criterion"
    assert not v["holds"]["disjoint"] and v["verdict"] == "not reproduced", "but the first-layer ranges overlap"
    v = verdict(planted(swap=[("classifier", "first_two_layers", "mirror"), ("autoencoder", "first_layer", "updown")]))
    assert v["tanh_below_gelu"] == 4 and v["verdict"] == "not reproduced"


def test_each_ordering_alone_decides_and_the_last_two_only_grade():
    """Planted tables in which exactly one criterion fails."""
    t = planted()
    t["rows"][("classifier", "first_layer", "mirror")]["tanh"][2] = 0.2        # one Tanh seed above a GELU seed
    v = verdict(t)
    assert [k for k, ok in v["holds"].items() if not ok] == ["disjoint"] and v["verdict"] == "not reproduced"
    t = planted()
    t["rows"][("autoencoder", "first_two_layers", "mirror")]["gelu"] = [0.25, 0.26, 0.27]   # f2 > f1 / 2
    v = verdict(t)
    assert [k for k, ok in v["holds"].items() if not ok] == ["gelu_f2_half"] and v["verdict"] == "not reproduced"
    v = verdict(planted(scale=5.0, negated=(0, 0, 0)))
    assert [k for k, ok in v["holds"].items() if not ok] == ["negated", "magnitudes"] and v["verdict"] == "partly"


def test_left_right_must_be_below_up_down_in_every_seed():
    t = planted()
    t["rows"][("classifier", "first_layer", "updown")]["gelu"][2] = 0.01      # one seed's up-down below its left-right
    v = verdict(t)
    assert not v["holds"]["lr_below_ud"] and v["lr_below_ud"]["classifier gelu"] is False
    assert v["verdict"] == "not reproduced"


def test_criteria_are_stated_once_each_and_the_decay_shrinks_an_unused_weight_by_e():
    assert [r.key for r in CRITERIA] == ["tanh_below_gelu", "disjoint", "lr_below_ud", "gelu_f2_half", "negated",
                                        "magnitudes"]
    lam = decay_for(1e-3, 20, 50_000, 256)
    steps = 20 * 196
    # (1 - 1/n)^n = e^-1 (1 - 1/(2n) + ...): for n = 3920 steps, 1.3e-4 off, not round-off
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
    vs = {"default": {"verdict": "not reproduced", "ratio": {"k": 4.0}},
          "a": {"verdict": "partly", "ratio": {"k": 1.0}},
          "b": {"verdict": "not reproduced", "ratio": {"k": 20.0}}}
    assert overall(vs) == "a partly reproduces the paper"
    assert most_moved(vs, "k") == ("b", 20.0), "a 5x change beats a 4x one"
    vs["a"]["verdict"] = "not reproduced"
    assert overall(vs) == "no setting reproduces the paper, not even partly"


def test_the_page_states_the_criteria_word_for_word():
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks" / "protocol_study.ipynb").read_text())
    text = next("".join(c["source"]) for c in nb["cells"] if "## The criteria, decided before the run" in "".join(c["source"]))
    for i, criterion in enumerate((r.sentence for r in CRITERIA), 1):
        assert f"{i}. {criterion};" in text or f"{i}. {criterion}." in text, f"criterion {i} on the page: {criterion}"
    stage2 = next("".join(c["source"]) for c in nb["cells"] if "## Stage 2, decided before its run" in "".join(c["source"]))
    assert STAGE2_RULE in stage2, "the stage-2 rule on the page, word for word, above the results"
    order = ["## Stage 2, decided before its run", "## The results", "## Stage 2: the combined setting"]
    where = [next(i for i, c in enumerate(nb["cells"]) if h in "".join(c["source"])) for h in order]
    assert where == sorted(where), "the rule stands before the results"


def test_exploratory_table_and_heatmap_show_the_per_task_verdicts_and_the_ratio():
    bad = planted(scale=20.0, swap=list(PAPER_TABLE))
    cells = cells_from({"default": bad, "widths": {"covariance": bad, "gaussian": planted()}})
    del cells["widths"]["classifier"]
    ex = exploratory(cells)
    header, rows = table_exploratory(ex)
    assert header == ["setting", "covariance", "Gaussian"]
    assert rows[1] == ["widths", "AE ✗ · cl ·", "AE ✓ · cl ·"] and rows[0][1] == "AE ✗ · cl ✗"
    header, rows = table_readings(cells, ex)
    gauss = next(r for r in rows if r[:2] == ["widths", "Gaussian"])
    assert gauss[4] == "14" and gauss[6] == "✓" and gauss[7] == "not run", gauss
    cov = next(r for r in rows if r[:2] == ["default", "covariance"])
    assert cov[6] == "✗ not: order 0/3, disjoint, f₂ < 0.5 f₁, within ×2 1/6", cov[6]
    fig = study_reading_heatmap(reading_ratios(cells), 0.40 / 0.029, contrast_cells(cells))
    # log10 of the quotient of two ratios of hand-made decimals, each a few roundings off the same value
    assert fig.data[0].text[1][1] == "14" and abs(fig.data[0].z[1][1]) <= sum_tol(4), "the paper's ratio sits at the centre"
    assert list(fig.data[1].y) == ["widths"] and list(fig.data[1].x) == ["Gaussian"], "the dot where the contrast appears"


# --------------------------------------------------------------------------- per task, per reading, stage 2
def test_the_pre_registered_criteria_are_the_rows_the_verdict_checks():
    assert criteria() == CRITERIA, "the six-row verdict's criteria are the page's"
    v = verdict(planted())
    assert list(v["holds"]) == [r.key for r in CRITERIA] and v["tasks"] == ["autoencoder", "classifier"]


def test_per_task_verdicts_read_only_that_tasks_rows():
    t = planted(swap=[("classifier", "first_layer", "mirror"), ("classifier", "first_two_layers", "mirror")])
    t["negated"]["classifier"] = [0, 0, 0]
    assert verdict(t)["verdict"] == "not reproduced", "the pre-registered verdict reads both tasks"
    ae = verdict(t, ("autoencoder",))
    assert ae["verdict"] == "reproduced" and ae["pairs"] == 3 and ae["values"] == 6, "the autoencoder alone is the paper's"
    assert list(ae["holds"]) == ["tanh_below_gelu", "disjoint", "lr_below_ud", "gelu_f2_half", "negated", "magnitudes"]
    cl = verdict(t, ("classifier",))
    assert cl["verdict"] == "not reproduced" and "negated" not in cl["holds"] and "gelu_f2_half" not in cl["holds"], \
        "the classifier is judged without the autoencoder's criteria"


def test_per_task_thresholds_scale_with_the_rows():
    """5 of 6 pairs becomes 3 of 3; 8 of 12 values becomes 4 of 6."""
    t = planted(swap=[("autoencoder", "first_two_layers", "mirror")])
    assert verdict(t)["holds"]["tanh_below_gelu"], "5 of 6 pairs"
    assert not verdict(t, ("autoencoder",))["holds"]["tanh_below_gelu"], "2 of 3 is not enough for one task"
    rows = dict(planted()["rows"])
    t = {"rows": rows, "negated": {"autoencoder": [9, 9, 9], "classifier": [0, 0, 0]}}
    for key in [("classifier", "first_layer", "updown"), ("classifier", "first_two_layers", "mirror")]:
        rows[key] = {a: [x * 5 for x in v] for a, v in rows[key].items()}    # 4 of the classifier's 6 values off
    cl = verdict(t, ("classifier",))
    assert cl["within"] == 2 and not cl["holds"]["magnitudes"] and cl["verdict"] == "partly"
    rows[("classifier", "first_two_layers", "mirror")] = planted()["rows"][("classifier", "first_two_layers", "mirror")]
    cl = verdict(t, ("classifier",))
    assert cl["within"] == 4 and cl["verdict"] == "reproduced", "4 of 6 values is the per-task threshold"
    with pytest.raises(ValueError, match="unknown tasks"):
        verdict(t, ("segmentation",))


def cells_from(table_by_setting, readings=("covariance", "gaussian"), tasks=("autoencoder", "classifier")):
    """Planted study cells ``{setting: {task: {act: {"metric": ..., "analyses": ...}}}}`` from six-row
    tables, the same table under every reading unless ``table_by_setting[name]`` is a dict per reading."""
    cells = {}
    for name, per_reading in table_by_setting.items():
        per_reading = per_reading if isinstance(per_reading, dict) and "rows" not in per_reading else \
            {r: per_reading for r in readings}
        for task in tasks:
            for a in ("tanh", "gelu"):
                metric = {r: {"equivariant": {}} for r in per_reading}
                for r, t in per_reading.items():
                    for (tk, layers, flip), v in t["rows"].items():
                        if tk == task:
                            metric[r]["equivariant"].setdefault(layers, {})[flip] = v[a]
                neg = next(iter(per_reading.values()))["negated"][task]
                cells.setdefault(name, {}).setdefault(task, {})[a] = {
                    "metric": metric, "analyses": [{"negated_filters": n} for n in (neg if a == "gelu" else [0] * 3)]}
    return cells


def test_exploratory_verdicts_per_setting_reading_and_task():
    bad = planted(scale=20.0, swap=list(PAPER_TABLE))
    cells = cells_from({"default": bad, "widths": {"covariance": bad, "gaussian": planted()}})
    del cells["widths"]["classifier"]                       # an autoencoder-only setting
    ex = exploratory(cells)
    assert ex["default"]["covariance"]["autoencoder"]["verdict"] == "not reproduced"
    assert ex["widths"]["gaussian"]["autoencoder"]["verdict"] == "reproduced"
    assert ex["widths"]["covariance"]["autoencoder"]["verdict"] == "not reproduced"
    assert ex["widths"]["gaussian"]["classifier"] is None, "a task the setting did not run has no verdict of its own"
    hits = contrast_cells(cells)
    assert [(h["setting"], h["reading"]) for h in hits] == [("widths", "gaussian")]
    line = contrast_line(hits)
    assert "widths" in line and "Gaussian" in line and "0.0261/0.029/0.0319" in line, line
    assert contrast_line([]).startswith("under no setting and reading")
    counted = contrast_line(hits, cells)
    n = len([c for c in cells.values() if "autoencoder" in c])
    paper = [r for r in readings_of(cells) if r in PAPER_READINGS]
    assert counted.startswith(f"in 1 of {n * len(paper)} setting–reading cells under the paper's readings"), counted
    assert "some show it by chance" in counted, "the multiplicity is said, not left to the reader"
    ratios = reading_ratios(cells)
    assert ratios["widths"]["gaussian"] == pytest.approx(0.40 / 0.029) and set(ratios) == {"default", "widths"}


def stage1(ratios):
    """Planted stage-1 verdicts with the autoencoder's first-layer GELU/Tanh ratio per setting."""
    return {n: {"ratio": {"autoencoder|first_layer|mirror": r}} for n, r in ratios.items()}


def test_stage2_takes_each_factors_level_closest_to_the_papers_ratio():
    grid = settings(0.25)
    paper = 0.40 / 0.029                                            # 13.8
    vs = stage1({"default": 2.0, "widths (64, 32, 64)": 6.0, "widths (64, 16, 64)": 3.0, "weight 0.3": 1.5,
                 "weight 3": 2.5, "weight 10": 30.0, "init × 1": 1.0, "40 epochs": 2.2, "weight decay 0.25": 1.9})
    c = combine(vs, grid)
    assert c["chosen"] == {"widths": "widths (64, 32, 64)", "weight": "weight 10", "init": "default",
                           "length": "40 epochs", "weight decay": "default"}, \
        "weight 10 (log distance 0.78) beats weight 3 (1.71); the default beats init × 1 and the decay"
    s = c["setting"]
    assert s.overrides == {"hidden": (64, 32, 64), "equivariance_weight": 10.0, "epochs": 40}
    assert s.tasks == ("autoencoder", "classifier") and s.factor == "combined"
    assert c["distance"]["weight 10"] == pytest.approx(abs(np.log(30.0 / paper)))
    assert "closest" in STAGE2_RULE


def test_stage2_skips_when_fewer_than_two_factors_move():
    grid = settings(0.25)
    vs = stage1({"default": 13.0, "widths (64, 32, 64)": 6.0, "widths (64, 16, 64)": 3.0, "weight 0.3": 1.5,
                 "weight 3": 2.5, "weight 10": 30.0, "init × 1": 1.0, "40 epochs": 2.2, "weight decay 0.25": 1.9})
    c = combine(vs, grid)
    assert c["setting"] is None and set(c["chosen"].values()) == {"default"} and "nothing to combine" in c["reason"]
    vs["default"]["ratio"]["autoencoder|first_layer|mirror"] = 5.0
    vs["widths (64, 32, 64)"]["ratio"]["autoencoder|first_layer|mirror"] = 4.0
    c = combine(vs, grid)
    assert c["setting"] is None and c["chosen"]["weight"] == "weight 10" and "one factor" in c["reason"], \
        "a single moved factor is a stage-1 setting already"


def test_the_implication_is_computed_from_the_per_task_verdicts():
    bad = planted(scale=20.0, swap=list(PAPER_TABLE))
    cells = cells_from({"default": bad, "widths": {"covariance": bad, "gaussian": planted()}})
    del cells["widths"]["classifier"]
    text = implication_text(study_verdicts(cells), exploratory(cells), contrast_cells(cells))
    assert text.startswith("Pre-registered: no setting reproduces the paper, not even partly."), text
    assert ("the autoencoder's rows reproduce under none and partly under none (primary reading); under any reading, "
            "they reproduce in 1 and partly in 0 of 4 setting–reading cells") in text, text
    assert "the classifier's rows reproduce under none" in text and "partly in 0 of 2 setting–reading cells" in text
    assert "contrast appears under widths, Gaussian reading" in text


def test_stage2_is_judged_by_the_same_criteria_pre_registered_and_per_task():
    t = planted(swap=[("classifier", "first_layer", "mirror")])
    cells = cells_from({"default": planted(), "combined": t})
    v = stage2_verdicts(cells["combined"], cells["default"])
    assert v["both"]["verdict"] == "not reproduced" and v["autoencoder"]["verdict"] == "reproduced"
    assert v["classifier"]["verdict"] == "not reproduced"
    assert stage2_text("combined", v, "") == ("combined: does not reproduce the paper (pre-registered criteria); per "
                                              "task, the autoencoder's rows reproduce and the classifier's do not "
                                              "reproduce")
    assert stage2_text(None, None, "nothing to combine: x") == "skipped, nothing to combine: x"
