"""The book's figures. Each function takes data and returns a plotly figure; :func:`show`
displays one, also in a static page with no kernel and no CDN, and :func:`figure` glues one
under a name for a captioned ``{glue:figure}``.

Static interactivity comes from plotly's own sliders and buttons, which work in the
built HTML without a kernel.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eqlib.report import in_book
from eqlib.symmetry import LABELS

LABEL_COLORS = {
    "self-symmetric": "#1b9e77", "anti-symmetric": "#66a61e", "mirrored pair": "#7570b3",
    "mirrored-negated pair": "#e7298a", "inactive": "#bbbbbb", "unmatched": "#d95f02",
}


def show(fig):
    """Display a figure. In the book build (``EQLIB_BOOK=1``) the figure is emitted as
    HTML that uses the plotly.js shipped with the book; elsewhere (Jupyter, Colab) as usual."""
    from IPython.display import display
    if in_book():
        display(_Figure(fig))
    else:
        fig.show()


class _Figure:
    """A plotly figure as the book displays it: HTML that uses the book's own plotly.js."""

    def __init__(self, fig):
        self.fig = fig

    def _repr_mimebundle_(self, include=None, exclude=None):
        html = self.fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})
        return {"text/html": html, "text/plain": f"<plotly figure: {self.fig.layout.title.text or ''}>"}


def figure(name, fig):
    """Show a figure with a caption: in the book it is glued under ``name`` for a
    ``{glue:figure}`` directive (which carries the caption); elsewhere it is simply shown."""
    if in_book():
        from myst_nb import glue
        glue(name, _Figure(fig), display=False)
    else:
        show(fig)


def _png(rgb: np.ndarray) -> str:
    """(H, W, 3) floats in [0, 1] -> a data-URI PNG."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def filter_image(w, scale=None, upscale=2):
    """A flattened 3x32x32 filter as an RGB image: 0.5 + w / (2 max|w|), so -w looks inverted."""
    w = np.asarray(w, np.float64).reshape(3, 32, 32).transpose(1, 2, 0)
    s = scale or max(np.abs(w).max(), 1e-12)
    return np.kron(0.5 + w / (2 * s), np.ones((upscale, upscale, 1)))


def _axes_off(fig):
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# --------------------------------------------------------------------------- training
def training_curves(history, task, title=""):
    """Task loss, equivariance loss and end-to-end equivariance error per epoch; the
    shaded region is where the equivariance loss is on."""
    ep = [h["epoch"] for h in history]
    fig = make_subplots(1, 3, horizontal_spacing=0.08,
                        subplot_titles=("task loss", "equivariance loss<br>(test)", "end-to-end equivariance<br>error (test, median)"))
    fig.add_scatter(x=ep, y=[h["train_task_loss"] for h in history], name="train task loss", row=1, col=1)
    fig.add_scatter(x=ep, y=[h["test_task_loss"] for h in history], name="test task loss", row=1, col=1)
    fig.add_scatter(x=ep, y=[h["test_equivariance_loss"] for h in history], name="test equivariance loss", row=1, col=2)
    fig.add_scatter(x=ep, y=[h["test_equivariance_error"] for h in history], name="||f(x) - g f(gx)|| / ||f(x)||",
                    row=1, col=3)
    on = [h["epoch"] for h in history if h["equivariance_weight"] > 0]
    if on:
        for col in (1, 2, 3):
            fig.add_vrect(x0=on[0] - 0.5, x1=ep[-1] + 0.5, fillcolor="#7570b3", opacity=0.12, line_width=0,
                          row=1, col=col)
        fig.add_annotation(x=on[0] - 0.5, y=0.02, yref="y domain", text="loss on", showarrow=False,
                           xanchor="left", yanchor="bottom", font=dict(size=11), row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=dict(text=title, y=0.97, yanchor="top"), height=400, margin=dict(t=110),
                      legend=dict(orientation="h", y=-0.25))
    return fig


# --------------------------------------------------------------------------- filters
def _tile_order(analysis):
    """Pairs first (side by side), then the other labels in LABELS order."""
    order, seen = [], set()
    for i, j, _ in analysis.pairs:
        order.append((i, j))
        seen |= {i, j}
    for label in LABELS:
        order += [(i,) for i, l in enumerate(analysis.labels) if l == label and i not in seen]
    return order


def filter_mosaic_image(W1, analysis, per_row=8, upscale=3):
    """The mosaic as an RGB array, with each tile's (row, col) and the cell size in pixels."""
    tile, border = 32 * upscale, 3
    cell = tile + 2 * border + 4
    positions, r, c = {}, 0, 0
    for group in _tile_order(analysis):
        if c + len(group) > per_row:       # keep a pair on one row
            r, c = r + 1, 0
        for i in group:
            positions[i] = (r, c)
            c += 1
        if c == per_row:
            r, c = r + 1, 0
    rows = max(p[0] for p in positions.values()) + 1
    canvas = np.ones((rows * cell, per_row * cell, 3))
    for i, (r, c) in positions.items():
        color = np.array([int(LABEL_COLORS[analysis.labels[i]][k:k + 2], 16) / 255 for k in (1, 3, 5)])
        y0, x0 = r * cell + 2, c * cell + 2
        canvas[y0:y0 + tile + 2 * border, x0:x0 + tile + 2 * border] = color
        canvas[y0 + border:y0 + border + tile, x0 + border:x0 + border + tile] = filter_image(W1[i], upscale=upscale)
    return canvas, positions, cell


