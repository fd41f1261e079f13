"""What the pages tabulate, as ``(header, rows)`` for :func:`eqlib.report.md_table`.

Every function takes results already computed (a chapter's per-seed analyses, its metric,
...) and only arranges and formats them: mean ± standard deviation over seeds, with the
per-seed values where a count is shown.
"""
from __future__ import annotations

import numpy as np

from eqlib.analysis import (FLOOR_NAMES, count, direct_negated_filters, over_seeds, pair_outgoing, pm,
                            stats)
from eqlib.metric import (DEFAULT_READING, FLIP_NAMES, READING_SHORT, activation_tested, floor_key,
                          floor_ratios)
from eqlib.symmetry import LABELS

KIND_NAMES = {"equivariant": "equivariant", "control": "control (weight 0)", "at switch-on": "at switch-on",
              "augmentation": "augmentation", "d4": "D4 loss", "init": "at initialisation",
              "random": "random filters (same norms)"}


ACT_NAMES = {"tanh": "Tanh", "gelu": "GELU"}


def quality_key(task) -> str:
    return "test_accuracy" if task == "classifier" else "test_reconstruction_error"


def test_quality(test: dict, train_seconds: dict, task) -> tuple:
    """``test[kind]`` lists the last history row per seed; ``train_seconds[kind]`` maps seed to seconds."""
    key = quality_key(task)
    rows = [[KIND_NAMES[k], pm(stats([t[key] for t in ts]), 4), pm(stats([t["test_equivariance_error"] for t in ts])),
             f"{sum(train_seconds[k].values()):.0f}"] for k, ts in test.items()]
    return ["model", key.replace("_", " "), "end-to-end equivariance error", "training, all seeds (s)"], rows


def labels(analyses: dict) -> tuple:
    """Label counts in the data metric: mean ± sd and the per-seed values, per model kind (the
    trained models beside the network at initialisation); the last row is the weights metric's
    count of explained neurons, the first release's reading."""
    agg = {k: over_seeds(a) for k, a in analyses.items()}
    rows = [[lab, *(x for k in analyses for x in (pm(agg[k]["counts"][lab], 1), [a["counts"][lab] for a in analyses[k]]))]
            for lab in LABELS]
    rows.append(["**explained** (active and matched)",
                 *(x for k in analyses for x in (pm(agg[k]["explained"], 1), [a["explained"] for a in analyses[k]]))])
    rows.append(["explained, weights metric",
                 *(x for k in analyses for x in (pm(agg[k]["weights"]["explained"], 1),
                                                 [a["weights"]["explained"] for a in analyses[k]]))])
    return ["label", *(x for k in analyses for x in (KIND_NAMES[k], "per seed"))], rows


def mlp_metric(metric: dict, samples: dict, depth="first_layer") -> tuple:
    """The paper's metric at one prefix depth, every reading and flip, per model kind, each value
    beside its floor (the same prefix without its last activation), with the samples behind it; and
    beside them the centred variant (``<depth>_centred``, :func:`eqlib.metric.shared_linear_equivariance`)
    where the metric holds one."""
    kinds = list(next(iter(metric.values())))
    fl, ce = floor_key(depth), f"{depth}_centred"
    centred = all(ce in metric[r][k] for r in metric for k in kinds)
    cols = lambda r, k, f: (pm(stats(metric[r][k][depth][f])), pm(stats(metric[r][k][fl][f])),
                            *((pm(stats(metric[r][k][ce][f])),) if centred else ()))
    rows = [[READING_SHORT[r], f"{samples[r]['fit']:,} / {samples[r]['eval']:,}", FLIP_NAMES[f],
             *(x for k in kinds for x in cols(r, k, f))] for r in metric for f in FLIP_NAMES]
    return ["reading", "samples (fit / eval)", "flip",
            *(x for k in kinds for x in (KIND_NAMES[k], f"floor ({FLOOR_NAMES[depth]})",
                                         *((f"{KIND_NAMES[k]}, centred",) if centred else ())))], rows


def floor_tests(metric: dict, kinds=None, depth="first_layer") -> tuple:
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


