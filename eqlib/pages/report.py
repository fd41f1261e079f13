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
from eqlib.pages.protocol_study import CONTRAST, NEGATED_MIN, TASKS, six_rows, verdict
from eqlib.paper import TABLE_SOURCE
from eqlib.results import replace_generated
from eqlib.rules import Rule, table as rule_table
from eqlib.symmetry import MAX_RESIDUALS
from eqlib.tables import ACT_NAMES, KIND_NAMES, tested_readings
from eqlib.verdicts import WORDS, grade, majority


VERDICTS = WORDS
PAPER = "Shahverdi, Marchetti, Bökman and Kohn (ICML 2026, arXiv:2601.21645)"
# The claims, numbered as the report lists them, each worded as its source words it (SOURCES names the
# source). The last row is ours: a mechanism the paper names, tested beyond what it claims.
CLAIMS = {
    "theorem": "Identifiable equivariant networks are layerwise equivariant (the theorem)",
    "tanh": "With a Tanh first layer, the first-layer filters are self-symmetric or come in mirrored and "
            "mirrored-negated pairs: a signed permutation under the mirror",
    "gelu": "GELU \"resulted in degenerate parameters, particularly in the autoencoder, as the network bypassed the "
            "nonlinearity to achieve equivariance without a permutation action\": first-layer filters in negated copies",
    "table": "The table's values and orderings (Tanh below GELU, left-right below up-down), all six rows",
    "table_autoencoder": "The table's three autoencoder rows",
    "table_classifier": "The table's three classifier rows",
    "attention": "Attention heads mirror themselves or swap in pairs",
    "bypass": "Ours, beyond the paper's claim: the negated pairs are a linear bypass, their opposite outgoing weights "
              "making GELU(t) − GELU(−t) = t",
    "cnn": "Ours, beyond the paper: a CNN trained to be mirror invariant is layerwise equivariant, the mirror "
           "permuting each layer's channels (Bökman and Kahl's conjecture, tested on a small CNN)",
    "dihedral": "Ours, beyond the paper: in an MLP trained to be D4-equivariant, the first layer's fitted actions "
                "compose as the group does, P(g)P(h) = P(gh) (the theorem's homomorphism)",
    "augmentation": "Ours, beyond the paper: an MLP made mirror-equivariant by data augmentation instead of the loss is "
                    "layerwise equivariant alike (the theorem is about the function, not how it was trained)",
}
SHORT = {"theorem": "the theorem", "tanh": "Tanh's filters", "gelu": "GELU's negated copies", "table": "the paper's table",
         "table_autoencoder": "the table's autoencoder rows", "table_classifier": "the table's classifier rows",
         "attention": "attention heads", "bypass": "the GELU bypass (ours)", "cnn": "a CNN (ours)",
         "dihedral": "D4's homomorphism (ours)", "augmentation": "augmentation (ours)"}   # a claim in a page's header
SOURCES = {
    "theorem": f"{PAPER}, the main theorem",
    "tanh": f"{PAPER}, the CIFAR-10 MLP experiment's Tanh filters",
    "gelu": f"{PAPER}, the paper's own summary of its experiments (quoted)",
    "table": TABLE_SOURCE,
    "table_autoencoder": TABLE_SOURCE,
    "table_classifier": TABLE_SOURCE,
    "attention": f"{PAPER}, the attention-autoencoder experiment",
    "bypass": "ours: the mechanism the paper names (GELU(t) − GELU(−t) = t), tested on the pairs' outgoing weights",
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
                 "least {negated_min} (but the comparisons fail); not reproduced otherwise", {"negated_min": NEGATED_MIN}),
    Rule("table", _TABLE_RULE.format(scope=", its six rows and both tasks' criteria (pre-registered)")),
    Rule("table_autoencoder", _TABLE_RULE.format(scope=" on the autoencoder's rows alone, its criteria scaled to "
                                                       "three rows")),
    Rule("table_classifier", _TABLE_RULE.format(scope=" on the classifier's rows alone, its criteria scaled to three "
                                                      "rows, without the autoencoder's (f₂ and the negated copies)")),
    Rule("attention", "reproduced if the head matching error is below both the weight-0 control's and the initial "
                      "model's in every seed; partly if in most seeds; not reproduced otherwise"),
    Rule("bypass", "reproduced if, in most GELU autoencoder seeds, at least one direct negated pair has opposite "
                   "outgoing weights (‖v_i + v_j‖ / max(‖v_i‖, ‖v_j‖) ≤ {residual:g}); partly if in some seed; not "
                   "reproduced otherwise", {"residual": OUTGOING_RESIDUAL}),
    Rule("dihedral", "on the D4 page's networks: not testable unless the D4-loss network is equivariant enough in most "
                     "seeds (its end-to-end error over D4's elements at most {enough:.2g} of the weight-0 control's); "
                     "then reproduced if, in most seeds, the homomorphism defect of its fitted first-layer actions is "
                     "below each null's (the control, the network at initialisation, random filters of the same "
                     "norms); partly if below at least one null's in most seeds; not reproduced otherwise",
         {"enough": EQUIVARIANT_ENOUGH}),
    Rule("augmentation", "on the augmentation page's Tanh networks, per task: not testable unless augmentation makes "
                         "them equivariant enough in most seeds of each task (end-to-end error at most {enough:.2g} of "
                         "the weight-0 control's); then reproduced if, in most seeds of each task, augmentation "
                         "explains at least {share:.0%} as many first-layer neurons as the equivariance loss; partly if "
                         "in one task; not reproduced otherwise", {"enough": EQUIVARIANT_ENOUGH, "share": 0.9}),
    Rule("cnn", "on the invariance-loss networks of the convolutional page, per activation over seeds: reproduced if, "
                "for Tanh and for ReLU, every layer meets the page's four criteria (fixed before its results) in most "
                "seeds; partly if, for at least one of them, at least one layer does in most seeds; not reproduced "
                "otherwise"),
])
PAGES = {"cnn": "cnn", "dihedral": "dihedral", "augmentation": "augmentation", "theorem": "theory", "tanh": "mlp_tanh_autoencoder", "gelu": "mlp_gelu_autoencoder", "table": "mlp_summary",
         "table_autoencoder": "mlp_summary", "table_classifier": "mlp_summary", "attention": "attention",
         "bypass": "mlp_gelu_autoencoder"}