def save_png(rgb, path):
    from PIL import Image
    Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(path)


def filter_mosaic(W1, analysis, per_row=8, upscale=3, title="first-layer filters"):
    """All filters as images with a coloured frame per label; pairs sit side by side."""
    canvas, positions, cell = filter_mosaic_image(W1, analysis, per_row, upscale)
    rows = canvas.shape[0] // cell
    fig = go.Figure(go.Image(source=_png(canvas), hoverinfo="skip"))
    for i, (r, c) in positions.items():
        fig.add_annotation(x=c * cell + 8, y=r * cell + 10, text=str(i), showarrow=False,
                           font=dict(size=9, color="white"), bgcolor="rgba(0,0,0,0.5)")
    for label in LABELS:
        fig.add_scatter(x=[None], y=[None], mode="markers", name=f"{label} ({analysis.counts.get(label, 0)})",
                        marker=dict(size=12, color=LABEL_COLORS[label], symbol="square"))
    fig.update_layout(title=title, height=rows * cell * 0.6 + 110, width=per_row * cell * 0.6 + 200,
                      margin=dict(l=10, r=10, t=50, b=10))
    return _axes_off(fig)


def filter_explorer(W1, analysis, transform, title="pick a filter"):
    """Slider over the filters: the filter, its mirror, and its matched partner (with sign)."""
    import torch
    W1 = np.asarray(W1, np.float64)
    mirrored = np.asarray(transform(torch.from_numpy(W1)))
    m = analysis.match
    fig = make_subplots(1, 3, subplot_titles=("filter w_i", "mirrored g w_i", "matched partner s w_j"))
    steps = []
    for i in range(len(W1)):
        j, s = int(m.perm[i]), int(m.signs[i])
        scale = np.abs(W1[i]).max()
        srcs = [_png(filter_image(W1[i], scale)), _png(filter_image(mirrored[i], scale)),
                _png(filter_image(s * W1[j], max(np.abs(W1[j]).max(), 1e-12)))]
        label = (f"filter {i}: {analysis.labels[i]}; g w_{i} ≈ {'+' if s > 0 else '−'}w_{j}, "
                 f"cosine {m.cosines[i]:+.3f}")
        if i == 0:
            for k, src in enumerate(srcs):
                fig.add_trace(go.Image(source=src, hoverinfo="skip"), 1, k + 1)
            first = label
        steps.append(dict(method="update", label=str(i), args=[{"source": srcs}, {"title.text": label}]))
    fig.update_layout(title=first, height=380, sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="filter "),
                                                             pad=dict(t=30))])
    return _axes_off(fig)


