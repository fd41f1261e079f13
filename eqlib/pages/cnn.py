"""The page "A convolutional network": is a CNN trained to be mirror invariant layerwise equivariant, the
mirror permuting each layer's channels?

The paper's theorem is architecture-agnostic; Bökman & Kahl (NeurIPS 2023) conjecture this for CNNs and
align a ResNet50 with its kernel-flipped copy. Here a small CNN whose every operation commutes with the flip
(:class:`eqlib.models.CNN`) is trained three ways in the second half of training (the invariance loss on the
logits, random flips, neither), with Tanh everywhere (signed channel permutations) and ReLU everywhere
(permutations with positive scales), over seeds; every layer is read by :func:`eqlib.conv.analyze` against
its nulls and judged by :data:`eqlib.conv.CRITERIA`, fixed before any result.
"""
from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eqlib.verdicts import Claim, grade, judged
from eqlib.rules import Rule
from eqlib import conv
from eqlib.stats import count, pm, stats
from eqlib.models import CNNConfig
from eqlib.pages.common import EQUIVARIANT_ENOUGH
from eqlib.plots import LABEL_COLORS, png_uri
from eqlib.protocol import CNNProtocol, resolve_other
from eqlib.symmetry import MAX_RESIDUALS
from eqlib.train import initial_model, switch_epoch, train, TrainConfig
from eqlib.verdicts import majority


CONDITIONS = {"loss": "the invariance loss ‖f(x) − f(mirror x)‖² on the logits",
              "augment": "random left-right flips with probability ½, no loss",
              "control": "neither (equivariance weight 0)"}
KINDS = (*CONDITIONS, "init")
KIND_NAMES = {"loss": "invariance loss", "augment": "random flips", "control": "control", "init": "initialisation"}
ACT_NAMES = {"tanh": "Tanh", "relu": "ReLU"}
LEARNED = 0.25          # test accuracy that counts as learned: 2.5 times chance on 10 classes


def protocol(profile: str, **given) -> CNNProtocol:
    """The page's protocol (:class:`eqlib.protocol.CNNProtocol`, its profiles in :data:`eqlib.protocol.OTHERS`) with the
    notebook's explicit parameters (``None``: the protocol's) over it; an activation other than Tanh and ReLU refused."""
    p = resolve_other("cnn", profile, **given)
    if not set(p.activations) <= set(ACT_NAMES):
        raise ValueError(f"parameter activations={list(p.activations)!r}: allowed {', '.join(ACT_NAMES)}")
    return p


def configs(p: CNNProtocol, activation: str, seed: int) -> dict:
    """``{condition: (CNNConfig, TrainConfig)}``: the three conditions share the loss-free first half."""
    mc = CNNConfig(channels=p.channels, activation=activation, pools=p.pools)
    tc = TrainConfig(task="classifier", epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=seed,
                     equivariance_weight=p.equivariance_weight, train_size=p.train_size)
    return {"loss": (mc, tc), "augment": (mc, replace(tc, equivariance_mode="augment")),
            "control": (mc, replace(tc, equivariance_weight=0.0))}


def compute(data, p: CNNProtocol, progress=False) -> tuple:
    """Train every activation, seed and condition (or load them), analyse every layer of every network and
    of its initialisation, and merge every trained network with its aligned mirror. Returns the results and
    the trained networks, ``{(activation, seed, condition): model}``."""
    data = data.with_test_images(min(p.n_test, len(data.x_test)))
    x_train, _, x_test, y_test = data.tensors()
    x_fit, x_eval = x_train[:p.n_fit], x_test[:p.n_eval]
    out, models = {"protocol": asdict(p), "n_test": len(x_test), "cells": {}, "train_seconds": {}}, {}
    for act in p.activations:
        for seed in p.seeds:
            cfg = configs(p, act, seed)
            runs = {c: train(mc, tc, data, progress=progress) for c, (mc, tc) in cfg.items()}
            init_rows = conv.analyze_network(initial_model(*cfg["loss"]).eval(), x_fit, x_eval)
            cell = {"init": {"layers": init_rows}}
            for c, r in runs.items():
                model = models[(act, seed, c)] = r.model.cpu().eval()
                rows = conv.analyze_network(model, x_fit, x_eval, init_rows)
                merge = conv.merge_network(model, rows, x_test[:p.n_merge], y_test[:p.n_merge], tuple(p.alphas))
                cell[c] = {"layers": rows, "test": r.history[-1], "merge": merge, "train_seconds": r.seconds,
                           "forked_at": r.forked_at, "config": {"model": asdict(cfg[c][0]), "train": asdict(cfg[c][1])}}
            out["cells"][f"{act}|{seed}"] = cell
            out["train_seconds"][f"{act}|{seed}"] = {c: r.seconds for c, r in runs.items()}
    return out, models