MLP = {("autoencoder", "tanh"): "mlp_tanh_autoencoder", ("autoencoder", "gelu"): "mlp_gelu_autoencoder",
       ("classifier", "tanh"): "mlp_tanh_classifier", ("classifier", "gelu"): "mlp_gelu_classifier"}


def theorem_claim(theory: dict) -> dict:
    trials = theory["trials"]
    student = theory["equivariant_student"]
    r = RULES["theorem"]
    ok = (all(t["involutions"] and t["max_layer_error"] < r["layer_error"] for t in trials)
          and all(theory["recovery"]["involutions"]) and theory["recovery"]["agrees_with_planted"]
          and student["error"] < r["student_error"] and max(student["layer_errors"]) < r["student_layer_error"])
    return {"verdict": grade(ok, False),
            "evidence": f"exact recovery in {sum(t['involutions'] for t in trials)} of {len(trials)} random trials "
                        f"(largest layer error {max(t['max_layer_error'] for t in trials):.0e}); a student trained to "
                        f"an equivariant teacher matches it to {theory['equivariant_student']['error']:.0e}",
            "seeds": f"{len(trials)} trials"}


def tanh_claim(mlp: dict) -> dict:
    per = []
    for (task, act), r in mlp.items():
        if act != "tanh":
            continue
        ps = r["per_seed"]
        per.append([e["explained"] >= e["active"] * RULES["tanh"]["active_fraction"] and e["explained"] > c["explained"] and e["explained"] > i["explained"]
                    for e, c, i in zip(ps["equivariant"], ps["control"], ps["init"])])
        n = len(ps["equivariant"])
    ex = lambda task, kind: [a["explained"] for a in mlp[(task, "tanh")]["per_seed"][kind]]
    return {"verdict": grade(all(all(p) for p in per), all(majority(p) for p in per)),
            "evidence": "explained of 64 (equivariant / control / at initialisation): autoencoder "
                        f"{ex('autoencoder', 'equivariant')} / {ex('autoencoder', 'control')} / {ex('autoencoder', 'init')}, "
                        f"classifier {ex('classifier', 'equivariant')} / {ex('classifier', 'control')} / "
                        f"{ex('classifier', 'init')}",
            "seeds": f"{n} seeds per configuration"}


def direct_counts(mlp: dict, task: str, act: str, kind: str) -> list:
    """Filters in direct negated copies per seed of one configuration's ``kind`` of model."""
    return [direct_negated_filters(a) for a in mlp[(task, act)]["per_seed"][kind]]


def pairs_phrase(mlp: dict, task: str, act: str, kind="equivariant") -> str:
    """What one configuration's direct negated pairs compute, over its seeds, in words."""
    p = pair_outgoing(mlp[(task, act)]["per_seed"][kind])
    if not p["pairs"]:
        return f"{ACT_NAMES[act]} {task}: no direct pairs"
    return (f"{ACT_NAMES[act]} {task}: {p['bypass']} of {p['pairs']} pairs a bypass, {p['even']} even, median outgoing "
            f"residual {p['median_outgoing']:.2g} (smallest {p['min_outgoing']:.2g}; a bypass gives 0, equal weights 2)")


