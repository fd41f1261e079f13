"""The merging page: loss along straight paths between a model and its mirrored copy, and between
seeds, before and after aligning; findings, texts, table and figure.
"""
from __future__ import annotations

import numpy as np
from plotly.subplots import make_subplots

from eqlib.stats import count, pm, stats
from eqlib.beyond import merge_paths
from eqlib.pages.common import check_seeds
from eqlib.plots import KIND_COLORS, band
from eqlib.protocol import mlp_configs
from eqlib.tables import KIND_NAMES
from eqlib.train import train_seeds


def merging_chapter(data, seeds, task="autoencoder", n_images=5000, alphas=tuple(np.linspace(0, 1, 11)),
                    progress=False, **train_kw) -> dict:
    """Along the straight line between parameter sets, the test loss: each model and its mirrored
    copy, and each pair of seeds, before and after aligning by the fitted hidden symmetries
    (equivariant models and weight-0 controls of the Tanh MLP chapter, loaded from the cache)."""
    seeds = check_seeds(seeds)
    mc, tc = mlp_configs(task, "tanh", **train_kw)
    runs = train_seeds(mc, tc, data, seeds, progress=progress)
    _, _, x_test, y_test = data.tensors()
    x, y = x_test[:n_images], y_test[:n_images]
    alphas = [float(a) for a in alphas]
    out = {"seeds": seeds, "task": task, "alphas": alphas, "mirrored": {}, "seeds_pairs": {}}
    for k in ("equivariant", "control"):
        ms = [runs[s][k].model.cpu().eval() for s in seeds]
        out["mirrored"][k] = [merge_paths(m, m, task, x, y, alphas, mirrored=True) for m in ms]
        out["seeds_pairs"][k] = [dict(merge_paths(ms[i], ms[j], task, x, y, alphas), pair=[seeds[i], seeds[j]])
                                 for i in range(len(ms)) for j in range(i + 1, len(ms))]
    return out


def barrier(losses) -> float:
    """The largest excess of the path's loss over the straight line between its endpoints,
    relative to the endpoints' mean (0 for a flat or convex path)."""
    l = np.asarray(losses, float)
    t = np.linspace(0, 1, len(l))
    return float(np.max(l - ((1 - t) * l[0] + t * l[-1])) / max((l[0] + l[-1]) / 2, 1e-300))


def merging_findings(res: dict) -> dict:
    """Per pair of seeds, whether aligning lowers the barrier (equivariant models and controls)."""
    return {f"aligning lowers the barrier between seeds ({k})": [barrier(p["aligned"]) < barrier(p["naive"])
                                                                 for p in res["seeds_pairs"][k]]
            for k in ("equivariant", "control")}


def merging_texts(res: dict, max_residual=0.5) -> dict:
    out = {}
    for key in ("mirrored", "seeds_pairs"):
        for k in ("equivariant", "control"):
            ps = res[key][k]
            out[f"{key}_{k}_naive"] = pm(stats([barrier(p["naive"]) for p in ps]))
            out[f"{key}_{k}_aligned"] = pm(stats([barrier(p["aligned"]) for p in ps]))
            out[f"{key}_{k}_lower"] = count([barrier(p["aligned"]) < barrier(p["naive"]) for p in ps],
                                            "paths" if key == "seeds_pairs" else "models")
            if key == "mirrored":
                out[f"mirrored_{k}_first"] = pm(stats([barrier(p["aligned_first"]) for p in ps]))
                out[f"mirrored_{k}_first_lower"] = count([barrier(p["aligned_first"]) < barrier(p["naive"])
                                                          for p in ps], "models")
                n = len(ps[0]["layer_residuals"])
                med = [float(np.median([p["layer_residuals"][i] for p in ps])) for i in range(n)]
                out[f"mirrored_{k}_residuals"] = ", ".join(
                    pm(stats([p["layer_residuals"][i] for p in ps]), 2) for i in range(n))
                layers = lambda ok: ", ".join(f"layer {i + 1}" for i in range(n) if (med[i] <= max_residual) == ok) or "none"
                out[f"mirrored_{k}_perm_layers"] = layers(True)
                out["perm_threshold"] = f"{max_residual:g}"
                out[f"mirrored_{k}_other_layers"] = layers(False)
    return out


def merging_table(res: dict) -> tuple:
    """Loss barriers (excess over the chord, relative to the endpoints) before and after alignment."""
    rows = []
    for key, what in (("mirrored", "with its mirrored copy"), ("seeds_pairs", "between two seeds")):
        for k in ("equivariant", "control"):
            ps = res[key][k]
            rows.append([what, KIND_NAMES[k], len(ps), pm(stats([barrier(p["naive"]) for p in ps])),
                         pm(stats([barrier(p["aligned"]) for p in ps])),
                         pm(stats([barrier(p["aligned_first"]) for p in ps])) if "aligned_first" in ps[0] else "–",
                         pm(stats([p["aligned"][len(p["aligned"]) // 2] for p in ps]), 4),
                         pm(stats([(p["aligned"][0] + p["aligned"][-1]) / 2 for p in ps]), 4)])
    return ["path", "models", "paths", "barrier, naive", "barrier, aligned (all layers)",
            "barrier, aligned (first layer only)", "midpoint loss, aligned",
            "endpoint loss (mean)"], rows


def merge_paths_figure(res: dict):
    """Test loss along the straight line between parameter sets, before (dotted) and after (solid)
    alignment, and for the mirrored copy after aligning its first layer alone (dash-dot): each
    model with its mirrored copy, and each pair of seeds."""
    fig = make_subplots(1, 2, subplot_titles=("with its mirrored copy", "between two seeds"))
    for col, key in ((1, "mirrored"), (2, "seeds_pairs")):
        for kind in ("equivariant", "control"):
            for way, dash in (("aligned", "solid"), ("naive", "dot"), ("aligned_first", "dashdot")):
                if way in res[key][kind][0]:
                    band(fig, res["alphas"], [p[way] for p in res[key][kind]], f"{kind}, {way.replace('_', ' ')}",
                          KIND_COLORS[kind], 1, col, dash)
    fig.update_xaxes(title_text="α (0: the model, 1: the other)")
    fig.update_yaxes(title_text="test loss", type="log")
    fig.update_layout(height=400, title="loss along the linear path (line: mean; band: range over models)")
    return fig
