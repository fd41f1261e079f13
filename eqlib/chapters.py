"""A chapter's whole computation in one call, so that a notebook cell is the call and the display.

:func:`mlp_chapter` trains (or loads) one MLP configuration over seeds with its weight-0
controls, analyses every model and computes the paper's metric under every reading. The
MLP chapter shows its result; the summary page calls it for any configuration whose results
file is missing, so that it also runs alone (on Colab, say).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from eqlib.analysis import analyze_mlp, mlp_metric, over_seeds
from eqlib.models import MLPConfig
from eqlib.train import TrainConfig, initial_model, train_seeds

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


def mlp_configs(task="autoencoder", first_activation="tanh", hidden=(64, 256, 256), first_init_scale=0.01,
                **train) -> tuple:
    """``(MLPConfig, TrainConfig)`` of an MLP chapter; both validate their values, and the chapter's
    own parameters are named in the message when they are wrong."""
    from eqlib.losses import TASKS
    from eqlib.models import ACTIVATIONS
    from eqlib.report import check_choice, check_int
    check_choice("task", task, list(TASKS))
    check_choice("first_activation", first_activation, list(ACTIVATIONS))
    for k in ("epochs", "train_size"):
        if k in train:
            check_int(k, train[k])
    return (MLPConfig.paper(task, first_activation, hidden=hidden, first_init_scale=first_init_scale),
            TrainConfig(task=task, **train))


@dataclass
class MLPChapter:
    runs: dict          # {seed: {kind: TrainResult}} for the trained kinds
    models: dict        # {kind: [model per seed]}, kinds: equivariant, control, init
    analyses: dict      # {kind: [analyze_mlp(...) per seed]}
    aggregate: dict     # {kind: over_seeds(analyses[kind])}
    metric: dict        # {reading: {kind: {depth: {flip: [per seed]}}}}
    seeds: list
    samples: dict       # {reading: {"fit": n, "eval": n}}

    def results(self) -> dict:
        """What the chapter's results file holds (per-seed values and their aggregates)."""
        pick = lambda f: {k: {str(s): f(self.runs[s][k]) for s in self.seeds} for k in KINDS}
        return {"seeds": self.seeds, "metric": self.metric, "metric_samples": self.samples, "per_seed": self.analyses,
                "aggregate": self.aggregate, "test": {k: [self.runs[s][k].history[-1] for s in self.seeds] for k in KINDS},
                "history": pick(lambda r: r.history), "train_seconds": pick(lambda r: r.seconds),
                "loaded_from_cache": pick(lambda r: r.loaded)}


def metric_samples(data, n_fit, n_eval, readings=None) -> dict:
    """``{reading: {"fit": n, "eval": n}}``: the samples behind each reading's numbers."""
    from eqlib.metric import READINGS, reading_samples
    return {r: reading_samples(r, data, n_fit, n_eval) for r in (readings or READINGS)}


def mlp_chapter(model_config, train_config, data, seeds, n_fit=20_000, n_eval=100_000, n_images=20_000,
                progress=False) -> MLPChapter:
    """Train (or load) every seed and its control, analyse each model and the shared initialisation
    (the data metric and the affine fits on ``n_images`` training images, the rest on test images)
    and compute the metric under every reading."""
    from dataclasses import replace
    seeds = check_seeds(seeds)
    runs = train_seeds(model_config, train_config, data, seeds, progress=progress)
    models = {k: [runs[s][k].model.cpu() for s in seeds] for k in KINDS}
    models["init"] = [initial_model(model_config, replace(train_config, seed=s)) for s in seeds]
    x_train, _, x_test, _ = data.tensors()
    analyses = {k: [analyze_mlp(m, train_config.task, x_train[:n_images], x_test[:5000]) for m in ms]
                for k, ms in models.items()}
    metric = mlp_metric(models, data, n_fit=n_fit, n_eval=n_eval)
    return MLPChapter(runs, models, analyses, {k: over_seeds(a) for k, a in analyses.items()}, metric, seeds,
                      metric_samples(data, n_fit, n_eval))


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
        filter_mosaic(m.linears[0].weight.detach().double().numpy(), first_layer(m),
                      title=f"{first_activation} {task}").show()

    return widgets.interactive(retrain, {"manual": True}, task=["autoencoder", "classifier"],
                               first_activation=["tanh", "gelu"], epochs=(2, 40, 2), equivariance_weight=(0.0, 10.0, 0.5))


@dataclass
class AttentionChapter:
    runs: dict          # {seed: {kind: TrainResult}}
    models: dict        # {kind: [model per seed]}, kinds: equivariant, control, at switch-on, init
    fits: dict          # {kind: [analyze_attention(...) per seed]}
    metric: dict        # {reading: {kind: {flip: [per seed]}}}
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
    from eqlib.analysis import analyze_attention, seed_metric
    from eqlib.train import load_snapshot
    seeds = check_seeds(seeds)
    runs = train_seeds(model_config, train_config, data, seeds, progress=progress)
    models = {k: [runs[s][k].model.cpu().eval() for s in seeds] for k in KINDS}
    models["at switch-on"] = [load_snapshot(model_config, replace(train_config, seed=s), data)[0] for s in seeds]
    models["init"] = [initial_model(model_config, replace(train_config, seed=s)).eval() for s in seeds]
    x = data.tensors()[2][:n_images]
    fits = {k: [analyze_attention(m, x) for m in ms] for k, ms in models.items()}
    metric = seed_metric({k: [m.latent for m in models[k]] for k in NULL_KINDS}, data, n_fit=n_fit, n_eval=n_eval)
    return AttentionChapter(runs, models, fits, metric, seeds, metric_samples(data, n_fit, n_eval))


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
                    **train) -> dict:
    """The results file of one MLP configuration (:func:`eqlib.report.load_or_run`): read when it exists,
    else computed as the MLP chapter computes it (training or loading the models) and written.
    ``data`` is a callable returning the data set, called only when something must be computed."""
    from eqlib.report import load_or_run

    def compute(d):
        model_config, train_config = mlp_configs(task, first_activation, **train)
        return (mlp_chapter(model_config, train_config, d, seeds, n_fit=n_fit, n_eval=n_eval).results(),
                config_record(model_config, train_config))
    found = lambda r: f"the {r['config']['model']['activations'][0]} {r['config']['train']['task']}"
    return load_or_run(path, f"the {first_activation} {task}", found, compute, data, profile, seeds)