def signed_permutation_heatmap(P, title="fitted signed permutation"):
    fig = go.Figure(go.Heatmap(z=P, zmin=-1, zmax=1, colorscale=[[0, "#e7298a"], [0.5, "#ffffff"], [1, "#1b9e77"]],
                               colorbar=dict(tickvals=[-1, 0, 1]), hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", title="mirrored filter i")
    fig.update_xaxes(title="filter j")
    fig.update_layout(title=title, height=480, width=540)
    return fig


KIND_COLORS = {"equivariant": "#1f77b4", "control": "#7f7f7f", "augmentation": "#2ca02c", "d4": "#9467bd",
               "init": "#d95f02", "random": "#8c564b"}


def metric_readings(metric: dict, depth="first_layer", title=None):
    """The paper's metric under every reading, one panel per flip: ``metric[reading][kind][depth][flip]``
    lists per-seed values. Solid bars are the means (whiskers: standard deviations), hatched bars
    the floors (``<depth>_pre``, the prefix without its last activation) of the same models."""
    from eqlib.metric import FLIP_NAMES, READING_SHORT, READINGS, floor_key
    fig = make_subplots(2, 1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[FLIP_NAMES[f] for f in FLIP_NAMES])
    readings = list(metric)
    x = [READING_SHORT[r] for r in readings]
    for row, flip in enumerate(FLIP_NAMES, start=1):
        for kind in next(iter(metric.values())):
            color = KIND_COLORS.get(kind, "#666")
            for key, pattern, suffix in ((depth, "", ""), (floor_key(depth), "/", " (floor)")):
                vals = [np.asarray(metric[r][kind][key][flip], float) for r in readings]
                fig.add_bar(x=x, y=[v.mean() for v in vals], name=f"{kind}{suffix}", legendgroup=f"{kind}{suffix}",
                            showlegend=row == 1, marker=dict(color=color, pattern_shape=pattern),
                            error_y=dict(array=[v.std(ddof=1) if len(v) > 1 else 0 for v in vals]),
                            hovertext=[READINGS[r] for r in readings], row=row, col=1)
    fig.update_layout(title=title or f"the paper's metric, {depth.replace('_', ' ')}, beside its floor, under each reading",
                      barmode="group", height=560, legend=dict(orientation="h", y=-0.12))
    fig.update_yaxes(title_text="median relative error")
    return fig


def paper_scatter(rows, title="ours against the paper (log scales; the band is a factor 2)"):
    """Our mean against the paper's value for every row of :func:`eqlib.paper.side_by_side`, one
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


def threshold_curves(curves: dict, seeds, threshold=None, title="explained neurons against the residual threshold"):
    """``curves[kind]`` lists, per seed, ``{threshold: count}``; one line per kind and seed; a vertical
    line marks the ``threshold`` the labels use."""
    fig = go.Figure()
    dash = {"equivariant": "solid", "control": "dot", "init": "dash"}
    for kind, per_seed in curves.items():
        for seed, c in zip(seeds, per_seed):
            fig.add_scatter(x=[float(t) for t in c], y=list(c.values()), mode="lines+markers",
                            name=f"{kind}, seed {seed}", line=dict(dash=dash.get(kind, "dash")))
    if threshold is not None:
        fig.add_vline(x=threshold, line=dict(color="#888", dash="dot"))
    fig.update_layout(title=title, xaxis_title="largest relative residual accepted",
                      yaxis_title="active neurons explained", height=380)
    return fig


# --------------------------------------------------------------------------- attention
def attention_grid(images, images_m, maps, maps_m, title="attention maps: originals (top) and mirrored (bottom)"):
    """Slider over images; each step shows the image and every head's map, for the image
    and for its mirror. ``images``: (N, 32, 32, 3) in [0, 1]; ``maps``: (N, heads, G, G)."""
    n, heads = maps.shape[:2]
    fig = make_subplots(2, heads + 1, horizontal_spacing=0.01, vertical_spacing=0.08,
                        subplot_titles=["image"] + [f"head {h + 1}" for h in range(heads)] + ["mirrored"] +
                        [f"head {h + 1}" for h in range(heads)])

    def srcs(k):
        out = []
        for img, mp in ((images[k], maps[k]), (images_m[k], maps_m[k])):
            out.append(_png(img))
            for h in range(heads):
                a = mp[h] / max(mp[h].max(), 1e-12)
                out.append(_png(np.stack([a ** 0.5] * 3, -1)))
        return out

    first = srcs(0)
    for idx, src in enumerate(first):
        fig.add_trace(go.Image(source=src, hoverinfo="skip"), idx // (heads + 1) + 1, idx % (heads + 1) + 1)
    steps = [dict(method="restyle", label=str(k), args=[{"source": srcs(k)}]) for k in range(n)]
    fig.update_layout(title=title, height=330, margin=dict(l=10, r=10, t=60, b=10),
                      sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="test image "), pad=dict(t=10))])
    return _axes_off(fig)


def head_cost(cost, perm, title="head matching cost (mirrored-input head k vs. mirrored head j)"):
    fig = go.Figure(go.Heatmap(z=cost, x=[f"{j + 1}" for j in range(len(cost))], y=[f"{k + 1}" for k in range(len(cost))],
                               colorscale="Viridis_r", hovertemplate="k=%{y}, j=%{x}: %{z:.3f}<extra></extra>"))
    fig.add_scatter(x=[f"{j + 1}" for j in perm], y=[f"{k + 1}" for k in range(len(perm))], mode="markers",
                    marker=dict(symbol="x", size=12, color="red"), name="fitted permutation")
    fig.update_yaxes(autorange="reversed", title="head k on mirrored input")
    fig.update_xaxes(title="mirrored map of head j")
    fig.update_layout(title=title, height=420, width=520)
    return fig


def positional_encodings(pos, grid, dims=8, title="learned positional encodings (first channels)"):
    pos = np.asarray(pos).reshape(grid, grid, -1)
    fig = make_subplots(1, dims, subplot_titles=[f"ch {c}" for c in range(dims)], horizontal_spacing=0.01)
    for c in range(dims):
        fig.add_heatmap(z=pos[:, :, c], coloraxis="coloraxis", row=1, col=c + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=220, coloraxis=dict(colorscale="RdBu"))
    return _axes_off(fig)


# --------------------------------------------------------------------------- theory
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


# --------------------------------------------------------------------------- beyond the paper
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
    return _axes_off(fig)


def _band(fig, x, per_seed, name, color, row=None, col=None, dash="solid"):
    """Mean over seeds as a line, min-max as a shaded band."""
    a = np.asarray(per_seed, float)
    kw = dict(row=row, col=col) if row else {}
    fig.add_scatter(x=list(x) + list(x)[::-1], y=list(a.max(0)) + list(a.min(0))[::-1], fill="toself",
                    fillcolor=color, opacity=0.2, line=dict(width=0), hoverinfo="skip", showlegend=False, **kw)
    fig.add_scatter(x=list(x), y=list(a.mean(0)), name=name, line=dict(color=color, dash=dash), **kw)




def emergence_curves(res: dict):
    """Explained first-layer neurons and the first-layer metric after every epoch, mean over seeds
    (line) and their range (band), for the equivariant model and its control."""
    fig = make_subplots(1, 2, subplot_titles=("explained first-layer neurons", "first-layer metric (primary reading)"))
    x = list(range(res["epochs"] + 1))
    for kind in ("equivariant", "control"):
        _band(fig, x, [[r["explained"] for r in per] for per in res["labels"][kind]], f"{kind}: explained",
              KIND_COLORS[kind], 1, 1)
        for flip, dash in (("mirror", "solid"), ("updown", "dot")):
            _band(fig, x, [m["first_layer"][flip] for m in res["metric"][kind]], f"{kind}: {flip}",
                  KIND_COLORS[kind], 1, 2, dash)
    for c in (1, 2):
        fig.add_vline(x=res["switch_epoch"], line=dict(color="black", dash="dash"), row=1, col=c)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=400, title="emergence over training (dashed line: the loss switches on)")
    return fig


def merge_paths_figure(res: dict):
    """Test loss along the straight line between parameter sets, before (dotted) and after (solid)
    alignment, and for the mirrored copy after aligning its first layer alone (dash-dot): each
    model with its mirrored copy, and each pair of seeds."""
    fig = make_subplots(1, 2, subplot_titles=("with its mirrored copy", "between two seeds"))
    for col, key in ((1, "mirrored"), (2, "seeds_pairs")):
        for kind in ("equivariant", "control"):
            for way, dash in (("aligned", "solid"), ("naive", "dot"), ("aligned_first", "dashdot")):
                if way in res[key][kind][0]:
                    _band(fig, res["alphas"], [p[way] for p in res[key][kind]], f"{kind}, {way.replace('_', ' ')}",
                          KIND_COLORS[kind], 1, col, dash)
    fig.update_xaxes(title_text="α (0: the model, 1: the other)")
    fig.update_yaxes(title_text="test loss", type="log")
    fig.update_layout(height=400, title="loss along the linear path (line: mean; band: range over models)")
    return fig


def defect_heatmaps(fits: dict, names, title="homomorphism defect ||P(g)P(h) − P(gh)|| / √n"):
    """One heatmap of the defect over all pairs of elements per model kind."""
    kinds = list(fits)
    fig = make_subplots(1, len(kinds), subplot_titles=kinds)
    for c, k in enumerate(kinds, 1):
        fig.add_heatmap(z=fits[k]["defect"], x=list(names), y=list(names), zmin=0, zmax=2, colorscale="Viridis",
                        showscale=c == len(kinds), row=1, col=c)
    fig.update_yaxes(autorange="reversed", title_text="g")
    fig.update_xaxes(title_text="h")
    fig.update_layout(title=title, height=360)
    return fig


def orbit_filters(W1, orbits, max_orbits=10, title="filter orbits under the fitted D4 action (largest first)"):
    """One row per orbit: its filters side by side, with the orbit's size and stabiliser."""
    rows = sorted(orbits, key=lambda o: -o["size"])[:max_orbits]
    if not rows:
        return go.Figure().update_layout(title=f"{title}: no neuron is matched by every element", height=120)
    width = max(o["size"] for o in rows)
    tile = 64 + 4
    canvas = np.ones((len(rows) * tile, width * tile, 3))
    for r, o in enumerate(rows):
        for c, i in enumerate(o["neurons"]):
            canvas[r * tile + 2:r * tile + 66, c * tile + 2:c * tile + 66] = filter_image(W1[i], upscale=2)
    fig = go.Figure(go.Image(source=_png(canvas), hoverinfo="skip"))
    for r, o in enumerate(rows):
        fig.add_annotation(x=width * tile, y=r * tile + tile / 2, xanchor="left", showarrow=False,
                           text=f"size {o['size']}, stabiliser {{{', '.join(o['stabiliser'])}}}")
    fig.update_layout(title=title, height=len(rows) * tile * 0.9 + 100, width=width * tile * 0.9 + 360,
                      margin=dict(l=10, r=260, t=50, b=10))
    return _axes_off(fig)


# --------------------------------------------------------------------------- the protocol study
def study_heatmap(verdicts: dict, title="GELU / Tanh under the primary reading (● : Tanh below GELU in every seed)"):
    """Settings × the paper's six rows: the ratio of GELU's mean to Tanh's (log colour scale; above 1
    is the paper's ordering), with a dot where every Tanh seed is below every GELU seed."""
    from eqlib.paper import FLIP_SHORT, LAYER_SHORT, PAPER_TABLE, TASK_SHORT
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
    white is the paper's contrast; a dot marks where :data:`eqlib.study.CONTRAST` appears (``hits``)."""
    from eqlib.metric import READING_SHORT
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
