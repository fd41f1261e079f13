"""The MLP chapters (one page per task and first activation): train (or load) one configuration over
seeds with its weight-0 controls, analyse every model, compute the paper's metric under every reading;
the page's findings, glued texts, tables and figures. The summary page calls :func:`load_or_run_mlp`
for any configuration whose results file is missing, so that it also runs alone (on Colab, say).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eqlib.analysis import (OUTGOING_RESIDUAL, analyze_mlp, direct_negated_filters, first_layer, mlp_claims, mlp_metric,
                            mlp_metric_precision, pair_outgoing)
from eqlib.metric import (DEFAULT_READING, FLIP_NAMES, FLIPS, READING_SHORT, READINGS, activation_tested, floor_key,
                          floor_ratios, off_floor)
from eqlib.models import MLPConfig
from eqlib.pages.common import KINDS, check_seeds, config_record, metric_samples
from eqlib.plots import KIND_COLORS, axes_off, png_uri, filter_image, filter_mosaic
from eqlib.protocol import mlp_configs
from eqlib.results import load_or_run
from eqlib.rules import Rule
from eqlib.stats import count, over_seeds, pm, stats
from eqlib.study import NEGATED_MIN
from eqlib.symmetry import MAX_RESIDUALS
from eqlib.tables import ACT_NAMES, KIND_NAMES, tested_readings
from eqlib.train import initial_model, train, train_seeds
from eqlib.verdicts import PAPER, Claim, grade, judged, majority


# --------------------------------------------------------------------------- the computation
@dataclass
class MLPChapter:
    runs: dict          # {seed: {kind: TrainResult}} for the trained kinds
    models: dict        # {kind: [model per seed]}, kinds: equivariant, control, init
    analyses: dict      # {kind: [analyze_mlp(...) per seed]}
    aggregate: dict     # {kind: over_seeds(analyses[kind])}
    metric: dict        # {reading: {kind: {depth: {flip: [per seed]}}}}
    seeds: list
    samples: dict       # {reading: {"fit": n, "eval": n}}
    precision: dict = None   # {reading: {"n_eval": n, "relative_se": x}}: the other readings' medians, seed 0

    def results(self) -> dict:
        """What the chapter's results file holds (per-seed values and their aggregates)."""
        pick = lambda f: {k: {str(s): f(self.runs[s][k]) for s in self.seeds} for k in KINDS}
        return {"seeds": self.seeds, "metric": self.metric, "metric_samples": self.samples, "per_seed": self.analyses,
                "metric_precision": self.precision,
                "aggregate": self.aggregate, "test": {k: [self.runs[s][k].history[-1] for s in self.seeds] for k in KINDS},
                "history": pick(lambda r: r.history), "train_seconds": pick(lambda r: r.seconds),
                "loaded_from_cache": pick(lambda r: r.loaded)}


def eval_sizes(n_eval: int, n_eval_other: int | None) -> dict:
    """The evaluation size per reading: the paper's ``n_eval`` for the primary reading, ``n_eval_other``
    (default: the same) for the others."""
    return {r: n_eval if r == DEFAULT_READING or n_eval_other is None else n_eval_other for r in READINGS}


def mlp_chapter(model_config, train_config, data, seeds, n_fit=20_000, n_eval=100_000, n_images=20_000,
                progress=False, n_eval_other=None) -> MLPChapter:
    """Train (or load) every seed and its control, analyse each model and the shared initialisation
    (the data metric and the affine fits on ``n_images`` training images, the rest on test images)
    and compute the metric under every reading: ``n_eval`` evaluation samples for the primary reading,
    ``n_eval_other`` for the others, with the bootstrap standard error of their medians at that size
    (:func:`eqlib.analysis.mlp_metric_precision`, the first seed's equivariant network)."""
    from dataclasses import replace
    seeds = check_seeds(seeds)
    runs = train_seeds(model_config, train_config, data, seeds, progress=progress)
    models = {k: [runs[s][k].model.cpu() for s in seeds] for k in KINDS}
    models["init"] = [initial_model(model_config, replace(train_config, seed=s)) for s in seeds]
    x_train, _, x_test, _ = data.tensors()
    analyses = {k: [analyze_mlp(m, train_config.task, x_train[:n_images], x_test[:5000]) for m in ms]
                for k, ms in models.items()}
    sizes = eval_sizes(n_eval, n_eval_other)
    metric = mlp_metric(models, data, n_fit=n_fit, n_eval=sizes)
    others = [r for r, n in sizes.items() if n != n_eval]
    precision = mlp_metric_precision(models["equivariant"][0], data, others, n_fit, n_eval_other) if others else {}
    return MLPChapter(runs, models, analyses, {k: over_seeds(a) for k, a in analyses.items()}, metric, seeds,
                      metric_samples(data, n_fit, sizes), precision)


