"""The activation pages: autoencoders with other first activations, each analysed in its activation's
own symmetry group, the prediction's verdict per seed, the page's findings, texts and tables.
"""
from __future__ import annotations

from dataclasses import replace

from eqlib.analysis import mlp_metric
from eqlib.stats import count, over_seeds, pm, stats
from eqlib.beyond import PREDICTED_GROUP, analyze_activation
from eqlib.metric import DEFAULT_READING
from eqlib.pages.common import check_seeds, config_record, metric_samples
from eqlib import registry
from eqlib.protocol import mlp_configs
from eqlib.results import load_or_run
from eqlib.symmetry import SCALINGS
from eqlib.tables import tested_readings
from eqlib.train import initial_model, train_seeds


# the activations beyond the paper's two, one page each: read from the registry's rows (a new one is a row there)
ACTIVATION_PAGES = tuple(row.params["activation"] for row in registry.PAGES if row.module == "activation")


ALL_ACTIVATIONS = ("tanh", "gelu") + ACTIVATION_PAGES


def activation_chapter(activation, data, seeds, n_images=20_000, n_fit=20_000, n_eval=20_000, progress=False,
                       **train_kw) -> dict:
    """Autoencoders with first activation ``activation`` (later ones GELU), trained with the paper's
    protocol over ``seeds`` (no control: the up-down flip and the network at initialisation are the
    references), each analysed in its activation's own group, with the first-layer metric under
    every reading."""
    seeds = check_seeds(seeds)
    model_config, train_config = mlp_configs("autoencoder", activation, **train_kw)
    runs = train_seeds(model_config, train_config, data, seeds, control=False, progress=progress)
    models = [runs[s]["equivariant"].model.cpu().eval() for s in seeds]
    inits = [initial_model(model_config, replace(train_config, seed=s)).eval() for s in seeds]
    x_train, _, x_test, _ = data.tensors()
    per_seed = [analyze_activation(m, x_train[:n_images], x_test[:5000]) for m in models]
    per_seed_init = [analyze_activation(m, x_train[:n_images], x_test[:5000]) for m in inits]
    metric = mlp_metric({"equivariant": models, "init": inits}, data, n_fit=n_fit, n_eval=n_eval, centred=True)
    return {"activation": activation, "predicted_group": PREDICTED_GROUP[activation], "scaling": SCALINGS[activation],
            "seeds": seeds, "per_seed": per_seed, "aggregate": over_seeds(per_seed), "metric": metric,
            "metric_samples": metric_samples(data, n_fit, n_eval),
            "per_seed_init": per_seed_init, "aggregate_init": over_seeds(per_seed_init),
            "test": [runs[s]["equivariant"].history[-1] for s in seeds],
            "train_seconds": {str(s): runs[s]["equivariant"].seconds for s in seeds},
            "config": config_record(model_config, train_config)}, models


NO_DISCRETE_PREDICTION = ("identity",)     # GL(n): every invertible map passes through the identity


def activation_verdict(res: dict, min_explained=0.5, max_ratio=2.0) -> dict:
    """Per seed, whether the prediction holds: at least ``min_explained`` of the active first-layer
    neurons explained inside the group, and the latent action inside the group at most
    ``max_ratio`` times the unconstrained affine map's residual. The identity's group is all of
    GL(n), which predicts no discrete structure: its verdict is ``None`` (not applicable)."""
    applicable = res["activation"] not in NO_DISCRETE_PREDICTION
    rows = []
    for a in res["per_seed"]:
        frac = a["explained"] / max(a["active"], 1)
        ratio = a["in_group"] / max(a["unconstrained"], 1e-300)
        structure, residual = bool(frac >= min_explained), bool(ratio <= max_ratio)
        rows.append({"explained_fraction": frac, "ratio": ratio, "structure": structure, "residual": residual,
                     "holds": structure and residual if applicable else None})
    counts = {k: sum(r[k] for r in rows) for k in ("structure", "residual")}
    return {"per_seed": rows, "holds": sum(bool(r["holds"]) for r in rows) if applicable else None, "n": len(rows),
            **counts, "applicable": applicable, "min_explained": min_explained, "max_ratio": max_ratio}


def load_or_run_activation(path, activation, seeds, data, profile="full", **kw) -> dict:
    """The results file of one activation (:func:`eqlib.results.load_or_run`): read when it exists (and
    holds that activation), else computed by :func:`activation_chapter` and written. ``data`` is
    called only then."""

    def compute(d):
        res, _ = activation_chapter(activation, d, seeds, **kw)
        return res, res.pop("config")
    return load_or_run(path, f"the {activation} results", lambda r: f"the {r.get('activation')} results", compute, data,
                       profile, seeds)


