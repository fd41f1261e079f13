"""The summary of the MLP chapters: the paper's table side by side with ours under every reading, the
counts behind the verdicts, the page's findings, texts, tables and figure.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

from eqlib.pages.mlp_filters import mlp_results
from eqlib.paper import TABLE_SOURCE
from eqlib.study import TASKS, six_rows, verdict
from eqlib.verdicts import Claim, judged
from eqlib.rules import Rule
from eqlib.stats import pm, stats
from eqlib.metric import DEFAULT_READING, READING_SHORT, READINGS, floor_key
from eqlib.pages.common import KINDS
from eqlib.paper import (ACTIVATIONS, FLIP_SHORT, LAYER_SHORT, PAPER_TABLE, TASK_SHORT, mean_below, ranges_disjoint,
                         seedwise_below, within_factor)
from eqlib.tables import ACT_NAMES, KIND_NAMES, quality_key, tested_readings


def side_by_side(metric: dict) -> list:
    """One row per paper row, model kind and first activation.

    ``metric[(task, activation)]`` is a chapter's ``{reading: {kind: {layers: {flip: [per seed]}}}}``.
    Each row holds the paper's value, ours per reading (:func:`eqlib.analysis.stats`) and its floor
    (``floor``: the same prefix without its last activation), and per reading the verdicts: ``within``
    (the mean within a factor 2 of the paper's), ``tanh_below_gelu`` (the paper's ordering of the two
    activations, on this row's pair of means; ``tanh_below_gelu_every_seed``: the seeds' ranges are
    disjoint in that order) and ``mirror_below_updown`` (left-right below up-down for the same model
    and layers, on means; ``mirror_below_updown_seeds``: per seed; ``None`` on up-down rows).
    """
    missing = [(t, a) for (t, _, _) in PAPER_TABLE for a in ACTIVATIONS if (t, a) not in metric]
    if missing:
        raise ValueError(f"no results for {sorted(set(missing))}; side_by_side needs every task and activation")
    readings = [r for r in READINGS if all(r in m for m in metric.values())]
    mean = lambda task, act, r, kind, layers, flip: stats(metric[(task, act)][r][kind][layers][flip])
    rows = []
    for (task, layers, flip), paper in PAPER_TABLE.items():
        for kind in KINDS:
            for act in ACTIVATIONS:
                ours = {r: mean(task, act, r, kind, layers, flip) for r in readings}
                floor = {r: mean(task, act, r, kind, floor_key(layers), flip) for r in readings}
                vals = lambda a, r, f=flip: mean(task, a, r, kind, layers, f)["values"]
                order = {r: mean_below(vals("tanh", r), vals("gelu", r)) for r in readings}
                lr_ud = {r: mean_below(vals(act, r, "mirror"), vals(act, r, "updown")) if flip == "mirror" else None
                         for r in readings}
                lr_ud_seeds = {r: seedwise_below(vals(act, r, "mirror"), vals(act, r, "updown")) if flip == "mirror"
                               else None for r in readings}
                disjoint = {r: ranges_disjoint(vals("tanh", r), vals("gelu", r)) for r in readings}
                rows.append({"task": task, "layers": layers, "flip": flip, "kind": kind, "activation": act,
                             "paper": paper[act], "ours": ours, "floor": floor,
                             "within": {r: within_factor(ours[r]["mean"], paper[act]) for r in readings},
                             "ratio": {r: ours[r]["mean"] / paper[act] for r in readings},
                             "tanh_below_gelu": order, "tanh_below_gelu_every_seed": disjoint,
                             "mirror_below_updown": lr_ud, "mirror_below_updown_seeds": lr_ud_seeds})
    return rows


def verdict_counts(rows, kind="equivariant") -> dict:
    """Per reading: how many of ``kind``'s rows are within the factor, keep Tanh below GELU (counted
    once per pair of activations) and keep left-right below up-down; and the median ratio ours/paper."""
    rs = [r for r in rows if r["kind"] == kind]
    readings = list(rs[0]["ours"]) if rs else []
    out = {}
    for rd in readings:
        pairs = [r for r in rs if r["activation"] == "tanh"]
        lr = [r for r in rs if r["mirror_below_updown"][rd] is not None]
        ratios = sorted(r["ratio"][rd] for r in rs)
        mid = len(ratios) // 2
        out[rd] = {"within": sum(r["within"][rd] for r in rs), "rows": len(rs),
                   "order": sum(r["tanh_below_gelu"][rd] for r in pairs), "pairs": len(pairs),
                   "lr_below_ud": sum(r["mirror_below_updown"][rd] for r in lr), "lr_rows": len(lr),
                   "median_ratio": ratios[mid] if len(ratios) % 2 else math.sqrt(ratios[mid - 1] * ratios[mid])}
    return out


def marks(verdicts: dict) -> str:
    """``{reading: bool or None}`` -> ``"✓✗✓✓"`` in reading order (``–`` where it does not apply)."""
    return "".join("–" if v is None else ("✓" if v else "✗") for v in verdicts.values())


def row_name(r) -> str:
    return f"{TASK_SHORT[r['task']]}, {LAYER_SHORT[r['layers']]}, {FLIP_SHORT[r['flip']]}"


def mark(v) -> str:
    return "–" if v is None else ("✓" if v else "✗")


def paper_table(rows, reading=DEFAULT_READING, digits=3):
    """The paper's table in its own shape: six rows, the paper's Tanh and GELU values beside ours
    (equivariant models, mean ± sd over seeds, under ``reading``) and our floors, and the verdict
    marks of that reading (for :func:`eqlib.page.md_table`)."""
    eq = {(r["task"], r["layers"], r["flip"], r["activation"]): r for r in rows if r["kind"] == "equivariant"}
    f = lambda s: f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"
    out = []
    for (task, layers, flip) in PAPER_TABLE:
        t, g = eq[(task, layers, flip, "tanh")], eq[(task, layers, flip, "gelu")]
        out.append([row_name(t), f"{t['paper']:g}", f(t["ours"][reading]), f(t["floor"][reading]),
                    f"{g['paper']:g}", f(g["ours"][reading]), f(g["floor"][reading]),
                    mark(t["within"][reading]) + mark(g["within"][reading]), mark(t["tanh_below_gelu"][reading]),
                    mark(t["mirror_below_updown"][reading]) + mark(g["mirror_below_updown"][reading])])
    return (["paper row", "Tanh: paper", "Tanh: ours", "Tanh: floor", "GELU: paper", "GELU: ours", "GELU: floor",
             "within ×2 (Tanh, GELU)", "Tanh < GELU", "left-right < up-down (Tanh, GELU)"], out)


def table_rows(rows, primary=DEFAULT_READING, digits=3):
    """Every row of :func:`side_by_side` (equivariant models and weight-0 controls) under every reading:
    the mean over seeds, and the ``primary`` reading's floor."""
    readings = list(rows[0]["ours"])
    header = ["paper row", "model", "paper", *(READING_SHORT[r] for r in readings), f"floor ({READING_SHORT[primary]})"]
    out = [[row_name(r), f"{r['activation'].capitalize()}, {'equivariant' if r['kind'] == 'equivariant' else 'weight 0'}",
            f"{r['paper']:g}", *(f"{r['ours'][rd]['mean']:.{digits}f}" for rd in readings),
            f"{r['floor'][primary]['mean']:.{digits}f}"] for r in rows]
    return header, out


