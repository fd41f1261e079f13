"""The computations of the "Beyond the paper" chapters, one call each (see :mod:`eqlib.chapters`
for the paper's chapters). Every chapter trains only what it cannot reuse: runs that share the
Tanh autoencoder's loss-free first half (augmentation, the D4 loss) fork from its snapshot, and
the weight-0 controls and equivariant runs of the MLP chapters are loaded from the cache.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from eqlib.analysis import analyze_mlp, mlp_metric, over_seeds, seed_metric
from eqlib.beyond import (PREDICTED_GROUP, analyze_activation, fit_group_actions, group_equivariance_errors,
                          merge_paths, trace_labels, trace_prefix, with_random_filters)
from eqlib.chapters import check_seeds, config_record, metric_samples
from eqlib.groups import D4
from eqlib.metric import DEFAULT_READING
from eqlib.protocol import mlp_configs
from eqlib.symmetry import SCALINGS
from eqlib.train import initial_model, train, train_seeds
from eqlib.verdicts import majority

EQUIVARIANT_ENOUGH = 1 / 3      # a network counts as equivariant when its end-to-end error is at most this times the control's

ACTIVATION_PAGES = ("relu", "leaky_relu", "sigmoid", "identity", "square")
ALL_ACTIVATIONS = ("tanh", "gelu") + ACTIVATION_PAGES


def _history(runs, seeds, kind):
    return {str(s): runs[s][kind].history for s in seeds}


# --------------------------------------------------------------------------- activations
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
    """The results file of one activation (:func:`eqlib.report.load_or_run`): read when it exists (and
    holds that activation), else computed by :func:`activation_chapter` and written. ``data`` is
    called only then."""
    from eqlib.report import load_or_run

    def compute(d):
        res, _ = activation_chapter(activation, d, seeds, **kw)
        return res, res.pop("config")
    return load_or_run(path, f"the {activation} results", lambda r: f"the {r.get('activation')} results", compute, data,
                       profile, seeds)


# --------------------------------------------------------------------------- augmentation
def augmentation_chapter(data, seeds, tasks=("autoencoder", "classifier"), n_images=20_000, n_fit=20_000,
                         n_eval=20_000, progress=False, **train_kw) -> dict:
    """For each task (Tanh first layer), three ways to the second half of training: the
    equivariance loss, random mirroring of the inputs (and targets), and neither (weight 0);
    all three fork from one snapshot per seed. Per model, and for the shared initialisation: the MLP
    chapter's analysis; per kind: the metric under every reading."""
    seeds = check_seeds(seeds)
    out, models_out = {}, {}
    x_train, _, x_test, _ = data.tensors()
    for task in tasks:
        mc, tc = mlp_configs(task, "tanh", **train_kw)
        runs = train_seeds(mc, tc, data, seeds, progress=progress)
        for s in seeds:
            runs[s]["augmentation"] = train(mc, replace(tc, seed=s, equivariance_mode="augment"), data,
                                            progress=progress)
        kinds = ("equivariant", "augmentation", "control")
        models = {k: [runs[s][k].model.cpu().eval() for s in seeds] for k in kinds}
        models["init"] = [initial_model(mc, replace(tc, seed=s)).eval() for s in seeds]     # the null
        analyses = {k: [analyze_mlp(m, task, x_train[:n_images], x_test[:5000]) for m in ms] for k, ms in models.items()}
        out[task] = {"per_seed": analyses, "aggregate": {k: over_seeds(a) for k, a in analyses.items()},
                     "metric": mlp_metric(models, data, n_fit=n_fit, n_eval=n_eval),
                     "metric_samples": metric_samples(data, n_fit, n_eval),
                     "test": {k: [runs[s][k].history[-1] for s in seeds] for k in kinds},
                     "history": {k: _history(runs, seeds, k) for k in kinds},
                     "train_seconds": {k: {str(s): runs[s][k].seconds for s in seeds} for k in kinds},
                     "forked_at": {k: {str(s): runs[s][k].forked_at for s in seeds} for k in kinds}}
        models_out[task] = models
    return {"seeds": seeds, "tasks": out}, models_out