def seeds_off_floor(metric: dict, kind="equivariant", reading=None, depth="first_layer") -> list:
    """Per seed, whether ``depth``'s value is off its floor (:func:`eqlib.metric.off_floor`) for at least
    one flip under ``reading`` (default: the primary one)."""
    m = metric[reading or DEFAULT_READING][kind]
    return [any(off_floor(m[depth][f][s], m[floor_key(depth)][f][s]) for f in FLIPS)
            for s in range(len(m[depth]["mirror"]))]


MLP_FINDINGS = {
    "more_than_control": "the equivariant model explains more first-layer neurons than its control",
    "more_than_init": "the equivariant model explains more first-layer neurons than at initialisation",
    "lr_below_ud": "its first layer is closer to mirror- than to up-down-equivariant (primary reading)",
    "below_control": "its first layer is more mirror-equivariant than its control's (primary reading)",
    "off_floor": "the primary reading tests the first activation: for at least one flip, the value is off its floor",
}


def mlp_findings(ch: MLPChapter) -> dict:
    """The per-seed booleans behind every finding an MLP page states (:data:`MLP_FINDINGS`), each against
    its null or control; the page asserts each in most seeds."""
    c = mlp_claims(ch.analyses, ch.metric)
    return {"more_than_control": c["more explained than control"],
            "more_than_init": c["more explained than initialisation"],
            "lr_below_ud": c["mirror below up-down"][DEFAULT_READING],
            "below_control": c["equivariant below control"][DEFAULT_READING],
            "off_floor": seeds_off_floor(ch.metric)}


def nulls_computed(metric: dict, analyses: dict, nulls=("init",)) -> bool:
    """Whether every null and every floor was computed: each null's analyses, and for every reading
    and model kind the floor of every prefix depth."""
    depths = [d for d in next(iter(next(iter(metric.values())).values())) if not d.endswith("_pre")]
    return all(n in analyses and all(n in m for m in metric.values()) for n in nulls) and all(
        floor_key(d) in m[k] for m in metric.values() for k in m for d in depths)


def mlp_texts(ch: MLPChapter) -> dict:
    """The glued phrases of an MLP page, from its numbers."""
    agg, an = ch.aggregate, ch.analyses
    first = lambda k, f, d="first_layer": pm(stats(ch.metric[DEFAULT_READING][k][d][f]))
    tested = tested_readings(ch.metric)
    out = {"n_seeds": len(ch.seeds), "primary": READING_SHORT[DEFAULT_READING],
           "bypass_total": sum(len(a["bypass_pairs"]) for a in an["equivariant"]),
           "tested_readings": tested["tested"], "floor_readings": tested["at_floor"]}
    for k, short in (("equivariant", "eq"), ("control", "ctrl"), ("init", "init")):
        out.update({f"explained_{short}": pm(agg[k]["explained"], 1), f"weights_{short}": pm(agg[k]["weights"]["explained"], 1),
                    f"median_residual_{short}": pm(agg[k]["median_residual"]), f"negated_{short}": pm(agg[k]["negated_filters"], 1),
                    f"f1_{short}": first(k, "mirror"), f"f1_ud_{short}": first(k, "updown"),
                    f"floor_{short}": first(k, "mirror", "first_layer_pre")})
    out["negation_only"] = pm(agg["equivariant"]["negation_only"], 1)
    out.update({k: count(flags) for k, flags in mlp_findings(ch).items()})
    out["precision"] = precision_text(ch.precision, ch.samples[DEFAULT_READING]["eval"])
    return out


MAX_RELATIVE_SE = 0.02     # the other readings' evaluation size must keep each median's bootstrap SE below this