def cells(res: dict, act: str) -> list:
    """The per-seed cells of one activation, in seed order."""
    return [res["cells"][f"{act}|{s}"] for s in res["protocol"]["seeds"]]


# --------------------------------------------------------------------------- findings
def passing_layers(res: dict, act: str, kind: str) -> list:
    """Per seed, the layers (1-based) that meet every criterion."""
    return [[r["layer"] for r in c[kind]["layers"] if r["passes"]["all"]] for c in cells(res, act)]


def findings(res: dict) -> dict:
    """``{finding: flags over (activation, seed)}``, for the invariance-loss networks."""
    out = {k: [] for k in FINDINGS}
    for act in res["protocol"]["activations"]:
        for c in cells(res, act):
            loss, layers = c["loss"], c["loss"]["layers"]
            e2e, e2e_control = (c[k]["test"]["test_equivariance_error"] for k in ("loss", "control"))
            out["learned"].append(all(c[k]["test"]["test_accuracy"] >= LEARNED for k in CONDITIONS))
            out["invariant"].append(e2e < e2e_control)
            out["enough"].append(e2e <= EQUIVARIANT_ENOUGH * e2e_control)
            out["below_init"].append(all(r["e"] < r["e_init"] for r in layers))
            out["below_updown"].append(all(r["e"] < r["e_updown"] for r in layers))
            out["aligned_merge"].append(loss["merge"]["aligned"]["midpoint"] > loss["merge"]["naive"]["midpoint"])
            out["every_layer"].append(all(r["passes"]["all"] for r in layers))
    return out


FINDINGS = {"learned": f"every condition's test accuracy at least {LEARNED:g}",
            "invariant": "the loss network's end-to-end invariance error below its control's",
            "enough": f"that error at most {EQUIVARIANT_ENOUGH:.2g} of the control's (invariant, as the D4 and augmentation "
                      "pages count it)",
            "below_init": "every layer's e_l below its value at initialisation",
            "below_updown": "every layer's e_l below the up-down flip's",
            "aligned_merge": "the aligned midpoint more accurate than the naive one",
            "every_layer": "every layer meets every criterion"}
WORDS = ("layerwise equivariant", "layerwise equivariant in part", "not layerwise equivariant")


def _word(passing: list, n_layers: int) -> str:
    return WORDS[0] if majority([len(p) == n_layers for p in passing]) else \
        WORDS[1] if majority([len(p) > 0 for p in passing]) else WORDS[2]


def verdict(res: dict) -> dict:
    """The criteria's verdict per activation, on its invariance-loss networks over seeds: layerwise
    equivariant when every layer passes in most seeds, in part when at least one layer passes in most seeds.
    Overall: layerwise equivariant when every activation is, in part when at least one activation is at least in
    part, not otherwise. The controls' passing layers are counted the same way beside it: a verdict the controls
    share is not the loss's."""
    acts, n_layers = res["protocol"]["activations"], len(res["protocol"]["channels"])
    per = {a: passing_layers(res, a, "loss") for a in acts}
    control = {a: passing_layers(res, a, "control") for a in acts}
    words = {a: _word(per[a], n_layers) for a in acts}
    count_ = lambda d, full: sum((len(p) == n_layers) if full else (len(p) > 0) for v in d.values() for p in v)
    return {"passing": per, "control_passing": control, "per_activation": words,
            "word": WORDS[0] if all(w == WORDS[0] for w in words.values()) else
                    WORDS[1] if any(w in WORDS[:2] for w in words.values()) else WORDS[2], "n_layers": n_layers,
            "pairs": sum(len(v) for v in per.values()), "all_pass": count_(per, True), "some_pass": count_(per, False),
            "control_all_pass": count_(control, True), "control_some_pass": count_(control, False)}


