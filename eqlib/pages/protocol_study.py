"""The protocol study's page: its tables and figures, drawn from the study's logic (:mod:`eqlib.study`)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eqlib.paper import FLIP_SHORT, LAYER_SHORT, PAPER_TABLE, TASK_SHORT
from eqlib.stats import pm, stats
from eqlib.metric import READING_SHORT
from eqlib.study import CRITERIA, F2_FRACTION, TASKS, criteria
from eqlib.tables import quality_key
from eqlib.rules import table as rule_table
from eqlib.verdicts import MARKS, WORDS


# --------------------------------------------------------------------------- the page's tables
def table_settings(rows: dict, verdicts: dict, task="autoencoder") -> tuple:
    """One row per setting of the protocol study (:func:`summary_row` per setting, for
    ``task``): Tanh and GELU side by side, then the setting's verdict."""
    _pm = pm
    out = []
    for name, r in rows.items():
        if not r:
            continue
        t, g = r["tanh"], r["gelu"]
        out.append([name, _pm(t["f1"]), _pm(t["floor"]), _pm(g["f1"]), _pm(g["floor"]), _pm(t["f2"]), _pm(g["f2"]),
                    _pm(t["e2e"]), _pm(g["e2e"]), f"{_pm(t['quality'], 4)} / {_pm(g['quality'], 4)}",
                    f"{_pm(t['explained'], 1)} / {_pm(g['explained'], 1)}",
                    f"{_pm(t['negated'], 1)} / {_pm(g['negated'], 1)}", f"{t['bypass']} / {g['bypass']}",
                    verdicts[name]["verdict"]])
    return (["setting", "Tanh f₁", "Tanh floor", "GELU f₁", "GELU floor", "Tanh f₂", "GELU f₂", "Tanh e2e error",
             "GELU e2e error", f"{quality_key(task).replace('test_', '').replace('_', ' ')} (Tanh / GELU)",
             "explained (Tanh / GELU)", "in negated copies (Tanh / GELU)", "bypass pairs, all seeds (Tanh / GELU)",
             "verdict"], out)


def table_criteria(verdicts: dict) -> tuple:
    """One row per setting: each criterion (:func:`criteria` of the verdicts' tasks), its count, and the verdict."""
    rules = criteria(next(iter(verdicts.values()))["tasks"]) if verdicts else CRITERIA
    mark = lambda ok: "✓" if ok else "✗"
    rows = []
    for name, v in verdicts.items():
        neg = "; ".join(f"{t}: {c}" for t, c in v["negated"].items())
        detail = {"tanh_below_gelu": f"{v['tanh_below_gelu']} of {v['pairs']}",
                  "disjoint": ", ".join(f"{t} {mark(ok)}" for t, ok in v["disjoint"].items()),
                  "lr_below_ud": f"{sum(v['lr_below_ud'].values())} of {len(v['lr_below_ud'])} models",
                  "gelu_f2_half": f"f₂ / f₁ = {v['gelu_f2_over_f1']:.2f}", "negated": neg,
                  "magnitudes": f"{v['within']} of {v['values']}"}
        rows.append([name, *(f"{mark(v['holds'][r.key])} {detail[r.key]}" for r in rules), f"**{v['verdict']}**"])
    return ["setting", *(f"({i}) {r.sentence}" for i, r in enumerate(rules, 1)), "verdict"], rows


def criteria_marks(v: dict, failed_only=False) -> str:
    """One per-task verdict's criteria as marks, e.g. ``"✓ order 3/3, ✗ disjoint, ..."``; ``failed_only``:
    the verdict and the criteria that fail, e.g. ``"not: order 0/3, disjoint"``."""
    mark = lambda ok: "✓" if ok else "✗"
    rules = rule_table(criteria(v["tasks"]))
    f2 = rules["gelu_f2_half"]["fraction"] if "gelu_f2_half" in rules else F2_FRACTION
    short = {"tanh_below_gelu": f"order {v['tanh_below_gelu']}/{v['pairs']}", "disjoint": "disjoint",
             "lr_below_ud": "left-right < up-down", "gelu_f2_half": f"f₂ < {f2:g} f₁", "negated": "negated copies",
             "magnitudes": f"within ×{rules['magnitudes']['factor']:g} {v['within']}/{v['values']}"}
    if failed_only:
        failed = [short[k] for k, ok in v["holds"].items() if not ok]
        word = {WORDS[0]: "", WORDS[1]: " partly", WORDS[2]: " not"}[v["verdict"]]
        return MARKS[v["verdict"]] + word + (f": {', '.join(failed)}" if failed else "")
    return ", ".join(f"{mark(ok)} {short[k]}" for k, ok in v["holds"].items())