def tested_readings(metric: dict, kind="equivariant", depth="first_layer") -> dict:
    """The glued phrases that say which readings test the activation of ``kind``."""
    t = activation_tested(metric, kind, depth)
    names = lambda ok: ", ".join(READING_SHORT[r] for r, v in t.items() if v == ok) or "none"
    return {"tested": names(True), "at_floor": names(False)}


def flat_metric(metric: dict, samples: dict, key="latent") -> tuple:
    """The metric of a single latent (attention), ``metric[reading][kind][key][flip]``, beside its floor
    (``<key>_pre``), with the samples."""
    kinds = list(next(iter(metric.values())))
    rows = [[READING_SHORT[r], f"{samples[r]['fit']:,} / {samples[r]['eval']:,}", FLIP_NAMES[f],
             *(x for k in kinds for x in (pm(stats(metric[r][k][key][f])), pm(stats(metric[r][k][f"{key}_pre"][f]))))]
            for r in metric for f in FLIP_NAMES]
    return ["reading", "samples (fit / eval)", "flip", *(x for k in kinds for x in (KIND_NAMES[k], "floor"))], rows


def seed_counts(claims: dict) -> tuple:
    """``claims[name][reading]`` lists per-seed booleans; one column per claim."""
    names = list(claims)
    readings = list(claims[names[0]])
    return ["reading", *names], [[READING_SHORT[r], *(count(claims[n][r]) for n in names)] for r in readings]


def bypass(analyses: dict) -> tuple:
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


def negated_pairs(mlp: dict) -> tuple:
    """What the direct negated pairs compute, per configuration and model kind, over all seeds
    (:func:`eqlib.analysis.pair_outgoing`): the pairs, the bypasses (opposite outgoing weights) and even
    units (equal ones) among them, and the outgoing residual's quartiles (0: a bypass, 2: equal weights).
    ``mlp[(task, activation)]`` is an MLP chapter's results."""
    rows = []
    for (task, act), r in mlp.items():
        for kind, analyses in r["per_seed"].items():
            p = pair_outgoing(analyses)
            q = np.quantile(p["outgoing_residuals"], [0, 0.25, 0.5, 0.75, 1]) if p["pairs"] else [float("nan")] * 5
            rows.append([f"{ACT_NAMES.get(act, act)} {task}", KIND_NAMES[kind], [direct_negated_filters(a) for a in analyses],
                         p["pairs"], p["bypass"], p["even"], " / ".join(f"{x:.2f}" for x in q)])
    return ["configuration", "model", "filters in direct copies, per seed", "pairs, all seeds", "bypass", "even",
            "outgoing residual: min / q1 / median / q3 / max"], rows


def propagation(analyses: dict) -> tuple:
    prop = {k: over_seeds([a["propagation"] for a in v]) for k, v in analyses.items()}
    n = len(next(iter(prop.values()))["layer_residuals"])
    rows = [[f"layer {i + 1}", *(x for p in prop.values() for x in (pm(p["layer_residuals"][i]), pm(p["function_errors"][i])))]
            for i in range(n)]
    return ["hidden layer", *(x for k in prop for x in (f"{KIND_NAMES[k]}: parameters", f"{KIND_NAMES[k]}: function"))], rows


def heads(fits: dict, seeds) -> tuple:
    """The head permutation per model kind and seed (:func:`eqlib.analysis.analyze_attention`)."""
    rows = [[KIND_NAMES[k], s, h["cycles"], "yes" if h["involution"] else "**no**", h["moved_heads"],
             f"{h['median_error']:.3f}", f"{h['margin']:.3f} ({h['relative_margin']:.2f})",
             f"{h['median_head_linear_residual']:.3f}"] for k, hs in fits.items() for s, h in zip(seeds, hs)]
    return ["model", "seed", "permutation", "involution", "heads moved", "median matching error",
            "margin to 2nd best (relative)", "per-head linear map residual (median)"], rows


def positional(fits: dict) -> tuple:
    agg = {k: over_seeds([h["positional_residual"] for h in v]) for k, v in fits.items()}
    return ["model", "mirror", "up-down flip (control)"], [[KIND_NAMES[k], pm(a["mirror"]), pm(a["updown"])]
                                                          for k, a in agg.items()]


