"""The reproduction report: the paper's claims, our evidence for each, and a verdict computed by
stated rules from the results files of a build (nothing here is typed in but the claims, the
rules and the paper's own values in :mod:`eqlib.paper`).

:func:`claims` reads the results files (``{chapter: results dict}``) and returns one row per claim;
:data:`RULES` states each verdict rule in words, and the report page prints them above the table.
:func:`readme_block` renders the rows as the README's generated block.
"""
from __future__ import annotations

import numpy as np

from eqlib.analysis import OUTGOING_RESIDUAL, direct_negated_filters, pair_outgoing
from eqlib.metric import DEFAULT_READING, READING_SHORT
from eqlib.pages import cnn
from eqlib.pages.common import EQUIVARIANT_ENOUGH
from eqlib.pages.dihedral import dihedral_findings, end_to_end_ratios
from eqlib.study import (CONTRAST, NEGATED_MIN, TASKS, six_rows, verdict)
from eqlib.paper import TABLE_SOURCE
from eqlib.results import replace_generated
from eqlib.rules import Rule, table as rule_table
from eqlib.symmetry import MAX_RESIDUALS
from eqlib.tables import ACT_NAMES, KIND_NAMES, tested_readings
from eqlib.verdicts import WORDS, grade, majority, margin


VERDICTS = WORDS
PAPER = "Shahverdi, Marchetti, Bökman and Kohn (ICML 2026, arXiv:2601.21645)"
# The claims, numbered as the report lists them, each worded as its source words it (SOURCES names the
# source). The last row is ours: a mechanism the paper names, tested beyond what it claims.
CLAIMS = {
    "theorem": "Identifiable equivariant networks are layerwise equivariant (the theorem)",
    "tanh": "With a Tanh first layer, the first-layer filters are self-symmetric or come in mirrored and "
            "mirrored-negated pairs: a signed permutation under the mirror",
    "gelu": "GELU \"resulted in degenerate parameters, particularly in the autoencoder\": first-layer filters in "
            "negated copies (the paper's observation)",
    "bypass": "GELU degenerated \"as the network bypassed the nonlinearity to achieve equivariance without a permutation "
              "action\": the negated pairs are a linear bypass, their opposite outgoing weights making "
              "GELU(t) − GELU(−t) = t (the mechanism)",
    "table": "The table's values and orderings (Tanh below GELU, left-right below up-down), all six rows",
    "table_autoencoder": "The table's three autoencoder rows",
    "table_classifier": "The table's three classifier rows",
    "attention": "Attention heads mirror themselves or swap in pairs",
    "cnn": "Ours, beyond the paper: a CNN trained to be mirror invariant is layerwise equivariant, the mirror "
           "permuting each layer's channels (Bökman and Kahl's conjecture, tested on a small CNN)",
    "dihedral": "Ours, beyond the paper: in an MLP trained to be D4-equivariant, the first layer's fitted actions "
                "compose as the group does, P(g)P(h) = P(gh) (the theorem's homomorphism)",
    "augmentation": "Ours, beyond the paper: an MLP made mirror-equivariant by data augmentation instead of the loss is "
                    "layerwise equivariant alike (the theorem is about the function, not how it was trained)",
}
SHORT = {"theorem": "the theorem", "tanh": "Tanh's filters", "gelu": "GELU's negated copies", "table": "the paper's table",
         "table_autoencoder": "the table's autoencoder rows", "table_classifier": "the table's classifier rows",
         "attention": "attention heads", "bypass": "GELU's bypass mechanism", "cnn": "a CNN (ours)",
         "dihedral": "D4's homomorphism (ours)", "augmentation": "augmentation (ours)"}   # a claim in a page's header
SOURCES = {
    "theorem": f"{PAPER}, the main theorem",
    "tanh": f"{PAPER}, the CIFAR-10 MLP experiment's Tanh filters",
    "gelu": f"{PAPER}, the paper's own summary of its experiments (quoted)",
    "table": TABLE_SOURCE,
    "table_autoencoder": TABLE_SOURCE,
    "table_classifier": TABLE_SOURCE,
    "attention": f"{PAPER}, the attention-autoencoder experiment",
    "bypass": f"{PAPER}, the paper's own summary of its experiments (quoted): the mechanism it names, "
              "GELU(t) − GELU(−t) = t, read on the pairs' outgoing weights",
    "cnn": "ours: Bökman and Kahl (NeurIPS 2023), \"Investigating how ReLU-networks encode symmetries\", their "
           "conjecture for mirror-equivariant CNNs; the paper's theorem for an identifiable (Tanh) CNN",
    "dihedral": f"ours: {PAPER}, the theorem's homomorphism from the group into each layer's symmetry group, "
                "for a group larger than the mirror",
    "augmentation": f"ours: {PAPER}, the theorem's premise (an equivariant function), reached without the loss",
}
_TABLE_RULE = ("the protocol study's verdict function applied to the chapters' own runs (primary reading, 100,000 "
               "evaluation samples){scope}: its words are the report's")