EXPECTED_WEAKEST = "last"     # stated on the page before its results: the last layer the furthest from equivariant


def weakest_layers(res: dict, kind="loss") -> dict:
    """Per activation, the layer (1-based) whose error e_l, averaged over seeds, is the largest."""
    n = len(res["protocol"]["channels"])
    return {a: int(np.argmax([_mean([c[kind]["layers"][i]["e"] for c in cells(res, a)]) for i in range(n)])) + 1
            for a in res["protocol"]["activations"]}


def expectation(res: dict) -> dict:
    """The page's stated expectation (:data:`EXPECTED_WEAKEST`) against the result: per activation, whether the
    weakest layer is the expected one."""
    last = len(res["protocol"]["channels"])
    return {a: w == last for a, w in weakest_layers(res).items()}


def limits_sentence(res: dict) -> str:
    """What the networks' weakness limits, computed: their test accuracy, the first layer's error against its value at
    initialisation, and the page's stated expectation against the result."""
    acc = [c["loss"]["test"]["test_accuracy"] for a in res["protocol"]["activations"] for c in cells(res, a)]
    first = {a: (_mean([c["loss"]["layers"][0]["e"] for c in cells(res, a)]),
                 _mean([c["loss"]["layers"][0]["e_init"] for c in cells(res, a)])) for a in res["protocol"]["activations"]}
    weakest, held = weakest_layers(res), expectation(res)
    return (f"the invariance-loss networks reach {min(acc):.0%}–{max(acc):.0%} test accuracy, so their layers are weak "
            "maps to read a symmetry in; the first layer's error against its value at initialisation: "
            + ", ".join(f"{ACT_NAMES[a]} {e:.2f} against {z:.2f}" for a, (e, z) in first.items())
            + f"; the page expected the {EXPECTED_WEAKEST} layer to be the weakest, and found layer "
            + ", ".join(f"{weakest[a]} for {ACT_NAMES[a]} ({'as expected' if held[a] else 'not as expected'})"
                        for a in weakest))


# --------------------------------------------------------------------------- texts and tables
def _mean(xs):
    return float(np.mean(xs))


def layer_stat(res, act, kind, key, layer) -> dict:
    return stats([c[kind]["layers"][layer][key] for c in cells(res, act)])


def protocol_texts(p: dict) -> dict:
    """The phrases the page's protocol fixes before anything runs (``p``: the protocol as a dict)."""
    return {"n_seeds": str(len(p["seeds"])), "channels": "–".join(map(str, p["channels"])), "epochs": str(p["epochs"]),
            "train_size": f"{p['train_size']:,}", "switch": str(switch_epoch(TrainConfig(epochs=p["epochs"]))),
            "n_eval": f"{p['n_eval']:,}", "n_fit": f"{p['n_fit']:,}", "n_merge": f"{p['n_merge']:,}",
            "weight": f"{p['equivariance_weight']:g}", "max_residual": f"{MAX_RESIDUALS['data']:g}",
            "enough_fraction": f"{EQUIVARIANT_ENOUGH:.2g}", "learned_min": f"{LEARNED:g}"}