# --------------------------------------------------------------------------- D4
def dihedral_chapter(data, seeds, n_images=2000, n_label_images=10_000, progress=False, d4_weight=30.0,
                     **train_kw) -> dict:
    """Tanh autoencoders trained with the D4 equivariance loss in the second half (one random
    non-identity element per batch, weight ``d4_weight``), beside the mirror-loss models and the weight-0 controls of
    the MLP chapter (same seeds, same snapshot) and two nulls: the shared initialisation, and the
    D4 model with its filters replaced by random ones of the same norms. For each: the first-layer
    action of every element fitted as a signed permutation (data metric on ``n_label_images``
    training images), its homomorphism defect and orbits, and each element's end-to-end error on
    ``n_images`` test images."""
    seeds = check_seeds(seeds)
    mc, tc = mlp_configs("autoencoder", "tanh", **train_kw)
    runs = train_seeds(mc, tc, data, seeds, progress=progress)
    for s in seeds:
        runs[s]["d4"] = train(mc, replace(tc, seed=s, group="d4", equivariance_weight=float(d4_weight)), data,
                              progress=progress)
    kinds = ("d4", "equivariant", "control")
    models = {k: [runs[s][k].model.cpu().eval() for s in seeds] for k in kinds}
    models["init"] = [initial_model(mc, replace(tc, seed=s)).eval() for s in seeds]
    models["random"] = [with_random_filters(m, seed=s) for m, s in zip(models["d4"], seeds)]
    x = data.tensors()[2][:n_images]
    images = data.tensors()[0][:n_label_images]
    fits = {k: [fit_group_actions(m, D4, images) for m in ms] for k, ms in models.items()}
    e2e = {k: [group_equivariance_errors(m, D4, x) for m in ms] for k, ms in models.items() if k in kinds + ("init",)}
    return {"seeds": seeds, "group": list(D4.names), "table": D4.table(), "fits": fits, "end_to_end": e2e,
            "d4_weight": float(d4_weight), "n_images": len(x),
            "aggregate": {k: over_seeds([{kk: v for kk, v in f.items() if kk not in ("defect", "orbits")}
                                         for f in fs]) for k, fs in fits.items()},
            "test": {k: [runs[s][k].history[-1] for s in seeds] for k in kinds},
            "train_seconds": {k: {str(s): runs[s][k].seconds for s in seeds} for k in kinds},
            "forked_at": {k: {str(s): runs[s][k].forked_at for s in seeds} for k in kinds}}, models


# --------------------------------------------------------------------------- emergence
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
    fs = {(k, i): [trace_prefix(t, e, mc.activations) for e in range(epochs)] for k, ts in traces.items()
          for i, t in enumerate(ts)}
    flat = {f"{k}|{i}": per for (k, i), per in fs.items()}
    metric = seed_metric(flat, data, readings=[DEFAULT_READING], n_fit=n_fit, n_eval=n_eval)[DEFAULT_READING]
    per_epoch = {k: [metric[f"{k}|{i}"] for i in range(len(seeds))] for k in kinds}
    return {"seeds": seeds, "epochs": epochs - 1, "switch_epoch": int(round(tc.equivariance_start * tc.epochs)),
            "labels": labels, "metric": per_epoch,
            "test": {k: [runs[s][k].history for s in seeds] for k in kinds}}, traces