def precision_text(precision: dict, n_primary: int) -> str:
    """Which evaluation sizes the readings use, and how precise the other readings' medians are at theirs."""
    if not precision:
        return f"every reading uses {n_primary:,} evaluation samples"
    worst = max(p["relative_se"] for p in precision.values())
    sizes = sorted({p["n_eval"] for p in precision.values()})
    return (f"the primary reading uses {n_primary:,} evaluation samples, as the paper does; the others use "
            f"{' or '.join(f'{n:,}' for n in sizes)}, where the bootstrap standard error of a median is at most "
            f"{worst:.1%} of its value (the first seed's network, every prefix, floor and flip: "
            + ", ".join(f"{READING_SHORT[r]} {p['relative_se']:.1%}" for r, p in precision.items())
            + f"; the page requires at most {MAX_RELATIVE_SE:.0%})")


def retrain_figure(data, model_config, train_config, seed, task, first_activation, epochs, equivariance_weight,
                   n_images=10_000):
    """What the retrain widget shows for one setting: the MLP of this page's widths and initialisation trained (or
    loaded from the cache) with the given task, first activation, length and equivariance weight, and its first-layer
    filters framed by label (the data metric on ``n_images`` training images)."""
    from dataclasses import replace
    mc = MLPConfig.paper(task, first_activation, hidden=model_config.widths[1:-1],
                         first_init_scale=model_config.init_scales[0])
    tc = replace(train_config, task=task, epochs=epochs, equivariance_weight=equivariance_weight, seed=seed)
    m = train(mc, tc, data, progress=False).model.cpu()
    return filter_mosaic(m.linears[0].weight.detach().double().numpy(), first_layer(m, data.tensors()[0][:n_images]),
                         title=f"{first_activation} {task}, {epochs} epochs, equivariance weight {equivariance_weight:g}")


def retrain_widget(data, model_config, train_config, seed, n_images=10_000):
    """An ipywidgets form over :func:`retrain_figure` (live kernels only; cached models load at once); its ``result``
    is the figure it shows."""
    import ipywidgets as widgets

    def retrain(task=train_config.task, first_activation=model_config.activations[0], epochs=train_config.epochs,
                equivariance_weight=train_config.equivariance_weight):
        return retrain_figure(data, model_config, train_config, seed, task, first_activation, epochs,
                              equivariance_weight, n_images)

    return widgets.interactive(retrain, {"manual": True}, task=["autoencoder", "classifier"],
                               first_activation=["tanh", "gelu"], epochs=(2, 40, 2), equivariance_weight=(0.0, 10.0, 0.5))


MLP_CONFIGURATIONS = (("autoencoder", "tanh"), ("autoencoder", "gelu"), ("classifier", "tanh"), ("classifier", "gelu"))


def load_or_run_mlp(path, task, first_activation, seeds, profile="full", data=None, n_fit=20_000, n_eval=100_000,
                    n_eval_other=None, **train) -> dict:
    """The results file of one MLP configuration (:func:`eqlib.results.load_or_run`): read when it exists,
    else computed as the MLP chapter computes it (training or loading the models) and written.
    ``data`` is a callable returning the data set, called only when something must be computed."""

    def compute(d):
        model_config, train_config = mlp_configs(task, first_activation, **train)
        return (mlp_chapter(model_config, train_config, d, seeds, n_fit=n_fit, n_eval=n_eval,
                            n_eval_other=n_eval_other).results(),
                config_record(model_config, train_config))
    found = lambda r: f"the {r['config']['model']['activations'][0]} {r['config']['train']['task']}"
    return load_or_run(path, f"the {first_activation} {task}", found, compute, data, profile, seeds)


# --------------------------------------------------------------------------- tables and figures
def floor_tests_table(metric: dict, kinds=None, depth="first_layer") -> tuple:
    """Per reading and model kind: the ratio of the metric to its floor for each flip (the range over
    seeds) and whether the reading tests the activation (:func:`eqlib.metric.activation_tested`: off
    the floor for at least one flip, in every seed)."""
    kinds = kinds or [k for k in next(iter(metric.values())) if k != "init"]
    rows = []
    for r in metric:
        row = [READING_SHORT[r]]
        for k in kinds:
            for f in FLIP_NAMES:
                ratios = floor_ratios({r: metric[r]}, k, depth, f)[r]
                row.append(f"{min(ratios):.2g} to {max(ratios):.2g}")
            row.append("yes" if activation_tested({r: metric[r]}, k, depth)[r] else "**no**: at its floor")
        rows.append(row)
    short = {"mirror": "left-right", "updown": "up-down"}
    return ["reading", *(x for k in kinds for x in (*(f"{KIND_NAMES[k]}: {short[f]} / floor" for f in FLIP_NAMES),
                                                   "tests the activation"))], rows


