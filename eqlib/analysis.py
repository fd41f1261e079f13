"""One trained network, analysed.

:func:`analyze_mlp` runs every per-model analysis of the MLP chapter (first-layer labels,
the GELU bypass search, how linear the first layer is on real images, the action
propagated through the deeper layers) and returns plain data for a results file;
:func:`analyze_attention` does the same for the attention chapter. :mod:`eqlib.stats` turns
a list of such per-seed results into means, standard deviations and the per-seed values.
"""
from __future__ import annotations

import numpy as np
import torch

from eqlib.data import mirror
from eqlib.losses import output_action
from eqlib.memo import memo, per_model
from eqlib.metric import (FLIPS, READINGS, floor_key, median_se, paper_metric, reading_batches, reading_samples,
                          shared_linear_equivariance)
from eqlib.models import ACTIVATIONS
from eqlib.symmetry import (MAX_RESIDUALS, active_neurons, analyze_first_layer, explained_by_threshold,
                            fit_head_linear_maps, fit_head_permutation, hidden_equivariance_errors, match_networks,
                            mlp_layers, positional_residual, pre_activations, transform_parameters)


THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)   # residual thresholds of the count-against-threshold curve
# Where an activation is nearly linear: GELU(t) >= 0.977 t for t >= 2 (and |GELU(t)| < 0.046 for
# t <= -2, where it is nearly off); tanh(t) >= 0.924 t for |t| <= 0.5.
NEAR_LINEAR = {"gelu": lambda t: t >= 2.0, "tanh": lambda t: t.abs() <= 0.5}
NEAR_LINEAR_TEXT = {"gelu": "t ≥ 2, where GELU(t) is within 2.3 % of t",
                    "tanh": "|t| ≤ 0.5, where tanh(t) is within 7.6 % of t"}