def summary_findings(rows, reading=DEFAULT_READING) -> dict:
    """Per-seed booleans behind the summary page's findings under ``reading``: for each configuration,
    whether the equivariant first layer's left-right value is below its weight-0 control's, seed by seed
    (``"below control"``); and for each left-right row, whether left-right is below up-down, seed by
    seed (``"left-right below up-down"``)."""
    get = lambda task, act, kind: next(r for r in rows if (r["task"], r["layers"], r["flip"], r["activation"], r["kind"])
                                       == (task, "first_layer", "mirror", act, kind))
    below = {f"{act} {task}": [e < c for e, c in zip(get(task, act, "equivariant")["ours"][reading]["values"],
                                                     get(task, act, "control")["ours"][reading]["values"])]
             for task in TASK_SHORT for act in ACTIVATIONS}
    lr = {f"{row_name(r)}, {r['activation']}": r["mirror_below_updown_seeds"][reading]
          for r in rows if r["kind"] == "equivariant" and r["flip"] == "mirror"}
    return {"below control": below, "left-right below up-down": lr}


def summary_texts(rows, counts, findings, reading=DEFAULT_READING) -> dict:
    """The glued phrases of the summary page."""
    eq, ctrl = counts["equivariant"], counts["control"]
    tanh = [r for r in rows if r["kind"] == "equivariant" and r["activation"] == "tanh"]
    flat = lambda d: [x for v in d.values() for x in v]
    others = [r for r in eq if r != reading]
    return {"within_primary": f"{eq[reading]['within']} of {eq[reading]['rows']}",
            "ratio_primary": f"{eq[reading]['median_ratio']:.2g}",
            "within_others": "; ".join(f"{READING_SHORT[r]}: {eq[r]['within']} of {eq[r]['rows']} within the factor "
                                       f"(median ratio {eq[r]['median_ratio']:.2g})" for r in others),
            "order_primary": f"{eq[reading]['order']} of {eq[reading]['pairs']}",
            "disjoint_primary": f"{sum(r['tanh_below_gelu_every_seed'][reading] for r in tanh)} of {len(tanh)}",
            "order_others": "; ".join(f"{READING_SHORT[r]}: Tanh below GELU in {eq[r]['order']} of {eq[r]['pairs']}, "
                                      f"left-right below up-down in {eq[r]['lr_below_ud']} of {eq[r]['lr_rows']}"
                                      for r in others),
            "lr_primary": f"{eq[reading]['lr_below_ud']} of {eq[reading]['lr_rows']}",
            "lr_seeds_primary": f"{sum(flat(findings['left-right below up-down']))} of "
                                f"{len(flat(findings['left-right below up-down']))}",
            "control_within": f"{ctrl[reading]['within']} of {ctrl[reading]['rows']}",
            "control_lr": f"{ctrl[reading]['lr_below_ud']} of {ctrl[reading]['lr_rows']}",
            "below_control": f"{sum(flat(findings['below control']))} of {len(flat(findings['below control']))}"}