# --------------------------------------------------------------------------- the sensitivity study
def sensitivity_settings(weights, epoch_grid, ramp_weights, default_weight=1.0, default_epochs=20) -> list:
    """``(weight, epochs, schedule)`` of every run: the weights at the default length, the lengths at
    the default weight, and linear ramps to the ``ramp_weights``; validated, sorted, without repeats."""
    nonneg = lambda ws: isinstance(ws, (list, tuple)) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in ws)
    if not weights or not nonneg(weights):
        raise ValueError(f"parameter weights={weights!r} must be a non-empty list of non-negative numbers")
    if not nonneg(ramp_weights):
        raise ValueError(f"parameter ramp_weights={ramp_weights!r} must be a list of non-negative numbers")
    if not epoch_grid or not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in epoch_grid):
        raise ValueError(f"parameter epoch_grid={epoch_grid!r} must be a non-empty list of positive integers")
    return sorted({(float(w), default_epochs, "step") for w in weights}
                  | {(float(default_weight), e, "step") for e in epoch_grid}
                  | {(float(w), default_epochs, "linear") for w in ramp_weights})


def sensitivity_runs(model_config, settings, data, seed=0, train_size=0, n_fit=20_000, n_eval=20_000,
                     progress=False) -> list:
    """Train (or load, or fork) every setting with one seed; one row per run with its test numbers,
    first-layer labels and the first-layer metric under every reading."""
    from eqlib.analysis import first_layer, seed_metric
    from eqlib.train import train
    trained = [train(model_config, TrainConfig(epochs=e, equivariance_weight=w, equivariance_schedule=s, seed=seed,
                                               train_size=train_size), data, progress=progress) for w, e, s in settings]
    metric = seed_metric({"runs": [(lambda x, m=r.model.cpu(): m.hidden(x, 1)) for r in trained]}, data,
                         n_fit=n_fit, n_eval=n_eval)
    rows = []
    for k, ((w, e, s), r) in enumerate(zip(settings, trained)):
        a = first_layer(r.model.cpu())
        m = {rd: {f: v["runs"][f][k] for f in v["runs"]} for rd, v in metric.items()}
        rows.append({"weight": w, "epochs": e, "schedule": s, "reconstruction": r.history[-1]["test_reconstruction_error"],
                     "equivariance_error": r.history[-1]["test_equivariance_error"], "counts": a.counts,
                     "explained": a.explained, "median_residual": a.median_residual, "seconds": r.seconds,
                     "forked_at": r.forked_at, "metric": m, "metric_mirror": m["gaussian"]["mirror"],
                     "metric_control": m["gaussian"]["updown"]})
    return rows


def sensitivity_reading(rows, default_weight=1.0, default_epochs=20) -> dict:
    """The phrases of the sensitivity page's reading, from its rows."""
    by_weight = [r for r in rows if r["epochs"] == default_epochs and r["schedule"] == "step"]
    by_epochs = [r for r in rows if r["weight"] == default_weight and r["schedule"] == "step"]
    ramps = [r for r in rows if r["schedule"] == "linear"]
    pairs = lambda r: r["counts"]["mirrored pair"] + r["counts"]["mirrored-negated pair"]
    span = lambda rs, f: f"{f(rs[0])} to {f(rs[-1])}"
    out = {"w_range": span(by_weight, lambda r: r["weight"]),
           "w_metric": span(by_weight, lambda r: f"{r['metric_mirror']:.3f}"),
           "w_control": span(by_weight, lambda r: f"{r['metric_control']:.3f}"),
           "w_recon": span(by_weight, lambda r: f"{r['reconstruction']:.4f}"),
           "w_explained": span(by_weight, lambda r: r["explained"]), "w_pairs": span(by_weight, pairs),
           "e_range": span(by_epochs, lambda r: r["epochs"]),
           "e_metric": span(by_epochs, lambda r: f"{r['metric_mirror']:.3f}"),
           "e_e2e": span(by_epochs, lambda r: f"{r['equivariance_error']:.3f}"),
           "e_explained": span(by_epochs, lambda r: r["explained"])}
    out["ramps"] = "; ".join(
        f"a linear ramp to weight {r['weight']} ends with reconstruction error {r['reconstruction']:.4f}, end-to-end "
        f"equivariance error {r['equivariance_error']:.3f}, metric {r['metric_mirror']:.3f} (up-down "
        f"{r['metric_control']:.3f}) and {r['explained']} explained neurons" for r in ramps) or "no ramp was run"
    return out