def seed_counts_table(claims: dict) -> tuple:
    """``claims[name][reading]`` lists per-seed booleans; one column per claim."""
    names = list(claims)
    readings = list(claims[names[0]])
    return ["reading", *names], [[READING_SHORT[r], *(count(claims[n][r]) for n in names)] for r in readings]


def bypass_table(analyses: dict) -> tuple:
    """Per model kind: the neurons in negated copies, the bypass pairs among them, and how linear the
    first layer's contribution is."""
    agg = {k: over_seeds(a) for k, a in analyses.items()}
    nl = lambda k, key, d: pm(agg[k]["near_linear"][key], d) if "near_linear" in agg[k] else "–"
    rows = [[KIND_NAMES[k], pm(agg[k]["negated_filters"], 1), [a["negated_filters"] for a in v],
             [direct_negated_filters(a) for a in v], [len(a["bypass_pairs"]) for a in v],
             [pair_outgoing([a])["even"] for a in v], pm(agg[k]["bypass_share"]), nl(k, "median", 3),
             nl(k, "mostly_linear", 1), pm(agg[k]["linear_r2"])] for k, v in analyses.items()]
    return ["model", "filters in negated copies", "per seed", "of them in direct copies, per seed",
            "bypass pairs per seed", "even pairs per seed", "bypass pairs' share of $W_2 h_1$",
            "median near-linear share", "neurons mostly near-linear", "affine $R^2$"], rows


def negated_structure_table(analyses: dict, threshold=None) -> tuple:
    """Per model kind and seed, the direct negated copies at the labels' threshold counted as filters, pairs and
    groups of mutually negated filters (with the largest group), and what the pairs' outgoing weights compute against
    the null of random pairs of the same network (:func:`eqlib.analysis.negated_structure`)."""
    key = str(MAX_RESIDUALS["data"] if threshold is None else threshold)
    rows = []
    for k, v in analyses.items():
        by = [a["negated"]["by_threshold"][key] for a in v]
        null = [a["negated"]["outgoing_null"] for a in v]
        pairs = [pair_outgoing([a]) for a in v]
        rows.append([KIND_NAMES[k], [b["filters"] for b in by], [b["pairs"] for b in by], [b["groups"] for b in by],
                     [b["largest"] for b in by], [p["bypass"] for p in pairs], [p["even"] for p in pairs],
                     ", ".join(f"{p['median_outgoing']:.2f}" if p["pairs"] else "–" for p in pairs),
                     ", ".join(f"{n['median']:.2f}" if "median" in n else "–" for n in null)])
    return ["model", "filters in direct copies", "pairs", "groups", "largest group", "bypass pairs", "even pairs",
            "pairs' median outgoing residual, per seed", "random pairs' median (the null), per seed"], rows


def negated_curves(analyses: dict, seeds, threshold=None):
    """Filters in direct negated copies against the residual threshold, per model kind and seed, as for the labels
    (:func:`threshold_curves`): does a count hinge on the threshold the labels use?"""
    curves = {k: [{t: c["filters"] for t, c in a["negated"]["by_threshold"].items()} for a in v]
              for k, v in analyses.items()}
    fig = threshold_curves(curves, seeds, MAX_RESIDUALS["data"] if threshold is None else threshold,
                           title="filters in direct negated copies against the residual threshold")
    fig.update_layout(yaxis_title="filters in direct negated copies")
    return fig


