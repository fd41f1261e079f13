"""Verdicts as data: each rule's sentence names the numbers its check reads, and moving a threshold
across a planted value moves the verdict (so the page's sentence and the code's test are one)."""
from dataclasses import replace

import pytest

from eqlib import study as protocol_study
from eqlib.pages import mlp_filters, report
from eqlib.paper import PAPER_TABLE
from eqlib.rules import Rule, table
from eqlib.verdicts import WORDS, grade, majority, verb


def test_majority_is_more_than_half_and_grade_orders_the_words():
    assert majority([1, 1, 0]) and not majority([1, 0]) and not majority([]) and majority([True])
    assert [grade(True, True), grade(False, True), grade(False, False)] == list(WORDS[:3])
    assert verb("partly", plural=True) == "partly reproduce" and verb("not reproduced") == "does not reproduce"
    with pytest.raises(ValueError, match=r"verdict 'reproduces' is not allowed; allowed: 'reproduced'"):
        verb("reproduces")


def test_a_rule_must_state_every_threshold_and_only_those():
    r = Rule("k", "at least {n} of {m}", {"n": 3, "m": 4})
    assert r.sentence == "at least 3 of 4" and r["n"] == 3
    with pytest.raises(ValueError, match=r"rule 'k': its sentence names \['n'\] but its thresholds are \['m', 'n'\]"):
        Rule("k", "at least {n}", {"n": 3, "m": 4})
    with pytest.raises(ValueError, match="each threshold must be stated"):
        Rule("k", "at least {n}")
    with pytest.raises(ValueError, match="rule key 'k' appears twice"):
        table([r, r])


def planted(spread=0.1):
    """The paper's own table over three seeds (±``spread``), eight GELU filters in negated copies per seed."""
    rows = {k: {a: [p[a] * f for f in (1 - spread, 1.0, 1 + spread)] for a in ("tanh", "gelu")}
            for k, p in PAPER_TABLE.items()}
    return {"rows": rows, "negated": {"autoencoder": [8, 8, 8], "classifier": [8, 8, 8]}}


@pytest.mark.parametrize("tasks", [("autoencoder", "classifier"), ("autoencoder",), ("classifier",)])
@pytest.mark.parametrize("key, name", [("tanh_below_gelu", "min"), ("magnitudes", "min"), ("negated", "min"),
                                       ("gelu_f2_half", "fraction")])
def test_each_study_criterion_is_decided_by_the_threshold_its_sentence_states(tasks, key, name):
    rules = protocol_study.criteria(tasks)
    if key not in {r.key for r in rules}:
        pytest.skip(f"{key} is not a criterion of {tasks}")
    t, v = planted(), protocol_study.verdict(planted(), tasks)
    # the planted value, and thresholds just on either side of it ("at least" for counts, "below" for f₂)
    value = {"tanh_below_gelu": v["tanh_below_gelu"], "magnitudes": v["within"], "negated": 8,
             "gelu_f2_half": v["gelu_f2_over_f1"]}[key]
    sides = ((value * 1.01, True), (value, False)) if key == "gelu_f2_half" else ((value, True), (value + 1, False))
    sentences = []
    for at, holds in sides:
        moved = tuple(replace(r, thresholds={**r.thresholds, name: at}) if r.key == key else r for r in rules)
        rule = next(r for r in moved if r.key == key)
        sentences.append(rule.sentence)
        assert protocol_study.verdict(t, tasks, moved)["holds"][key] is holds, f"{key} at {name}={at}: {rule.sentence}"
    assert sentences[0] != sentences[1], f"the page's sentence moves with the threshold: {sentences}"


def test_the_verdict_refuses_rows_or_rules_of_other_tasks():
    t = planted()
    with pytest.raises(ValueError, match=r"the criteria of \['classifier'\] are"):
        protocol_study.verdict(t, ("classifier",), protocol_study.CRITERIA)
    del t["rows"][("autoencoder", "first_two_layers", "mirror")]
    with pytest.raises(ValueError, match="the verdict reads the paper's rows"):
        protocol_study.verdict(t)
    from eqlib.pages.protocol_study import criteria_text
    assert criteria_text(("classifier",)).count("; ") == len(protocol_study.criteria(("classifier",))) - 1
    assert "0.5 times GELU f₁" in protocol_study.CRITERIA[3].sentence and "at least 5 of the 6" in protocol_study.CRITERIA[0].sentence


def tanh_mlp(explained, active=64):
    """Planted MLP chapters for the Tanh rule: ``explained`` first-layer neurons per seed (equivariant),
    none for the control and at initialisation."""
    per = lambda ex: [{"explained": e, "active": active} for e in ex]
    return {(t, a): {"per_seed": {"equivariant": per(explained), "control": per([0] * len(explained)),
                                  "init": per([0] * len(explained))}}
            for t in ("autoencoder", "classifier") for a in ("tanh", "gelu")}


def test_the_tanh_rule_reads_the_share_of_active_neurons_it_states():
    share = report.RULES["tanh"]["active_fraction"]
    half = int(64 * share)
    assert f"at least {share:.0%} of the active" in report.RULES["tanh"].sentence
    assert mlp_filters.tanh_claim(tanh_mlp([half] * 3))["verdict"] == "reproduced", "exactly the stated share"
    assert mlp_filters.tanh_claim(tanh_mlp([half, half, half - 1]))["verdict"] == "partly", "one seed below it"
    assert mlp_filters.tanh_claim(tanh_mlp([half - 1] * 3))["verdict"] == "not reproduced"