def verdicts_table(counts: dict) -> tuple:
    """``counts[kind][reading]`` from :func:`verdict_counts`: equivariant / control per column."""
    eq, ctrl = counts["equivariant"], counts["control"]
    rows = [[r, f"{eq[r]['within']} / {ctrl[r]['within']} of {eq[r]['rows']}",
             f"{eq[r]['order']} / {ctrl[r]['order']} of {eq[r]['pairs']}",
             f"{eq[r]['lr_below_ud']} / {ctrl[r]['lr_below_ud']} of {eq[r]['lr_rows']}",
             f"{eq[r]['median_ratio']:.2g} / {ctrl[r]['median_ratio']:.2g}"] for r in eq]
    return ["reading", "rows within ×2 (equivariant / control)", "Tanh < GELU pairs", "left-right < up-down rows",
            "median ratio ours / paper"], rows


def verdict_texts(v: dict) -> dict:
    """One reading's verdict counts as the phrases the summary glues into its prose."""
    return {"within": f"{v['within']} of {v['rows']}", "order": f"{v['order']} of {v['pairs']}",
            "lr": f"{v['lr_below_ud']} of {v['lr_rows']}", "ratio": f"{v['median_ratio']:.2g}"}


def configurations_table(res: dict) -> tuple:
    """``res[(task, activation)]`` is a chapter's results file: quality, equivariance and labels per kind."""
    rows = []
    for (task, act), r in res.items():
        key = quality_key(task)
        for kind in ("equivariant", "control"):
            a = r["aggregate"][kind]
            rows.append([f"{act} {task}", KIND_NAMES[kind], pm(stats([t[key] for t in r["test"][kind]]), 4),
                         pm(stats([t["test_equivariance_error"] for t in r["test"][kind]])), pm(a["explained"], 1),
                         pm(a["counts"]["unmatched"], 1), pm(a["counts"]["inactive"], 1),
                         [len(s["bypass_pairs"]) for s in r["per_seed"][kind]]])
    return ["configuration", "model", "test quality", "e2e equivariance error", "explained", "unmatched", "inactive",
            "bypass pairs per seed"], rows


