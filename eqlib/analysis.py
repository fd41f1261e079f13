"""One trained MLP, analysed; and numbers over seeds, aggregated.

:func:`analyze_mlp` runs every per-model analysis of the MLP chapter (first-layer labels,
the GELU bypass search, how linear the first layer is on real images, the action
propagated through the deeper layers) and returns plain data for a results file.
:func:`over_seeds` turns a list of such per-seed results into mean, standard deviation
and the per-seed values; :func:`pm` and :func:`count` phrase them for a page.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from eqlib.data import mirror
from eqlib.losses import output_action
from eqlib.models import ACTIVATIONS
from eqlib.symmetry import (analyze_first_layer, explained_by_threshold, hidden_equivariance_errors,
                            match_networks, mlp_layers, transform_parameters)

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)   # residual thresholds for the sensitivity curve
# Where an activation is nearly linear: GELU(t) >= 0.977 t for t >= 2 (and |GELU(t)| < 0.046 for
# t <= -2, where it is nearly off); tanh(t) >= 0.924 t for |t| <= 0.5.
NEAR_LINEAR = {"gelu": lambda t: t >= 2.0, "tanh": lambda t: t.abs() <= 0.5}
NEAR_LINEAR_TEXT = {"gelu": "t ≥ 2, where GELU(t) is within 2.3 % of t",
                    "tanh": "|t| ≤ 0.5, where tanh(t) is within 7.6 % of t"}


# --------------------------------------------------------------------------- the GELU bypass
def _pair_residual(a, b):
    """``||a_i + b_j|| / max(||a_i||, ||b_j||)`` for all i, j: 0 when b_j = -a_i."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    sq = na[:, None] ** 2 + nb[None] ** 2 + 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0)) / np.maximum(np.maximum(na[:, None], nb[None]), 1e-300)


def find_bypass_pairs(W1, b1, W2, transform=mirror, max_residual=0.5):
    """Pairs of first-layer neurons that can form a linear bypass.

    ``GELU(t) - GELU(-t) = t``: neurons ``i, j`` with ``[w_j, b_j] ~ -[w_i, b_i]`` (*direct*) and
    opposite outgoing weights ``v_j ~ -v_i`` add up to the linear map ``v_i (w_i^T x + b_i)``.
    Through the mirror (*mirrored*: ``[w_j, b_j] ~ -[g w_i, b_i]``) such a pair bypasses the
    nonlinearity for the mirrored input. Both relative residuals (filters with biases, and
    outgoing weights) must be at most ``max_residual``. Returns dicts sorted by ``(i, j)``.
    """
    W1, b1, W2 = (np.asarray(a, np.float64) for a in (W1, b1, W2))
    A = np.hstack([W1, b1[:, None]])
    Ag = np.hstack([np.asarray(transform(torch.from_numpy(W1))), b1[:, None]])
    out = _pair_residual(W2.T, W2.T)
    pairs = []
    for kind, B in (("direct", A), ("mirrored", Ag)):
        r_in = _pair_residual(B, A)                     # r_in[i, j]: ||B_i + A_j|| / max
        for i, j in zip(*np.nonzero((r_in <= max_residual) & (out <= max_residual))):
            if i != j:
                pairs.append({"i": int(min(i, j)), "j": int(max(i, j)), "kind": kind,
                              "filter_residual": float(r_in[i, j]), "outgoing_residual": float(out[i, j])})
    uniq = {(p["i"], p["j"], p["kind"]): p for p in pairs}
    return sorted(uniq.values(), key=lambda p: (p["i"], p["j"], p["kind"]))


@torch.no_grad()
def share_of_output(model, x, members) -> float:
    """Share of the energy of the first layer's contribution ``W_2 h_1(x)`` carried by ``members``."""
    if not members:
        return 0.0
    h1 = model.hidden(x, 1).double()
    W2 = model.linears[1].weight.detach().double()
    idx = torch.as_tensor(sorted(members))
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
def first_layer(model, max_residual=None):
    """The first-layer analysis of an :class:`eqlib.models.MLP`, in its first activation's group."""
    L = mlp_layers(model)
    kw = {} if max_residual is None else {"max_residual": max_residual}
    return analyze_first_layer(L[0][0], L[0][1], L[1][0], activation=model.config.activations[0], **kw)


