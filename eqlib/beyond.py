"""The analyses of "Beyond the paper": any activation against its predicted group, a larger group
(D4) fitted element by element, the structure's emergence over training, and merging a network
with its mirrored self or with another seed.

Every function takes trained models (or their per-epoch trace) and returns plain data for a
results file; the pages in :mod:`eqlib.pages` call them.
"""
from __future__ import annotations

import numpy as np
import torch

from eqlib.analysis import label_summary, seed_metric
from eqlib.data import mirror
from eqlib.losses import equivariance_error, output_action, task_loss
from eqlib.memo import memo
from eqlib.metric import LinearFit
from eqlib.models import ACTIVATIONS
from eqlib.symmetry import (MAX_RESIDUALS, ODD_ACTIVATIONS, SCALINGS, active_neurons, analyze_first_layer,
                            match_networks, match_pre_activations, mlp_layers, pre_activations, SignedPermutation,
                            transform_parameters)


# The predicted action on the first layer's outputs h, per activation: h_i(g x) ~ alpha_i h_pi(i)(x) + beta_i,
# with c_i the fitted factor of the filter match (pre_i(g x) = c_i pre_pi(i)(x)).
PREDICTED_GROUP = {
    "tanh": "signed permutations (tanh is odd)",
    "gelu": "permutations (GELU has no other symmetry)",
    "relu": "permutations with positive scalings",
    "leaky_relu": "permutations with positive scalings",
    "sigmoid": "signed permutations, the sign flip absorbed into the next bias (σ(−t) = 1 − σ(t))",
    "square": "monomial matrices (any non-zero scaling, either sign)",
    "identity": "all of GL(n): no discrete structure is predicted",
}


def _latent_factors(activation, factors):
    """``(alpha, beta)`` of the predicted latent action from the filter factors ``c``."""
    c = np.asarray(factors, np.float64)
    if activation == "square":
        return c ** 2, np.zeros_like(c)
    if activation == "sigmoid":
        return np.sign(c), (c < 0).astype(np.float64)
    return c, np.zeros_like(c)           # tanh, gelu (c = 1), relu and leaky relu (c > 0), identity


@torch.no_grad()
def constant_neurons(model, x, tol=1e-3) -> np.ndarray:
    """First-layer neurons whose output is constant on the inputs ``x`` (for example ReLUs that never
    fire): standard deviation below ``tol`` times the largest. They contribute only a constant."""
    sd = model.hidden(x, 1).double().std(0)
    return (sd < tol * sd.max().clamp_min(1e-300)).numpy()


@torch.no_grad()
def group_fit_residuals(model, analysis, x_fit, x_eval, transform=mirror) -> dict:
    """On the active first-layer neurons, the median relative error over ``x_eval`` of

    * ``in_group``: the action predicted by the activation's group, built from the filter match
      (``h_i(g x) ~ alpha_i h_pi(i)(x) + beta_i``), nothing fitted on the latents;
    * ``unconstrained``: the best affine map of the latents, fitted by least squares on ``x_fit``.

    Both are relative to the latent's spread, ``||h(x) - mean h||`` (the mean over ``x_eval``): a constant
    offset such as sigmoid's 1/2 would otherwise shrink every error, most of all at initialisation, where
    the latent hardly varies about it.
    """
    act = model.config.activations[0]
    idx = torch.as_tensor(np.flatnonzero(analysis.active))
    if len(idx) == 0:
        return {"in_group": float("nan"), "unconstrained": float("nan")}
    h = lambda x: model.hidden(x, 1).double()[:, idx]
    alpha, beta = _latent_factors(act, analysis.match.factors())
    pos = {int(j): k for k, j in enumerate(idx.tolist())}
    perm = torch.as_tensor([pos[int(analysis.match.perm[i])] for i in idx.tolist()])
    a, b = torch.as_tensor(alpha[idx.numpy()]), torch.as_tensor(beta[idx.numpy()])
    y, z = h(x_eval), h(transform(x_eval))
    spread = (y - y.mean(0)).norm(dim=1).clamp_min(1e-300)
    in_group = (z - (a * y[:, perm] + b)).norm(dim=1) / spread
    one = lambda t: torch.cat([t, torch.ones(len(t), 1, dtype=t.dtype)], 1)
    fit = LinearFit()
    fit.add(one(h(x_fit)), h(transform(x_fit)))
    free = (z - one(y) @ fit.solve()).norm(dim=1) / spread    # same denominator
    return {"in_group": float(in_group.median()), "unconstrained": float(free.median())}