def texts(res: dict, v: dict) -> dict:
    """The page's glued phrases of its results (its protocol's are :func:`protocol_texts`, glued before the run);
    an activation the protocol leaves out gets "not run" under its keys."""
    f, p = findings(res), res["protocol"]
    out = {"n_test": f"{res['n_test']:,}", "verdict": v["word"],
           "all_pass": f"{v['all_pass']} of {v['pairs']}", "some_pass": f"{v['some_pass']} of {v['pairs']}",
           "control_all_pass": f"{v['control_all_pass']} of {v['pairs']}",
           "control_some_pass": f"{v['control_some_pass']} of {v['pairs']}"}
    out.update({f"finding_{k}": count(flags, "activation–seed pairs") for k, flags in f.items()})
    keys = ("acc_{}_loss", "acc_{}_augment", "acc_{}_control", "e2e_{}_loss", "e2e_{}_augment", "e2e_{}_control",
            "passing_{}", "verdict_{}", "e_{}", "e_init_{}", "e_linear_{}", "e_centred_{}", "merge_aligned_{}",
            "merge_naive_{}",
            "merge_inv_{}", "agreement_{}", "weakest_{}")
    out.update({k.format(a): "not run" for a in ACT_NAMES for k in keys})
    layers = range(len(p["channels"]))
    for act in p["activations"]:
        cs = cells(res, act)
        for k in CONDITIONS:
            out[f"acc_{act}_{k}"] = pm(stats([c[k]["test"]["test_accuracy"] for c in cs]))
            out[f"e2e_{act}_{k}"] = pm(stats([c[k]["test"]["test_equivariance_error"] for c in cs]))
        out[f"passing_{act}"] = "; ".join(f"seed {s}: {', '.join(map(str, l)) or 'none'}"
                                          for s, l in zip(p["seeds"], v["passing"][act]))
        out[f"verdict_{act}"] = v["per_activation"][act]
        out[f"e_{act}"] = ", ".join(f"layer {i + 1} {pm(layer_stat(res, act, 'loss', 'e', i))}" for i in layers)
        out[f"e_init_{act}"] = ", ".join(pm(layer_stat(res, act, "init", "e", i)) for i in layers)
        out[f"e_linear_{act}"] = ", ".join(pm(layer_stat(res, act, "loss", "e_linear", i)) for i in layers)
        merge = lambda f_, d=3: pm(stats([f_(c["loss"]["merge"]) for c in cs]), d)
        out[f"merge_aligned_{act}"] = merge(lambda m: m["aligned"]["midpoint"])
        out[f"merge_naive_{act}"] = merge(lambda m: m["naive"]["midpoint"])
        out[f"merge_inv_{act}"] = merge(lambda m: m["invariance"]["aligned"], 4)
        out[f"agreement_{act}"] = pm(stats([_mean([r["agreement"] for r in c["loss"]["layers"]]) for c in cs]), 2)
        out[f"weakest_{act}"] = f"layer {weakest_layers(res)[act]}"
        out[f"e_centred_{act}"] = ", ".join(
            f"layer {i + 1} {pm(layer_stat(res, act, 'loss', 'e_centred', i))}" for i in layers) \
            if "e_centred" in cells(res, act)[0]["loss"]["layers"][0] else "not computed in this build"
    out["expectation"] = "; ".join(f"{ACT_NAMES[a]}: {'holds' if ok else 'fails'} (weakest: layer "
                                   f"{weakest_layers(res)[a]})" for a, ok in expectation(res).items())
    out["limits"] = limits_sentence(res)
    return out


def test_rows(res: dict):
    header = ["activation", "condition", "test accuracy", "end-to-end invariance error", "training (s)"]
    rows = []
    for act in res["protocol"]["activations"]:
        for k in CONDITIONS:
            cs = cells(res, act)
            rows.append([ACT_NAMES[act], KIND_NAMES[k], pm(stats([c[k]["test"]["test_accuracy"] for c in cs])),
                         pm(stats([c[k]["test"]["test_equivariance_error"] for c in cs])),
                         f"{sum(c[k]['train_seconds'] for c in cs):.0f}"])
    return header, rows