def gelu_mlp(gelu, tanh=(0, 0, 0), init=(0, 0, 0)):
    """Planted MLP chapters for the GELU rule: filters in direct negated copies per seed of the GELU and Tanh
    autoencoders (equivariant) and of the GELU network at initialisation."""
    def per(counts):
        return [{"negated_copies": [{"i": 2 * k, "j": 2 * k + 1, "kinds": ["direct"], "outgoing_residual": 1.2,
                                     "bypass": False, "even_residual": 1.2, "even": False} for k in range(n // 2)]}
                for n in counts]
    out = {(t, a): {"per_seed": {"equivariant": per((0, 0, 0)), "control": per((0, 0, 0)), "init": per((0, 0, 0))}}
           for t in ("autoencoder", "classifier") for a in ("tanh", "gelu")}
    out[("autoencoder", "gelu")]["per_seed"].update(equivariant=per(gelu), init=per(init))
    out[("autoencoder", "tanh")]["per_seed"]["equivariant"] = per(tanh)
    return out


def test_the_report_rules_state_the_thresholds_their_claims_read():
    k = report.RULES["gelu"]["negated_min"]
    assert f"at least {k}," in report.RULES["gelu"].sentence
    even = k + k % 2                  # filters come in pairs: the smallest count at or above the threshold
    assert mlp_filters.gelu_claim(gelu_mlp((even,) * 3))["verdict"] == "reproduced"
    assert mlp_filters.gelu_claim(gelu_mlp((even - 2,) * 3))["verdict"] == "not reproduced", "below the threshold"
    assert mlp_filters.gelu_claim(gelu_mlp((even,) * 3), negated_min=even + 1)["verdict"] == "not reproduced"
    r = report.RULES["theorem"]
    assert all(f"{v:g}" in r.sentence for v in r.thresholds.values())
    assert set(report.RULES) == set(report.CLAIMS), "a rule row for every claim"


# --------------------------------------------------------------------------- margins
from eqlib.verdicts import margin  # noqa: E402


def counts_rule(inp):
    wins = [g > t for g, t in zip(inp["GELU copies"], inp["Tanh copies"])]
    return grade(all(wins), majority(wins))


def test_a_verdict_one_copy_from_flipping_is_fragile_and_says_which_seed_and_how():
    m = margin({"GELU copies": [38, 37, 27], "Tanh copies": [28, 26, 26]}, counts_rule,
               integer={"GELU copies", "Tanh copies"}, seeds=[0, 1, 2])
    assert m["word"] == "reproduced" and m["fragile"]
    assert m["flip"]["name"] == "GELU copies" and m["flip"]["index"] == 2 and m["flip"]["change"] == -1
    assert m["text"] == ("flips to partly if GELU copies, seed 2, were 1 fewer (27 → 26); seed-to-seed sd 6.08: "
                         "fragile")
    assert counts_rule({"GELU copies": [38, 37, 26], "Tanh copies": [28, 26, 26]}) == m["flip"]["to_word"], \
        "the stated change does flip it"


def test_a_verdict_far_from_flipping_is_not_fragile():
    m = margin({"GELU copies": [60, 61, 59], "Tanh copies": [10, 11, 12]}, counts_rule,
               integer={"GELU copies", "Tanh copies"})
    assert m["word"] == "reproduced" and not m["fragile"] and abs(m["flip"]["change"]) >= 47


def test_a_float_threshold_is_found_by_bisection_both_ways():
    rule = lambda inp: "reproduced" if all(e < 1e-6 for e in inp["error"]) else "not reproduced"
    m = margin({"error": [1e-15, 2e-15, 4e-15]}, rule)
    assert m["word"] == "reproduced" and not m["fragile"]
    assert m["flip"]["to"] == pytest.approx(1e-6, rel=1e-6) and m["flip"]["index"] == 2, "the largest error, to 1e-6"
    below = margin({"ratio": [0.30, 0.36, 0.5]}, lambda i: "partly" if sum(r <= 1 / 3 for r in i["ratio"]) >= 2
                   else "not testable")
    assert below["word"] == "not testable" and below["flip"]["index"] == 1
    assert below["flip"]["to"] == pytest.approx(1 / 3, rel=1e-6) and below["fragile"], "0.36 → 1/3 is within the sd"


def test_a_verdict_no_input_can_flip_says_so():
    m = margin({"x": [1, 2, 3]}, lambda i: "reproduced", integer={"x"})
    assert m["flip"] is None and not m["fragile"] and m["text"] == "no change of one or two inputs flips it"


def test_a_verdict_that_needs_two_seeds_to_turn_says_which_two_and_whether_that_is_within_the_spread():
    rule = lambda i: grade(False, majority(g > t for g, t in zip(i["GELU copies"], i["Tanh copies"])))
    m = margin({"GELU copies": [38, 37, 27], "Tanh copies": [28, 26, 26]}, rule,
               integer={"GELU copies", "Tanh copies"}, seeds=[0, 1, 2])
    assert m["word"] == "partly" and m["flip"]["to_word"] == "not reproduced"
    changed = {(n, i) for n, i, _, _ in m["flip"]["changes"]}
    assert changed == {("GELU copies", 2), ("GELU copies", 0)}, "seed 2's one copy and seed 0's ten: the cheapest"
    assert m["text"].startswith("no single input's change flips it; it flips to not reproduced if") and not m["fragile"]
    assert margin({"x": [1, 2, 3]}, lambda i: "reproduced", integer={"x"})["text"] == \
        "no change of one or two inputs flips it"