def first_layer_in_group(model, x, transform=mirror, constant=None):
    """:func:`eqlib.symmetry.analyze_first_layer` in the first activation's group and in the data metric
    on the images ``x``, the neurons that are constant on ``x`` exempt (``constant``: that mask, when
    already computed)."""
    L = mlp_layers(model)
    constant = constant_neurons(model, x) if constant is None else constant
    return analyze_first_layer(L[0][0], L[0][1], L[1][0], transform=transform, activation=model.config.activations[0],
                               active_extra=~constant, images=x, metric="data")


@memo
def analyze_activation(model, x_fit, x_eval, transform=mirror) -> dict:
    """First-layer labels in the activation's own group (data metric on the training images ``x_fit``,
    neurons constant there exempt; the weights metric under ``"weights"``), the fitted factors of the
    pairs, and the residuals of the latent action inside and outside the group (the unconstrained map
    fitted on ``x_fit``, both evaluated on the test images ``x_eval``)."""
    model = model.cpu().eval()
    act = model.config.activations[0]
    constant = constant_neurons(model, x_fit)
    a = first_layer_in_group(model, x_fit, transform, constant)
    L = mlp_layers(model)
    w = analyze_first_layer(L[0][0], L[0][1], L[1][0], transform=transform, activation=act, active_extra=~constant)
    f = a.match.factors()
    norms = np.linalg.norm(np.hstack([L[0][0], L[0][1][:, None]]), axis=1)     # filters with their biases
    pair_ratio = [float(max(norms[i], norms[j]) / max(min(norms[i], norms[j]), 1e-300)) for i, j, _ in a.pairs]
    return {"activation": act, "scaling": SCALINGS[act], **label_summary(a), "constant": int(constant.sum()),
            "labels": a.labels, "perm": a.match.perm, "factors": f, "weights": label_summary(w),
            "pairs": a.pairs, "pair_norm_ratio": float(np.median(pair_ratio)) if pair_ratio else float("nan"),
            **group_fit_residuals(model, a, x_fit, x_eval, transform)}


# --------------------------------------------------------------------------- a larger group
def _signed_order(sp: SignedPermutation, limit=64) -> int:
    P, M = sp.matrix(), np.eye(len(sp.perm))
    for m in range(1, limit + 1):
        M = P @ M
        if np.array_equal(M, np.eye(len(M))):
            return m
    return 0