def analyze_mlp(model, task, x_fit, x_eval, n_function=2000):
    """Every per-model number of the MLP chapter, as plain data.

    ``x_fit`` (training images) fits the affine R²; ``x_eval`` (test images) evaluates it, the
    bypass share, the near-linear fractions and the propagated action's function-level errors.
    """
    model = model.cpu().eval()
    layers = mlp_layers(model)
    acts = list(model.config.activations)
    a = first_layer(model)
    bypass = find_bypass_pairs(layers[0][0], layers[0][1], layers[1][0], max_residual=a.max_residual)
    members = sorted({k for p in bypass for k in (p["i"], p["j"])})
    contrib = lambda x: model.hidden(x, 1) @ model.linears[1].weight.T
    moved = transform_parameters(layers, mirror, output_action(task))
    prop = match_networks(layers, moved, acts, active=[a.active] + [None] * (len(acts) - 1))
    with torch.no_grad():
        fn_errs = hidden_equivariance_errors(model.double(), x_eval[:n_function].double(), prop.perms)
    model.float()
    out = {"counts": a.counts, "explained": a.explained, "active": int(a.active.sum()),
           "negation_only": a.negation_only, "median_residual": a.median_residual,
           "median_abs_cosine": a.median_abs_cosine, "max_residual": a.max_residual,
           "explained_by_threshold": dict(zip(map(str, THRESHOLDS), explained_by_threshold(a, THRESHOLDS))),
           "labels": a.labels, "perm": a.match.perm, "signs": a.match.signs, "residuals": a.residuals,
           "pairs": a.pairs, "bypass_pairs": bypass, "bypass_share": share_of_output(model, x_eval, members),
           "linear_r2": affine_r2(contrib, x_fit, x_eval),
           "propagation": {"layer_residuals": prop.layer_residuals, "output_residual": prop.output_residual,
                           "function_errors": fn_errs}}
    if acts[0] in NEAR_LINEAR:
        frac = near_linear_fractions(model, x_eval, acts[0])[a.active]
        out["near_linear"] = {"median": float(np.median(frac)) if len(frac) else float("nan"),
                              "mostly_linear": int((frac > 0.5).sum())}
    return out