# --------------------------------------------------------------------------- negated copies and the GELU bypass
def _pair_residual(a, b):
    """``||a_i + b_j|| / max(||a_i||, ||b_j||)`` for all i, j: 0 when b_j = -a_i."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    sq = na[:, None] ** 2 + nb[None] ** 2 + 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0)) / np.maximum(np.maximum(na[:, None], nb[None]), 1e-300)


OUTGOING_RESIDUAL = 0.5     # a bypass pair's outgoing weights: ||v_i + v_j|| / max(||v_i||, ||v_j||) at most this;
                            # an even pair's: ||v_i - v_j|| / max(||v_i||, ||v_j||) at most this


def negated_copy_residuals(W1, b1, images, transform=mirror) -> dict:
    """For every pair of first-layer neurons ``(i, j)``, how far ``j`` is from a negated copy of ``i``,
    in the data metric of the labels (:func:`eqlib.symmetry.match_pre_activations`), from either
    neuron's side (the larger of the two residuals, so the smaller spread is the denominator):

    * ``direct``: ``rms_x(pre_j(x) + pre_i(x)) / min(sd pre_i, sd pre_j)``;
    * ``mirrored``: ``rms_x(pre_j(x) + pre_i(g x)) / min(sd pre_i, sd pre_j)``.

    Returns ``{kind: (n, n) array}``; 0 means an exact negated copy, whatever the outgoing weights."""
    x = torch.as_tensor(images).double()
    P, Q = pre_activations(W1, b1, x), pre_activations(W1, b1, transform(x))
    sd = P.std(0, unbiased=False)
    out = {}
    for kind, A in (("direct", P), ("mirrored", Q)):
        sq = (A.pow(2).mean(0)[:, None] + P.pow(2).mean(0)[None] + 2 * A.T @ P / len(P)).clamp_min(0)
        out[kind] = (sq.sqrt() / torch.minimum(sd[:, None], sd[None]).clamp_min(1e-300)).numpy()
    return out


def find_negated_copies(W1, b1, W2, images, transform=mirror, max_residual=None, outgoing_residual=OUTGOING_RESIDUAL):
    """Pairs of distinct first-layer neurons ``i < j`` of which one is a negated copy of the other,
    directly (``pre_j ~ -pre_i``) or through the mirror (``pre_j(x) ~ -pre_i(g x)``), within
    ``max_residual`` (default: the data metric's label threshold) in :func:`negated_copy_residuals`;
    inactive neurons (:func:`eqlib.symmetry.active_neurons`) excluded. This is what the paper's GELU
    figure shows, whatever the outgoing weights. Each pair also says whether it is a **bypass**:
    opposite outgoing weights, ``||v_i + v_j|| / max(||v_i||, ||v_j||) <= outgoing_residual``, so that
    ``GELU(t) - GELU(-t) = t`` makes the two neurons add up to a linear map; and whether it is **even**:
    equal outgoing weights, ``||v_i - v_j|| / max(...) <= outgoing_residual``, so that the two compute
    ``v (GELU(t) + GELU(-t)) = v t erf(t / sqrt 2)``, an even, ``|t|``-like unit (for Tanh, equal weights
    cancel: ``tanh(t) + tanh(-t) = 0``). A pair that is a negated copy both ways (a mirror-symmetric neuron
    and its negation) is listed once, with both kinds."""
    max_residual = MAX_RESIDUALS["data"] if max_residual is None else max_residual
    W2 = np.asarray(W2, np.float64)
    active = active_neurons(W2)
    res = negated_copy_residuals(W1, b1, images, transform)
    out, even = _pair_residual(W2.T, W2.T), _pair_residual(W2.T, -W2.T)
    pairs = {}
    for kind, r in res.items():
        for i, j in zip(*np.nonzero(r <= max_residual)):
            if i != j and active[i] and active[j]:
                key = (int(min(i, j)), int(max(i, j)))
                p = pairs.setdefault(key, {"i": key[0], "j": key[1], "kinds": [], "filter_residual": float("inf"),
                                           "outgoing_residual": float(out[i, j]),
                                           "bypass": bool(out[i, j] <= outgoing_residual),
                                           "even_residual": float(even[i, j]),
                                           "even": bool(even[i, j] <= outgoing_residual)})
                if kind not in p["kinds"]:
                    p["kinds"].append(kind)
                p["filter_residual"] = min(p["filter_residual"], float(r[i, j]), float(r[j, i]))
    return [pairs[k] for k in sorted(pairs)]


def negated_groups(pairs) -> list:
    """The groups of mutually negated filters: the connected components of the graph whose edges are ``pairs``
    (a pair is a group of two; three filters each the negation of another, via a shared partner, one of three)."""
    parent = {}

    def root(i):
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for p in pairs:
        parent[root(p["i"])] = root(p["j"])
    groups = {}
    for i in list(parent):
        groups.setdefault(root(i), []).append(i)
    return sorted(sorted(g) for g in groups.values())


def negated_structure(W1, b1, W2, images, thresholds=THRESHOLDS, transform=mirror) -> dict:
    """The direct negated copies of one first layer (``pre_j ~ -pre_i``) counted three ways, at every residual
    threshold of ``thresholds`` (the count-against-threshold curve): the filters in a copy, the pairs, and the groups
    of mutually negated filters (with the largest group's size); and the null of the pairs' outgoing residual: the
    same residual ``||v_i + v_j|| / max(||v_i||, ||v_j||)`` over every pair of the layer's active neurons, whatever
    their filters (random pairs of the same network's outgoing weights: what unrelated weights give)."""
    W2 = np.asarray(W2, np.float64)
    active = active_neurons(W2)
    r = negated_copy_residuals(W1, b1, images, transform)["direct"]
    idx = np.flatnonzero(active)
    iu = np.triu_indices(len(idx), 1)
    pair_r = r[np.ix_(idx, idx)][iu]
    by = {}
    for t in thresholds:
        keep = pair_r <= t
        pairs = [{"i": int(idx[a]), "j": int(idx[b])} for a, b in zip(iu[0][keep], iu[1][keep])]
        groups = negated_groups(pairs)
        by[str(t)] = {"filters": len(members(pairs)), "pairs": len(pairs), "groups": len(groups),
                      "largest": max((len(g) for g in groups), default=0)}
    out = _pair_residual(W2.T[idx], W2.T[idx])[iu]
    null = {"pairs": int(len(out))}
    if len(out):
        q = np.quantile(out, [0.05, 0.5, 0.95])
        null.update(q05=float(q[0]), median=float(q[1]), q95=float(q[2]))
    return {"by_threshold": by, "outgoing_null": null}


def members(pairs) -> list:
    """The distinct neurons of a list of pairs."""
    return sorted({k for p in pairs for k in (p["i"], p["j"])})


def direct_negated_filters(analysis: dict) -> int:
    """The first-layer filters in a *direct* negated copy (``pre_j ~ -pre_i``) of one model's analysis."""
    return len(members([p for p in analysis["negated_copies"] if "direct" in p["kinds"]]))


def pair_outgoing(analyses: list, kind="direct") -> dict:
    """What the negated pairs of ``kind`` compute, over the analyses of several models (seeds): how many
    pairs, how many are a bypass (opposite outgoing weights) or even (equal ones), and every pair's
    outgoing residual ``||v_i + v_j|| / max(||v_i||, ||v_j||)`` (0: a bypass, 2: equal weights)."""
    pairs = [p for a in analyses for p in a["negated_copies"] if kind in p["kinds"]]
    res = [p["outgoing_residual"] for p in pairs]
    return {"pairs": len(pairs), "bypass": sum(p["bypass"] for p in pairs), "even": sum(p["even"] for p in pairs),
            "outgoing_residuals": res, "median_outgoing": float(np.median(res)) if res else float("nan"),
            "min_outgoing": min(res) if res else float("nan")}


@torch.no_grad()
def share_of_output(model, x, neurons) -> float:
    """Share of the energy of the first layer's contribution ``W_2 h_1(x)`` carried by ``neurons``."""
    if not neurons:
        return 0.0
    h1 = model.hidden(x, 1).double()
    W2 = model.linears[1].weight.detach().double()
    idx = torch.as_tensor(sorted(neurons))
    return float((h1[:, idx] @ W2[:, idx].T).pow(2).sum() / (h1 @ W2.T).pow(2).sum().clamp_min(1e-300))


@torch.no_grad()
def near_linear_fractions(model, x, activation) -> np.ndarray:
    """Per first-layer neuron, the fraction of inputs ``x`` whose pre-activation lies where the
    activation is nearly linear (:data:`NEAR_LINEAR`)."""
    if activation not in NEAR_LINEAR:
        raise ValueError(f"no near-linear range defined for {activation!r}; allowed: {', '.join(NEAR_LINEAR)}")
    pre = model.linears[0](x).double()                  # (N, n)
    return NEAR_LINEAR[activation](pre).double().mean(0).numpy()


_GRAM = {}       # one entry: the factorised normal equations of the last x_fit (shared by every model of a page)


def _affine_factor(x_fit):
    key = (x_fit.data_ptr(), tuple(x_fit.shape), x_fit.dtype)
    if key not in _GRAM:
        xa = torch.cat([x_fit.double(), torch.ones(len(x_fit), 1, dtype=torch.float64)], 1)
        gram = xa.T @ xa + 1e-6 * torch.eye(xa.shape[1], dtype=torch.float64)
        _GRAM.clear()
        _GRAM[key] = torch.linalg.cholesky(gram)
    return _GRAM[key]


@torch.no_grad()
def affine_r2(f, x_fit, x_eval) -> float:
    """R² on ``x_eval`` of the best affine function of the input predicting ``f(x)`` (fitted on
    ``x_fit``): 1 when ``f`` is affine. The factorisation for ``x_fit`` is reused across calls."""
    aug = lambda x: torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], 1)
    coef = torch.cholesky_solve(aug(x_fit).T @ f(x_fit).double(), _affine_factor(x_fit))
    z = f(x_eval).double()
    return float(1 - (z - aug(x_eval) @ coef).pow(2).sum() / (z - z.mean(0)).pow(2).sum())


# --------------------------------------------------------------------------- one model
def first_layer(model, images, max_residual=None):
    """The first-layer analysis of an :class:`eqlib.models.MLP` in its first activation's group, in the data
    metric on ``images`` (row-stacked flat images)."""
    L = mlp_layers(model)
    return analyze_first_layer(L[0][0], L[0][1], L[1][0], activation=model.config.activations[0],
                               max_residual=max_residual, images=images, metric="data")


def first_layer_weights(model, max_residual=None):
    """The same in the weights metric (the filters alone, no images): the first release's reading."""
    L = mlp_layers(model)
    return analyze_first_layer(L[0][0], L[0][1], L[1][0], activation=model.config.activations[0],
                               max_residual=max_residual, metric="weights")


def label_summary(a) -> dict:
    """The counts and residuals of a :class:`eqlib.symmetry.FirstLayerAnalysis`, as plain data."""
    return {"counts": a.counts, "explained": a.explained, "active": int(a.active.sum()), "negation_only": a.negation_only,
            "median_residual": a.median_residual, "max_residual": a.max_residual,
            "explained_by_threshold": dict(zip(map(str, THRESHOLDS), explained_by_threshold(a, THRESHOLDS)))}


@memo
def analyze_mlp(model, task, x_fit, x_eval, n_function=2000):
    """Every per-model number of the MLP chapter, as plain data.

    ``x_fit`` (training images) carries the data metric of the first-layer labels and of the
    negated copies, and fits the affine R²; ``x_eval`` (test images) evaluates that R², the bypass
    share, the near-linear fractions and the propagated action's function-level errors. The labels
    in the weights metric are kept under ``"weights"``.
    """
    model = model.cpu().eval()
    layers = mlp_layers(model)
    acts = list(model.config.activations)
    a = first_layer(model, x_fit)
    copies = find_negated_copies(layers[0][0], layers[0][1], layers[1][0], x_fit)
    bypass = [p for p in copies if p["bypass"]]
    contrib = lambda x: model.hidden(x, 1) @ model.linears[1].weight.T
    moved = transform_parameters(layers, mirror, output_action(task))
    prop = match_networks(layers, moved, acts, active=[a.active] + [None] * (len(acts) - 1))
    with torch.no_grad():
        fn_errs = hidden_equivariance_errors(model.double(), x_eval[:n_function].double(), prop.perms)
    model.float()
    out = {**label_summary(a), "median_abs_cosine": a.median_abs_cosine,
           "labels": a.labels, "perm": a.match.perm, "signs": a.match.signs, "residuals": a.residuals,
           "pairs": a.pairs, "weights": label_summary(first_layer_weights(model)),
           "negated_copies": copies, "negated_filters": len(members(copies)),
           "negated": negated_structure(layers[0][0], layers[0][1], layers[1][0], x_fit),
           "bypass_pairs": bypass, "bypass_share": share_of_output(model, x_eval, members(bypass)),
           "linear_r2": affine_r2(contrib, x_fit, x_eval),
           "propagation": {"layer_residuals": prop.layer_residuals, "output_residual": prop.output_residual,
                           "function_errors": fn_errs}}
    if acts[0] in NEAR_LINEAR:
        frac = near_linear_fractions(model, x_eval, acts[0])[a.active]
        out["near_linear"] = {"median": float(np.median(frac)) if len(frac) else float("nan"),
                              "mostly_linear": int((frac > 0.5).sum())}
    return out


# --------------------------------------------------------------------------- the paper's metric, per model kind and seed
DEPTHS = {"first_layer": 1, "first_two_layers": 2}
DEPTH_NAMES = {"first_layer": "first layer", "first_two_layers": "first two layers"}
FLOOR_NAMES = {"first_layer": "W₁y + b₁", "first_two_layers": "W₂f₁ + b₂"}


def seed_metric(fs: dict, data, readings=None, **kw) -> dict:
    """The paper's metric for functions given per kind and seed, ``fs = {kind: [f per seed]}``
    (each ``f`` maps a batch of flat images to a latent batch, or to a dict of latents), from one
    shared pass per reading.

    Returns ``{reading: {kind: {flip: [value per seed]}}}`` (``{reading: {kind: {name: {flip: [...]}}}}``
    for dict-valued ``f``); ``kw`` goes to :func:`eqlib.metric.paper_metric` (``n_fit``, ``n_eval``, ``seed``, ...).
    """
    flat = {(kind, i): f for kind, per in fs.items() for i, f in enumerate(per)}
    table = paper_metric(flat, data, readings=list(readings or READINGS), **kw)
    out = {}
    for r, med in table.medians.items():
        for key, flips in med.items():
            (kind, i), sub = (key[0], key[1]) if isinstance(key[0], tuple) else (key, None)
            node = out.setdefault(r, {}).setdefault(kind, {})
            node = node.setdefault(sub, {}) if sub is not None else node
            for flip, v in flips.items():
                node.setdefault(flip, [None] * len(fs[kind]))[i] = v
    return out


def mlp_metric(models: dict, data, readings=None, depths=tuple(DEPTHS), **kw) -> dict:
    """:func:`seed_metric` of every prefix depth of MLPs ``{kind: [model per seed]}`` and of its floor
    (the same prefix without its last activation, keyed ``"<depth>_pre"``), each model's layers
    computed once for all depths: ``{reading: {kind: {depth: {flip: [value per seed]}}}}``. Cached per
    model (:func:`eqlib.memo.per_model`): only models without an entry are measured, in shared passes."""
    return per_model("mlp_metric", models, _mlp_metric, data, readings, tuple(depths), **kw)


def mlp_prefixes(m, depths=tuple(DEPTHS)):
    """One function of a batch giving every prefix ``depth`` of an MLP and its floor (``"<depth>_pre"``),
    each layer computed once."""

    def f(x):
        out, h = {}, x.to(m.linears[0].weight.dtype)       # the readings in the model's own precision
        for k, (lin, act) in enumerate(zip(m.linears, m.config.activations), start=1):
            pre = lin(h)
            h = ACTIVATIONS[act](pre)
            for d in depths:
                if DEPTHS[d] == k:
                    out[d], out[floor_key(d)] = h, pre
            if k == max(DEPTHS[d] for d in depths):
                return out
    return f


def _mlp_metric(models: dict, data, readings=None, depths=tuple(DEPTHS), **kw) -> dict:
    return seed_metric({kind: [mlp_prefixes(m, depths) for m in ms] for kind, ms in models.items()}, data, readings,
                       **kw)


@memo
def mlp_metric_precision(model, data, readings, n_fit=20_000, n_eval=20_000, depths=tuple(DEPTHS)) -> dict:
    """How precise the metric's medians are at ``n_eval`` evaluation samples: per reading, the largest
    bootstrap standard error of a median relative to the median, over the MLP's prefixes, their floors and
    both flips (``{reading: {"n_eval": n, "relative_se": x}}``)."""
    out = {}
    for r in readings:
        n = reading_samples(r, data, n_fit, n_eval)
        errs = shared_linear_equivariance({"m": mlp_prefixes(model, tuple(depths))}, FLIPS,
                                          reading_batches(r, data, n["fit"], part="fit"),
                                          reading_batches(r, data, n["eval"], part="eval"))
        rel = [median_se(e) / max(float(e.median()), 1e-300) for v in errs.values() for e in v.values()]
        out[r] = {"n_eval": n["eval"], "relative_se": max(rel)}
    return out


# --------------------------------------------------------------------------- attention
def attention_metric(models: dict, data, **kw) -> dict:
    """:func:`seed_metric` of every model's :func:`attention_prefix` (``{kind: [model per seed]}``), cached
    per model (:func:`eqlib.memo.per_model`)."""
    def compute(ms, data, **k):
        return seed_metric({kind: [attention_prefix(m) for m in v] for kind, v in ms.items()}, data, **k)
    return per_model("attention_metric", models, compute, data, **kw)


def attention_prefix(model):
    """The attention layer's output and its floor, as one function ``{"latent": ..., "latent_pre": ...}``:
    the floor replaces the softmax by uniform attention over the tokens, so the latent is affine in the
    image (the attention layer's only nonlinearity removed, as an MLP floor removes the activation)."""
    def f(x):
        z = model.mean_token(x)                                         # (B, d): uniform attention
        return {"latent": model.latent(x), "latent_pre": model.out_proj(model.v_proj(z))}
    return f


@torch.no_grad()
@memo
def analyze_attention(model, x) -> dict:
    """Every per-model number of the attention chapter on images ``x``: the head permutation
    (centred maps, involution check, margin), the per-head linear maps' residuals, and the
    positional encodings' residuals under the mirror and the up-down flip."""
    model = model.cpu().eval()
    c = model.config
    xm = mirror(x, (c.channels, c.image_size, c.image_size))
    fit = fit_head_permutation(model.attention(x), model.attention(xm))
    _, gl = fit_head_linear_maps(model.head_values(x), model.head_values(xm), fit.perm)
    pos = model.pos.detach()
    return {"perm": fit.perm, "cycles": fit.cycles, "involution": fit.is_involution,
            "fixed_heads": int((fit.perm == np.arange(len(fit.perm))).sum()),
            "moved_heads": int((fit.perm != np.arange(len(fit.perm))).sum()),
            "errors": fit.errors, "identity_errors": fit.identity_errors,
            "median_error": float(np.median(fit.errors)), "margin": fit.margin,
            "relative_margin": fit.relative_margin, "second_best": fit.second_best, "cost": fit.cost,
            "head_linear_residuals": gl, "median_head_linear_residual": float(np.median(gl)),
            "positional_residual": {f: positional_residual(pos, model.config.grid, f) for f in ("mirror", "updown")}}


# --------------------------------------------------------------------------- claims, per seed
def mlp_claims(analyses: dict, metric: dict) -> dict:
    """Per-seed booleans behind the MLP chapter's claims, each against its null: per reading, whether
    the equivariant model's first layer is closer to mirror- than to up-down-equivariant, closer than
    its control's and than at initialisation; and whether it explains more first-layer neurons
    (data metric) than its control and than at initialisation."""
    first = lambda r, k, f: metric[r][k]["first_layer"][f]
    below = lambda r, other, f="mirror": [e < o for e, o in zip(first(r, "equivariant", "mirror"), first(r, other, f))]
    explained = lambda other: [e["explained"] > o["explained"] for e, o in zip(analyses["equivariant"], analyses[other])]
    return {"mirror below up-down": {r: below(r, "equivariant", "updown") for r in metric},
            "equivariant below control": {r: below(r, "control") for r in metric},
            "equivariant below initialisation": {r: below(r, "init") for r in metric if "init" in metric[r]},
            "more explained than control": explained("control"),
            "more explained than initialisation": explained("init")}


def attention_claims(fits: dict) -> dict:
    """Per-seed booleans behind the attention chapter's claims (``fits[kind]`` lists
    :func:`analyze_attention` per seed, kinds ``equivariant``, ``control``, ``at switch-on``, ``init``):
    the equivariant model's matching error against each null, and the fitted permutations' shape."""
    eq = fits["equivariant"]
    lower = lambda key, other: [e[key] < o[key] for e, o in zip(eq, fits[other])]
    return {"better than control": lower("median_error", "control"),
            "better than initialisation": lower("median_error", "init"),
            "better than both": [a and b for a, b in zip(lower("median_error", "control"), lower("median_error", "init"))],
            "better than at switch-on": lower("median_error", "at switch-on"),
            "linear maps better than control": lower("median_head_linear_residual", "control"),
            "involution": {k: [h["involution"] for h in v] for k, v in fits.items()},
            "same as at switch-on": {k: [h["cycles"] == s["cycles"] for h, s in zip(fits[k], fits["at switch-on"])]
                                     for k in ("equivariant", "control")}}