def verdicts(counts: dict) -> tuple:
    """``counts[kind][reading]`` from :func:`eqlib.paper.verdict_counts`: equivariant / control per column."""
    eq, ctrl = counts["equivariant"], counts["control"]
    rows = [[r, f"{eq[r]['within']} / {ctrl[r]['within']} of {eq[r]['rows']}",
             f"{eq[r]['order']} / {ctrl[r]['order']} of {eq[r]['pairs']}",
             f"{eq[r]['lr_below_ud']} / {ctrl[r]['lr_below_ud']} of {eq[r]['lr_rows']}",
             f"{eq[r]['median_ratio']:.2g} / {ctrl[r]['median_ratio']:.2g}"] for r in eq]
    return ["reading", "rows within ×2 (equivariant / control)", "Tanh < GELU pairs", "left-right < up-down rows",
            "median ratio ours / paper"], rows


def verdict_texts(v: dict) -> dict:
    """One reading's verdict counts as the phrases the summary glues into its prose."""
    return {"within": f"{v['within']} of {v['rows']}", "order": f"{v['order']} of {v['pairs']}",
            "lr": f"{v['lr_below_ud']} of {v['lr_rows']}", "ratio": f"{v['median_ratio']:.2g}"}


def configurations(res: dict) -> tuple:
    """``res[(task, activation)]`` is a chapter's results file: quality, equivariance and labels per kind."""
    rows = []
    for (task, act), r in res.items():
        key = quality_key(task)
        for kind in ("equivariant", "control"):
            a = r["aggregate"][kind]
            rows.append([f"{act} {task}", KIND_NAMES[kind], pm(stats([t[key] for t in r["test"][kind]]), 4),
                         pm(stats([t["test_equivariance_error"] for t in r["test"][kind]])), pm(a["explained"], 1),
                         pm(a["counts"]["unmatched"], 1), pm(a["counts"]["inactive"], 1),
                         [len(s["bypass_pairs"]) for s in r["per_seed"][kind]]])
    return ["configuration", "model", "test quality", "e2e equivariance error", "explained", "unmatched", "inactive",
            "bypass pairs per seed"], rows


def configuration_floor_tests(res: dict) -> tuple:
    """Per MLP configuration (``res[(task, activation)]``, a chapter's results file): the readings that test
    its first activation, and those at their floor (:func:`tested_readings`, equivariant models)."""
    rows = [[f"{act} {task}", *tested_readings(r["metric"]).values()] for (task, act), r in res.items()]
    return ["configuration", "readings that test the activation", "readings at their floor"], rows


def recovery(rec) -> tuple:
    """The recovered layerwise action of :func:`eqlib.theory.recover_layerwise_action`, per layer."""
    from eqlib.symmetry import cycles
    rows = [[i, cycles(P.perm) + (f", {int((P.signs < 0).sum())} sign flips" if (P.signs < 0).any() else ""),
             "yes" if inv else "**no**", f"{res:.1e}", f"{err:.1e}"]
            for i, (P, inv, res, err) in enumerate(zip(rec.perms, rec.involutions, rec.layer_residuals, rec.layer_errors), 1)]
    return ["layer", "recovered action", "involution", "parameter residual", "max layer error"], rows


def trials(ts) -> tuple:
    return ["widths", "seed", "all involutions", "max layer error"], [
        [t["widths"], t["seed"], "yes" if t["involutions"] else "**no**", f"{t['max_layer_error']:.1e}"] for t in ts]


# --------------------------------------------------------------------------- beyond the paper
def activation_seeds(res: dict, verdict: dict) -> tuple:
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