def propagation_table(analyses: dict) -> tuple:
    prop = {k: over_seeds([a["propagation"] for a in v]) for k, v in analyses.items()}
    n = len(next(iter(prop.values()))["layer_residuals"])
    rows = [[f"layer {i + 1}", *(x for p in prop.values() for x in (pm(p["layer_residuals"][i]), pm(p["function_errors"][i])))]
            for i in range(n)]
    return ["hidden layer", *(x for k in prop for x in (f"{KIND_NAMES[k]}: parameters", f"{KIND_NAMES[k]}: function"))], rows


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
        srcs = [png_uri(filter_image(W1[i], scale)), png_uri(filter_image(mirrored[i], scale)),
                png_uri(filter_image(s * W1[j], max(np.abs(W1[j]).max(), 1e-12)))]
        label = (f"filter {i}: {analysis.labels[i]}; g w_{i} ≈ {'+' if s > 0 else '−'}w_{j}, "
                 f"cosine {m.cosines[i]:+.3f}")
        if i == 0:
            for k, src in enumerate(srcs):
                fig.add_trace(go.Image(source=src, hoverinfo="skip"), 1, k + 1)
            first = label
        steps.append(dict(method="update", label=str(i), args=[{"source": srcs}, {"title.text": label}]))
    fig.update_layout(title=first, height=380, sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="filter "),
                                                             pad=dict(t=30))])
    return axes_off(fig)


def metric_readings(metric: dict, depth="first_layer", title=None):
    """The paper's metric under every reading, one panel per flip: ``metric[reading][kind][depth][flip]``
    lists per-seed values. Solid bars are the means (whiskers: standard deviations), hatched bars
    the floors (``<depth>_pre``, the prefix without its last activation) of the same models."""
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


# --------------------------------------------------------------------------- the report's claims this page decides

MLP_PAGES = {("autoencoder", "tanh"): "mlp_tanh_autoencoder", ("autoencoder", "gelu"): "mlp_gelu_autoencoder",
             ("classifier", "tanh"): "mlp_tanh_classifier", ("classifier", "gelu"): "mlp_gelu_classifier"}


def mlp_results(by_page: dict) -> dict:
    """The four MLP pages' results, ``{(task, first activation): results}``."""
    return {k: {**by_page[c], "seeds": by_page[c].get("seeds")} for k, c in MLP_PAGES.items()}

TANH_RULE = Rule("tanh", "reproduced if, in every seed of both Tanh configurations, at least {active_fraction:.0%} of the active "
                 "first-layer neurons are explained by a signed permutation (data metric) and more than in the "
                 "weight-0 control and at initialisation; partly if that holds in most seeds of each; not reproduced "
                 "otherwise", {"active_fraction": 0.5})

GELU_RULE = Rule("gelu", "read on the GELU autoencoder's first-layer filters in direct negated copies (pre_j ≈ −pre_i), per "
                 "seed: reproduced if, in most seeds, there are at least {negated_min}, more than in the Tanh "
                 "autoencoder of the same seed and more than at initialisation; partly if, in most seeds, there are at "
                 "least {negated_min} (but the comparisons fail); not reproduced otherwise", {"negated_min": NEGATED_MIN},
         written="after")

BYPASS_RULE = Rule("bypass", "reproduced if, in most GELU autoencoder seeds, at least one direct negated pair has opposite "
                   "outgoing weights (‖v_i + v_j‖ / max(‖v_i‖, ‖v_j‖) ≤ {residual:g}); partly if in some seed; not "
                   "reproduced otherwise", {"residual": OUTGOING_RESIDUAL}, written="after")

def tanh_claim(mlp: dict) -> dict:
    frac = TANH_RULE["active_fraction"]
    tasks = [t for (t, a) in mlp if a == "tanh"]
    ex = lambda task, kind: [a["explained"] for a in mlp[(task, "tanh")]["per_seed"][kind]]
    active = {t: [a["active"] for a in mlp[(t, "tanh")]["per_seed"]["equivariant"]] for t in tasks}
    name = lambda task, kind: f"neurons explained, Tanh {task}" + {"equivariant": "", "control": ", control",
                                                                    "init": ", at initialisation"}[kind]
    inputs = {name(t, k): ex(t, k) for t in tasks for k in ("equivariant", "control", "init")}

    def judge(i):
        per = [[e >= a * frac and e > c and e > z for e, a, c, z in zip(i[name(t, "equivariant")], active[t],
                                                                         i[name(t, "control")], i[name(t, "init")])]
               for t in tasks]
        return grade(all(all(p) for p in per), all(majority(p) for p in per))
    n = len(ex(tasks[0], "equivariant"))
    seeds = mlp[(tasks[0], "tanh")].get("seeds")
    return {**judged(judge, inputs, integer=set(inputs), seeds=seeds),
            "evidence": "explained of 64 (equivariant / control / at initialisation): autoencoder "
                        f"{ex('autoencoder', 'equivariant')} / {ex('autoencoder', 'control')} / {ex('autoencoder', 'init')}, "
                        f"classifier {ex('classifier', 'equivariant')} / {ex('classifier', 'control')} / "
                        f"{ex('classifier', 'init')}",
            "seeds": f"{n} seeds per configuration"}


