"""The paper's quantitative table, and ours beside it.

``PAPER_TABLE`` is quoted from the paper (Shahverdi et al., 2026, the table of median
relative errors of the least-squares linear map over 100,000 noise samples): it is the
one place where numbers are typed in, and they are the paper's, not ours.
:func:`side_by_side` lays our per-seed results next to them and computes the verdicts.
"""
from __future__ import annotations

import math

from eqlib.analysis import stats
from eqlib.metric import READINGS

# (task, layers, flip) -> {first activation: the paper's value}
PAPER_TABLE = {
    ("autoencoder", "first_layer", "mirror"): {"tanh": 0.029, "gelu": 0.40},
    ("autoencoder", "first_two_layers", "mirror"): {"tanh": 0.022, "gelu": 0.11},
    ("autoencoder", "first_layer", "updown"): {"tanh": 0.15, "gelu": 0.49},
    ("classifier", "first_layer", "mirror"): {"tanh": 0.077, "gelu": 0.19},
    ("classifier", "first_two_layers", "mirror"): {"tanh": 0.054, "gelu": 0.064},
    ("classifier", "first_layer", "updown"): {"tanh": 0.48, "gelu": 0.56},
}
ACTIVATIONS = ("tanh", "gelu")
KINDS = ("equivariant", "control")
FACTOR = 2.0          # "within a factor 2 of the paper's value"


def within_factor(ours, paper, factor=FACTOR) -> bool:
    return paper / factor <= ours <= paper * factor


def side_by_side(metric: dict) -> list:
    """One row per paper row, model kind and first activation.

    ``metric[(task, activation)]`` is a chapter's ``{reading: {kind: {layers: {flip: [per seed]}}}}``.
    Each row holds the paper's value, ours per reading (:func:`eqlib.analysis.stats`), and per
    reading the verdicts: ``within`` (the mean within a factor 2 of the paper's), ``tanh_below_gelu``
    (the paper's ordering of the two activations, on this row's pair of means) and
    ``mirror_below_updown`` (left-right below up-down for the same model and layers; ``None`` on
    up-down rows).
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
                order = {r: mean(task, "tanh", r, kind, layers, flip)["mean"] < mean(task, "gelu", r, kind, layers, flip)["mean"]
                         for r in readings}
                lr_ud = {r: (mean(task, act, r, kind, layers, "mirror")["mean"] <
                             mean(task, act, r, kind, layers, "updown")["mean"]) if flip == "mirror" else None
                         for r in readings}
                rows.append({"task": task, "layers": layers, "flip": flip, "kind": kind, "activation": act,
                             "paper": paper[act], "ours": ours,
                             "within": {r: within_factor(ours[r]["mean"], paper[act]) for r in readings},
                             "ratio": {r: ours[r]["mean"] / paper[act] for r in readings},
                             "tanh_below_gelu": order, "mirror_below_updown": lr_ud})
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


TASK_SHORT = {"autoencoder": "AE", "classifier": "classifier"}
LAYER_SHORT = {"first_layer": "1st layer", "first_two_layers": "1st two"}
FLIP_SHORT = {"mirror": "left-right", "updown": "up-down"}


def marks(verdicts: dict) -> str:
    """``{reading: bool or None}`` -> ``"✓✗✓✓"`` in reading order (``–`` where it does not apply)."""
    return "".join("–" if v is None else ("✓" if v else "✗") for v in verdicts.values())


def table_rows(rows, digits=3):
    """Header and formatted rows of the side-by-side table (for :func:`eqlib.report.md_table`)."""
    readings = list(rows[0]["ours"])
    header = ["paper row", "model", "paper", *(f"ours: {r}" for r in readings),
              "within ×2", "Tanh < GELU", "left-right < up-down"]
    out = []
    for r in rows:
        out.append([f"{TASK_SHORT[r['task']]}, {LAYER_SHORT[r['layers']]}, {FLIP_SHORT[r['flip']]}",
                    f"{r['activation'].capitalize()}, {'equivariant' if r['kind'] == 'equivariant' else 'weight 0'}",
                    f"{r['paper']:g}",
                    *(f"{r['ours'][rd]['mean']:.{digits}f} ± {r['ours'][rd]['sd']:.{digits}f}" for rd in readings),
                    marks(r["within"]), marks(r["tanh_below_gelu"]), marks(r["mirror_below_updown"])])
    return header, out