def activations_summary(results: dict, verdicts: dict) -> tuple:
    """One row per activation: its predicted group, what the fit finds (mean ± sd over seeds), the
    first-layer metric under the primary reading (and its centred variant, which a constant offset such as
    sigmoid's cannot shrink), and in how many seeds the prediction holds."""
    rows = []
    for act, r in results.items():
        agg, m = r["aggregate"], r["metric"][DEFAULT_READING]["equivariant"]
        init = r["aggregate_init"]["explained"]
        rows.append([act, r["predicted_group"], f"{pm(agg['explained'], 1)} / {pm(agg['active'], 1)}", pm(init, 1),
                     pm(agg["negation_only"], 1), pm(agg["in_group"]), pm(agg["unconstrained"]),
                     pm(stats(m["first_layer"]["mirror"])),
                     pm(stats(m["first_layer_centred"]["mirror"])) if "first_layer_centred" in m else "–",
                     pm(stats(m["first_layer_pre"]["mirror"])), pm(stats(m["first_layer"]["updown"])),
                     f"{verdicts[act]['structure']} of {verdicts[act]['n']}",
                     f"{verdicts[act]['residual']} of {verdicts[act]['n']}",
                     f"{verdicts[act]['holds']} of {verdicts[act]['n']}" if verdicts[act]["applicable"] else "n/a"])
    return ["activation", "predicted group", "explained / active", "explained at initialisation", "negation only",
            "in-group residual",
            "unconstrained residual", "metric, left-right (primary)", "the same, centred", "its floor",
            "metric, up-down (primary)",
            "≥ half explained (seeds)", "in-group ≤ 2× unconstrained (seeds)", "prediction holds (seeds)"], rows


def kinds_quality(test: dict, task) -> tuple:
    """Test quality and end-to-end equivariance error per model kind, mean ± sd over seeds."""
    key = quality_key(task)
    return (["model", key.replace("_", " "), "end-to-end equivariance error"],
            [[KIND_NAMES[k], pm(stats([t[key] for t in ts]), 4), pm(stats([t["test_equivariance_error"] for t in ts]))]
             for k, ts in test.items()])


def dihedral(res: dict) -> tuple:
    """Per model kind: how far the fitted first-layer actions are from a D4 homomorphism, and their orbits."""
    n = len(res["group"]) - 1                    # non-identity elements
    rows = []
    for k, fits in res["fits"].items():
        agg = res["aggregate"][k]
        sizes = "; ".join(", ".join(f"{m}×{s}" for s, m in f["orbit_sizes"].items()) or "none" for f in fits)
        e2e = pm(stats([sum(x[1:]) / n for x in res["end_to_end"][k]])) if k in res["end_to_end"] else "–"
        rows.append([KIND_NAMES[k], pm(agg["mean_defect"]), pm(agg["max_defect"]),
                     f"{pm(agg['exact_products'], 1)} of {n * n}", f"{pm(agg['orders_agree'], 1)} of {n}",
                     f"{pm(agg['matched_by_every_element'], 1)} / {pm(agg['active'], 1)}", sizes, e2e])
    return ["model", "mean defect", "largest defect", "exact products", "element orders kept",
            "neurons matched by every element / active", "orbits (count × size), per seed",
            f"end-to-end error, mean over the {n} non-identity elements"], rows


def d4_elements(res: dict) -> tuple:
    """Per group element: its order and the end-to-end error of each model kind."""
    names = res["group"]
    rows = [[n, res["fits"]["d4"][0]["orders"][i]["order"],
             *(pm(stats([e[i] for e in res["end_to_end"][k]])) for k in res["end_to_end"])] for i, n in enumerate(names)]
    return ["element", "order", *(KIND_NAMES[k] for k in res["end_to_end"])], rows


def merging(res: dict, barrier) -> tuple:
    """Loss barriers (excess over the chord, relative to the endpoints) before and after alignment."""
    rows = []
    for key, what in (("mirrored", "with its mirrored copy"), ("seeds_pairs", "between two seeds")):
        for k in ("equivariant", "control"):
            ps = res[key][k]
            rows.append([what, KIND_NAMES[k], len(ps), pm(stats([barrier(p["naive"]) for p in ps])),
                         pm(stats([barrier(p["aligned"]) for p in ps])),
                         pm(stats([barrier(p["aligned_first"]) for p in ps])) if "aligned_first" in ps[0] else "–",
                         pm(stats([p["aligned"][len(p["aligned"]) // 2] for p in ps]), 4),
                         pm(stats([(p["aligned"][0] + p["aligned"][-1]) / 2 for p in ps]), 4)])
    return ["path", "models", "paths", "barrier, naive", "barrier, aligned (all layers)",
            "barrier, aligned (first layer only)", "midpoint loss, aligned",
            "endpoint loss (mean)"], rows
