"""A chapter's whole computation in one call, so that a notebook cell is the call and the display.

:func:`mlp_chapter` trains (or loads) one MLP configuration over seeds with its weight-0
controls, analyses every model and computes the paper's metric under every reading. The
MLP chapter shows its result; the summary page calls it for any configuration whose results
file is missing, so that it also runs alone (on Colab, say).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from eqlib.analysis import analyze_mlp, mlp_metric, mlp_metric_precision, over_seeds
from eqlib.models import MLPConfig
from eqlib.protocol import mlp_configs
from eqlib.train import initial_model, train_seeds

KINDS = ("equivariant", "control")           # the trained models of a seed
NULL_KINDS = KINDS + ("init",)               # and the shared initialisation, the null of every structure claim


def check_seeds(seeds, shown_seed=None):
    """Seeds as a chapter's parameter: a non-empty list of distinct non-negative integers, and the
    seed whose figures are drawn among them."""
    if not isinstance(seeds, (list, tuple)) or not seeds or len(set(seeds)) != len(seeds) or \
            any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"parameter seeds={seeds!r} must be a non-empty list of distinct non-negative integers")
    if shown_seed is not None and shown_seed not in seeds:
        raise ValueError(f"parameter shown_seed={shown_seed!r} is not one of the seeds {list(seeds)}")
    return list(seeds)


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


def metric_samples(data, n_fit, n_eval, readings=None) -> dict:
    """``{reading: {"fit": n, "eval": n}}``: the samples behind each reading's numbers."""
    from eqlib.metric import READINGS, reading_samples
    return {r: reading_samples(r, data, n_fit, n_eval) for r in (readings or READINGS)}


def eval_sizes(n_eval: int, n_eval_other: int | None) -> dict:
    """The evaluation size per reading: the paper's ``n_eval`` for the primary reading, ``n_eval_other``
    (default: the same) for the others."""
    from eqlib.metric import DEFAULT_READING, READINGS
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
    from eqlib.metric import DEFAULT_READING, FLIPS, floor_key, off_floor
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
    from eqlib.analysis import mlp_claims
    from eqlib.metric import DEFAULT_READING
    c = mlp_claims(ch.analyses, ch.metric)
    return {"more_than_control": c["more explained than control"],
            "more_than_init": c["more explained than initialisation"],
            "lr_below_ud": c["mirror below up-down"][DEFAULT_READING],
            "below_control": c["equivariant below control"][DEFAULT_READING],
            "off_floor": seeds_off_floor(ch.metric)}


def nulls_computed(metric: dict, analyses: dict, nulls=("init",)) -> bool:
    """Whether every null and every floor was computed: each null's analyses, and for every reading
    and model kind the floor of every prefix depth."""
    from eqlib.metric import floor_key
    depths = [d for d in next(iter(next(iter(metric.values())).values())) if not d.endswith("_pre")]
    return all(n in analyses and all(n in m for m in metric.values()) for n in nulls) and all(
        floor_key(d) in m[k] for m in metric.values() for k in m for d in depths)


def mlp_texts(ch: MLPChapter) -> dict:
    """The glued phrases of an MLP page, from its numbers."""
    from eqlib.analysis import count, pm, stats
    from eqlib.metric import DEFAULT_READING, READING_SHORT
    from eqlib.tables import tested_readings
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
    from eqlib.metric import READING_SHORT
    if not precision:
        return f"every reading uses {n_primary:,} evaluation samples"
    worst = max(p["relative_se"] for p in precision.values())
    sizes = sorted({p["n_eval"] for p in precision.values()})
    return (f"the primary reading uses {n_primary:,} evaluation samples, as the paper does; the others use "
            f"{' or '.join(f'{n:,}' for n in sizes)}, where the bootstrap standard error of a median is at most "
            f"{worst:.1%} of its value (the first seed's network, every prefix, floor and flip: "
            + ", ".join(f"{READING_SHORT[r]} {p['relative_se']:.1%}" for r, p in precision.items())
            + f"; the page requires at most {MAX_RELATIVE_SE:.0%})")


def config_record(model_config, train_config) -> dict:
    """The ``config`` entry of a results file."""
    return {"model": asdict(model_config), "train": asdict(train_config)}


def retrain_widget(data, model_config, train_config, seed):
    """An ipywidgets form that retrains one MLP with other settings and shows its first-layer
    filters (live kernels only; cached models load at once)."""
    import ipywidgets as widgets
    from dataclasses import replace
    from eqlib.analysis import first_layer
    from eqlib.plots import filter_mosaic
    from eqlib.train import train

    def retrain(task=train_config.task, first_activation=model_config.activations[0], epochs=train_config.epochs,
                equivariance_weight=train_config.equivariance_weight):
        mc = MLPConfig.paper(task, first_activation, hidden=model_config.widths[1:-1],
                             first_init_scale=model_config.init_scales[0])
        tc = replace(train_config, task=task, epochs=epochs, equivariance_weight=equivariance_weight, seed=seed)
        m = train(mc, tc, data).model.cpu()
        filter_mosaic(m.linears[0].weight.detach().double().numpy(), first_layer(m, data.tensors()[0][:10_000]),
                      title=f"{first_activation} {task}").show()

    return widgets.interactive(retrain, {"manual": True}, task=["autoencoder", "classifier"],
                               first_activation=["tanh", "gelu"], epochs=(2, 40, 2), equivariance_weight=(0.0, 10.0, 0.5))


