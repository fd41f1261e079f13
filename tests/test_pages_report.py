"""The reproduction report's verdicts follow their stated rules on planted results."""
import pytest

from eqlib.pages.attention_heads import attention_claim
from eqlib.pages.mlp_filters import bypass_claim, gelu_claim, tanh_claim
from eqlib.pages.mlp_summary import table_claim
from eqlib.pages.report import (CLAIMS, END, RULES, SOURCES, START, VERDICTS, claims, findings, negated_pairs_table,
                                readme_block, replace_block)
from eqlib.pages.theory import theorem_claim
from eqlib.paper import PAPER_TABLE


def copies(n, bypass=0, even=0):
    """``n`` filters in direct negated copies (``n // 2`` pairs), ``bypass`` of the pairs with opposite
    outgoing weights and ``even`` with equal ones."""
    out = []
    for k in range(n // 2):
        b, e = k < bypass, bypass <= k < bypass + even
        out.append({"i": 2 * k, "j": 2 * k + 1, "kinds": ["direct"], "outgoing_residual": 0.1 if b else 2.0 if e else 1.2,
                    "bypass": b, "even_residual": 2.0 if b else 0.1 if e else 1.2, "even": e})
    return out


def mlp(explained=(60, 60, 60), control=(0, 0, 0), init=(0, 0, 0), bypass=(0, 0, 0), negated=(0, 0, 0), scale=1.0,
        direct=None):
    """Planted results of the four MLP chapters. ``negated`` and ``bypass``: the GELU equivariant networks'
    filters in negated copies and bypass pairs per seed (both tasks); ``direct[(task, act, kind)]``: filters in
    direct negated copies per seed, for any network (default none)."""
    direct = direct or {}
    out = {}
    for task in ("autoencoder", "classifier"):
        for act in ("tanh", "gelu"):
            def per(ex, k):
                d = direct.get((task, act, k), [0] * len(ex))
                return [{"explained": e, "active": 64,
                         "bypass_pairs": [{}] * (bypass[i] if k == "equivariant" and act == "gelu" else 0),
                         "negated_filters": max(d[i], negated[i] if k == "equivariant" and act == "gelu" else 0),
                         "negated_copies": copies(d[i], bypass=bypass[i] if act == "gelu" and k == "equivariant" else 0)}
                        for i, e in enumerate(ex)]
            metric = {"covariance": {"equivariant": {d: {f: [PAPER_TABLE.get((task, d, f), {}).get(act, 1.0) * scale * x
                                                          for x in (0.95, 1.0, 1.05)] for f in ("mirror", "updown")}
                                                     for d in ("first_layer", "first_two_layers")}}}
            out[(task, act)] = {"per_seed": {"equivariant": per(explained, "equivariant"), "control": per(control, "control"),
                                             "init": per(init, "init")}, "metric": metric}
    return out


def test_tanh_claim_grades_every_most_and_no_seed():
    assert tanh_claim(mlp())["verdict"] == "reproduced"
    assert tanh_claim(mlp(explained=(60, 60, 20)))["verdict"] == "partly", "fewer than half in one seed of three"
    assert tanh_claim(mlp(explained=(60, 20, 20)))["verdict"] == "not reproduced"
    assert tanh_claim(mlp(control=(61, 61, 61)))["verdict"] == "not reproduced", "no more than the control"


def test_gelu_claim_reads_the_autoencoders_direct_copies_against_tanh_and_initialisation():
    ae = lambda g, t=(2, 2, 2), i=(0, 0, 0): {("autoencoder", "gelu", "equivariant"): list(g),
                                              ("autoencoder", "tanh", "equivariant"): list(t),
                                              ("autoencoder", "gelu", "init"): list(i)}
    assert gelu_claim(mlp(direct=ae((8, 10, 6))))["verdict"] == "reproduced", \
        "the autoencoder alone carries the paper's GELU picture; the classifier has none, as the paper allows"
    cl = {("classifier", "gelu", "equivariant"): [8, 10, 6]}
    assert gelu_claim(mlp(direct=cl))["verdict"] == "not reproduced", "a classifier-only picture is not the paper's"
    assert gelu_claim(mlp(direct=ae((8, 10, 6), t=(12, 12, 4))))["verdict"] == "partly", \
        "at least 5, but no more than Tanh's in most seeds: the degeneracy is not GELU's"
    assert gelu_claim(mlp(direct=ae((8, 4, 2))))["verdict"] == "not reproduced", "at least 5 in one seed of three"
    assert gelu_claim(mlp(direct=ae((8, 10, 6), i=(10, 10, 10))))["verdict"] == "partly", "not above initialisation"
    assert gelu_claim(mlp(negated=(30, 30, 30)))["verdict"] == "not reproduced", \
        "copies through the mirror alone are not the direct copies the rule reads"


def test_gelu_claim_reports_controls_classifier_and_what_the_pairs_compute():
    d = {("autoencoder", "gelu", "equivariant"): [8, 10, 6], ("autoencoder", "gelu", "control"): [20, 22, 24],
         ("classifier", "gelu", "equivariant"): [2, 0, 0]}
    ev = gelu_claim(mlp(direct=d))["evidence"]
    assert "[8, 10, 6]" in ev and "[20, 22, 24]" in ev and "[2, 0, 0]" in ev, ev
    assert "fewer with the loss in 3 of 3 seeds, so the loss does not make them" in ev, "the controls, computed"
    assert "of their 12 pairs, 0 are a bypass and 0 even" in ev, ev
    assert "0 of 12 pairs a bypass" in bypass_claim(mlp(direct=d))["evidence"], "what the pairs compute: the mechanism row"


def test_the_bypass_is_the_gelu_claims_second_row():
    d = {("autoencoder", "gelu", "equivariant"): [8, 10, 6]}
    assert bypass_claim(mlp(direct=d, bypass=(1, 2, 0)))["verdict"] == "reproduced", "a bypass in 2 of 3 seeds"
    assert bypass_claim(mlp(direct=d, bypass=(1, 0, 0)))["verdict"] == "partly"
    assert bypass_claim(mlp(direct=d))["verdict"] == "not reproduced"
    assert "bypassed the nonlinearity" in CLAIMS["bypass"] and "the mechanism" in CLAIMS["bypass"], \
        "the GELU claim's second row: its mechanism, in the paper's words"
    assert set(SOURCES) == set(CLAIMS) == set(RULES), "every claim names its source and its rule"
    assert "particularly in the autoencoder" in CLAIMS["gelu"], "the claim as its source words it"
    assert all(RULES[k].written in ("before", "after") for k in RULES) and RULES["table"].written == "before" \
        and RULES["gelu"].written == "after", "each rule says whether it was written before its numbers were known"


def test_table_claim_is_the_study_verdict_on_the_chapters_runs():
    assert table_claim(mlp(negated=(6, 8, 9)))["verdict"] == "reproduced", "the paper's own values"
    assert table_claim(mlp(negated=(6, 8, 9), scale=5))["verdict"] == "partly", "right orderings, wrong magnitudes"


def test_table_claim_split_by_task():
    m = mlp(negated=(6, 8, 9))
    for act in ("tanh", "gelu"):          # the classifier's rows swapped: Tanh above GELU
        r = m[("classifier", act)]["metric"]["covariance"]["equivariant"]
        r["first_layer"]["mirror"] = [PAPER_TABLE[("classifier", "first_layer", "mirror")]["gelu" if act == "tanh" else "tanh"] * x
                                      for x in (0.95, 1.0, 1.05)]
    assert table_claim(m)["verdict"] == "not reproduced"
    assert table_claim(m, tasks=("autoencoder",))["verdict"] == "reproduced"
    assert table_claim(m, tasks=("classifier",))["verdict"] == "not reproduced"
    ae = table_claim(mlp(negated=(0, 0, 0)), tasks=("autoencoder",))
    assert ae["verdict"] == "partly", "the autoencoder's rows without its negated copies"


def test_attention_and_theorem_claims():
    h = lambda errs: [{"median_error": e, "moved_heads": 4} for e in errs]
    att = {"heads": {"equivariant": h([0.05, 0.05, 0.9]), "control": h([0.6, 0.6, 0.6]), "init": h([0.7, 0.7, 0.7])}}
    assert attention_claim(att)["verdict"] == "partly"
    theory = {"trials": [{"involutions": True, "max_layer_error": 1e-15}] * 3,
              "recovery": {"involutions": [True], "agrees_with_planted": True},
              "equivariant_student": {"error": 1e-7, "layer_errors": [1e-6]}}
    assert theorem_claim(theory)["verdict"] == "reproduced"
    theory["equivariant_student"]["layer_errors"] = [0.3]
    assert theorem_claim(theory)["verdict"] == "not reproduced", "a student that fits but is not layerwise equivariant"
    theory["equivariant_student"]["layer_errors"] = [1e-6]
    theory["trials"][0] = {"involutions": False, "max_layer_error": 1e-15}
    assert theorem_claim(theory)["verdict"] == "not reproduced"


def test_the_readme_block_replaces_only_its_marked_region():
    rows = [{"key": k, "claim": c, "verdict": "partly", "evidence": "x"} for k, c in CLAIMS.items()]
    block = readme_block(rows, "2026-11-29", "a CPU", "abc1234", "no setting reproduces the paper",
                         "under widths (64, 32, 64), covariance reading: Tanh 0.07/0.05, GELU 0.35/0.35")
    text = f"intro\n{START}\nold\n{END}\noutro"
    new = replace_block(text, block)
    assert new.startswith("intro\n") and new.endswith("\noutro") and "old" not in new
    assert new.count("| **partly** |") == len(CLAIMS) and "commit `abc1234`" in new
    assert "The protocol study, which varies each of our choices alone by criteria fixed in advance: no setting" in new
    assert "appears under widths (64, 32, 64), covariance reading: Tanh 0.07/0.05" in new
    with pytest.raises(ValueError, match="exactly one generated block"):
        replace_block("no markers", block)


def test_what_was_found_is_computed_from_the_rows_verdicts():
    words = {"theorem": "reproduced", "tanh": "reproduced", "gelu": "partly", "table": "not reproduced",
             "attention": "reproduced", "bypass": "not reproduced", "cnn": "partly"}
    rows = [{"key": k, "verdict": v, "fragile": k == "gelu"} for k, v in words.items()]
    found = findings(rows, "no setting reproduces the paper")
    assert found[0] == "Reproduced: the theorem (1), Tanh's filters (2) and attention heads (5)."
    assert found[1] == "Partly reproduced: GELU's negated copies (3) (GELU's negated copies: fragile, within the " \
                       "seeds' spread of flipping)."
    assert found[2] == "Not reproduced: the paper's table (4) and GELU's bypass mechanism (6)."
    assert found[3] == "Our own predictions beyond the paper: a CNN partly (7)."
    assert found[4].endswith("no setting reproduces the paper.") and len(found) == 5
    rows[2]["verdict"] = "reproduced"
    assert findings(rows)[0].startswith("Reproduced: the theorem (1), Tanh's filters (2), GELU's negated copies (3)")


def test_the_readme_carries_a_well_formed_generated_block():
    """The README's block was written by a full build: dated, with a commit, a row per claim of that build,
    a verdict from the allowed ones in each. (Only a full build rewrites it, so after the claims change it
    holds the last build's claims until the next one: ``readme_block`` itself is tested above.)"""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    block = text[text.index(START):text.index(END)]
    assert re.search(r"From the full build of \d{4}-\d{2}-\d{2}, commit `[0-9a-f]{7,}(-dirty)?`, on .+\.", block)
    rows = [line for line in block.splitlines() if re.match(r"\| \d+ \|", line)]
    assert rows and [int(r.split("|")[1]) for r in rows] == list(range(1, len(rows) + 1)), "numbered rows"
    assert all(re.search(r"\| \*\*(" + "|".join(VERDICTS) + r")\*\* \|", r) for r in rows), rows


def test_the_negated_pairs_table_says_what_the_pairs_compute():
    m = mlp(direct={("autoencoder", "gelu", "equivariant"): [8, 10, 6]}, bypass=(1, 2, 0))
    header, rows = negated_pairs_table(m)
    row = next(r for r in rows if r[:2] == ["GELU autoencoder", "equivariant"])
    assert row[2] == [8, 10, 6] and row[3:6] == [12, 3, 0], row
    assert row[6].startswith("0.10 / ") and row[6].endswith(" / 1.20"), "quartiles from the bypasses' 0.1 to 1.2"
    none = next(r for r in rows if r[:2] == ["Tanh classifier", "control (weight 0)"])
    assert none[3] == 0 and none[6] == "nan / nan / nan / nan / nan"


def d4_results(ratio, defect, nulls=(1.0, 1.0, 1.0)):
    """Planted D4 page results over three seeds: the D4 network's end-to-end error ``ratio`` times the
    control's (identity first, then seven elements), its mean defect, and the nulls' (control, init, random)."""
    e2e = lambda x: [[0.0] + [x] * 7 for _ in range(3)]
    fits = {"d4": [{"mean_defect": defect}] * 3}
    fits.update({k: [{"mean_defect": n}] * 3 for k, n in zip(("control", "init", "random"), nulls)})
    return {"fits": fits, "end_to_end": {"d4": e2e(0.3 * ratio), "control": e2e(0.3)}}


def test_the_d4_prediction_is_read_only_on_networks_equivariant_enough():
    from eqlib.pages.dihedral import dihedral_claim
    assert dihedral_claim(d4_results(0.2, 0.5))["verdict"] == "reproduced", "equivariant enough, below every null"
    assert dihedral_claim(d4_results(0.2, 0.5, nulls=(1.0, 0.4, 0.4)))["verdict"] == "partly", "below one null"
    assert dihedral_claim(d4_results(0.2, 1.5))["verdict"] == "not reproduced", "above every null"
    v = dihedral_claim(d4_results(0.5, 0.5))
    assert v["verdict"] == "not testable" and "0.50, 0.50, 0.50" in v["evidence"], "half the control's error: untested"


def aug_results(ratio, aug, loss=(60, 60, 60)):
    """Planted augmentation page results, both tasks alike: augmentation's end-to-end error ``ratio`` times
    the control's, its explained first-layer neurons per seed ``aug`` against the loss's ``loss``."""
    test = lambda x: [{"test_equivariance_error": x}] * 3
    per = lambda ex: [{"explained": e} for e in ex]
    task = {"test": {"augmentation": test(0.3 * ratio), "control": test(0.3), "equivariant": test(0.1)},
            "per_seed": {"augmentation": per(aug), "equivariant": per(loss)}}
    return {"seeds": [0, 1, 2], "tasks": {"autoencoder": task, "classifier": task}}


def test_the_augmentation_prediction_needs_equivariant_networks_and_reads_the_stated_share():
    from eqlib.pages.augmentation import augmentation_claim
    share = RULES["augmentation"]["share"]
    at = int(60 * share)
    assert f"{share:.0%}" in RULES["augmentation"].sentence
    assert augmentation_claim(aug_results(0.2, (at,) * 3))["verdict"] == "reproduced", "exactly the stated share"
    assert augmentation_claim(aug_results(0.2, (at - 1,) * 3))["verdict"] == "not reproduced", "just below it"
    assert augmentation_claim(aug_results(0.9, (60,) * 3))["verdict"] == "not testable", "not equivariant enough"


def test_every_claim_states_its_margin_and_a_near_flip_is_fragile():
    near = {("autoencoder", "gelu", "equivariant"): [6, 5, 9], ("autoencoder", "tanh", "equivariant"): [2, 2, 2]}
    g = gelu_claim(mlp(direct=near))
    assert g["verdict"] == "reproduced" and g["fragile"], g["margin"]
    assert "flips to" in g["margin"] and "fragile" in g["margin"]
    far = {("autoencoder", "gelu", "equivariant"): [40, 42, 41], ("autoencoder", "tanh", "equivariant"): [2, 2, 2]}
    assert not gelu_claim(mlp(direct=far))["fragile"], "forty copies against two: far from the threshold of 5"
    rows = claims({**{c: r for c, r in zip(["mlp_tanh_autoencoder", "mlp_gelu_autoencoder", "mlp_tanh_classifier",
                                            "mlp_gelu_classifier"], mlp(negated=(6, 8, 9)).values())},
                   "theory": {"trials": [{"involutions": True, "max_layer_error": 1e-15}] * 3,
                              "recovery": {"involutions": [True], "agrees_with_planted": True},
                              "equivariant_student": {"error": 1e-7, "layer_errors": [1e-6]}},
                   "attention": {"heads": {k: [{"median_error": e, "moved_heads": 4}] * 3
                                           for k, e in (("equivariant", 0.05), ("control", 0.6), ("init", 0.7))}}})
    assert all(r["margin"] and "rule_written" in r for r in rows), "every row says how far it is from flipping"


def cnn_results(passing: dict, n_layers=3):
    """Planted CNN page results: per activation, the passing layers (count) of each seed's loss network."""
    seeds = list(range(len(next(iter(passing.values())))))
    layer = lambda ok: {"passes": {"all": ok}, "e": 0.1, "e_init": 0.5, "e_updown": 0.4}
    cell = lambda n: {k: {"layers": [{"layer": i + 1, **layer(i < n if k == "loss" else False)}
                                     for i in range(n_layers)],
                          "test": {"test_accuracy": 0.35, "test_equivariance_error": 0.01 if k == "loss" else 0.1},
                          "merge": {"aligned": {"midpoint": 0.3}, "naive": {"midpoint": 0.2}}}
                      for k in ("loss", "augment", "control")}
    return {"protocol": {"activations": list(passing), "channels": [16] * n_layers, "seeds": seeds},
            "cells": {f"{a}|{s}": cell(n) for a, per in passing.items() for s, n in enumerate(per)}}


def test_one_layer_of_one_activation_is_not_enough_for_a_partly_cnn():
    from eqlib.pages.cnn import cnn_claim
    assert cnn_claim(cnn_results({"tanh": [1, 1, 1], "relu": [0, 1, 0]}))["verdict"] == "not reproduced", \
        "one layer of Tanh alone: not even partly"
    assert cnn_claim(cnn_results({"tanh": [2, 2, 1], "relu": [0, 0, 0]}))["verdict"] == "partly", "two layers of one"
    assert cnn_claim(cnn_results({"tanh": [1, 1, 0], "relu": [1, 0, 1]}))["verdict"] == "partly", "a layer of each"
    assert cnn_claim(cnn_results({"tanh": [3, 3, 2], "relu": [3, 2, 3]}))["verdict"] == "reproduced"


def test_the_rules_provenance_is_counted_from_the_rules():
    from eqlib.pages.report import rules_written
    from eqlib.rules import Rule, table as rule_table
    planted = rule_table([Rule("a", "x"), Rule("b", "y", written="after"), Rule("c", "z")])
    assert rules_written(planted) == ("2 of 3 were written before the numbers they judge were known, 1 after a build "
                                      "whose numbers they judge had been read (claims 2)")
    with pytest.raises(ValueError, match="written='later' is not allowed"):
        Rule("d", "w", written="later")