def layer_rows(res: dict):
    """Per activation and layer: e_l of each condition beside the nulls (mean ± sd over seeds)."""
    header = ["activation", "layer", "e: loss", "e centred: loss", "e: flips", "e: control", "initialisation",
              "up-down (loss)", "free linear (loss)", "random permutation (loss)", "weight matching (loss)",
              "matchings agree"]
    rows = []
    for act in res["protocol"]["activations"]:
        for i in range(len(res["protocol"]["channels"])):
            s = lambda kind, key, d=3: pm(layer_stat(res, act, kind, key, i), d) \
                if key in cells(res, act)[0][kind]["layers"][i] else "—"
            rows.append([ACT_NAMES[act], str(i + 1), s("loss", "e"), s("loss", "e_centred"), s("augment", "e"),
                         s("control", "e"), s("init", "e"), s("loss", "e_updown"), s("loss", "e_linear"),
                         s("loss", "e_random"), s("loss", "e_weights"), s("loss", "agreement", 2)])
    return header, rows


def pass_rows(res: dict):
    """Per activation and condition: the passing layers of each seed, and which criteria fail most."""
    seeds = res["protocol"]["seeds"]
    header = ["activation", "condition", *(f"seed {s}" for s in seeds), "criteria failed (layers × seeds)"]
    rows = []
    for act in res["protocol"]["activations"]:
        for k in CONDITIONS:
            per = passing_layers(res, act, k)
            fails = {c.key: sum(not r["passes"][c.key] for cell in cells(res, act) for r in cell[k]["layers"])
                     for c in conv.CRITERIA}
            rows.append([ACT_NAMES[act], KIND_NAMES[k], *(", ".join(map(str, l)) or "none" for l in per),
                         ", ".join(f"{key} {n}" for key, n in fails.items() if n) or "none"])
    return header, rows


def split_rows(res: dict):
    """The loss networks' fitted actions: fixed, sign-flipped, swapped, other and inactive channels (mean over seeds)."""
    header = ["activation", "layer", "channels", "fixed", "sign-flipped", "swapped", "other", "inactive", "involutive share"]
    rows = []
    for act in res["protocol"]["activations"]:
        for i, ch in enumerate(res["protocol"]["channels"]):
            sp = [c["loss"]["layers"][i]["split"] for c in cells(res, act)]
            mean = lambda k: f"{_mean([s[k] for s in sp]):.1f}"
            rows.append([ACT_NAMES[act], str(i + 1), str(ch), mean("fixed"), mean("flipped"), mean("swapped"),
                         mean("other"), mean("inactive"), f"{_mean([s['share'] for s in sp]):.2f}"])
    return header, rows


def merge_rows(res: dict):
    header = ["activation", "condition", "accuracy", "naive midpoint", "aligned midpoint", "barrier: naive",
              "barrier: aligned", "invariance error: original", "invariance error: aligned midpoint"]
    rows = []
    for act in res["protocol"]["activations"]:
        for k in CONDITIONS:
            ms = [c[k]["merge"] for c in cells(res, act)]
            s = lambda f, d=3: pm(stats([f(m) for m in ms]), d)
            rows.append([ACT_NAMES[act], KIND_NAMES[k], s(lambda m: m["aligned"]["accuracy"][0]),
                         s(lambda m: m["naive"]["midpoint"]), s(lambda m: m["aligned"]["midpoint"]),
                         s(lambda m: m["naive"]["barrier"]), s(lambda m: m["aligned"]["barrier"]),
                         s(lambda m: m["invariance"]["original"], 4), s(lambda m: m["invariance"]["aligned"], 4)])
    return header, rows


def criteria_rows():
    return ["criterion", "a layer passes when"], [[c.key, c.sentence] for c in conv.CRITERIA]


# --------------------------------------------------------------------------- figures
COLORS = {"loss": "#1b9e77", "augment": "#7570b3", "control": "#d95f02", "init": "#999999"}