# Each rule is a row: its thresholds and the sentence rendered from them (eqlib.verdicts.Rule); the claim
# functions below read the same thresholds.
RULES = rule_table([
    Rule("theorem", "reproduced if every executed check of the theory page holds (exact recovery of the planted "
                    "layerwise action in every trial, to a layer error below {layer_error:g}; a trained student "
                    "matching an equivariant teacher to below {student_error:g}, and layerwise equivariant under the "
                    "recovered action to below {student_layer_error:g}); not reproduced otherwise",
         {"layer_error": 1e-6, "student_error": 1e-5, "student_layer_error": 1e-4}),
    Rule("tanh", "reproduced if, in every seed of both Tanh configurations, at least {active_fraction:.0%} of the active "
                 "first-layer neurons are explained by a signed permutation (data metric) and more than in the "
                 "weight-0 control and at initialisation; partly if that holds in most seeds of each; not reproduced "
                 "otherwise", {"active_fraction": 0.5}),
    Rule("gelu", "read on the GELU autoencoder's first-layer filters in direct negated copies (pre_j ≈ −pre_i), per "
                 "seed: reproduced if, in most seeds, there are at least {negated_min}, more than in the Tanh "
                 "autoencoder of the same seed and more than at initialisation; partly if, in most seeds, there are at "
                 "least {negated_min} (but the comparisons fail); not reproduced otherwise", {"negated_min": NEGATED_MIN},
         written="after"),
    Rule("bypass", "reproduced if, in most GELU autoencoder seeds, at least one direct negated pair has opposite "
                   "outgoing weights (‖v_i + v_j‖ / max(‖v_i‖, ‖v_j‖) ≤ {residual:g}); partly if in some seed; not "
                   "reproduced otherwise", {"residual": OUTGOING_RESIDUAL}, written="after"),
    Rule("table", _TABLE_RULE.format(scope=", its six rows and both tasks' criteria (pre-registered)")),
    Rule("table_autoencoder", _TABLE_RULE.format(scope=" on the autoencoder's rows alone, its criteria scaled to "
                                                       "three rows"), written="after"),
    Rule("table_classifier", _TABLE_RULE.format(scope=" on the classifier's rows alone, its criteria scaled to three "
                                                      "rows, without the autoencoder's (f₂ and the negated copies)"),
         written="after"),
    Rule("attention", "reproduced if the head matching error is below both the weight-0 control's and the initial "
                      "model's in every seed; partly if in most seeds; not reproduced otherwise"),
    Rule("cnn", "on the invariance-loss networks of the convolutional page, counting per activation and seed the layers "
                "that meet the page's four criteria (fixed before its results): reproduced if, for Tanh and for ReLU, "
                "every layer does in most seeds; partly if, in most seeds, at least {partly_layers} layers do for some "
                "activation, or at least one layer does for every activation (one layer of one activation is not "
                "enough); not reproduced otherwise", {"partly_layers": 2}, written="after"),
    Rule("dihedral", "on the D4 page's networks: not testable unless the D4-loss network is equivariant enough in most "
                     "seeds (its end-to-end error over D4's elements at most {enough:.2g} of the weight-0 control's); "
                     "then reproduced if, in most seeds, the homomorphism defect of its fitted first-layer actions is "
                     "below each null's (the control, the network at initialisation, random filters of the same "
                     "norms); partly if below at least one null's in most seeds; not reproduced otherwise",
         {"enough": EQUIVARIANT_ENOUGH}, written="after"),
    Rule("augmentation", "on the augmentation page's Tanh networks, per task: not testable unless augmentation makes "
                         "them equivariant enough in most seeds of each task (end-to-end error at most {enough:.2g} of "
                         "the weight-0 control's); then reproduced if, in most seeds of each task, augmentation "
                         "explains at least {share:.0%} as many first-layer neurons as the equivariance loss; partly if "
                         "in one task; not reproduced otherwise", {"enough": EQUIVARIANT_ENOUGH, "share": 0.9},
         written="after"),
])
PAGES = {"cnn": "cnn", "dihedral": "dihedral", "augmentation": "augmentation", "theorem": "theory", "tanh": "mlp_tanh_autoencoder", "gelu": "mlp_gelu_autoencoder", "table": "mlp_summary",
         "table_autoencoder": "mlp_summary", "table_classifier": "mlp_summary", "attention": "attention",
         "bypass": "mlp_gelu_autoencoder"}
MLP = {("autoencoder", "tanh"): "mlp_tanh_autoencoder", ("autoencoder", "gelu"): "mlp_gelu_autoencoder",
       ("classifier", "tanh"): "mlp_tanh_classifier", ("classifier", "gelu"): "mlp_gelu_classifier"}