def table_stage2_choice(chosen: dict) -> tuple:
    """Stage 2's rule applied: per factor, the level chosen and its log distance from the paper's ratio
    beside the default's (:func:`combine`)."""
    d = chosen["distance"]
    return (["factor", "level chosen", "its distance from the paper's ratio", "the default's"],
            [[f, n, f"{d[n]:.2f}" if n != "default" else "–", f"{d['default']:.2f}"] for f, n in chosen["chosen"].items()])


def table_stage2_verdicts(name: str, v: dict) -> tuple:
    """Stage 2's setting against each task's criteria (the pre-registered verdict has its own table)."""
    return ["setting", "task", "verdict", "criteria"], [[name, t, v[t]["verdict"], criteria_marks(v[t])]
                                                       for t in ("autoencoder", "classifier")]


def table_exploratory(explore: dict) -> tuple:
    """Settings × readings, each cell the autoencoder's and the classifier's per-task verdicts as marks
    (:data:`eqlib.verdicts.MARKS`; ``·``: the setting did not run that task)."""
    readings = list(next(iter(explore.values())))
    m = lambda v: MARKS[None if v is None else v["verdict"]]
    rows = [[name, *(f"AE {m(per[r]['autoencoder'])} · cl {m(per[r]['classifier'])}" for r in readings)]
            for name, per in explore.items()]
    return ["setting", *(READING_SHORT.get(r, r) for r in readings)], rows


def table_readings(cells: dict, explore: dict, digits=3) -> tuple:
    """One row per setting and reading: the autoencoder's first layer left-right for Tanh and GELU (mean ± sd
    over seeds), their ratio, the GELU autoencoder's filters in negated copies, and each task's verdict with
    the criteria behind it."""
    out = []
    for name, per in explore.items():
        c = cells[name]
        if "autoencoder" not in c:
            continue
        neg = pm(stats([a["negated_filters"] for a in c["autoencoder"]["gelu"]["analyses"]]), 1)
        for r, v in per.items():
            f1 = {a: stats(c["autoencoder"][a]["metric"][r]["equivariant"]["first_layer"]["mirror"]) for a in ("tanh", "gelu")}
            out.append([name, READING_SHORT.get(r, r), pm(f1["tanh"], digits), pm(f1["gelu"], digits),
                        f"{f1['gelu']['mean'] / f1['tanh']['mean']:.2g}", neg,
                        criteria_marks(v["autoencoder"], failed_only=True),
                        "not run" if v["classifier"] is None else criteria_marks(v["classifier"], failed_only=True)])
    return ["setting", "reading", "AE f₁ Tanh", "AE f₁ GELU", "GELU/Tanh", "GELU AE in negated copies",
            "autoencoder's rows (verdict: criteria failed)", "classifier's rows (verdict: criteria failed)"], out


def criteria_text(tasks=TASKS) -> str:
    """The criteria of ``tasks`` as one glued phrase, "; "-separated."""
    return "; ".join(r.sentence for r in criteria(tasks))