def error_bars(res: dict):
    """e_l per layer and condition (mean ± sd over seeds) with the loss networks' nulls, one panel per activation."""
    acts = res["protocol"]["activations"]
    fig = make_subplots(1, len(acts), subplot_titles=[ACT_NAMES[a] for a in acts], shared_yaxes=True)
    layers = [f"layer {i + 1}" for i in range(len(res["protocol"]["channels"]))]
    for j, act in enumerate(acts, 1):
        for kind in KINDS:
            st = [layer_stat(res, act, kind, "e", i) for i in range(len(layers))]
            fig.add_bar(x=layers, y=[s["mean"] for s in st], error_y=dict(array=[s["sd"] for s in st]),
                        name=KIND_NAMES[kind], marker_color=COLORS[kind], showlegend=j == 1, row=1, col=j)
        for key, name, sym in (("e_updown", "up-down flip (loss)", "triangle-up"), ("e_linear", "free linear map (loss)", "diamond")):
            st = [layer_stat(res, act, "loss", key, i) for i in range(len(layers))]
            fig.add_scatter(x=layers, y=[s["mean"] for s in st], mode="markers", name=name, showlegend=j == 1,
                            marker=dict(symbol=sym, size=11, color="black"), row=1, col=j)
        fig.add_hline(y=conv.THRESHOLDS["error"], line_dash="dash", line_color="gray", row=1, col=j)
    fig.update_layout(barmode="group", height=420, title="e_l = median ‖flip(A_l(mirror x)) − P_l A_l(x)‖ / ‖A_l(x)‖",
                      yaxis_title="e_l", margin=dict(t=80))
    return fig


def first_layer_labels(row: dict) -> list:
    """Each first-layer channel's label under the fitted action, as the MLP pages label neurons: inactive;
    unmatched (its residual ||B_i - c_i A_pi(i)|| / ||B_i|| over the test images' positions, channels centred,
    above the labels' threshold, or its partner not mapped back); self-symmetric or anti-symmetric (mapped to
    itself, + or -); in a mirrored or mirrored-negated pair."""
    perm, sign = row["perm"], np.sign(row["factors"])
    active = row.get("active") or [True] * len(perm)
    out = []
    for i, (r, a) in enumerate(zip(row["residuals"], active)):
        j = perm[i]
        if not a:
            out.append("inactive")
        elif r > MAX_RESIDUALS["data"] or perm[j] != i or sign[i] * sign[j] <= 0:
            out.append("unmatched")
        elif j == i:
            out.append("self-symmetric" if sign[i] > 0 else "anti-symmetric")
        else:
            out.append("mirrored pair" if sign[i] > 0 else "mirrored-negated pair")
    return out