# --------------------------------------------------------------------------- merging
def merging_chapter(data, seeds, task="autoencoder", n_images=5000, alphas=tuple(np.linspace(0, 1, 11)),
                    progress=False, **train_kw) -> dict:
    """Along the straight line between parameter sets, the test loss: each model and its mirrored
    copy, and each pair of seeds, before and after aligning by the fitted hidden symmetries
    (equivariant models and weight-0 controls of the Tanh MLP chapter, loaded from the cache)."""
    seeds = check_seeds(seeds)
    mc, tc = mlp_configs(task, "tanh", **train_kw)
    runs = train_seeds(mc, tc, data, seeds, progress=progress)
    _, _, x_test, y_test = data.tensors()
    x, y = x_test[:n_images], y_test[:n_images]
    alphas = [float(a) for a in alphas]
    out = {"seeds": seeds, "task": task, "alphas": alphas, "mirrored": {}, "seeds_pairs": {}}
    for k in ("equivariant", "control"):
        ms = [runs[s][k].model.cpu().eval() for s in seeds]
        out["mirrored"][k] = [merge_paths(m, m, task, x, y, alphas, mirrored=True) for m in ms]
        out["seeds_pairs"][k] = [dict(merge_paths(ms[i], ms[j], task, x, y, alphas), pair=[seeds[i], seeds[j]])
                                 for i in range(len(ms)) for j in range(i + 1, len(ms))]
    return out


def barrier(losses) -> float:
    """The largest excess of the path's loss over the straight line between its endpoints,
    relative to the endpoints' mean (0 for a flat or convex path)."""
    l = np.asarray(losses, float)
    t = np.linspace(0, 1, len(l))
    return float(np.max(l - ((1 - t) * l[0] + t * l[-1])) / max((l[0] + l[-1]) / 2, 1e-300))


# --------------------------------------------------------------------------- the pages' phrases, from the numbers
SCALING_NOTES = {
    "none": "a filter may only be matched to another filter as it is: no sign, no scale",
    "sign": "a filter may be matched to another filter or to its negative, with equal norm",
    "positive": "a filter may be matched to a positive multiple of another, so paired filters may differ in norm, "
                "but a negated match is outside the group",
    "nonzero": "a filter may be matched to any non-zero multiple of another, negative ones included",
}


def learned(res: dict, baseline: float, fraction=0.9) -> list:
    """Per seed, whether the autoencoder learned to reconstruct: test error below ``fraction`` of
    ``baseline`` (the error of predicting the mean training image)."""
    return [t["test_reconstruction_error"] < fraction * baseline for t in res["test"]]


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
    from eqlib.analysis import count, pm, stats
    from eqlib.tables import tested_readings
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


def activations_summary_text(results: dict, verdicts: dict) -> str:
    """Where the prediction holds and where it fails, activation by activation, and which half of
    the criterion fails."""
    judged = {a: v for a, v in verdicts.items() if v["applicable"]}
    held = [a for a, v in judged.items() if v["holds"] == v["n"]]
    failed = [a for a, v in judged.items() if v["holds"] == 0]
    mixed = [a for a in judged if a not in held + failed]
    part = lambda names, what: f"{what}: {', '.join(names)}" if names else f"{what}: none"
    both = "; ".join([part(held, "both parts hold in every seed for"),
                      part(mixed, "in some seeds only for"), part(failed, "in no seed for")])
    each = ", ".join(f"{a} {v['structure']} and {v['residual']} of {v['n']}" for a, v in judged.items())
    neg = [a for a, r in results.items() if SCALINGS[a] in ("none", "positive")]
    no_neg = [a for a in neg if all(s["negation_only"] == 0 for s in results[a]["per_seed"])]
    return (f"{both}. Seeds with at least half of the active neurons explained, and with the in-group residual at "
            f"most twice the unconstrained one: {each}. Where the group has no negation ({', '.join(neg)}), no "
            f"filter needed one in {len(no_neg)} of {len(neg)} activations over all seeds.")


def augmentation_findings(res: dict) -> dict:
    """Per task and seed, whether the equivariance loss beats augmentation: a lower end-to-end
    equivariance error, and more first-layer neurons explained."""
    out = {}
    for task, r in res["tasks"].items():
        t = r["test"]
        out[f"{task}: loss more equivariant end to end than augmentation"] = [
            a["test_equivariance_error"] < b["test_equivariance_error"] for a, b in zip(t["equivariant"], t["augmentation"])]
        out[f"{task}: loss explains more neurons than augmentation"] = [
            a["explained"] > b["explained"] for a, b in zip(r["per_seed"]["equivariant"], r["per_seed"]["augmentation"])]
    return out