def _judged(judge, inputs: dict, integer=(), seeds=None, **kw) -> dict:
    """A claim's verdict, its margin (:func:`eqlib.verdicts.margin`: the smallest change of one input that flips it,
    and whether that lies within the seeds' spread) and the inputs it was judged on."""
    m = margin(inputs, judge, integer=integer, seeds=seeds, **kw)
    return {"verdict": m["word"], "margin": m["text"], "fragile": m["fragile"], "flip": m["flip"], "inputs": inputs}


def theorem_claim(theory: dict) -> dict:
    trials = theory["trials"]
    student = theory["equivariant_student"]
    r = RULES["theorem"]
    fixed = all(t["involutions"] for t in trials) and all(theory["recovery"]["involutions"]) and \
        theory["recovery"]["agrees_with_planted"]
    inputs = {"the largest layer error of a recovery trial": [t["max_layer_error"] for t in trials],
              "the student's error": [student["error"]],
              "the student's largest layer error": [max(student["layer_errors"])]}
    judge = lambda i: grade(fixed and all(e < r["layer_error"] for e in i["the largest layer error of a recovery trial"])
                            and i["the student's error"][0] < r["student_error"]
                            and i["the student's largest layer error"][0] < r["student_layer_error"], False)
    labels = {"the largest layer error of a recovery trial": [f"trial {k}" for k in range(len(trials))],
              "the student's error": ["the student"], "the student's largest layer error": ["the student"]}
    return {**_judged(judge, inputs, labels=labels),
            "evidence": f"exact recovery in {sum(t['involutions'] for t in trials)} of {len(trials)} random trials "
                        f"(largest layer error {max(t['max_layer_error'] for t in trials):.0e}); a student trained to "
                        f"an equivariant teacher matches it to {theory['equivariant_student']['error']:.0e}",
            "seeds": f"{len(trials)} trials"}


def tanh_claim(mlp: dict) -> dict:
    frac = RULES["tanh"]["active_fraction"]
    tasks = [t for (t, a) in mlp if a == "tanh"]
    ex = lambda task, kind: [a["explained"] for a in mlp[(task, "tanh")]["per_seed"][kind]]
    active = {t: [a["active"] for a in mlp[(t, "tanh")]["per_seed"]["equivariant"]] for t in tasks}
    name = lambda task, kind: f"neurons explained, Tanh {task}" + {"equivariant": "", "control": ", control",
                                                                    "init": ", at initialisation"}[kind]
    inputs = {name(t, k): ex(t, k) for t in tasks for k in ("equivariant", "control", "init")}

    def judge(i):
        per = [[e >= a * frac and e > c and e > z for e, a, c, z in zip(i[name(t, "equivariant")], active[t],
                                                                         i[name(t, "control")], i[name(t, "init")])]
               for t in tasks]
        return grade(all(all(p) for p in per), all(majority(p) for p in per))
    n = len(ex(tasks[0], "equivariant"))
    seeds = mlp[(tasks[0], "tanh")].get("seeds")
    return {**_judged(judge, inputs, integer=set(inputs), seeds=seeds),
            "evidence": "explained of 64 (equivariant / control / at initialisation): autoencoder "
                        f"{ex('autoencoder', 'equivariant')} / {ex('autoencoder', 'control')} / {ex('autoencoder', 'init')}, "
                        f"classifier {ex('classifier', 'equivariant')} / {ex('classifier', 'control')} / "
                        f"{ex('classifier', 'init')}",
            "seeds": f"{n} seeds per configuration"}


def direct_counts(mlp: dict, task: str, act: str, kind: str) -> list:
    """Filters in direct negated copies per seed of one configuration's ``kind`` of model."""
    return [direct_negated_filters(a) for a in mlp[(task, act)]["per_seed"][kind]]


def structure_counts(mlp: dict, task: str, act: str, kind: str, threshold=None) -> dict:
    """Per seed, the direct negated copies counted as filters, pairs and groups (and the largest group) at the labels'
    threshold (:func:`eqlib.analysis.negated_structure`); None for results made before it was computed."""
    key = str(MAX_RESIDUALS["data"] if threshold is None else threshold)
    per = [a.get("negated", {}).get("by_threshold", {}).get(key) for a in mlp[(task, act)]["per_seed"][kind]]
    if any(p is None for p in per):
        return None
    return {k: [p[k] for p in per] for k in ("filters", "pairs", "groups", "largest")}


