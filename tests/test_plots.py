"""Each figure function returns a figure built from its data; figure() shows or glues."""
import numpy as np
import plotly.graph_objects as go
import pytest

from eqlib import plots
from eqlib.data import mirror
from eqlib.symmetry import analyze_first_layer


def history(n=4):
    return [{"epoch": k + 1, "train_task_loss": 1.0 / (k + 1), "test_task_loss": 1.1 / (k + 1),
             "test_equivariance_loss": 0.1, "test_equivariance_error": 0.2, "equivariance_weight": float(k >= n // 2)}
            for k in range(n)]


def test_training_curves_shade_the_epochs_with_the_loss_on_and_keep_titles_apart():
    fig = plots.training_curves(history(), "autoencoder", "t")
    assert len(fig.data) == 4 and len(fig.layout.shapes) == 3, "three panels, each shaded where the loss is on"
    assert fig.layout.shapes[0].x0 == 2.5
    assert fig.layout.margin.t >= 100, "room above the panels for two-line subplot titles"
    off = [dict(h, equivariance_weight=0.0) for h in history()]
    assert plots.training_curves(off, "autoencoder").layout.shapes == (), "no shading without the loss"


def test_filter_figures_use_the_analysis():
    rng = np.random.default_rng(0)
    W1 = rng.standard_normal((8, 3072))
    a = analyze_first_layer(W1, np.zeros(8), np.ones((2, 8)))
    mosaic = plots.filter_mosaic(W1, a)
    assert isinstance(mosaic, go.Figure) and len(mosaic.layout.images) + len(mosaic.data) > 0
    explorer = plots.filter_explorer(W1, a, mirror)
    assert len(explorer.layout.sliders[0].steps) == 8, "one slider step per filter"


def test_metric_paper_and_threshold_figures_have_one_trace_per_series():
    per = {"mirror": [0.1, 0.2, 0.3], "updown": [0.4, 0.5, 0.6]}
    metric = {r: {"equivariant": {"first_layer": per}, "control": {"first_layer": per}} for r in ("gaussian", "images")}
    fig = plots.metric_readings(metric)
    assert len(fig.data) == 4 and list(fig.data[0].y) == pytest.approx([0.2, 0.2])
    assert list(fig.data[0].error_y.array) == pytest.approx([0.1, 0.1]), "whiskers are the sd over seeds"
    curves = {"equivariant": [{"0.5": 3, "1.0": 5}] * 2, "control": [{"0.5": 0, "1.0": 1}] * 2}
    assert len(plots.threshold_curves(curves, [0, 1]).data) == 4
    row = {"paper": 0.1, "kind": "equivariant", "task": "autoencoder", "layers": "first_layer", "flip": "mirror",
           "activation": "tanh", "ours": {"gaussian": {"mean": 0.2}, "images": {"mean": 0.05}}}
    fig = plots.paper_scatter([row, {**row, "kind": "control"}])
    assert fig.layout.xaxis.type == "log" and len(fig.data) == 3 + 2 * 2


def test_figure_shows_outside_the_book_and_glues_inside(monkeypatch):
    shown = []
    monkeypatch.setattr(plots, "show", lambda fig: shown.append(fig))
    monkeypatch.delenv("EQLIB_BOOK", raising=False)
    fig = go.Figure(go.Scatter(x=[0], y=[1]), layout=dict(title="x"))
    plots.figure("fig_x", fig)
    assert shown == [fig]
    monkeypatch.setenv("EQLIB_BOOK", "1")
    glued = []
    import myst_nb
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display: glued.append((name, obj, display)))
    plots.figure("fig_x", fig)
    name, obj, display = glued[0]
    bundle = obj._repr_mimebundle_()
    assert name == "fig_x" and display is False and "Plotly.newPlot" in bundle["text/html"]
    assert "cdn" not in bundle["text/html"].lower(), "the book's own plotly.js, no CDN"