def direct_counts(mlp: dict, task: str, act: str, kind: str) -> list:
    """Filters in direct negated copies per seed of one configuration's ``kind`` of model."""
    return [direct_negated_filters(a) for a in mlp[(task, act)]["per_seed"][kind]]


def structure_counts(mlp: dict, task: str, act: str, kind: str, threshold=None) -> dict:
    """Per seed, the direct negated copies counted as filters, pairs and groups (and the largest group) at the labels'
    threshold (:func:`eqlib.analysis.negated_structure`); None for results made before it was computed."""
    key = str(MAX_RESIDUALS["data"] if threshold is None else threshold)
    per = [a.get("negated", {}).get("by_threshold", {}).get(key) for a in mlp[(task, act)]["per_seed"][kind]]
    if any(p is None for p in per):
        return None
    return {k: [p[k] for p in per] for k in ("filters", "pairs", "groups", "largest")}


def pairs_phrase(mlp: dict, task: str, act: str, kind="equivariant") -> str:
    """What one configuration's direct negated pairs compute, over its seeds, in words, against the null of random
    pairs of the same networks' outgoing weights where it was computed."""
    p = pair_outgoing(mlp[(task, act)]["per_seed"][kind])
    if not p["pairs"]:
        return f"{ACT_NAMES[act]} {task}: no direct pairs"
    nulls = [a.get("negated", {}).get("outgoing_null", {}) for a in mlp[(task, act)]["per_seed"][kind]]
    null = ""
    if all("median" in n for n in nulls):
        null = (f"; random pairs of the same networks' outgoing weights give {np.median([n['median'] for n in nulls]):.2g} "
                f"(5–95 %: {min(n['q05'] for n in nulls):.2g}–{max(n['q95'] for n in nulls):.2g})")
    unrelated = p["pairs"] - p["bypass"] - p["even"]
    return (f"{ACT_NAMES[act]} {task}: {p['bypass']} of {p['pairs']} pairs a bypass, {p['even']} even, {unrelated} "
            f"unrelated; median outgoing residual {p['median_outgoing']:.2g} (smallest {p['min_outgoing']:.2g}; a "
            f"bypass gives 0, equal weights 2){null}")


def gelu_sentence(mlp: dict) -> str:
    """The GELU picture in one computed sentence: the copies with the loss against without it, GELU against Tanh,
    and what the pairs compute."""
    g, c, t = (direct_counts(mlp, "autoencoder", a, k) for a, k in (("gelu", "equivariant"), ("gelu", "control"),
                                                                     ("tanh", "equivariant")))
    n = len(g)
    fewer = sum(x < y for x, y in zip(g, c))
    more = sum(x > y for x, y in zip(g, t))
    p = pair_outgoing(mlp[("autoencoder", "gelu")]["per_seed"]["equivariant"])
    return (f"The GELU autoencoder has filters in direct negated copies {g} with the equivariance loss and {c} without "
            f"it (its weight-0 control): fewer with the loss in {fewer} of {n} seeds, so the loss does not make them; "
            f"more than the Tanh autoencoder's {t} in {more} of {n} seeds; and of their {p['pairs']} pairs, "
            f"{p['bypass']} are a bypass and {p['even']} even")


