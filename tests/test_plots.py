"""Each figure function returns a figure built from its data; figure() shows or glues."""
import numpy as np
import plotly.graph_objects as go
import pytest

from eqlib import plots
from eqlib.data import mirror
from eqlib.pages.dihedral import orbit_filters
from eqlib.pages.emergence import _fixed_mosaic, emergence_curves, filter_animation
from eqlib.pages.merging import merge_paths_figure
from eqlib.pages.mlp_filters import filter_explorer, metric_readings, threshold_curves
from eqlib.pages.mlp_summary import paper_scatter
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
    assert sorted(int(an.text) for an in mosaic.layout.annotations) == list(range(8)), "every filter is numbered"
    legend = {t.name for t in mosaic.data if t.name}
    assert "unmatched (8)" in legend, "the legend counts the labels of the analysis: random filters are unmatched"
    explorer = filter_explorer(W1, a, mirror)
    assert len(explorer.layout.sliders[0].steps) == 8, "one slider step per filter"


def test_metric_paper_and_threshold_figures_have_one_trace_per_series():
    per = {"mirror": [0.1, 0.2, 0.3], "updown": [0.4, 0.5, 0.6]}
    floor = {"mirror": [0.05, 0.05, 0.05], "updown": [0.4, 0.5, 0.6]}
    metric = {r: {k: {"first_layer": per, "first_layer_pre": floor} for k in ("equivariant", "control")}
              for r in ("gaussian", "images")}
    fig = metric_readings(metric)
    assert len(fig.data) == 2 * 2 * 2, "per flip panel: each kind's value and its floor"
    assert list(fig.data[0].y) == pytest.approx([0.2, 0.2]) and list(fig.data[1].y) == pytest.approx([0.05, 0.05])
    assert list(fig.data[0].x) == ["Gaussian", "images"] and fig.data[1].marker.pattern.shape == "/"
    assert list(fig.data[0].error_y.array) == pytest.approx([0.1, 0.1]), "whiskers are the sd over seeds"
    curves = {"equivariant": [{"0.5": 3, "1.0": 5}] * 2, "control": [{"0.5": 0, "1.0": 1}] * 2}
    fig = threshold_curves(curves, [0, 1], threshold=0.5)
    assert len(fig.data) == 4 and list(fig.data[0].y) == [3, 5] and fig.layout.shapes[0].x0 == 0.5
    row = {"paper": 0.1, "kind": "equivariant", "task": "autoencoder", "layers": "first_layer", "flip": "mirror",
           "activation": "tanh", "ours": {"gaussian": {"mean": 0.2}, "images": {"mean": 0.05}}}
    fig = paper_scatter([row, {**row, "kind": "control"}])
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


def test_filter_animation_has_one_jpeg_frame_per_epoch_and_a_slider():
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((3, 16, 3072))
    labels = [["unmatched"] * 16, ["self-symmetric"] * 16, ["inactive"] * 16]
    fig = filter_animation(weights, labels, switch_epoch=1)
    assert len(fig.frames) == 3 and all(f.data[0].source.startswith("data:image/jpeg") for f in fig.frames)
    assert len(fig.layout.sliders[0].steps) == 3 and "epoch 1" in fig.layout.title.text
    assert fig.frames[0].data[0].source != fig.frames[1].data[0].source, "frames differ with the labels' colours"


def test_fixed_mosaic_frames_tile_i_in_its_labels_colour():
    W = np.zeros((2, 3072))
    canvas = _fixed_mosaic(W, ["self-symmetric", "unmatched"], per_row=2, upscale=1)
    color = lambda lab: np.array([int(plots.LABEL_COLORS[lab][k:k + 2], 16) / 255 for k in (1, 3, 5)])
    # the frame holds the colour computed by the same float64 division: bitwise; 0.5 + 0 / (2 s) is exactly 0.5
    assert np.array_equal(canvas[1, 1], color("self-symmetric"))
    cell = 32 + 2 * 2 + 2
    assert np.array_equal(canvas[1, cell + 1], color("unmatched"))
    assert np.array_equal(canvas[10, 10], np.full(3, 0.5)), "a zero filter is mid-grey"


def test_emergence_and_merge_figures_draw_mean_and_range():
    labels = {k: [[{"explained": e + s} for e in range(3)] for s in range(2)] for k in ("equivariant", "control")}
    metric = {k: [{"first_layer": {"mirror": [0.5, 0.4, 0.3], "updown": [0.6, 0.6, 0.6]}}] * 2 for k in labels}
    fig = emergence_curves({"epochs": 2, "switch_epoch": 1, "labels": labels, "metric": metric})
    means = [t for t in fig.data if t.name == "equivariant: explained"]
    assert list(means[0].y) == [0.5, 1.5, 2.5], "the mean over seeds"
    path = {"alphas": [0, 0.5, 1], "mirrored": {k: [{"naive": [1, 2, 1], "aligned": [1, 1, 1]}] for k in labels},
            "seeds_pairs": {k: [{"naive": [1, 3, 1], "aligned": [1, 1.5, 1]}] for k in labels}}
    assert len(merge_paths_figure(path).data) == 2 * 2 * 2 * 2, "band and line per panel, kind and way"


def test_orbit_figure_says_when_no_neuron_is_matched():
    assert "no neuron" in orbit_filters(np.zeros((4, 3072)), []).layout.title.text
    fig = orbit_filters(np.zeros((4, 3072)), [{"neurons": [0, 1], "size": 2, "stabiliser": ["e", "s"]}])
    assert "stabiliser {e, s}" in fig.layout.annotations[0].text
