"""The figures several pages share, and the helpers every figure uses (a figure only one page draws lives
in that page's module, :mod:`eqlib.pages`). Each function takes data and returns a plotly figure; :func:`show`
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

from eqlib.results import in_book
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


def png_uri(rgb: np.ndarray) -> str:
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


def axes_off(fig):
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
    fig = go.Figure(go.Image(source=png_uri(canvas), hoverinfo="skip"))
    for i, (r, c) in positions.items():
        fig.add_annotation(x=c * cell + 8, y=r * cell + 10, text=str(i), showarrow=False,
                           font=dict(size=9, color="white"), bgcolor="rgba(0,0,0,0.5)")
    pos = list(positions.items())       # hover: each tile's filter, label and partner
    fig.add_scatter(x=[(c + 0.5) * cell for _, (r, c) in pos], y=[(r + 0.5) * cell for _, (r, c) in pos],
                    mode="markers", marker=dict(size=cell * 0.5, opacity=0), showlegend=False,
                    text=[f"filter {i}: {analysis.labels[i]}" + (f", with {analysis.match.perm[i]}"
                          if analysis.match.perm[i] != i else "") for i, _ in pos],
                    hovertemplate="%{text}<extra></extra>")
    for label in LABELS:
        fig.add_scatter(x=[None], y=[None], mode="markers", name=f"{label} ({analysis.counts.get(label, 0)})",
                        marker=dict(size=12, color=LABEL_COLORS[label], symbol="square"))
    fig.update_layout(title=title, height=rows * cell * 0.6 + 110, width=per_row * cell * 0.6 + 200,
                      margin=dict(l=10, r=10, t=50, b=10))
    return axes_off(fig)


def signed_permutation_heatmap(P, title="fitted signed permutation"):
    fig = go.Figure(go.Heatmap(z=P, zmin=-1, zmax=1, colorscale=[[0, "#e7298a"], [0.5, "#ffffff"], [1, "#1b9e77"]],
                               colorbar=dict(tickvals=[-1, 0, 1]), hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", title="mirrored filter i")
    fig.update_xaxes(title="filter j")
    fig.update_layout(title=title, height=480, width=540)
    return fig


KIND_COLORS = {"equivariant": "#1f77b4", "control": "#7f7f7f", "augmentation": "#2ca02c", "d4": "#9467bd",
               "init": "#d95f02", "random": "#8c564b"}


# --------------------------------------------------------------------------- beyond the paper


def band(fig, x, per_seed, name, color, row=None, col=None, dash="solid"):
    """Mean over seeds as a line, min-max as a shaded band."""
    a = np.asarray(per_seed, float)
    kw = dict(row=row, col=col) if row else {}
    fig.add_scatter(x=list(x) + list(x)[::-1], y=list(a.max(0)) + list(a.min(0))[::-1], fill="toself",
                    fillcolor=color, opacity=0.2, line=dict(width=0), hoverinfo="skip", showlegend=False, **kw)
    fig.add_scatter(x=list(x), y=list(a.mean(0)), name=name, line=dict(color=color, dash=dash), **kw)