def fit_group_actions(model, group, images, max_residual=None) -> dict:
    """Fit a signed permutation ``P(g)`` of the active first-layer neurons for every element ``g``
    (``pre(g x) ~ P(g) pre(x)`` in the data metric on ``images``, :func:`eqlib.symmetry.match_pre_activations`;
    signs where the activation is odd, as for Tanh), then measure

    * the homomorphism defect ``||P(g) P(h) - P(gh)||_F / sqrt(n)`` for all ``|G|^2`` pairs (its
      summaries, ``mean_defect``, ``max_defect`` and ``exact_products``, over the ``(|G| - 1)^2`` pairs
      without the identity, whose fit is exact by construction);
    * each non-identity ``P(g)``'s order against ``g``'s (``orders_agree`` of ``|G| - 1``);
    * the orbits of the neurons that every element matches within ``max_residual`` (default: the
      data metric's label threshold), their sizes, and each orbit's stabiliser (elements fixing a
      member up to sign). For a group action, orbit size x stabiliser size = ``|G|``.
    """
    model = model.cpu().eval()
    max_residual = MAX_RESIDUALS["data"] if max_residual is None else max_residual
    L = mlp_layers(model)
    W1, b1 = L[0]
    idx = np.flatnonzero(active_neurons(L[1][0]))
    x = torch.as_tensor(images).double()
    P0 = pre_activations(W1, b1, x)[:, idx]
    scaling = "sign" if model.config.activations[0] in ODD_ACTIVATIONS else "none"
    fits, residuals = [], []
    for k in range(group.order):
        sp, res = match_pre_activations(P0, pre_activations(W1, b1, group.act(k, x))[:, idx], scaling)
        fits.append(sp)
        residuals.append(res)
    table = group.table()
    P = [sp.matrix() for sp in fits]
    n = len(idx)
    defect = np.array([[np.linalg.norm(P[a] @ P[b] - P[table[a][b]]) / np.sqrt(max(n, 1))
                        for b in range(group.order)] for a in range(group.order)])
    inner = defect[1:, 1:]            # P(e) = I is fitted exactly, so pairs with e say nothing
    orders = [{"element": group.names[k], "order": group.element_order(k), "fitted_order": _signed_order(fits[k])}
              for k in range(group.order)]
    residuals = np.array(residuals)                           # (|G|, n)
    good = residuals.max(0) <= max_residual
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k in range(group.order):
        for i in np.flatnonzero(good):
            j = fits[k].perm[i]
            if good[j]:
                parent[find(i)] = find(j)
    orbits = {}
    for i in np.flatnonzero(good):
        orbits.setdefault(find(i), []).append(int(i))
    orbit_rows = []
    for members in orbits.values():
        i = members[0]
        stab = [k for k in range(group.order) if fits[k].perm[i] == i]
        orbit_rows.append({"neurons": [int(idx[m]) for m in members], "size": len(members),
                           "stabiliser": [group.names[k] for k in stab],
                           "orbit_stabiliser": len(members) * len(stab) == group.order})
    sizes = [r["size"] for r in orbit_rows]
    return {"active": n, "matched_by_every_element": int(good.sum()),
            "median_residual": [float(np.median(r)) if n else float("nan") for r in residuals],
            "defect": defect.tolist(), "max_defect": float(inner.max()), "mean_defect": float(inner.mean()),
            "exact_products": int((inner == 0).sum()), "orders": orders,
            "orders_agree": sum(o["order"] == o["fitted_order"] for o in orders[1:]),
            "orbits": orbit_rows, "orbit_sizes": {str(s): sizes.count(s) for s in sorted(set(sizes))},
            "orbit_stabiliser_holds": sum(r["orbit_stabiliser"] for r in orbit_rows)}


def with_random_filters(model, seed=0):
    """A copy of an MLP whose first-layer filters are replaced by random directions with the same
    norms (biases and deeper layers kept): the chance level of a structure fitted on the filters."""
    import copy
    out = copy.deepcopy(model).cpu()
    W = out.linears[0].weight
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        R = torch.randn(W.shape, generator=gen, dtype=W.dtype)
        W.copy_(R / R.norm(dim=1, keepdim=True) * W.norm(dim=1, keepdim=True))
    return out


@torch.no_grad()
def group_equivariance_errors(model, group, x) -> list:
    """Per element ``g``: median over ``x`` of ``||f(x) - g^{-1} f(g x)|| / ||f(x)||`` (an autoencoder)."""
    model = model.cpu().eval()
    f = model(x)
    return [float(equivariance_error(f, group.act(group.inverse(k), model(group.act(k, x)))).median())
            for k in range(group.order)]


# --------------------------------------------------------------------------- emergence over training
def trace_prefix(trace, epoch, activations):
    """The first two layers of a traced MLP after ``epoch`` epochs, as a function returning
    ``{"first_layer": h1, "first_layer_pre": W1 x + b1, "first_two_layers": h2}`` (the first layer with its floor)."""
    W1, b1, W2, b2 = (trace[k][epoch] for k in ("weight1", "bias1", "weight2", "bias2"))
    a1, a2 = ACTIVATIONS[activations[0]], ACTIVATIONS[activations[1]]

    def f(x):
        pre = x @ W1.T + b1
        h1 = a1(pre)
        return {"first_layer": h1, "first_layer_pre": pre, "first_two_layers": a2(h1 @ W2.T + b2)}
    return f


@memo
def trace_labels(trace, activation, images) -> list:
    """The first-layer analysis (data metric on ``images``) after every epoch of a trace: counts,
    explained, median residual, labels. Cached (:func:`eqlib.memo.memo`)."""
    rows = []
    for e in range(len(trace["weight1"])):
        a = analyze_first_layer(trace["weight1"][e].double().numpy(), trace["bias1"][e].double().numpy(),
                                trace["weight2"][e].double().numpy(), activation=activation, images=images,
                                metric="data")
        rows.append({"epoch": e, **{k: v for k, v in label_summary(a).items() if k != "explained_by_threshold"},
                     "labels": a.labels})
    return rows