def configuration_floor_tests_table(res: dict) -> tuple:
    """Per MLP configuration (``res[(task, activation)]``, a chapter's results file): the readings that test
    its first activation, and those at their floor (:func:`tested_readings`, equivariant models)."""
    rows = [[f"{act} {task}", *tested_readings(r["metric"]).values()] for (task, act), r in res.items()]
    return ["configuration", "readings that test the activation", "readings at their floor"], rows


def paper_scatter(rows, title="ours against the paper (log scales; the band is a factor 2)"):
    """Our mean against the paper's value for every row of :func:`side_by_side`, one
    trace per reading and model kind; the diagonal is agreement."""
    fig = go.Figure()
    vals = [r["paper"] for r in rows] + [o["mean"] for r in rows for o in r["ours"].values()]
    lo, hi = min(vals) / 2, max(vals) * 2
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="#888"), name="ours = paper")
    for f in (2, 0.5):
        fig.add_scatter(x=[lo, hi], y=[lo * f, hi * f], mode="lines", line=dict(color="#bbb", dash="dot"),
                        showlegend=False, hoverinfo="skip")
    symbols = {"equivariant": "circle", "control": "circle-open"}
    for reading in rows[0]["ours"]:
        for kind in symbols:
            rs = [r for r in rows if r["kind"] == kind]
            fig.add_scatter(x=[r["paper"] for r in rs], y=[r["ours"][reading]["mean"] for r in rs], mode="markers",
                            marker=dict(symbol=symbols[kind], size=9), name=f"{reading}, {kind}",
                            legendgroup=reading, text=[f"{r['task']}, {r['layers']}, {r['flip']}, {r['activation']}"
                                                       for r in rs],
                            hovertemplate="%{text}<br>paper %{x}, ours %{y:.3f}<extra></extra>")
    fig.update_xaxes(type="log", title="paper's value")
    fig.update_yaxes(type="log", title="ours (mean over seeds)")
    fig.update_layout(title=title, height=480)
    return fig


# --------------------------------------------------------------------------- the report's claims this page decides

_TABLE_RULE = ("the protocol study's verdict function applied to the chapters' own runs (primary reading, 100,000 "
               "evaluation samples){scope}: its words are the report's")

TABLE_RULE = Rule("table", _TABLE_RULE.format(scope=", its six rows and both tasks' criteria (pre-registered)"))

TABLE_AUTOENCODER_RULE = Rule("table_autoencoder", _TABLE_RULE.format(scope=" on the autoencoder's rows alone, its criteria scaled to "
                                                       "three rows"), written="after")

TABLE_CLASSIFIER_RULE = Rule("table_classifier", _TABLE_RULE.format(scope=" on the classifier's rows alone, its criteria scaled to three "
                                                      "rows, without the autoencoder's (f₂ and the negated copies)"),
         written="after")

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
    return {**judged(judge, inputs, integer=integer, seeds=seeds),
            "evidence": f"primary reading: Tanh below GELU in {v['tanh_below_gelu']} of {v['pairs']} row pairs, "
                        f"{v['within']} of {v['values']} values within 2× of the paper's, left-right below up-down in "
                        f"{sum(v['lr_below_ud'].values())} of {len(v['lr_below_ud'])} models in every seed; "
                        f"criteria failed: {', '.join(failed) or 'none'}",
            "seeds": f"{len(rows[next(iter(rows))]['tanh'])} seeds per value"}

CLAIMS = (
    Claim('table', "The table's values and orderings (Tanh below GELU, left-right below up-down), all six rows",
          TABLE_SOURCE,
          "the paper's table", TABLE_RULE, lambda by_page: table_claim(mlp_results(by_page))),
    Claim('table_autoencoder', "The table's three autoencoder rows",
          TABLE_SOURCE,
          "the table's autoencoder rows", TABLE_AUTOENCODER_RULE, lambda by_page: table_claim(mlp_results(by_page), tasks=("autoencoder",))),
    Claim('table_classifier', "The table's three classifier rows",
          TABLE_SOURCE,
          "the table's classifier rows", TABLE_CLASSIFIER_RULE, lambda by_page: table_claim(mlp_results(by_page), tasks=("classifier",))),
)