def pairs_phrase(mlp: dict, task: str, act: str, kind="equivariant") -> str:
    """What one configuration's direct negated pairs compute, over its seeds, in words, against the null of random
    pairs of the same networks' outgoing weights where it was computed."""
    p = pair_outgoing(mlp[(task, act)]["per_seed"][kind])
    if not p["pairs"]:
        return f"{ACT_NAMES[act]} {task}: no direct pairs"
    nulls = [a.get("negated", {}).get("outgoing_null", {}) for a in mlp[(task, act)]["per_seed"][kind]]
    null = ""
    if all("median" in n for n in nulls):
        null = (f"; random pairs of the same networks' outgoing weights give {np.median([n['median'] for n in nulls]):.2g} "
                f"(5–95 %: {min(n['q05'] for n in nulls):.2g}–{max(n['q95'] for n in nulls):.2g})")
    unrelated = p["pairs"] - p["bypass"] - p["even"]
    return (f"{ACT_NAMES[act]} {task}: {p['bypass']} of {p['pairs']} pairs a bypass, {p['even']} even, {unrelated} "
            f"unrelated; median outgoing residual {p['median_outgoing']:.2g} (smallest {p['min_outgoing']:.2g}; a "
            f"bypass gives 0, equal weights 2){null}")


def gelu_sentence(mlp: dict) -> str:
    """The GELU picture in one computed sentence: the copies with the loss against without it, GELU against Tanh,
    and what the pairs compute."""
    g, c, t = (direct_counts(mlp, "autoencoder", a, k) for a, k in (("gelu", "equivariant"), ("gelu", "control"),
                                                                     ("tanh", "equivariant")))
    n = len(g)
    fewer = sum(x < y for x, y in zip(g, c))
    more = sum(x > y for x, y in zip(g, t))
    p = pair_outgoing(mlp[("autoencoder", "gelu")]["per_seed"]["equivariant"])
    return (f"The GELU autoencoder has filters in direct negated copies {g} with the equivariance loss and {c} without "
            f"it (its weight-0 control): fewer with the loss in {fewer} of {n} seeds, so the loss does not make them; "
            f"more than the Tanh autoencoder's {t} in {more} of {n} seeds; and of their {p['pairs']} pairs, "
            f"{p['bypass']} are a bypass and {p['even']} even")


def gelu_claim(mlp: dict, negated_min=None) -> dict:
    """:data:`RULES` ``["gelu"]``: the GELU autoencoder's direct negated copies against the Tanh autoencoder's
    and initialisation's, seed by seed; the copies as pairs and groups, the controls and the classifier beside it.
    ``negated_min`` defaults to the rule's threshold, read at the call."""
    negated_min = RULES["gelu"]["negated_min"] if negated_min is None else negated_min
    names = {("gelu", "equivariant"): "filters in direct negated copies, GELU autoencoder",
             ("tanh", "equivariant"): "filters in direct negated copies, Tanh autoencoder",
             ("gelu", "init"): "filters in direct negated copies, GELU autoencoder at initialisation"}
    inputs = {n: direct_counts(mlp, "autoencoder", a, k) for (a, k), n in names.items()}

    def judge(i):
        g, t, z = (i[names[k]] for k in names)
        enough = [x >= negated_min for x in g]
        return grade(majority([e and x > y and x > w for e, x, y, w in zip(enough, g, t, z)]), majority(enough))
    c = lambda task, act, kind: direct_counts(mlp, task, act, kind)
    structure = ""
    ge, te = (structure_counts(mlp, "autoencoder", a, "equivariant") for a in ("gelu", "tanh"))
    if ge and te:
        structure = (f"; as pairs / groups: GELU {ge['pairs']} / {ge['groups']} (largest group {ge['largest']}), "
                     f"Tanh {te['pairs']} / {te['groups']} (largest group {te['largest']})")
    return {**_judged(judge, inputs, integer=set(inputs), seeds=mlp[("autoencoder", "gelu")].get("seeds")),
            "evidence": f"filters in direct negated copies, GELU autoencoder {inputs[names[('gelu', 'equivariant')]]} "
                        f"against Tanh autoencoder {inputs[names[('tanh', 'equivariant')]]} and initialisation "
                        f"{inputs[names[('gelu', 'init')]]}{structure}; weight-0 controls: GELU "
                        f"{c('autoencoder', 'gelu', 'control')}, Tanh {c('autoencoder', 'tanh', 'control')}; GELU "
                        f"classifier {c('classifier', 'gelu', 'equivariant')} (control "
                        f"{c('classifier', 'gelu', 'control')}). {gelu_sentence(mlp)}",
            "seeds": f"{len(inputs[names[('gelu', 'equivariant')]])} seeds per configuration"}


def bypass_claim(mlp: dict) -> dict:
    """:data:`RULES` ``["bypass"]``: does any direct negated pair of the GELU autoencoder have opposite
    outgoing weights, seed by seed; what every pair computes (bypass, even unit or unrelated) against the null of
    random pairs of the same network's outgoing weights."""
    per = [pair_outgoing([a]) for a in mlp[("autoencoder", "gelu")]["per_seed"]["equivariant"]]
    name = "bypass pairs, GELU autoencoder"
    inputs = {name: [p["bypass"] for p in per]}
    judge = lambda i: grade(majority(c > 0 for c in i[name]), any(c > 0 for c in i[name]))
    return {**_judged(judge, inputs, integer={name}, seeds=mlp[("autoencoder", "gelu")].get("seeds")),
            "evidence": f"GELU autoencoder: bypass pairs {[p['bypass'] for p in per]}, even pairs "
                        f"{[p['even'] for p in per]}, of direct pairs {[p['pairs'] for p in per]} per seed; "
                        f"{pairs_phrase(mlp, 'autoencoder', 'gelu')}; weight 0: "
                        f"{pairs_phrase(mlp, 'autoencoder', 'gelu', 'control')}",
            "seeds": f"{len(per)} seeds"}


