"""The D4 page: Tanh autoencoders trained with the D4 loss, each element's fitted first-layer action, its
homomorphism defect against three nulls; findings, texts, tables and figures.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eqlib.verdicts import PAPER, WORDS, Claim, grade, judged
from eqlib.rules import Rule
from eqlib.stats import count, over_seeds, pm, stats
from eqlib.beyond import fit_group_actions, group_equivariance_errors, with_random_filters
from eqlib.groups import D4
from eqlib.pages.common import EQUIVARIANT_ENOUGH, check_seeds
from eqlib.plots import axes_off, png_uri, filter_image
from eqlib.protocol import D4_WEIGHT, mlp_configs
from eqlib.tables import KIND_NAMES
from eqlib.train import initial_model, train, train_seeds
from eqlib.verdicts import majority


def dihedral_chapter(data, seeds, n_images=2000, n_label_images=10_000, progress=False, d4_weight=D4_WEIGHT,
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


def dihedral_table(res: dict) -> tuple:
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


def elements_table(res: dict) -> tuple:
    """Per group element: its order and the end-to-end error of each model kind."""
    names = res["group"]
    rows = [[n, res["fits"]["d4"][0]["orders"][i]["order"],
             *(pm(stats([e[i] for e in res["end_to_end"][k]])) for k in res["end_to_end"])] for i, n in enumerate(names)]
    return ["element", "order", *(KIND_NAMES[k] for k in res["end_to_end"])], rows


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
    fig = go.Figure(go.Image(source=png_uri(canvas), hoverinfo="skip"))
    for r, o in enumerate(rows):
        fig.add_annotation(x=width * tile, y=r * tile + tile / 2, xanchor="left", showarrow=False,
                           text=f"size {o['size']}, stabiliser {{{', '.join(o['stabiliser'])}}}")
    fig.update_layout(title=title, height=len(rows) * tile * 0.9 + 100, width=width * tile * 0.9 + 360,
                      margin=dict(l=10, r=260, t=50, b=10))
    return axes_off(fig)


# --------------------------------------------------------------------------- the report's claims this page decides

DIHEDRAL_RULE = Rule("dihedral", "on the D4 page's networks: not testable unless the D4-loss network is equivariant enough in most "
                     "seeds (its end-to-end error over D4's elements at most {enough:.2g} of the weight-0 control's); "
                     "then reproduced if, in most seeds, the homomorphism defect of its fitted first-layer actions is "
                     "below each null's (the control, the network at initialisation, random filters of the same "
                     "norms); partly if below at least one null's in most seeds; not reproduced otherwise",
         {"enough": EQUIVARIANT_ENOUGH}, written="after")

def dihedral_claim(res: dict) -> dict:
    """:data:`RULES` ``["dihedral"]``, from the D4 page's results: its precondition, then its findings."""
    enough = DIHEDRAL_RULE["enough"]
    ratios = end_to_end_ratios(res)
    findings = dihedral_findings(res)
    below = {k: sum(v) for k, v in findings.items()}
    defects = ", ".join(f"{f['mean_defect']:.2f}" for f in res["fits"]["d4"])
    names = {"d4": "homomorphism defect, D4 loss", **{k: f"homomorphism defect, {KIND_NAMES[k]}" for k in findings}}
    inputs = {"end-to-end error over the control's": ratios,
              **{n: [f["mean_defect"] for f in res["fits"][k]] for k, n in names.items()}}

    def judge(i):
        if not majority(r <= enough for r in i["end-to-end error over the control's"]):
            return WORDS[3]
        per = [majority(a < b for a, b in zip(i[names["d4"]], i[names[k]])) for k in findings]
        return grade(all(per), any(per))
    return {**judged(judge, inputs, seeds=res.get("seeds")),
            "evidence": f"end-to-end error of the D4-loss networks over D4's elements, as a fraction of the control's: "
                        f"{', '.join(f'{r:.2f}' for r in ratios)} (at most {enough:.2g} in {sum(r <= enough for r in ratios)} "
                        f"of {len(ratios)} seeds); homomorphism defect below the null's in "
                        + ", ".join(f"{n} of {len(findings[k])} seeds ({KIND_NAMES[k]})" for k, n in below.items())
                        + f"; mean defect per seed {defects}",
            "seeds": f"{len(ratios)} seeds"}

CLAIMS = (
    Claim('dihedral', "Ours, beyond the paper: in an MLP trained to be D4-equivariant, the first layer's fitted actions "
                "compose as the group does, P(g)P(h) = P(gh) (the theorem's homomorphism)",
          f"ours: {PAPER}, the theorem's homomorphism from the group into each layer's symmetry group, "
                "for a group larger than the mirror",
          "D4's homomorphism (ours)", DIHEDRAL_RULE, lambda by_page: dihedral_claim(by_page["dihedral"]), ours=True),
)
