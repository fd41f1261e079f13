"""The reproduction report: the paper's claims, our evidence for each, and a verdict computed by stated rules from the
results files of a build.

Each claim is owned by the page that decides it: its module's ``CLAIMS`` (:class:`eqlib.verdicts.Claim` rows: the claim
as its source words it, the source, its rule and the function that judges it), named in that page's row of
:mod:`eqlib.registry`. :func:`collect` gathers them in the rows' order, so the report imports no page module;
:func:`claims` judges them on a build's results files (``{chapter: results dict}``), one row per claim;
:func:`readme_block` renders the rows as the README's generated block.
"""
from __future__ import annotations

import importlib

import numpy as np

from eqlib import registry
from eqlib.analysis import direct_negated_filters, pair_outgoing
from eqlib.metric import READING_SHORT
from eqlib.results import replace_generated
from eqlib.rules import table as rule_table
from eqlib.study import CONTRAST
from eqlib.symmetry import MAX_RESIDUALS
from eqlib.tables import ACT_NAMES, KIND_NAMES, tested_readings
from eqlib.verdicts import WORDS


VERDICTS = WORDS
MLP = {("autoencoder", "tanh"): "mlp_tanh_autoencoder", ("autoencoder", "gelu"): "mlp_gelu_autoencoder",
       ("classifier", "tanh"): "mlp_tanh_classifier", ("classifier", "gelu"): "mlp_gelu_classifier"}


def collect() -> list:
    """``[(page, Claim)]``: every claim of the report, from the module of the page that decides it (the registry's
    ``claims`` of each row, in the rows' order). The report imports no page module of its own."""
    out = []
    for row in registry.PAGES:
        if row.claims:
            own = {c.key: c for c in importlib.import_module(f"eqlib.pages.{row.module}").CLAIMS}
            missing = [k for k in row.claims if k not in own]
            if missing:
                raise ValueError(f"page {row.name!r} is registered to decide {missing}, which eqlib.pages.{row.module} "
                                 f"does not define; it defines: {', '.join(own)}")
            out += [(row.name, own[k]) for k in row.claims]
    return out


COLLECTED = collect()
CLAIMS = {c.key: c.text for _, c in COLLECTED}       # the claims, numbered as the report lists them
SHORT = {c.key: c.short for _, c in COLLECTED}       # a claim in a page's header
SOURCES = {c.key: c.source for _, c in COLLECTED}
RULES = rule_table([c.rule for _, c in COLLECTED])   # each a Rule row: its thresholds and the sentence rendered from them
PAGES = {c.key: page for page, c in COLLECTED}
OURS = tuple(c.key for _, c in COLLECTED if c.ours)  # our predictions beyond the paper's claims


def claims(results: dict) -> list:
    """One row per claim of :data:`CLAIMS`, judged by its page's module on the pages' results (``results``: chapter
    name -> results dict): its text, our evidence, the seeds, the page, the rule (and when it was written), the
    verdict and its margin. A claim whose page has no results in ``results`` (an older build) is left out."""
    return [{"key": c.key, "claim": c.text, **c.judge(results), "page": page, "rule": c.rule.sentence,
             "rule_written": c.rule.written, "source": c.source}
            for page, c in COLLECTED if page in results]


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