SCALING_NOTES = {
    "none": "a filter may only be matched to another filter as it is: no sign, no scale",
    "sign": "a filter may be matched to another filter or to its negative, with equal norm",
    "positive": "a filter may be matched to a positive multiple of another, so paired filters may differ in norm, "
                "but a negated match is outside the group",
    "nonzero": "a filter may be matched to any non-zero multiple of another, negative ones included",
}


def activation_findings(res: dict) -> dict:
    """Per seed, the activation page's findings against the null (the same network at initialisation):
    more neurons explained inside the group than at initialisation, and a smaller in-group latent
    residual than at initialisation. They are claimed (and asserted) only where the network learned in
    most seeds and the group predicts a discrete structure; the page says so otherwise."""
    return {"more explained than at initialisation": [a["explained"] > i["explained"] for a, i in
                                                      zip(res["per_seed"], res["per_seed_init"])],
            "in-group residual below initialisation's": [a["in_group"] < i["in_group"] for a, i in
                                                         zip(res["per_seed"], res["per_seed_init"])]}


def activation_texts(res: dict, verdict: dict) -> dict:
    """The glued phrases of an activation page."""
    agg, init = res["aggregate"], res["aggregate_init"]
    tested = tested_readings(res["metric"])
    first = lambda rd, flip: res["metric"][rd]["equivariant"]["first_layer"][flip]
    below = [m < u for m, u in zip(first(DEFAULT_READING, "mirror"), first(DEFAULT_READING, "updown"))]
    return {"predicted": res["predicted_group"], "scaling_note": SCALING_NOTES[res["scaling"]],
            "explained": pm(agg["explained"], 1), "active": pm(agg["active"], 1), "constant": pm(agg["constant"], 1),
            "negation_only": pm(agg["negation_only"], 1), "in_group": pm(agg["in_group"]),
            "unconstrained": pm(agg["unconstrained"]), "pairs_norm": pm(stats([a["pair_norm_ratio"] for a in res["per_seed"]
                                                                                if a["pairs"]] or [float("nan")]), 2),
            "metric_mirror": pm(stats(first(DEFAULT_READING, "mirror"))),
            "metric_updown": pm(stats(first(DEFAULT_READING, "updown"))),
            "metric_init": pm(stats(res["metric"][DEFAULT_READING]["init"]["first_layer"]["mirror"])),
            "metric_centred": pm(stats(res["metric"][DEFAULT_READING]["equivariant"]["first_layer_centred"]["mirror"])),
            "metric_centred_init": pm(stats(res["metric"][DEFAULT_READING]["init"]["first_layer_centred"]["mirror"])),
            "mirror_below": count(below),
            "holds": count([r["holds"] for r in verdict["per_seed"]]) if verdict["applicable"] else
            "— not applicable: all of GL(n) passes through the identity, so no discrete structure is predicted",
            "min_explained": f"{verdict['min_explained']:.0%}", "max_ratio": f"{verdict['max_ratio']:g}",
            "explained_init": pm(init["explained"], 1), "in_group_init": pm(init["in_group"]),
            "tested_readings": tested["tested"], "floor_readings": tested["at_floor"],
            "holds_init": count([activation_verdict({**res, "per_seed": res["per_seed_init"]})["per_seed"][k]["holds"]
                                 for k in range(len(res["seeds"]))]) if verdict["applicable"] else "n/a"}


def seeds_table(res: dict, verdict: dict) -> tuple:
    """One row per seed of an activation page: labels in the activation's group, and the latent
    action's residual inside the group and outside it (the best affine map)."""
    rows = []
    for s, a, i, v in zip(res["seeds"], res["per_seed"], res["per_seed_init"], verdict["per_seed"]):
        c = a["counts"]
        rows.append([s, a["active"], a["constant"], c["self-symmetric"], c["anti-symmetric"], c["mirrored pair"],
                     c["mirrored-negated pair"], c["unmatched"], a["explained"], i["explained"],
                     a["weights"]["explained"], a["negation_only"],
                     f"{a['pair_norm_ratio']:.2f}", f"{a['in_group']:.3f}", f"{i['in_group']:.3f}",
                     f"{a['unconstrained']:.3f}", "n/a" if v["holds"] is None else "✓" if v["holds"] else "✗"])
    return ["seed", "active", "constant on data", "self", "anti", "pair", "negated pair", "unmatched", "explained",
            "explained at initialisation", "explained, weights metric", "negation only", "pair norm ratio",
            "in-group residual", "in-group residual at initialisation", "unconstrained residual", "holds"], rows
