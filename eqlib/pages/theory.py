"""The theory page's tables and figures (the exact constructions are :mod:`eqlib.theory`).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from eqlib.verdicts import PAPER, Claim, grade, judged
from eqlib.rules import Rule
from eqlib.symmetry import cycles


def recovery_table(rec) -> tuple:
    """The recovered layerwise action of :func:`eqlib.theory.recover_layerwise_action`, per layer."""
    rows = [[i, cycles(P.perm) + (f", {int((P.signs < 0).sum())} sign flips" if (P.signs < 0).any() else ""),
             "yes" if inv else "**no**", f"{res:.1e}", f"{err:.1e}"]
            for i, (P, inv, res, err) in enumerate(zip(rec.perms, rec.involutions, rec.layer_residuals, rec.layer_errors), 1)]
    return ["layer", "recovered action", "involution", "parameter residual", "max layer error"], rows


def trials_table(ts) -> tuple:
    return ["widths", "seed", "all involutions", "max layer error"], [
        [t["widths"], t["seed"], "yes" if t["involutions"] else "**no**", f"{t['max_layer_error']:.1e}"] for t in ts]


def intertwiner_explorer(samples: dict, residuals: dict, title="does the group element pass through the activation?"):
    """Dropdown over (activation, group element): scatter of s(Ax) against the best B s(x);
    points on the diagonal mean it passes. ``samples[(act, kind)] = (lhs, rhs)``."""
    fig = go.Figure()
    keys = list(samples)
    buttons = []
    lim = max(max(np.abs(l).max(), np.abs(r).max()) for l, r in samples.values())
    for idx, (act, kind) in enumerate(keys):
        lhs, rhs = samples[(act, kind)]
        fig.add_scatter(x=rhs, y=lhs, mode="markers", marker=dict(size=4, opacity=0.5), visible=idx == 0,
                        name=f"{act}, {kind}")
        res = residuals[act][kind]
        verdict = "passes" if res < 1e-8 else "does not pass"
        buttons.append(dict(method="update", label=f"{act} · {kind}",
                            args=[{"visible": [k == idx for k in range(len(keys))]},
                                  {"title.text": f"{act}, {kind}: residual {res:.1e} → {verdict}"}]))
    fig.add_scatter(x=[-lim, lim], y=[-lim, lim], mode="lines", line=dict(dash="dot", color="grey"), name="y = x")
    for b in buttons:
        b["args"][0]["visible"].append(True)
    act, kind = keys[0]
    fig.update_layout(title=f"{act}, {kind}: residual {residuals[act][kind]:.1e}", height=460,
                      xaxis_title="best B s(x) (least squares)", yaxis_title="s(A x)",
                      updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right", y=1.15)])
    return fig


def intertwiner_heatmap(residuals: dict, title="residual of the best B with s(Ax) = B s(x)"):
    acts = list(residuals)
    kinds = list(next(iter(residuals.values())))
    z = np.log10(np.maximum([[residuals[a][k] for k in kinds] for a in acts], 1e-17))
    text = [["passes" if residuals[a][k] < 1e-8 else f"{residuals[a][k]:.2f}" for k in kinds] for a in acts]
    fig = go.Figure(go.Heatmap(z=z, x=kinds, y=acts, text=text, texttemplate="%{text}", colorscale="RdYlGn_r",
                               zmin=-16, zmax=0, colorbar=dict(title="log10 residual")))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=380)
    return fig


# --------------------------------------------------------------------------- the report's claims this page decides

THEOREM_RULE = Rule("theorem", "reproduced if every executed check of the theory page holds (exact recovery of the planted "
                    "layerwise action in every trial, to a layer error below {layer_error:g}; a trained student "
                    "matching an equivariant teacher to below {student_error:g}, and layerwise equivariant under the "
                    "recovered action to below {student_layer_error:g}); not reproduced otherwise",
         {"layer_error": 1e-6, "student_error": 1e-5, "student_layer_error": 1e-4})

def theorem_claim(theory: dict) -> dict:
    trials = theory["trials"]
    student = theory["equivariant_student"]
    r = THEOREM_RULE
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
    return {**judged(judge, inputs, labels=labels),
            "evidence": f"exact recovery in {sum(t['involutions'] for t in trials)} of {len(trials)} random trials "
                        f"(largest layer error {max(t['max_layer_error'] for t in trials):.0e}); a student trained to "
                        f"an equivariant teacher matches it to {theory['equivariant_student']['error']:.0e}",
            "seeds": f"{len(trials)} trials"}

CLAIMS = (
    Claim('theorem', "Identifiable equivariant networks are layerwise equivariant (the theorem)",
          f"{PAPER}, the main theorem",
          "the theorem", THEOREM_RULE, lambda by_page: theorem_claim(by_page["theory"])),
)