def table_claim(mlp: dict, reading=DEFAULT_READING, tasks=TASKS) -> dict:
    """The study's :func:`eqlib.study.verdict` on the chapters' runs, for ``tasks`` (both: the
    pre-registered verdict; one: that task's rows alone)."""
    table = six_rows(lambda t, a: mlp[(t, a)]["metric"], lambda t: mlp[(t, "gelu")]["per_seed"]["equivariant"],
                     tasks, reading)
    rows = table["rows"]
    v = verdict(table, tasks)
    failed = [k for k, ok in v["holds"].items() if not ok]
    row_name = lambda k, a: f"{k[0]} {k[1].replace('_', ' ')} {'left-right' if k[2] == 'mirror' else 'up-down'}, {ACT_NAMES[a]}"
    inputs = {row_name(k, a): list(vals) for k, per in rows.items() for a, vals in per.items()}
    inputs.update({f"GELU {t} filters in negated copies": list(n) for t, n in table["negated"].items()})
    keys = {row_name(k, a): (k, a) for k, per in rows.items() for a in per}

    def judge(i):
        t = {"rows": {k: {a: i[row_name(k, a)] for a in per} for k, per in rows.items()},
             "negated": {task: i[f"GELU {task} filters in negated copies"] for task in table["negated"]}}
        return verdict(t, tasks)["verdict"]
    integer = {n for n in inputs if n not in keys}
    seeds = mlp[(tasks[0], "tanh")].get("seeds")
    return {**_judged(judge, inputs, integer=integer, seeds=seeds),
            "evidence": f"primary reading: Tanh below GELU in {v['tanh_below_gelu']} of {v['pairs']} row pairs, "
                        f"{v['within']} of {v['values']} values within 2× of the paper's, left-right below up-down in "
                        f"{sum(v['lr_below_ud'].values())} of {len(v['lr_below_ud'])} models in every seed; "
                        f"criteria failed: {', '.join(failed) or 'none'}",
            "seeds": f"{len(rows[next(iter(rows))]['tanh'])} seeds per value"}


def attention_claim(att: dict) -> dict:
    h = att["heads"]
    names = {"equivariant": "head matching error, equivariant", "control": "head matching error, control",
             "init": "head matching error, at initialisation"}
    inputs = {n: [e["median_error"] for e in h[k]] for k, n in names.items()}

    def judge(i):
        below = [e < c and e < z for e, c, z in zip(*(i[names[k]] for k in ("equivariant", "control", "init")))]
        return grade(all(below), majority(below))
    below = [e["median_error"] < c["median_error"] and e["median_error"] < i["median_error"]
             for e, c, i in zip(h["equivariant"], h["control"], h["init"])]
    return {**_judged(judge, inputs, seeds=att.get("seeds")),
            "evidence": f"matching error below the control's and the initial model's in {sum(below)} of {len(below)} seeds "
                        f"(equivariant {[round(e['median_error'], 3) for e in h['equivariant']]}, control "
                        f"{[round(e['median_error'], 3) for e in h['control']]}, initialisation "
                        f"{[round(e['median_error'], 3) for e in h['init']]}); heads moved "
                        f"{[e['moved_heads'] for e in h['equivariant']]}",
            "seeds": f"{len(below)} seeds"}


def cnn_claim(res: dict) -> dict:
    """:data:`RULES` ``["cnn"]``: per activation and seed, the invariance-loss network's layers that meet the page's
    criteria (:func:`eqlib.pages.cnn.verdict`); one layer of one activation is not enough for *partly*."""
    v = cnn.verdict(res)
    n_layers, k = v["n_layers"], RULES["cnn"]["partly_layers"]
    name = lambda a: f"passing layers, {cnn.ACT_NAMES[a]}"
    inputs = {name(a): [len(p) for p in per] for a, per in v["passing"].items()}

    def judge(i):
        counts = list(i.values())
        every = all(majority(c == n_layers for c in per) for per in counts)
        partly = any(majority(c >= k for c in per) for per in counts) or all(majority(c >= 1 for c in per)
                                                                            for per in counts)
        return grade(every, partly)
    passing = "; ".join(f"{cnn.ACT_NAMES[a]} {[len(l) for l in per]} ({v['per_activation'][a]})"
                        for a, per in v["passing"].items())
    enough = cnn.findings(res)["enough"]
    return {**_judged(judge, inputs, integer=set(inputs), seeds=res["protocol"]["seeds"],
                      bounds={n: (0, n_layers) for n in inputs}),
            "evidence": f"passing layers of {n_layers} per seed: {passing}; every layer passes in {v['all_pass']} "
                        f"of {v['pairs']} activation–seed pairs (controls: {v['control_all_pass']}), at least one in "
                        f"{v['some_pass']} (controls: {v['control_some_pass']}); end-to-end invariant (at most "
                        f"{cnn.EQUIVARIANT_ENOUGH:.2g} of the control's error) in {sum(enough)} of {len(enough)} "
                        f"activation–seed pairs; {cnn.limits_sentence(res)}",
            "seeds": f"{len(res['protocol']['seeds'])} seeds per activation"}