@memo
def trace_metric(traces: dict, activations, data, reading, n_fit, n_eval) -> dict:
    """The paper's metric (one ``reading``; the first layer with its floor, and the first two layers) after
    every epoch of each trace in ``traces = {name: trace}``, from one shared pass:
    ``{name: {depth: {flip: [value per epoch]}}}``. Cached (:func:`eqlib.memo.memo`), so that a page that
    only draws it again reads it."""
    fs = {name: [trace_prefix(t, e, activations) for e in range(len(t["weight1"]))] for name, t in traces.items()}
    return seed_metric(fs, data, readings=[reading], n_fit=n_fit, n_eval=n_eval)[reading]


# --------------------------------------------------------------------------- merging
def align(layers_b, perms) -> list:
    """Reparametrise ``layers_b`` by the inverse of the hidden symmetries ``perms`` (from
    :func:`eqlib.symmetry.match_networks`, ``b ~ P a`` layer by layer), so that its neurons line up
    with network ``a``'s. The function of ``layers_b`` is unchanged (signs only where the
    activation is odd, as the matching allows)."""
    out, prev = [], None
    for k, (W, b) in enumerate(layers_b):
        P = perms[k].matrix() if k < len(perms) else None
        Wk = W if prev is None else W @ prev
        out.append((P.T @ Wk, P.T @ b) if P is not None else (Wk, b))
        prev = P
    return out


@torch.no_grad()
def path_losses(layers_a, layers_b, activations, task, x, y, alphas) -> list:
    """The task loss on ``(x, y)`` of the network ``(1 - alpha) a + alpha b`` for each ``alpha``."""
    x = x.double()
    out = []
    for t in alphas:
        layers = [((1 - t) * Wa + t * Wb, (1 - t) * ba + t * bb) for (Wa, ba), (Wb, bb) in zip(layers_a, layers_b)]
        h = x
        for (W, b), act in zip(layers[:-1], activations):
            h = ACTIVATIONS[act](h @ torch.from_numpy(W).T + torch.from_numpy(b))
        W, b = layers[-1]
        f = h @ torch.from_numpy(W).T + torch.from_numpy(b)
        out.append(float(task_loss(task, f, x, y)))
    return out


@memo
def merge_paths(model_a, model_b, task, x, y, alphas, mirrored=False) -> dict:
    """Losses along the straight path between two MLPs, before and after aligning ``b`` to ``a`` (cached,
    :func:`eqlib.memo.memo`) by weight matching (:func:`eqlib.symmetry.match_networks`, layer by layer on the incoming
    weights and biases, the hidden symmetries of each activation). With ``mirrored``, ``b`` is
    first replaced by the parameters of its mirrored copy ``x -> g' b(g x)``, which differs from
    ``b`` only in its first and last layers, and a third path (``aligned_first``) aligns the first
    layer alone, leaving the hidden layers as they are."""
    acts = list(model_a.config.activations)
    la, lb = mlp_layers(model_a.cpu()), mlp_layers(model_b.cpu())
    if mirrored:
        lb = transform_parameters(lb, mirror, output_action(task))
    m = match_networks(la, lb, acts)
    out = {"alphas": list(alphas), "naive": path_losses(la, lb, acts, task, x, y, alphas),
           "aligned": path_losses(la, align(lb, m.perms), acts, task, x, y, alphas),
           "layer_residuals": m.layer_residuals, "output_residual": m.output_residual}
    if mirrored:      # the copy differs only in its first and last layers: align the first layer alone too
        first = match_networks(la[:1] + [(np.zeros((1, len(la[0][0]))), np.zeros(1))],
                               lb[:1] + [(np.zeros((1, len(lb[0][0]))), np.zeros(1))], acts[:1]).perms[0]
        n = [len(W) for W, _ in la[1:-1]]
        ident = [SignedPermutation(np.arange(k), np.ones(k), np.ones(k), 0.0) for k in n]
        out["aligned_first"] = path_losses(la, align(lb, [first] + ident), acts, task, x, y, alphas)
    return out