# --------------------------------------------------------------------------- over seeds
def stats(values) -> dict:
    """``{"mean", "sd", "min", "max", "n", "values"}`` of per-seed numbers (sample sd; 0 for one seed)."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("no values to summarise")
    mean = sum(v) / len(v)
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return {"mean": mean, "sd": sd, "min": min(v), "max": max(v), "n": len(v), "values": v}


def over_seeds(per_seed: list):
    """Aggregate a list of per-seed results of the same shape: every number (bools excluded)
    becomes :func:`stats` of its per-seed values; dicts and lists of numbers of one length
    recurse element by element; other leaves are dropped."""
    if not isinstance(per_seed, (list, tuple)) or not per_seed:
        raise TypeError(f"over_seeds takes a non-empty list of per-seed results; got {type(per_seed).__name__}")
    first = per_seed[0]
    if isinstance(first, dict):
        out = {}
        for k in first:
            if all(isinstance(r, dict) and k in r for r in per_seed):
                agg = over_seeds([r[k] for r in per_seed])
                if agg is not None:
                    out[k] = agg
        return out or None
    if all(isinstance(r, list) and len(r) == len(first) for r in per_seed) and first \
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for r in per_seed for x in r):
        return [stats([r[i] for r in per_seed]) for i in range(len(first))]
    if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in per_seed):
        return stats(per_seed)
    return None


def pm(s: dict, digits=3) -> str:
    """``"0.264 ± 0.012"`` from :func:`stats`."""
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def count(flags, unit="seeds") -> str:
    """``"3 of 3 seeds"``."""
    flags = [bool(f) for f in flags]
    return f"{sum(flags)} of {len(flags)} {unit}"



# --------------------------------------------------------------------------- the paper's metric, per model kind and seed
DEPTHS = {"first_layer": 1, "first_two_layers": 2}
DEPTH_NAMES = {"first_layer": "first layer", "first_two_layers": "first two layers"}


def seed_metric(fs: dict, data, readings=None, **kw) -> dict:
    """The paper's metric for functions given per kind and seed, ``fs = {kind: [f per seed]}``
    (each ``f`` maps a batch of flat images to a latent batch, or to a dict of latents), from one
    shared pass per reading.

    Returns ``{reading: {kind: {flip: [value per seed]}}}`` (``{reading: {kind: {name: {flip: [...]}}}}``
    for dict-valued ``f``); ``kw`` goes to :func:`eqlib.metric.paper_metric` (``n_fit``, ``n_eval``, ``seed``, ...).
    """
    from eqlib.metric import READINGS, paper_metric
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
    """:func:`seed_metric` of every prefix depth of MLPs ``{kind: [model per seed]}``, each model's
    layers computed once for all depths: ``{reading: {kind: {depth: {flip: [value per seed]}}}}``."""
    def prefixes(m):
        def f(x):
            out, h = {}, x
            for k, (lin, act) in enumerate(zip(m.linears, m.config.activations), start=1):
                h = ACTIVATIONS[act](lin(h))
                for d in depths:
                    if DEPTHS[d] == k:
                        out[d] = h
                if k == max(DEPTHS[d] for d in depths):
                    return out
        return f
    return seed_metric({kind: [prefixes(m) for m in ms] for kind, ms in models.items()}, data, readings, **kw)


# --------------------------------------------------------------------------- attention
@torch.no_grad()
def analyze_attention(model, x) -> dict:
    """Every per-model number of the attention chapter on images ``x``: the head permutation
    (centred maps, involution check, margin), the per-head linear maps' residuals, and the
    positional encodings' residuals under the mirror and the up-down flip."""
    from eqlib.symmetry import fit_head_linear_maps, fit_head_permutation, positional_residual
    model = model.cpu().eval()
    c = model.config
    xm = mirror(x, (c.channels, c.image_size, c.image_size))
    fit = fit_head_permutation(model.attention(x), model.attention(xm))
    _, gl = fit_head_linear_maps(model.head_values(x), model.head_values(xm), fit.perm)
    pos = model.pos.detach()
    return {"perm": fit.perm, "cycles": fit.cycles, "involution": fit.is_involution,
            "fixed_heads": int((fit.perm == np.arange(len(fit.perm))).sum()),
            "errors": fit.errors, "identity_errors": fit.identity_errors,
            "median_error": float(np.median(fit.errors)), "margin": fit.margin,
            "relative_margin": fit.relative_margin, "second_best": fit.second_best, "cost": fit.cost,
            "head_linear_residuals": gl, "median_head_linear_residual": float(np.median(gl)),
            "positional_residual": {f: positional_residual(pos, model.config.grid, f) for f in ("mirror", "updown")}}


# --------------------------------------------------------------------------- claims, per seed
def mlp_claims(analyses: dict, metric: dict) -> dict:
    """Per-seed booleans behind the MLP chapter's claims: per reading, whether the first layer is
    closer to mirror- than to up-down-equivariant, and closer than the control's; and whether the
    equivariant model explains more first-layer neurons than its control."""
    first = lambda r, k, f: metric[r][k]["first_layer"][f]
    return {"mirror below up-down": {r: [m < u for m, u in zip(first(r, "equivariant", "mirror"),
                                                                first(r, "equivariant", "updown"))] for r in metric},
            "equivariant below control": {r: [e < c for e, c in zip(first(r, "equivariant", "mirror"),
                                                                     first(r, "control", "mirror"))] for r in metric},
            "more explained": [e["explained"] > c["explained"] for e, c in zip(analyses["equivariant"],
                                                                              analyses["control"])]}


def attention_claims(fits: dict) -> dict:
    """Per-seed booleans behind the attention chapter's claims (``fits[kind]`` lists
    :func:`analyze_attention` per seed, kinds ``equivariant``, ``control``, ``at switch-on``)."""
    eq = fits["equivariant"]
    lower = lambda key, other: [e[key] < o[key] for e, o in zip(eq, fits[other])]
    return {"better than control": lower("median_error", "control"),
            "better than at switch-on": lower("median_error", "at switch-on"),
            "linear maps better than control": lower("median_head_linear_residual", "control"),
            "involution": {k: [h["involution"] for h in v] for k, v in fits.items()},
            "same as at switch-on": {k: [h["cycles"] == s["cycles"] for h, s in zip(fits[k], fits["at switch-on"])]
                                     for k in ("equivariant", "control")}}