def dihedral_claim(res: dict) -> dict:
    """:data:`RULES` ``["dihedral"]``, from the D4 page's results: its precondition, then its findings."""
    enough = RULES["dihedral"]["enough"]
    ratios = end_to_end_ratios(res)
    findings = dihedral_findings(res)
    below = {k: sum(v) for k, v in findings.items()}
    defects = ", ".join(f"{f['mean_defect']:.2f}" for f in res["fits"]["d4"])
    names = {"d4": "homomorphism defect, D4 loss", **{k: f"homomorphism defect, {KIND_NAMES[k]}" for k in findings}}
    inputs = {"end-to-end error over the control's": ratios,
              **{n: [f["mean_defect"] for f in res["fits"][k]] for k, n in names.items()}}

    def judge(i):
        if not majority(r <= enough for r in i["end-to-end error over the control's"]):
            return WORDS[3]
        per = [majority(a < b for a, b in zip(i[names["d4"]], i[names[k]])) for k in findings]
        return grade(all(per), any(per))
    return {**_judged(judge, inputs, seeds=res.get("seeds")),
            "evidence": f"end-to-end error of the D4-loss networks over D4's elements, as a fraction of the control's: "
                        f"{', '.join(f'{r:.2f}' for r in ratios)} (at most {enough:.2g} in {sum(r <= enough for r in ratios)} "
                        f"of {len(ratios)} seeds); homomorphism defect below the null's in "
                        + ", ".join(f"{n} of {len(findings[k])} seeds ({KIND_NAMES[k]})" for k, n in below.items())
                        + f"; mean defect per seed {defects}",
            "seeds": f"{len(ratios)} seeds"}


def augmentation_claim(res: dict) -> dict:
    """:data:`RULES` ``["augmentation"]``, from the augmentation page's results, per task."""
    rule = RULES["augmentation"]
    inputs, parts = {}, []
    for task, r in res["tasks"].items():
        t = r["test"]
        ratios = [a["test_equivariance_error"] / max(c["test_equivariance_error"], 1e-300)
                  for a, c in zip(t["augmentation"], t["control"])]
        aug = [a["explained"] for a in r["per_seed"]["augmentation"]]
        loss = [a["explained"] for a in r["per_seed"]["equivariant"]]
        inputs.update({f"{task}: augmentation's end-to-end error over the control's": ratios,
                       f"{task}: neurons explained, augmentation": aug, f"{task}: neurons explained, the loss": loss})
        parts.append(f"{task}: end-to-end error {', '.join(f'{x:.2f}' for x in ratios)} of the control's; explained "
                     f"first-layer neurons, augmentation {aug} against the loss's {loss}")
    tasks = list(res["tasks"])

    def judge(i):
        enough = {t: majority(x <= rule["enough"] for x in i[f"{t}: augmentation's end-to-end error over the control's"])
                  for t in tasks}
        ok = {t: majority(a >= rule["share"] * b for a, b in zip(i[f"{t}: neurons explained, augmentation"],
                                                                 i[f"{t}: neurons explained, the loss"])) for t in tasks}
        return WORDS[3] if not all(enough.values()) else grade(all(ok.values()), any(ok.values()))
    integer = {n for n in inputs if "explained" in n}
    return {**_judged(judge, inputs, integer=integer, seeds=res.get("seeds")), "evidence": "; ".join(parts),
            "seeds": f"{len(res['seeds'])} seeds per task"}


def claims(results: dict) -> list:
    """One row per claim of :data:`CLAIMS`: its text, our evidence, the seeds, the page that computes it,
    the rule (and when it was written), the verdict and its margin. ``results`` maps chapter names (``book/build.py``'s)
    to results dicts."""
    mlp = {k: {**results[c], "seeds": results[c].get("seeds")} for k, c in MLP.items()}
    rows = {"theorem": theorem_claim(results["theory"]), "tanh": tanh_claim(mlp), "gelu": gelu_claim(mlp),
            "bypass": bypass_claim(mlp), "table": table_claim(mlp), "table_autoencoder": table_claim(mlp, tasks=("autoencoder",)),
            "table_classifier": table_claim(mlp, tasks=("classifier",)), "attention": attention_claim(results["attention"])}
    beyond = {"cnn": cnn_claim, "dihedral": dihedral_claim, "augmentation": augmentation_claim}
    rows.update({k: f(results[k]) for k, f in beyond.items() if k in results})   # an older build may lack a page
    return [{"key": k, "claim": CLAIMS[k], **rows[k], "page": PAGES[k], "rule": RULES[k].sentence,
             "rule_written": RULES[k].written, "source": SOURCES[k]}
            for k in CLAIMS if k in rows]