def gelu_claim(mlp: dict, negated_min=None) -> dict:
    """:data:`RULES` ``["gelu"]``: the GELU autoencoder's direct negated copies against the Tanh autoencoder's
    and initialisation's, seed by seed; the controls, the classifier and what the pairs compute beside it.
    ``negated_min`` defaults to the rule's threshold, read at the call."""
    negated_min = RULES["gelu"]["negated_min"] if negated_min is None else negated_min
    g, t, i = (direct_counts(mlp, "autoencoder", a, k) for a, k in (("gelu", "equivariant"), ("tanh", "equivariant"),
                                                                     ("gelu", "init")))
    enough = [x >= negated_min for x in g]
    full = [e and x > y and x > z for e, x, y, z in zip(enough, g, t, i)]
    verdict_ = grade(majority(full), majority(enough))
    c = lambda task, act, kind: direct_counts(mlp, task, act, kind)
    return {"verdict": verdict_,
            "evidence": f"filters in direct negated copies, GELU autoencoder {g} against Tanh autoencoder {t} and "
                        f"initialisation {i}; weight-0 controls: GELU {c('autoencoder', 'gelu', 'control')}, Tanh "
                        f"{c('autoencoder', 'tanh', 'control')}; GELU classifier {c('classifier', 'gelu', 'equivariant')} "
                        f"(control {c('classifier', 'gelu', 'control')}); what the pairs compute: "
                        f"{pairs_phrase(mlp, 'autoencoder', 'gelu')}; {pairs_phrase(mlp, 'autoencoder', 'tanh')}",
            "seeds": f"{len(g)} seeds per configuration"}


def bypass_claim(mlp: dict) -> dict:
    """:data:`RULES` ``["bypass"]``: does any direct negated pair of the GELU autoencoder have opposite
    outgoing weights, seed by seed."""
    per = [pair_outgoing([a]) for a in mlp[("autoencoder", "gelu")]["per_seed"]["equivariant"]]
    has = [p["bypass"] > 0 for p in per]
    return {"verdict": grade(majority(has), any(has)),
            "evidence": f"GELU autoencoder: bypass pairs {[p['bypass'] for p in per]}, even pairs "
                        f"{[p['even'] for p in per]}, of direct pairs {[p['pairs'] for p in per]} per seed; "
                        f"{pairs_phrase(mlp, 'autoencoder', 'gelu', 'control')} (weight 0)",
            "seeds": f"{len(per)} seeds"}


def table_claim(mlp: dict, reading=DEFAULT_READING, tasks=TASKS) -> dict:
    """The study's :func:`eqlib.pages.protocol_study.verdict` on the chapters' runs, for ``tasks`` (both: the
    pre-registered verdict; one: that task's rows alone)."""
    table = six_rows(lambda t, a: mlp[(t, a)]["metric"], lambda t: mlp[(t, "gelu")]["per_seed"]["equivariant"],
                     tasks, reading)
    rows = table["rows"]
    v = verdict(table, tasks)
    failed = [k for k, ok in v["holds"].items() if not ok]
    return {"verdict": v["verdict"],
            "evidence": f"primary reading: Tanh below GELU in {v['tanh_below_gelu']} of {v['pairs']} row pairs, "
                        f"{v['within']} of {v['values']} values within 2× of the paper's, left-right below up-down in "
                        f"{sum(v['lr_below_ud'].values())} of {len(v['lr_below_ud'])} models in every seed; "
                        f"criteria failed: {', '.join(failed) or 'none'}",
            "seeds": f"{len(rows[next(iter(rows))]['tanh'])} seeds per value"}


def attention_claim(att: dict) -> dict:
    h = att["heads"]
    below = [e["median_error"] < c["median_error"] and e["median_error"] < i["median_error"]
             for e, c, i in zip(h["equivariant"], h["control"], h["init"])]
    return {"verdict": grade(all(below), majority(below)),
            "evidence": f"matching error below the control's and the initial model's in {sum(below)} of {len(below)} seeds "
                        f"(equivariant {[round(e['median_error'], 3) for e in h['equivariant']]}, control "
                        f"{[round(e['median_error'], 3) for e in h['control']]}, initialisation "
                        f"{[round(e['median_error'], 3) for e in h['init']]}); heads moved "
                        f"{[e['moved_heads'] for e in h['equivariant']]}",
            "seeds": f"{len(below)} seeds"}