def augmentation_texts(res: dict) -> dict:
    """The glued phrases of the augmentation page, per task."""
    from eqlib.analysis import count, pm, stats
    out = {"enough": f"{EQUIVARIANT_ENOUGH:.2g}"}
    for task, r in res["tasks"].items():
        t = task[:2]
        e2e = {k: stats([h["test_equivariance_error"] for h in v]) for k, v in r["test"].items()}
        expl = {k: [a["explained"] for a in v] for k, v in r["per_seed"].items()}
        m = {k: r["metric"][DEFAULT_READING][k]["first_layer"]["mirror"] for k in r["per_seed"]}
        out.update({f"{t}_e2e_{k}": pm(v) for k, v in e2e.items()})
        out.update({f"{t}_explained_{k}": pm(stats(v), 1) for k, v in expl.items()})
        out.update({f"{t}_metric_{k}": pm(stats(v)) for k, v in m.items()})
        out[f"{t}_aug_more_than_control"] = count([a > c for a, c in zip(expl["augmentation"], expl["control"])])
        out[f"{t}_aug_metric_below_control"] = count([a < c for a, c in zip(m["augmentation"], m["control"])])
        out[f"{t}_aug_e2e_below_control"] = count([a["test_equivariance_error"] < c["test_equivariance_error"]
                                                   for a, c in zip(r["test"]["augmentation"], r["test"]["control"])])
        for k in ("augmentation", "equivariant"):
            ratios = [a["test_equivariance_error"] / max(c["test_equivariance_error"], 1e-300)
                      for a, c in zip(r["test"][k], r["test"]["control"])]
            out[f"{t}_{k}_ratio"] = ", ".join(f"{x:.2f}" for x in ratios)
            out[f"{t}_{k}_enough"] = count([x <= EQUIVARIANT_ENOUGH for x in ratios])
        enough = all(a["test_equivariance_error"] <= EQUIVARIANT_ENOUGH * c["test_equivariance_error"]
                     for a, c in zip(r["test"]["augmentation"], r["test"]["control"]))
        out[f"{t}_testable"] = ("equivariant enough in every seed, so the comparison below tests the prediction" if enough
                                else "not equivariant enough in every seed, so the comparison below cannot confirm or refute "
                                     "the prediction: it shows what augmentation does to the layers at the equivariance it "
                                     "reaches")
    for i, flags in enumerate(augmentation_findings(res).values()):
        out[f"loss_beats_aug_{i}"] = count(flags)
    return out


DIHEDRAL_NULLS = ("control", "init", "random")


def end_to_end_ratios(res: dict, kind="d4") -> list:
    """Per seed, the ``kind`` model's end-to-end error over D4's non-identity elements (mean of the elements'
    medians) as a fraction of the weight-0 control's."""
    mean = lambda errs: sum(errs[1:]) / (len(errs) - 1)
    return [mean(a) / max(mean(c), 1e-300) for a, c in zip(res["end_to_end"][kind], res["end_to_end"]["control"])]


def dihedral_findings(res: dict) -> dict:
    """Per seed, whether the D4 model's homomorphism defect is below each null's (the mirror-loss model's
    is reported, not claimed)."""
    d4 = [f["mean_defect"] for f in res["fits"]["d4"]]
    return {k: [a < b["mean_defect"] for a, b in zip(d4, res["fits"][k])] for k in DIHEDRAL_NULLS}