def evidence_table(rows: list) -> tuple:
    """The report's table of results: each claim's evidence, seeds, page, verdict (marked *fragile* where a change
    within the seeds' spread flips it) and margin."""
    return (["#", "claim", "our evidence", "seeds", "page", "verdict", "margin: the smallest change that flips it"],
            [[i, r["claim"], r["evidence"], r["seeds"], f"{{doc}}`{r['page']}`",
              f"**{r['verdict']}**" + (" (*fragile*)" if r.get("fragile") else ""), r.get("margin", "—")]
             for i, r in enumerate(rows, 1)])


def rules_written(rules=None) -> str:
    """When the rules were written, counted from the rules themselves (:attr:`eqlib.rules.Rule.written`)."""
    rules = RULES if rules is None else rules
    after = [str(list(rules).index(k) + 1) for k, r in rules.items() if r.written == "after"]
    out = f"{len(rules) - len(after)} of {len(rules)} were written before the numbers they judge were known"
    if after:
        out += f", {len(after)} after a build whose numbers they judge had been read (claims {', '.join(after)})"
    return out


# --------------------------------------------------------------------------- deviations and compute
def deviations(results: dict) -> list:
    """``(choice, our value)`` for every protocol choice that is ours, read from the configs the pages recorded."""
    mc = results["mlp_tanh_autoencoder"]["config"]["model"]
    tc = results["mlp_tanh_autoencoder"]["config"]["train"]
    ac = results["attention"]["config"]
    data = results["mlp_tanh_autoencoder"]["provenance"]["data"]["description"]
    return [("hidden widths after the first layer", ", ".join(map(str, mc["widths"][2:-1]))),
            ("first-layer initialisation", f"PyTorch's default times {mc['init_scales'][0]:g}"),
            ("optimiser", f"{tc['optimizer']}, learning rate {tc['lr']:g}, batch {tc['batch_size']}, weight decay "
                          f"{tc['weight_decay']:g}"),
            ("training length", f"{tc['epochs']} epochs, the loss on from epoch {round(tc['equivariance_start'] * tc['epochs'])}"),
            ("equivariance loss weight", f"{tc['equivariance_weight']:g}, switched on as a {tc['equivariance_schedule']}"),
            ("classifier's equivariance loss", "on the logits"),
            ("noise of the metric", "Gaussian with the training images' mean and covariance (primary); standard "
                                    "Gaussian, uniform pixels and real images beside it"),
            ("metric samples", "; ".join(f"{READING_SHORT[r]}: {n['fit']:,} to fit, {n['eval']:,} to evaluate"
                                         for r, n in results["mlp_tanh_autoencoder"]["metric_samples"].items())),
            ("labels", f"data-metric residual at most {MAX_RESIDUALS['data']:g} over training images"),
            ("attention model", f"patch {ac['model']['patch']}, dimension {ac['model']['dim']}, {ac['model']['heads']} heads, "
                                f"{ac['train']['epochs']} epochs"),
            ("seeds", ", ".join(map(str, results["mlp_tanh_autoencoder"]["seeds"]))),
            ("data", data)]


PARTS = {"the paper's chapters": ("theory", "mlp_tanh_autoencoder", "mlp_gelu_autoencoder", "mlp_tanh_classifier",
                                  "mlp_gelu_classifier", "protocol_study", "mlp_summary", "attention")}


def compute(results: dict) -> dict:
    """The machine and the pages' own run times (their results files' provenance), in all and per part."""
    secs = {c: r.get("provenance", {}).get("run_seconds", 0.0) for c, r in results.items()}
    paper = sum(secs.get(c, 0.0) for c in PARTS["the paper's chapters"])
    return {"machine": next(iter(results.values()))["provenance"]["machine"], "total_s": sum(secs.values()),
            "per_part_s": {"the paper's chapters": paper, "beyond the paper": sum(secs.values()) - paper},
            "per_page_s": secs}


# --------------------------------------------------------------------------- the README block
START, END = "<!-- generated:claims (book/build.py writes this block) -->", "<!-- /generated:claims -->"


OURS = ("cnn", "dihedral", "augmentation")    # our predictions beyond the paper's claims