def gelu_claim(mlp: dict, negated_min=None) -> dict:
    """:data:`RULES` ``["gelu"]``: the GELU autoencoder's direct negated copies against the Tanh autoencoder's
    and initialisation's, seed by seed; the copies as pairs and groups, the controls and the classifier beside it.
    ``negated_min`` defaults to the rule's threshold, read at the call."""
    negated_min = GELU_RULE["negated_min"] if negated_min is None else negated_min
    names = {("gelu", "equivariant"): "filters in direct negated copies, GELU autoencoder",
             ("tanh", "equivariant"): "filters in direct negated copies, Tanh autoencoder",
             ("gelu", "init"): "filters in direct negated copies, GELU autoencoder at initialisation"}
    inputs = {n: direct_counts(mlp, "autoencoder", a, k) for (a, k), n in names.items()}

    def judge(i):
        g, t, z = (i[names[k]] for k in names)
        enough = [x >= negated_min for x in g]
        return grade(majority([e and x > y and x > w for e, x, y, w in zip(enough, g, t, z)]), majority(enough))
    c = lambda task, act, kind: direct_counts(mlp, task, act, kind)
    structure = ""
    ge, te = (structure_counts(mlp, "autoencoder", a, "equivariant") for a in ("gelu", "tanh"))
    if ge and te:
        structure = (f"; as pairs / groups: GELU {ge['pairs']} / {ge['groups']} (largest group {ge['largest']}), "
                     f"Tanh {te['pairs']} / {te['groups']} (largest group {te['largest']})")
    return {**judged(judge, inputs, integer=set(inputs), seeds=mlp[("autoencoder", "gelu")].get("seeds")),
            "evidence": f"filters in direct negated copies, GELU autoencoder {inputs[names[('gelu', 'equivariant')]]} "
                        f"against Tanh autoencoder {inputs[names[('tanh', 'equivariant')]]} and initialisation "
                        f"{inputs[names[('gelu', 'init')]]}{structure}; weight-0 controls: GELU "
                        f"{c('autoencoder', 'gelu', 'control')}, Tanh {c('autoencoder', 'tanh', 'control')}; GELU "
                        f"classifier {c('classifier', 'gelu', 'equivariant')} (control "
                        f"{c('classifier', 'gelu', 'control')}). {gelu_sentence(mlp)}",
            "seeds": f"{len(inputs[names[('gelu', 'equivariant')]])} seeds per configuration"}


def bypass_claim(mlp: dict) -> dict:
    """:data:`RULES` ``["bypass"]``: does any direct negated pair of the GELU autoencoder have opposite
    outgoing weights, seed by seed; what every pair computes (bypass, even unit or unrelated) against the null of
    random pairs of the same network's outgoing weights."""
    per = [pair_outgoing([a]) for a in mlp[("autoencoder", "gelu")]["per_seed"]["equivariant"]]
    name = "bypass pairs, GELU autoencoder"
    inputs = {name: [p["bypass"] for p in per]}
    judge = lambda i: grade(majority(c > 0 for c in i[name]), any(c > 0 for c in i[name]))
    return {**judged(judge, inputs, integer={name}, seeds=mlp[("autoencoder", "gelu")].get("seeds")),
            "evidence": f"GELU autoencoder: bypass pairs {[p['bypass'] for p in per]}, even pairs "
                        f"{[p['even'] for p in per]}, of direct pairs {[p['pairs'] for p in per]} per seed; "
                        f"{pairs_phrase(mlp, 'autoencoder', 'gelu')}; weight 0: "
                        f"{pairs_phrase(mlp, 'autoencoder', 'gelu', 'control')}",
            "seeds": f"{len(per)} seeds"}

CLAIMS = (
    Claim('tanh', "With a Tanh first layer, the first-layer filters are self-symmetric or come in mirrored and "
            "mirrored-negated pairs: a signed permutation under the mirror",
          f"{PAPER}, the CIFAR-10 MLP experiment's Tanh filters",
          "Tanh's filters", TANH_RULE, lambda by_page: tanh_claim(mlp_results(by_page))),
    Claim('gelu', "GELU \"resulted in degenerate parameters, particularly in the autoencoder\": first-layer filters in "
            "negated copies (the paper's observation)",
          f"{PAPER}, the paper's own summary of its experiments (quoted)",
          "GELU's negated copies", GELU_RULE, lambda by_page: gelu_claim(mlp_results(by_page))),
    Claim('bypass', "GELU degenerated \"as the network bypassed the nonlinearity to achieve equivariance without a permutation "
              "action\": the negated pairs are a linear bypass, their opposite outgoing weights making "
              "GELU(t) − GELU(−t) = t (the mechanism)",
          f"{PAPER}, the paper's own summary of its experiments (quoted): the mechanism it names, "
              "GELU(t) − GELU(−t) = t, read on the pairs' outgoing weights",
          "GELU's bypass mechanism", BYPASS_RULE, lambda by_page: bypass_claim(mlp_results(by_page))),
)