def study_heatmap(verdicts: dict, title="GELU / Tanh under the primary reading (● : Tanh below GELU in every seed)"):
    """Settings × the paper's six rows: the ratio of GELU's mean to Tanh's (log colour scale; above 1
    is the paper's ordering), with a dot where every Tanh seed is below every GELU seed."""
    keys = [f"{t}|{l}|{f}" for (t, l, f) in PAPER_TABLE]
    cols = [f"{TASK_SHORT[t]}, {LAYER_SHORT[l]}, {FLIP_SHORT[f]}" for (t, l, f) in PAPER_TABLE]
    names = list(verdicts)
    z = np.log10([[verdicts[n]["ratio"][k] for k in keys] for n in names])
    text = [[f"{verdicts[n]['ratio'][k]:.2g}" for k in keys] for n in names]
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=names, text=text, texttemplate="%{text}", zmid=0,
                               colorscale="RdBu", colorbar=dict(title="log₁₀ GELU/Tanh"),
                               hovertemplate="%{y}<br>%{x}: GELU/Tanh %{text}<extra></extra>"))
    dots = [(c, n) for n in names for c, k in zip(cols, keys) if verdicts[n]["order_every_seed"][k]]
    if dots:
        fig.add_scatter(x=[c for c, _ in dots], y=[n for _, n in dots], mode="markers", showlegend=False,
                        marker=dict(symbol="circle", size=7, color="black"), hoverinfo="skip",
                        xaxis="x", yaxis="y")
    paper = [PAPER_TABLE[k]["gelu"] / PAPER_TABLE[k]["tanh"] for k in PAPER_TABLE]
    fig.update_layout(title=title + "<br><sub>the paper: " + ", ".join(f"{p:.2g}" for p in paper) + "</sub>",
                      height=120 + 34 * len(names), yaxis=dict(autorange="reversed"), margin=dict(t=90))
    return fig


def study_reading_heatmap(ratios: dict, paper: float, hits=(), title="The autoencoder's first layer, left-right: GELU / Tanh"):
    """Settings × readings: the ratio of GELU's mean to Tanh's for the autoencoder's first layer
    (``ratios[setting][reading]``), on a log colour scale centred on the paper's ratio ``paper``, so
    white is the paper's contrast; a dot marks where :data:`CONTRAST` appears (``hits``)."""
    names = list(ratios)
    readings = list(next(iter(ratios.values())))
    cols = [READING_SHORT.get(r, r) for r in readings]
    z = np.log10([[ratios[n][r] / paper for r in readings] for n in names])
    text = [[f"{ratios[n][r]:.2g}" for r in readings] for n in names]
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=names, text=text, texttemplate="%{text}", zmid=0, colorscale="RdBu",
                               colorbar=dict(title="log₁₀ (ratio / paper's)"),
                               hovertemplate="%{y}<br>%{x}: GELU/Tanh %{text}<extra></extra>"))
    dots = [(READING_SHORT.get(h["reading"], h["reading"]), h["setting"]) for h in hits if h["setting"] in ratios]
    if dots:
        fig.add_scatter(x=[c for c, _ in dots], y=[n for _, n in dots], mode="markers", showlegend=False,
                        marker=dict(symbol="circle", size=8, color="black"), hoverinfo="skip")
    fig.update_layout(title=f"{title}<br><sub>the paper: {paper:.3g} (white); ● the contrast appears</sub>",
                      height=140 + 34 * len(names), yaxis=dict(autorange="reversed"), margin=dict(t=90))
    return fig


def study_factors(rows: dict, paper: dict, task="autoencoder"):
    """One panel per factor: the first-layer left-right metric of Tanh and GELU against the setting, the
    seeds as dots and their mean as a line; dotted lines are the paper's values (``paper[activation]``)."""
    factors = list(rows)
    fig = make_subplots(1, len(factors), subplot_titles=factors, shared_yaxes=True)
    colors = {"tanh": "#1b9e77", "gelu": "#d95f02"}
    for col, f in enumerate(factors, start=1):
        r = rows[f]
        for a in ("tanh", "gelu"):
            xs = [v for v, seeds in zip(r["values"], r[a]) for _ in seeds]
            ys = [y for seeds in r[a] for y in seeds]
            fig.add_scatter(x=xs, y=ys, mode="markers", marker=dict(color=colors[a], size=7, opacity=0.6),
                            name=f"{a}, seeds", legendgroup=a, showlegend=col == 1, row=1, col=col)
            fig.add_scatter(x=r["values"], y=[float(np.mean(s)) for s in r[a]], mode="lines",
                            line=dict(color=colors[a]), name=f"{a}, mean", legendgroup=a, showlegend=col == 1,
                            row=1, col=col)
            fig.add_hline(y=paper[a], line=dict(color=colors[a], dash="dot"), row=1, col=col)
    fig.update_xaxes(type="category")           # "default" beside numbers: every setting is a category
    fig.update_yaxes(type="log", title_text=f"{task}: first layer, left-right (primary reading)", row=1, col=1)
    fig.update_layout(height=400, title=f"each factor alone ({task}); dotted: the paper's Tanh and GELU values",
                      legend=dict(orientation="h", y=-0.2))
    return fig