def _listing(rows, numbered=True) -> str:
    items = [f"{SHORT[r['key']]} ({r['number']})" if numbered else SHORT[r["key"]] for r in rows]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def findings(rows: list, study: str | None = None) -> list:
    """What was found, in three to five sentences computed from the report's rows (each with its number in the
    report, ``r["number"]``): the paper's claims by verdict, ours beyond it, and the protocol study's answer."""
    rows = [{**r, "number": r.get("number", i)} for i, r in enumerate(rows, 1)]
    paper = [r for r in rows if r["key"] not in OURS]
    ours = [r for r in rows if r["key"] in OURS]
    out = []
    for word, lead in ((WORDS[0], "Reproduced"), (WORDS[1], "Partly reproduced"), (WORDS[2], "Not reproduced"),
                       (WORDS[3], "Not testable here")):
        these = [r for r in paper if r["verdict"] == word]
        if these:
            fragile = [r for r in these if r.get("fragile")]
            note = f" ({_listing(fragile, False)}: fragile, within the seeds' spread of flipping)" if fragile else ""
            out.append(f"{lead}: {_listing(these)}{note}.")
    if ours:
        out.append("Our own predictions beyond the paper: " + "; ".join(
            f"{SHORT[r['key']].replace(' (ours)', '')} {r['verdict']} ({r['number']})" for r in ours) + ".")
    if study:
        out.append(f"The protocol study, which varies each of our choices alone by criteria fixed in advance: {study}.")
    return out


def readme_block(rows: list, date: str, machine: str, commit: str, study: str | None = None,
                 contrast: str | None = None, stage2: str | None = None) -> str:
    """The README's generated block: what was found in a few computed sentences, where and when it was measured
    and where the paper's table comes from, the verdicts claim by claim (the evidence is on the report page), and
    where the autoencoder's contrast appears."""
    lines = [START, " ".join(findings(rows, study)), "",
             f"From the full build of {date}, commit `{commit}`, on {machine}. The paper's table is quoted from a "
             f"secondary summary (`eqlib.paper.TABLE_SOURCE`). Evidence and rules: the reproduction report "
             f"(`book/generated/report`, the book's first page).", "",
             "| # | the paper's claim | verdict | margin |", "|---|---|---|---|"]
    lines += [f"| {i} | {r['claim']} | **{r['verdict']}**{' (fragile)' if r.get('fragile') else ''} | "
              f"{r.get('margin', '—')} |" for i, r in enumerate(rows, 1)]
    if contrast:
        lines += ["", f"Exploratory, computed after the pre-registered verdict: {CONTRAST} appears {contrast}."]
    if stage2:
        lines += ["", f"**Stage 2** (one combined setting, chosen by a rule fixed before its run): {stage2}."]
    return "\n".join(lines + [END])


def replace_block(text: str, block: str) -> str:
    """``text`` with its generated claims block replaced by ``block`` (which must carry the markers);
    :func:`eqlib.report.replace_generated` does the work."""
    if not (block.startswith(START + "\n") and block.endswith("\n" + END)):
        raise ValueError("the claims block must begin and end with its markers")
    return replace_generated(text, "claims", block[len(START) + 1:-len(END) - 1])


def report_texts(results: dict) -> dict:
    """The report's glued phrases that depend on the build: the seeds, the readings at their floor for
    the Tanh autoencoder, and the protocol study's answer."""
    ae = results["mlp_tanh_autoencoder"]
    return {"n_seeds": str(len(ae["seeds"])), "floor_readings": tested_readings(ae["metric"])["at_floor"],
            "tested_readings": tested_readings(ae["metric"])["tested"],
            "study": results["protocol_study"].get("overall", "the protocol study has no verdict in this build"),
            "contrast": results["protocol_study"].get("contrast", "(not computed in this build)"),
            "stage2": results["protocol_study"].get("stage2_text", "(not run in this build)")}


def negated_pairs_table(mlp: dict) -> tuple:
    """What the direct negated pairs compute, per configuration and model kind, over all seeds
    (:func:`eqlib.analysis.pair_outgoing`): the pairs, the bypasses (opposite outgoing weights) and even
    units (equal ones) among them, and the outgoing residual's quartiles (0: a bypass, 2: equal weights).
    ``mlp[(task, activation)]`` is an MLP chapter's results."""
    rows = []
    for (task, act), r in mlp.items():
        for kind, analyses in r["per_seed"].items():
            p = pair_outgoing(analyses)
            q = np.quantile(p["outgoing_residuals"], [0, 0.25, 0.5, 0.75, 1]) if p["pairs"] else [float("nan")] * 5
            rows.append([f"{ACT_NAMES.get(act, act)} {task}", KIND_NAMES[kind], [direct_negated_filters(a) for a in analyses],
                         p["pairs"], p["bypass"], p["even"], " / ".join(f"{x:.2f}" for x in q)])
    return ["configuration", "model", "filters in direct copies, per seed", "pairs, all seeds", "bypass", "even",
            "outgoing residual: min / q1 / median / q3 / max"], rows