@dataclass
class AttentionChapter:
    runs: dict          # {seed: {kind: TrainResult}}
    models: dict        # {kind: [model per seed]}, kinds: equivariant, control, at switch-on, init
    fits: dict          # {kind: [analyze_attention(...) per seed]}
    metric: dict        # {reading: {kind: {"latent" or "latent_pre": {flip: [per seed]}}}}
    seeds: list
    samples: dict       # {reading: {"fit": n, "eval": n}}

    def results(self) -> dict:
        trained = KINDS
        pick = lambda f: {k: {str(s): f(self.runs[s][k]) for s in self.seeds} for k in trained}
        return {"seeds": self.seeds, "metric": self.metric, "metric_samples": self.samples, "heads": self.fits,
                "aggregate": {k: over_seeds(v) for k, v in self.fits.items()},
                "test": {k: [self.runs[s][k].history[-1] for s in self.seeds] for k in trained},
                "history": pick(lambda r: r.history), "train_seconds": pick(lambda r: r.seconds),
                "loaded_from_cache": pick(lambda r: r.loaded)}


def attention_chapter(model_config, train_config, data, seeds, n_images=2000, n_fit=20_000, n_eval=20_000,
                      progress=False) -> AttentionChapter:
    """Train (or load) every seed and its control; fit the head permutation of both and of their
    shared state at the switch-on epoch on ``n_images`` test images; the metric of the latent."""
    from dataclasses import replace
    from eqlib.analysis import analyze_attention, attention_metric
    from eqlib.train import load_snapshot
    seeds = check_seeds(seeds)
    runs = train_seeds(model_config, train_config, data, seeds, progress=progress)
    models = {k: [runs[s][k].model.cpu().eval() for s in seeds] for k in KINDS}
    models["at switch-on"] = [load_snapshot(model_config, replace(train_config, seed=s), data)[0] for s in seeds]
    models["init"] = [initial_model(model_config, replace(train_config, seed=s)).eval() for s in seeds]
    x = data.tensors()[2][:n_images]
    fits = {k: [analyze_attention(m, x) for m in ms] for k, ms in models.items()}
    metric = attention_metric({k: models[k] for k in NULL_KINDS}, data, n_fit=n_fit, n_eval=n_eval)
    return AttentionChapter(runs, models, fits, metric, seeds, metric_samples(data, n_fit, n_eval))


def attention_texts(ch: AttentionChapter, claims: dict) -> dict:
    """The glued phrases of the attention page, from its numbers and per-seed claims."""
    from eqlib.analysis import count, pm
    agg = ch.results()["aggregate"]
    out = {"n_heads": ch.models["equivariant"][0].config.heads}
    for k, short in (("equivariant", "eq"), ("control", "ctrl"), ("init", "init"), ("at switch-on", "switch")):
        out.update({f"err_{short}": pm(agg[k]["median_error"]), f"moved_{short}": pm(agg[k]["moved_heads"], 1),
                    f"invol_{short}": count(claims["involution"][k])})
    out.update({"better": count(claims["better than control"]), "better_init": count(claims["better than initialisation"]),
                "better_both": count(claims["better than both"]), "before": count(claims["better than at switch-on"]),
                "gl_better": count(claims["linear maps better than control"]),
                "same_eq": count(claims["same as at switch-on"]["equivariant"]),
                "same_ctrl": count(claims["same as at switch-on"]["control"])})
    return out


def attention_widget(data, models, index=0):
    """An ipywidgets form that draws the attention maps of any test image and its mirror, for any
    model kind of the attention chapter (live kernels only)."""
    import ipywidgets as widgets
    import torch
    from eqlib.data import mirror
    from eqlib.plots import attention_grid
    x_test = data.tensors()[2]

    def show_image(image=0, model="equivariant"):
        x, m = x_test[image:image + 1], models[model][index]
        with torch.no_grad():
            a, am = m.attention(x), m.attention(mirror(x))
        img = data.denormalize(x).permute(0, 2, 3, 1).numpy()
        attention_grid(img, img[:, :, ::-1], a.numpy(), am.numpy()).show()

    return widgets.interactive(show_image, image=(0, len(x_test) - 1), model=list(models))


MLP_CONFIGURATIONS = (("autoencoder", "tanh"), ("autoencoder", "gelu"), ("classifier", "tanh"), ("classifier", "gelu"))


def load_or_run_mlp(path, task, first_activation, seeds, profile="full", data=None, n_fit=20_000, n_eval=100_000,
                    n_eval_other=None, **train) -> dict:
    """The results file of one MLP configuration (:func:`eqlib.report.load_or_run`): read when it exists,
    else computed as the MLP chapter computes it (training or loading the models) and written.
    ``data`` is a callable returning the data set, called only when something must be computed."""
    from eqlib.report import load_or_run

    def compute(d):
        model_config, train_config = mlp_configs(task, first_activation, **train)
        return (mlp_chapter(model_config, train_config, d, seeds, n_fit=n_fit, n_eval=n_eval,
                            n_eval_other=n_eval_other).results(),
                config_record(model_config, train_config))
    found = lambda r: f"the {r['config']['model']['activations'][0]} {r['config']['train']['task']}"
    return load_or_run(path, f"the {first_activation} {task}", found, compute, data, profile, seeds)
