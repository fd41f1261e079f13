"""The filter gallery: every MLP network of the four MLP pages, its 64 first-layer filters each beside its mirror
and its matched partner, framed by label, with its counts and its metric. One static figure: a menu picks the task,
the first activation, the seed and the network (equivariant, weight-0 control, at initialisation); hover names a
filter, its label and its partner. The networks are the MLP pages' own (loaded from the model cache, or from the
book's published networks), their labels the same analysis of the same images, their metric the pages' results.
"""
from __future__ import annotations

import base64
import io
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import torch

from eqlib.analysis import first_layer
from eqlib.data import mirror
from eqlib.metric import DEFAULT_READING, READING_SHORT
from eqlib.pages.common import NULL_KINDS
from eqlib.plots import LABEL_COLORS, filter_image
from eqlib.protocol import mlp_configs
from eqlib.symmetry import LABELS
from eqlib.tables import ACT_NAMES, KIND_NAMES
from eqlib.train import initial_model, train_seeds

CONFIGURATIONS = (("autoencoder", "tanh"), ("autoencoder", "gelu"), ("classifier", "tanh"), ("classifier", "gelu"))
TILE, BORDER, GAP, PER_ROW = 32, 2, 8, 8      # a filter's pixels, its label frame, the gap between triplets, per row


def networks(data, seeds, protocol, n_images: int, progress=False) -> dict:
    """``{(task, activation, seed, kind): (W1, analysis)}`` for every MLP page's network: the equivariant model and its
    weight-0 control of every seed (train-or-load, the pages' own configurations) and the network at
    initialisation, each with its first-layer labels in the data metric on ``n_images`` training images."""
    x = data.tensors()[0][:n_images]
    out = {}
    for task, act in CONFIGURATIONS:
        mc, tc = mlp_configs(task, act, protocol=protocol)
        runs = train_seeds(mc, tc, data, seeds, progress=progress)
        for s in seeds:
            models = {k: runs[s][k].model.cpu().eval() for k in ("equivariant", "control")}
            models["init"] = initial_model(mc, replace(tc, seed=s))
            for kind, m in models.items():
                out[(task, act, s, kind)] = (m.linears[0].weight.detach().double().numpy(), first_layer(m, x))
    return out