def dihedral_texts(res: dict) -> dict:
    from eqlib.analysis import count, pm, stats
    a = res["aggregate"]
    n = len(res["group"]) - 1
    out = {"n_products": str(n * n), "n_elements": str(n), "order": str(n + 1)}
    for k in res["fits"]:
        out[f"{k}_defect"] = pm(a[k]["mean_defect"])
        out[f"{k}_exact"] = pm(a[k]["exact_products"], 1)
        out[f"{k}_orders"] = pm(a[k]["orders_agree"], 1)
        out[f"{k}_matched"] = pm(a[k]["matched_by_every_element"], 1)
        out[f"{k}_orbit_law"] = f"{sum(f['orbit_stabiliser_holds'] for f in res['fits'][k])} of " \
                                f"{sum(len(f['orbits']) for f in res['fits'][k])}"
    findings = dihedral_findings(res)
    out.update({f"d4_below_{k}": count(v) for k, v in findings.items()})
    holds = all(majority(v) for v in findings.values())
    out["d4_prediction"] = ("below every null in most seeds, so the fitted actions compose better than chance" if holds
                            else "not below every null in most seeds, so the prediction is not borne out on these networks")
    out["d4_below_mirror"] = count([d["mean_defect"] < c["mean_defect"]
                                    for d, c in zip(res["fits"]["d4"], res["fits"]["equivariant"])])
    mean = lambda errs: sum(errs[1:]) / (len(errs) - 1)
    for k in ("d4", "equivariant", "control", "init"):
        out[f"{k}_e2e"] = pm(stats([mean(e) for e in res["end_to_end"][k]]))
    ratios = end_to_end_ratios(res)
    out["d4_ratio"] = ", ".join(f"{r:.2f}" for r in ratios)
    out["d4_enough"] = count([r <= EQUIVARIANT_ENOUGH for r in ratios])
    out["enough"] = f"{EQUIVARIANT_ENOUGH:.2g}"
    out["d4_weight"] = f"{res.get('d4_weight', 1.0):g}"
    out["n_test"] = f"{res.get('n_images', 0):,}"
    return out


def emergence_findings(res: dict) -> dict:
    """Per seed: whether the equivariant model explains more neurons at the end than at epoch 0 (the
    null: the same network at initialisation), than at switch-on, and than its control at the end."""
    s, end = res["switch_epoch"], res["epochs"]
    ex = lambda k, e: [per[e]["explained"] for per in res["labels"][k]]
    return {"above initialisation": [a > b for a, b in zip(ex("equivariant", end), ex("equivariant", 0))],
            "rises after switch-on": [a > b for a, b in zip(ex("equivariant", end), ex("equivariant", s))],
            "above the control": [a > b for a, b in zip(ex("equivariant", end), ex("control", end))]}


def emergence_texts(res: dict) -> dict:
    from eqlib.analysis import count, pm, stats
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


def merging_findings(res: dict) -> dict:
    """Per pair of seeds, whether aligning lowers the barrier (equivariant models and controls)."""
    return {f"aligning lowers the barrier between seeds ({k})": [barrier(p["aligned"]) < barrier(p["naive"])
                                                                 for p in res["seeds_pairs"][k]]
            for k in ("equivariant", "control")}


def merging_texts(res: dict, max_residual=0.5) -> dict:
    from eqlib.analysis import count, pm, stats
    out = {}
    for key in ("mirrored", "seeds_pairs"):
        for k in ("equivariant", "control"):
            ps = res[key][k]
            out[f"{key}_{k}_naive"] = pm(stats([barrier(p["naive"]) for p in ps]))
            out[f"{key}_{k}_aligned"] = pm(stats([barrier(p["aligned"]) for p in ps]))
            out[f"{key}_{k}_lower"] = count([barrier(p["aligned"]) < barrier(p["naive"]) for p in ps],
                                            "paths" if key == "seeds_pairs" else "models")
            if key == "mirrored":
                out[f"mirrored_{k}_first"] = pm(stats([barrier(p["aligned_first"]) for p in ps]))
                out[f"mirrored_{k}_first_lower"] = count([barrier(p["aligned_first"]) < barrier(p["naive"])
                                                          for p in ps], "models")
                n = len(ps[0]["layer_residuals"])
                med = [float(np.median([p["layer_residuals"][i] for p in ps])) for i in range(n)]
                out[f"mirrored_{k}_residuals"] = ", ".join(
                    pm(stats([p["layer_residuals"][i] for p in ps]), 2) for i in range(n))
                layers = lambda ok: ", ".join(f"layer {i + 1}" for i in range(n) if (med[i] <= max_residual) == ok) or "none"
                out[f"mirrored_{k}_perm_layers"] = layers(True)
                out["perm_threshold"] = f"{max_residual:g}"
                out[f"mirrored_{k}_other_layers"] = layers(False)
    return out
