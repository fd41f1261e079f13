"""The emergence page: the Tanh autoencoder's labels and metric replayed epoch by epoch; findings,
texts and figures.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eqlib.stats import count, pm, stats
from eqlib.beyond import trace_labels, trace_metric
from eqlib.metric import DEFAULT_READING
from eqlib.pages.common import check_seeds
from eqlib.plots import KIND_COLORS, LABEL_COLORS, axes_off, band, filter_image
from eqlib.protocol import mlp_configs
from eqlib.symmetry import LABELS
from eqlib.train import train_seeds


def emergence_chapter(data, seeds, n_fit=5000, n_eval=10_000, n_label_images=10_000, progress=False,
                      **train_kw) -> dict:
    """Replay the per-epoch trace of the Tanh autoencoder and its control (from the MLP chapter's
    cache): the first-layer labels (data metric on ``n_label_images`` training images) and the
    metric (primary reading; first layer and first two layers) after every epoch. Epoch 0 is the
    shared initialisation, the null that the later counts are read against."""
    seeds = check_seeds(seeds)
    mc, tc = mlp_configs("autoencoder", "tanh", **train_kw)
    runs = train_seeds(mc, tc, data, seeds, progress=progress)
    kinds = ("equivariant", "control")
    traces = {k: [runs[s][k].trace for s in seeds] for k in kinds}
    epochs = len(traces["equivariant"][0]["weight1"])
    images = data.tensors()[0][:n_label_images]
    labels = {k: [trace_labels(t, "tanh", images) for t in ts] for k, ts in traces.items()}
    flat = {f"{k}|{i}": t for k, ts in traces.items() for i, t in enumerate(ts)}
    metric = trace_metric(flat, mc.activations, data, DEFAULT_READING, n_fit, n_eval)
    per_epoch = {k: [metric[f"{k}|{i}"] for i in range(len(seeds))] for k in kinds}
    return {"seeds": seeds, "epochs": epochs - 1, "switch_epoch": int(round(tc.equivariance_start * tc.epochs)),
            "labels": labels, "metric": per_epoch,
            "test": {k: [runs[s][k].history for s in seeds] for k in kinds}}, traces


def emergence_findings(res: dict) -> dict:
    """Per seed: whether the equivariant model explains more neurons at the end than at epoch 0 (the
    null: the same network at initialisation), than at switch-on, and than its control at the end."""
    s, end = res["switch_epoch"], res["epochs"]
    ex = lambda k, e: [per[e]["explained"] for per in res["labels"][k]]
    return {"above initialisation": [a > b for a, b in zip(ex("equivariant", end), ex("equivariant", 0))],
            "rises after switch-on": [a > b for a, b in zip(ex("equivariant", end), ex("equivariant", s))],
            "above the control": [a > b for a, b in zip(ex("equivariant", end), ex("control", end))]}


def emergence_texts(res: dict) -> dict:
    s = res["switch_epoch"]
    ex = lambda k, e: [per[e]["explained"] for per in res["labels"][k]]
    mm = lambda k, e, d="first_layer": [m[d]["mirror"][e] for m in res["metric"][k]]
    end = res["epochs"]
    # the first epoch after which the equivariant model explains more neurons than at switch-on plus half the rise
    firsts = []
    for per in res["labels"]["equivariant"]:
        target = per[s]["explained"] + 0.5 * (per[end]["explained"] - per[s]["explained"])
        firsts.append(next((e for e in range(s, end + 1) if per[e]["explained"] >= target), end) - s)
    f = emergence_findings(res)
    return {"switch": str(s), "explained_init": pm(stats(ex("equivariant", 0)), 1),
            "explained_switch": pm(stats(ex("equivariant", s)), 1),
            "explained_end": pm(stats(ex("equivariant", end)), 1), "control_end": pm(stats(ex("control", end)), 1),
            "metric_init": pm(stats(mm("equivariant", 0))), "metric_switch": pm(stats(mm("equivariant", s))),
            "metric_end": pm(stats(mm("equivariant", end))), "control_metric_end": pm(stats(mm("control", end))),
            "floor_init": pm(stats(mm("equivariant", 0, "first_layer_pre"))),
            "floor_end": pm(stats(mm("equivariant", end, "first_layer_pre"))),
            "half_rise": pm(stats(firsts), 1), "above_init": count(f["above initialisation"]),
            "rises": count(f["rises after switch-on"]), "above_control": count(f["above the control"])}


def _jpeg(rgb: np.ndarray, quality=85) -> str:
    """(H, W, 3) floats in [0, 1] -> a data-URI JPEG (animation frames: a tenth of a PNG's size)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _fixed_mosaic(W1, labels, per_row=8, upscale=2, border=2):
    """Filters in index order (tile i at row i // per_row), framed in their label's colour."""
    tile = 32 * upscale
    cell = tile + 2 * border + 2
    rows = -(-len(W1) // per_row)
    canvas = np.ones((rows * cell, per_row * cell, 3))
    for i, w in enumerate(W1):
        r, c = divmod(i, per_row)
        color = np.array([int(LABEL_COLORS[labels[i]][k:k + 2], 16) / 255 for k in (1, 3, 5)])
        y0, x0 = r * cell + 1, c * cell + 1
        canvas[y0:y0 + tile + 2 * border, x0:x0 + tile + 2 * border] = color
        canvas[y0 + border:y0 + border + tile, x0 + border:x0 + border + tile] = filter_image(w, upscale=upscale)
    return canvas


def filter_animation(weights, labels, switch_epoch, title="the first-layer filters over training"):
    """A plotly animation (play button and slider, no kernel needed) of the filters after every
    epoch, tile i always neuron i, framed by that epoch's label. ``weights``: (epochs + 1, n, 3072)."""
    frames = [go.Frame(data=[go.Image(source=_jpeg(_fixed_mosaic(np.asarray(w), lab)))], name=str(e))
              for e, (w, lab) in enumerate(zip(weights, labels))]
    fig = go.Figure(data=frames[0].data, frames=frames)
    steps = [dict(method="animate", label=str(e), args=[[str(e)], dict(mode="immediate", frame=dict(duration=0),
                                                                          transition=dict(duration=0))])
             for e in range(len(frames))]
    fig.update_layout(
        title=f"{title} (loss on from epoch {switch_epoch})", height=620, width=620, margin=dict(l=10, r=10, t=50, b=10),
        updatemenus=[dict(type="buttons", x=0, y=-0.02, xanchor="left", yanchor="top", buttons=[
            dict(label="play", method="animate", args=[None, dict(frame=dict(duration=400), fromcurrent=True)])])],
        sliders=[dict(active=0, steps=steps, x=0.12, len=0.88, y=-0.02, currentvalue=dict(prefix="after epoch "))])
    for label in LABELS:
        fig.add_scatter(x=[None], y=[None], mode="markers", name=label,
                        marker=dict(size=12, color=LABEL_COLORS[label], symbol="square"))
    return axes_off(fig)


def emergence_curves(res: dict):
    """Explained first-layer neurons and the first-layer metric after every epoch, mean over seeds
    (line) and their range (band), for the equivariant model and its control."""
    fig = make_subplots(1, 2, subplot_titles=("explained first-layer neurons", "first-layer metric (primary reading)"))
    x = list(range(res["epochs"] + 1))
    for kind in ("equivariant", "control"):
        band(fig, x, [[r["explained"] for r in per] for per in res["labels"][kind]], f"{kind}: explained",
              KIND_COLORS[kind], 1, 1)
        for flip, dash in (("mirror", "solid"), ("updown", "dot")):
            band(fig, x, [m["first_layer"][flip] for m in res["metric"][kind]], f"{kind}: {flip}",
                  KIND_COLORS[kind], 1, 2, dash)
    for c in (1, 2):
        fig.add_vline(x=res["switch_epoch"], line=dict(color="black", dash="dash"), row=1, col=c)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=400, title="emergence over training (dashed line: the loss switches on)")
    return fig