def triplets(W1, analysis) -> tuple:
    """The image of one network: for every filter, in label order (pairs together), the filter, its mirror, and
    its partner times the fitted factor (for a signed match: ±1), all on the filter's own scale, framed by the
    filter's label; and where each triplet sits (filter -> (row, column) in pixels of its centre)."""
    order = sorted(range(len(W1)), key=lambda i: (LABELS.index(analysis.labels[i]), min(i, analysis.match.perm[i]), i))
    cell = TILE + 2 * BORDER
    width = 3 * cell + GAP
    rows = -(-len(order) // PER_ROW)
    canvas = np.ones((rows * (cell + GAP), PER_ROW * width, 3))
    factors = analysis.match.factors()
    centres = {}
    for k, i in enumerate(order):
        r, c = divmod(k, PER_ROW)
        y, x0 = r * (cell + GAP), c * width
        color = np.array([int(LABEL_COLORS[analysis.labels[i]][j:j + 2], 16) / 255 for j in (1, 3, 5)])
        scale = max(np.abs(W1[i]).max(), 1e-12)
        g = np.asarray(mirror(torch.from_numpy(W1[i])))
        partner = factors[i] * W1[analysis.match.perm[i]]
        for t, w in enumerate((W1[i], g, partner)):
            xs = x0 + t * cell
            canvas[y:y + cell, xs:xs + cell] = color
            canvas[y + BORDER:y + BORDER + TILE, xs + BORDER:xs + BORDER + TILE] = filter_image(w, scale, upscale=1)
        centres[i] = (y + cell / 2, x0 + 1.5 * cell)
    return canvas, centres


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _source(rgb: np.ndarray, slug: str, images) -> str:
    """The image as a data URI, or written to ``images``' folder and named by its URL."""
    data = _jpeg(rgb)
    if images is None:
        return "data:image/jpeg;base64," + base64.b64encode(data).decode()
    folder, url = images
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{slug}.jpg").write_bytes(data)
    return f"{url}{slug}.jpg"


def name(task, act, seed, kind) -> str:
    return f"{ACT_NAMES[act]} {task}, seed {seed}, {KIND_NAMES[kind]}"


def counts_text(analysis) -> str:
    c = analysis.counts
    return (f"explained {analysis.explained} of {int(analysis.active.sum())} active: self-symmetric "
            f"{c['self-symmetric']}, anti-symmetric {c['anti-symmetric']}, mirrored pair {c['mirrored pair']},<br>"
            f"mirrored-negated pair {c['mirrored-negated pair']}, unmatched {c['unmatched']}, inactive {c['inactive']}")


def metric_value(results: dict | None, seed_index: int, kind: str) -> str:
    """The first layer's left-right value of the paper's metric for this network, from its MLP page's results."""
    if results is None:
        return "metric: not computed here"
    v = results["metric"][DEFAULT_READING][kind]["first_layer"]["mirror"][seed_index]
    return f"paper's metric, first layer, left-right ({READING_SHORT[DEFAULT_READING]}): {v:.3g}"


def hover_texts(analysis) -> dict:
    out = {}
    for i, label in enumerate(analysis.labels):
        j, f = analysis.match.perm[i], analysis.match.factors()[i]
        partner = f"; partner {j}, factor {f:+.2g}" if label not in ("inactive",) else ""
        out[i] = f"filter {i}: {label}{partner}; residual {analysis.residuals[i]:.2f}"
    return out


def image_files(results_path, in_book: bool):
    """Where the book's gallery keeps its images: ``(folder, url)`` beside the page's results file, which the build
    copies to ``_static/pages/<page>/`` (so the page loads an image when it is chosen instead of holding all of them);
    None outside the book, where each image is embedded in the figure."""
    from pathlib import Path
    if not in_book:
        return None
    path = Path(results_path)
    return path.parent / f"{path.stem}_static", f"../../_static/pages/{path.stem}/"


def gallery(nets: dict, results: dict, images=None) -> go.Figure:
    """The gallery figure: one picture (a layout image: plotly draws a linked file only there) and one hover layer per
    network, a menu choosing which is shown, and the title carrying its counts and metric. ``results[(task,
    activation)]``: the MLP page's results (or None); ``images``: :func:`image_files` (None: embedded)."""
    keys = list(nets)
    fig = go.Figure()
    titles, size = [], None
    for n, key in enumerate(keys):
        task, act, seed, kind = key
        W1, a = nets[key]
        canvas, centres = triplets(W1, a)
        size = canvas.shape[:2]
        res = results.get((task, act))
        seeds = res["seeds"] if res else None
        titles.append(f"<b>{name(*key)}</b><br>{counts_text(a)}<br>"
                      f"{metric_value(res, seeds.index(seed), kind) if res and seed in seeds else metric_value(None, 0, kind)}")
        fig.add_layout_image(source=_source(canvas, "-".join(map(str, key)), images), xref="x", yref="y", x=0, y=0,
                             sizex=size[1], sizey=size[0], sizing="stretch", layer="below", visible=n == 0,
                             name=name(*key))
        texts = hover_texts(a)
        fig.add_trace(go.Scatter(x=[c[1] for c in centres.values()], y=[c[0] for c in centres.values()],
                                 mode="markers", marker=dict(size=30, opacity=0), visible=n == 0,
                                 text=[texts[i] for i in centres], hovertemplate="%{text}<extra></extra>",
                                 showlegend=False, name=f"hover: {name(*key)}"))
    buttons = []
    for n, key in enumerate(keys):
        shown = {f"images[{k}].visible": k == n for k in range(len(keys))}
        buttons.append(dict(label=name(*key), method="update",
                            args=[{"visible": [k == n for k in range(len(keys))] + [True] * len(LABELS)},
                                  {"title.text": titles[n], **shown}]))
    for label in LABELS:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, showlegend=True, hoverinfo="skip",
                                 marker=dict(size=12, color=LABEL_COLORS[label], symbol="square")))
    fig.update_layout(title=dict(text=titles[0], font=dict(size=12), x=0.01, xanchor="left", y=0.97, yanchor="top"),
                      height=600, width=980, margin=dict(l=10, r=10, t=170, b=10), legend=dict(orientation="h", y=-0.02),
                      plot_bgcolor="white",
                      updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right", y=1.42, yanchor="top",
                                        showactive=True, active=0)])
    fig.update_xaxes(visible=False, range=[0, size[1]])
    fig.update_yaxes(visible=False, range=[size[0], 0], scaleanchor="x")
    return fig


def gallery_texts(nets: dict, seeds) -> dict:
    return {"n_networks": str(len(nets)), "n_configurations": str(len(CONFIGURATIONS)), "n_seeds": str(len(seeds)),
            "kinds": ", ".join(KIND_NAMES[k] for k in NULL_KINDS)}


def gallery_findings(nets: dict) -> dict:
    """Per configuration and seed: whether the equivariant network explains more first-layer neurons than its
    control and than at initialisation (what the gallery shows, asserted by its page for the Tanh networks)."""
    out = {}
    for (task, act, seed, kind), (_, a) in nets.items():
        if kind == "equivariant":
            ctrl, init = nets[(task, act, seed, "control")][1], nets[(task, act, seed, "init")][1]
            out.setdefault((task, act), []).append(a.explained > ctrl.explained and a.explained > init.explained)
    return out