def kernel_mosaic(K, labels, title="first-layer kernels", upscale=14):
    """Each 3x3 RGB kernel as an image, framed by its label's colour; mirrored partners side by side."""
    K = np.asarray(K, np.float64)
    n, tile, border = len(K), 3 * upscale, 3
    cell = tile + 2 * border + 6
    per_row = min(n, 8)
    canvas = np.ones((-(-n // per_row) * cell, per_row * cell, 3))
    s = max(np.abs(K).max(), 1e-12)
    for i in range(n):
        r, c = divmod(i, per_row)
        color = np.array([int(LABEL_COLORS[labels[i]][k:k + 2], 16) / 255 for k in (1, 3, 5)])
        y0, x0 = r * cell + 3, c * cell + 3
        canvas[y0:y0 + tile + 2 * border, x0:x0 + tile + 2 * border] = color
        img = np.kron(0.5 + K[i].transpose(1, 2, 0) / (2 * s), np.ones((upscale, upscale, 1)))
        canvas[y0 + border:y0 + border + tile, x0 + border:x0 + border + tile] = img
    fig = go.Figure(go.Image(source=png_uri(canvas), hoverinfo="skip"))
    for i in range(n):
        r, c = divmod(i, per_row)
        fig.add_annotation(x=c * cell + 10, y=r * cell + 10, text=str(i), showarrow=False,
                           font=dict(size=9, color="white"), bgcolor="rgba(0,0,0,0.5)")
    for label in sorted(set(labels)):
        fig.add_scatter(x=[None], y=[None], mode="markers", name=f"{label} ({labels.count(label)})",
                        marker=dict(size=12, color=LABEL_COLORS[label], symbol="square"))
    fig.update_layout(title=title, height=canvas.shape[0] * 1.2 + 100, width=per_row * cell * 1.2 + 220,
                      margin=dict(l=10, r=10, t=50, b=10))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def merge_figure(res: dict):
    """Test accuracy along the straight path to the aligned and to the naive mirror (mean over seeds, loss networks)."""
    acts = res["protocol"]["activations"]
    fig = make_subplots(1, len(acts), subplot_titles=[ACT_NAMES[a] for a in acts], shared_yaxes=True)
    for j, act in enumerate(acts, 1):
        for path, dash in (("aligned", "solid"), ("naive", "dot")):
            for kind in CONDITIONS:
                acc = np.array([c[kind]["merge"][path]["accuracy"] for c in cells(res, act)])
                fig.add_scatter(x=res["protocol"]["alphas"], y=acc.mean(0), mode="lines+markers",
                                name=f"{KIND_NAMES[kind]}, {path}", line=dict(color=COLORS[kind], dash=dash),
                                showlegend=j == 1, row=1, col=j)
    fig.update_layout(height=400, title="test accuracy from θ (α = 0) to its mirror (α = 1): aligned (solid), naive (dotted)",
                      yaxis_title="test accuracy", margin=dict(t=80))
    fig.update_xaxes(title_text="α")
    return fig


# --------------------------------------------------------------------------- the report's claims this page decides

CNN_RULE = Rule("cnn", "on the invariance-loss networks of the convolutional page, counting per activation and seed the layers "
                "that meet the page's four criteria (fixed before its results): reproduced if, for Tanh and for ReLU, "
                "every layer does in most seeds; partly if, in most seeds, at least {partly_layers} layers do for some "
                "activation, or at least one layer does for every activation (one layer of one activation is not "
                "enough); not reproduced otherwise", {"partly_layers": 2}, written="after")

def cnn_claim(res: dict) -> dict:
    """:data:`RULES` ``["cnn"]``: per activation and seed, the invariance-loss network's layers that meet the page's
    criteria (:func:`eqlib.pages.verdict`); one layer of one activation is not enough for *partly*."""
    v = verdict(res)
    n_layers, k = v["n_layers"], CNN_RULE["partly_layers"]
    name = lambda a: f"passing layers, {ACT_NAMES[a]}"
    inputs = {name(a): [len(p) for p in per] for a, per in v["passing"].items()}

    def judge(i):
        counts = list(i.values())
        every = all(majority(c == n_layers for c in per) for per in counts)
        partly = any(majority(c >= k for c in per) for per in counts) or all(majority(c >= 1 for c in per)
                                                                            for per in counts)
        return grade(every, partly)
    passing = "; ".join(f"{ACT_NAMES[a]} {[len(l) for l in per]} ({v['per_activation'][a]})"
                        for a, per in v["passing"].items())
    enough = findings(res)["enough"]
    return {**judged(judge, inputs, integer=set(inputs), seeds=res["protocol"]["seeds"],
                      bounds={n: (0, n_layers) for n in inputs}),
            "evidence": f"passing layers of {n_layers} per seed: {passing}; every layer passes in {v['all_pass']} "
                        f"of {v['pairs']} activation–seed pairs (controls: {v['control_all_pass']}), at least one in "
                        f"{v['some_pass']} (controls: {v['control_some_pass']}); end-to-end invariant (at most "
                        f"{EQUIVARIANT_ENOUGH:.2g} of the control's error) in {sum(enough)} of {len(enough)} "
                        f"activation–seed pairs; {limits_sentence(res)}",
            "seeds": f"{len(res['protocol']['seeds'])} seeds per activation"}

CLAIMS = (
    Claim('cnn', "Ours, beyond the paper: a CNN trained to be mirror invariant is layerwise equivariant, the mirror "
           "permuting each layer's channels (Bökman and Kahl's conjecture, tested on a small CNN)",
          "ours: Bökman and Kahl (NeurIPS 2023), \"Investigating how ReLU-networks encode symmetries\", their "
           "conjecture for mirror-equivariant CNNs; the paper's theorem for an identifiable (Tanh) CNN",
          "a CNN (ours)", CNN_RULE, lambda by_page: cnn_claim(by_page["cnn"]), ours=True),
)