def cnn_claim(res: dict) -> dict:
    """:data:`RULES` ``["cnn"]``, by the page's own verdict function (:func:`eqlib.pages.cnn.verdict`)."""
    v = cnn.verdict(res)
    word = grade(v["word"] == cnn.WORDS[0], v["word"] == cnn.WORDS[1])
    passing = "; ".join(f"{cnn.ACT_NAMES[a]} {[len(l) for l in per]} ({v['per_activation'][a]})"
                        for a, per in v["passing"].items())
    return {"verdict": word,
            "evidence": f"passing layers of {v['n_layers']} per seed: {passing}; every layer passes in {v['all_pass']} "
                        f"of {v['pairs']} activation–seed pairs (controls: {v['control_all_pass']}), at least one in "
                        f"{v['some_pass']} (controls: {v['control_some_pass']}); end-to-end invariant (at most "
                        f"{cnn.EQUIVARIANT_ENOUGH:.2g} of the control's error) in {sum(cnn.findings(res)['enough'])}",
            "seeds": f"{len(res['protocol']['seeds'])} seeds per activation"}


def dihedral_claim(res: dict) -> dict:
    """:data:`RULES` ``["dihedral"]``, from the D4 page's results: its precondition, then its findings."""
    enough = RULES["dihedral"]["enough"]
    ratios = end_to_end_ratios(res)
    findings = dihedral_findings(res)
    below = {k: sum(v) for k, v in findings.items()}
    testable = majority(r <= enough for r in ratios)
    defects = ", ".join(f"{f['mean_defect']:.2f}" for f in res["fits"]["d4"])
    word = WORDS[3] if not testable else grade(all(majority(v) for v in findings.values()),
                                               any(majority(v) for v in findings.values()))
    return {"verdict": word,
            "evidence": f"end-to-end error of the D4-loss networks over D4's elements, as a fraction of the control's: "
                        f"{', '.join(f'{r:.2f}' for r in ratios)} (at most {enough:.2g} in {sum(r <= enough for r in ratios)} "
                        f"of {len(ratios)} seeds); homomorphism defect below the null's in "
                        + ", ".join(f"{n} of {len(findings[k])} seeds ({KIND_NAMES[k]})" for k, n in below.items())
                        + f"; mean defect per seed {defects}",
            "seeds": f"{len(ratios)} seeds"}


def augmentation_claim(res: dict) -> dict:
    """:data:`RULES` ``["augmentation"]``, from the augmentation page's results, per task."""
    rule = RULES["augmentation"]
    enough, ok, parts = {}, {}, []
    for task, r in res["tasks"].items():
        t = r["test"]
        ratios = [a["test_equivariance_error"] / max(c["test_equivariance_error"], 1e-300)
                  for a, c in zip(t["augmentation"], t["control"])]
        aug = [a["explained"] for a in r["per_seed"]["augmentation"]]
        loss = [a["explained"] for a in r["per_seed"]["equivariant"]]
        enough[task] = majority(x <= rule["enough"] for x in ratios)
        ok[task] = majority(a >= rule["share"] * b for a, b in zip(aug, loss))
        parts.append(f"{task}: end-to-end error {', '.join(f'{x:.2f}' for x in ratios)} of the control's; explained "
                     f"first-layer neurons, augmentation {aug} against the loss's {loss}")
    word = WORDS[3] if not all(enough.values()) else grade(all(ok.values()), any(ok.values()))
    return {"verdict": word, "evidence": "; ".join(parts),
            "seeds": f"{len(res['seeds'])} seeds per task"}


def claims(results: dict) -> list:
    """One row per claim of :data:`CLAIMS`: its text, our evidence, the seeds, the page that computes it,
    the rule and the verdict. ``results`` maps chapter names (``book/build.py``'s) to results dicts."""
    mlp = {k: results[c] for k, c in MLP.items()}
    rows = {"theorem": theorem_claim(results["theory"]), "tanh": tanh_claim(mlp), "gelu": gelu_claim(mlp),
            "table": table_claim(mlp), "table_autoencoder": table_claim(mlp, tasks=("autoencoder",)),
            "table_classifier": table_claim(mlp, tasks=("classifier",)), "attention": attention_claim(results["attention"]),
            "bypass": bypass_claim(mlp)}
    beyond = {"cnn": cnn_claim, "dihedral": dihedral_claim, "augmentation": augmentation_claim}
    rows.update({k: f(results[k]) for k, f in beyond.items() if k in results})   # an older build may lack a page
    return [{"key": k, "claim": CLAIMS[k], **rows[k], "page": PAGES[k], "rule": RULES[k].sentence, "source": SOURCES[k]}
            for k in CLAIMS if k in rows]


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


OURS = ("bypass", "cnn", "dihedral", "augmentation")    # our predictions beyond the paper's claims


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
