"""Symmetry fitting: signed permutations, the first-layer analysis (in the weights metric and in
the data metric), propagation of the fitted action through deeper layers, and the
head permutation of multi-head attention.

Conventions. A signed permutation ``(perm, signs)`` acts on row-stacked vectors as
``(P A)[i] = signs[i] * A[perm[i]]``; its matrix has ``P[i, perm[i]] = signs[i]``.
An MLP is a list of layers ``(W, b)`` (numpy, ``W`` of shape (out, in)) with
``h_k = s_k(W_k h_{k-1} + b_k)`` and a linear last layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
import torch

from eqlib.data import mirror
from eqlib.metric import lstsq_residual
from eqlib.models import ACTIVATIONS, check_activation



LABELS = ("self-symmetric", "anti-symmetric", "mirrored pair", "mirrored-negated pair",
          "inactive", "unmatched")
# What the first layer's hidden-symmetry group lets a matched filter carry, per activation:
# "none" (a plain permutation: GELU), "sign" (signed permutation: tanh is odd; sigmoid(-t) = 1 - sigmoid(t),
# the constant absorbed by the next bias), "positive" (permutation with positive scalings: ReLU and leaky
# ReLU are positively homogeneous), "nonzero" (monomial matrices: (c t)^2 = c^2 t^2; for the identity the
# group is all of GL(n), and the monomial fit is only a reading of it).
SCALINGS = {"gelu": "none", "tanh": "sign", "sigmoid": "sign", "relu": "positive", "leaky_relu": "positive",
            "square": "nonzero", "identity": "nonzero"}
# odd activations: a signed permutation P commutes with them, s(P z) = P s(z), with no other change
ODD_ACTIVATIONS = {"tanh", "identity"}


# --------------------------------------------------------------------------- signed permutations
@dataclass
class SignedPermutation:
    perm: np.ndarray        # (n,) int
    signs: np.ndarray       # (n,) +1 / -1
    cosines: np.ndarray     # (n,) signed cosine between B[i] and A[perm[i]]
    residual: float         # ||B - P A||_F / ||B||_F
    scales: np.ndarray = None   # (n,) positive magnitudes of a monomial match; None: all 1

    def factors(self) -> np.ndarray:
        return self.signs if self.scales is None else self.signs * self.scales

    def matrix(self) -> np.ndarray:
        n = len(self.perm)
        P = np.zeros((n, n))
        P[np.arange(n), self.perm] = self.factors()
        return P

    def apply(self, A: np.ndarray) -> np.ndarray:
        """``P A`` for row-stacked ``A``."""
        return self.factors()[:, None] * A[self.perm]

    def is_involution(self) -> bool:
        P = self.matrix()
        return bool(np.array_equal(P @ P, np.eye(len(P))))


def _as_matrix(a, name):
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix of row vectors; got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def fit_signed_permutation(A, B, signed=True) -> SignedPermutation:
    """Find ``perm``, ``signs`` with ``B[i] ~ signs[i] * A[perm[i]]``.

    Hungarian matching (``scipy.optimize.linear_sum_assignment``) on the absolute
    cosine similarities (plain cosines when ``signed=False``); the signs are read off
    the matched entries.
    """
    A, B = _as_matrix(A, "A"), _as_matrix(B, "B")
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape; got {A.shape} and {B.shape}")
    An = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-300)
    Bn = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-300)
    C = Bn @ An.T                                           # (n, n) cosines
    rows, perm = linear_sum_assignment(np.abs(C) if signed else C, maximize=True)
    cos = C[rows, perm]
    signs = np.where(cos < 0, -1.0, 1.0) if signed else np.ones(len(perm))
    sp = SignedPermutation(perm.astype(int), signs, cos, 0.0)
    sp.residual = float(np.linalg.norm(B - sp.apply(A)) / max(np.linalg.norm(B), 1e-300))
    return sp


def brute_force_signed_permutation(A, B, signed=True) -> SignedPermutation:
    """Exhaustive search minimising ``||B - P A||_F`` over all (signed) permutations; an oracle for n <= 6."""
    import itertools
    A, B = _as_matrix(A, "A"), _as_matrix(B, "B")
    n = len(A)
    if n > 6:
        raise ValueError(f"brute force is for n <= 6; got n={n}")
    best = None
    for perm in itertools.permutations(range(n)):
        for signs in itertools.product(*([(1.0, -1.0)] if signed else [(1.0,)]) * n):
            s = np.asarray(signs)
            err = np.linalg.norm(B - s[:, None] * A[list(perm)])
            if best is None or err < best[0]:
                best = (err, np.asarray(perm), s)
    Bn = np.linalg.norm(B, axis=1) * np.linalg.norm(A[best[1]], axis=1)
    cos = np.einsum("ij,ij->i", B, A[best[1]]) / np.maximum(Bn, 1e-300)
    return SignedPermutation(best[1], best[2], cos, float(best[0] / max(np.linalg.norm(B), 1e-300)))


def random_signed_permutation(n, rng, signed=True) -> SignedPermutation:
    perm = rng.permutation(n)
    signs = rng.choice([-1.0, 1.0], n) if signed else np.ones(n)
    return SignedPermutation(perm, signs, np.ones(n), 0.0)


def random_involution(n, rng, signed=True, fixed_fraction=0.25) -> SignedPermutation:
    """A random signed permutation ``P`` with ``P @ P = I``: pairs and fixed points."""
    order = rng.permutation(n)
    n_fixed = int(round(fixed_fraction * n)) + (n - int(round(fixed_fraction * n))) % 2
    perm, signs = np.arange(n), np.ones(n)
    for i in order[:n_fixed]:
        signs[i] = rng.choice([-1.0, 1.0]) if signed else 1.0
    rest = order[n_fixed:]
    for i, j in zip(rest[0::2], rest[1::2]):
        perm[i], perm[j] = j, i
        signs[i] = signs[j] = rng.choice([-1.0, 1.0]) if signed else 1.0
    return SignedPermutation(perm, signs, np.ones(n), 0.0)


def cycles(perm) -> str:
    """Cycle notation, 1-based, fixed points omitted: ``[0, 4, 2, 3, 1] -> '(2 5)'``."""
    perm, seen, out = list(perm), set(), []
    for i in range(len(perm)):
        if i in seen or perm[i] == i:
            continue
        c, j = [], i
        while j not in seen:
            seen.add(j)
            c.append(j + 1)
            j = perm[j]
        out.append("(" + " ".join(map(str, c)) + ")")
    return "".join(out) or "identity"


# --------------------------------------------------------------------------- MLPs as data
def mlp_layers(model):
    """``[(W, b), ...]`` of an :class:`eqlib.models.MLP`, as float64 numpy arrays."""
    return [(l.weight.detach().cpu().double().numpy(), l.bias.detach().cpu().double().numpy())
            for l in model.linears]


def mlp_forward(layers, activations, x):
    """Evaluate a list-of-layers MLP on row-stacked inputs ``x`` (numpy)."""
    h = np.asarray(x, dtype=np.float64)
    for (W, b), act in zip(layers[:-1], activations):
        h = ACTIVATIONS[act](torch.from_numpy(h @ W.T + b)).numpy()
    W, b = layers[-1]
    return h @ W.T + b


def transform_parameters(layers, in_action, out_action):
    """The parameters of ``x -> out_action^{-1} f(in_action x)`` for involutions ``in_action``,
    ``out_action`` given as functions on row-stacked vectors: ``W_1 -> W_1 g``, ``W_L -> g'^{-1} W_L``.

    If ``f`` is equivariant, these parameters define the same function as ``layers``.
    """
    (W1, b1), (WL, bL) = layers[0], layers[-1]
    W1g = np.asarray(in_action(torch.from_numpy(W1)))           # rows are flattened images
    WLg = np.asarray(out_action(torch.from_numpy(WL.T))).T       # columns live in output space
    bLg = np.asarray(out_action(torch.from_numpy(bL[None])))[0]
    if len(layers) == 1:
        return [(np.asarray(out_action(torch.from_numpy(W1g.T))).T, bLg)]
    return [(W1g, b1), *layers[1:-1], (WLg, bLg)]


@dataclass
class NetworkMatch:
    perms: list              # SignedPermutation per hidden layer: b-layer k ~ P_k a-layer k
    layer_residuals: list    # per hidden layer: ||[W^b_k P_{k-1}, b^b_k] - P_k [W^a_k, b^a_k]|| / ||.||
    output_residual: float   # ||[W^b_L P_{L-1}, b^b_L] - [W^a_L, b^a_L]|| / ||.||


def match_networks(layers_a, layers_b, activations, active=None) -> NetworkMatch:
    """Recover the hidden symmetries relating two parameter sets of the same architecture.

    Layer by layer, find ``P_k`` with ``W^b_k P_{k-1} ~ P_k W^a_k`` and ``b^b_k ~ P_k b^a_k``
    (``P_0 = I``); signs are allowed where the activation is odd. ``active`` (optional,
    one boolean mask per hidden layer) exempts inactive neurons: they are matched to
    themselves.
    """
    if len(layers_a) != len(layers_b) or len(activations) != len(layers_a) - 1:
        raise ValueError("both networks need the same number of layers and one activation per hidden layer")
    P_prev = np.eye(layers_a[0][0].shape[1])
    perms, residuals = [], []
    for k, ((Wa, ba), (Wb, bb), act) in enumerate(zip(layers_a[:-1], layers_b[:-1], activations)):
        A = np.hstack([Wa, ba[:, None]])
        B = np.hstack([Wb @ P_prev, bb[:, None]])
        mask = np.ones(len(A), bool) if active is None or active[k] is None else np.asarray(active[k], bool)
        idx = np.flatnonzero(mask)
        sub = fit_signed_permutation(A[idx], B[idx], signed=act in ODD_ACTIVATIONS)
        perm, signs, cos = np.arange(len(A)), np.ones(len(A)), np.ones(len(A))
        perm[idx], signs[idx], cos[idx] = idx[sub.perm], sub.signs, sub.cosines
        sp = SignedPermutation(perm, signs, cos, 0.0)
        sp.residual = float(np.linalg.norm((B - sp.apply(A))[idx]) / max(np.linalg.norm(B[idx]), 1e-300))
        perms.append(sp)
        residuals.append(sp.residual)
        P_prev = sp.matrix()
    (Wa, ba), (Wb, bb) = layers_a[-1], layers_b[-1]
    A, B = np.hstack([Wa, ba[:, None]]), np.hstack([Wb @ P_prev, bb[:, None]])
    return NetworkMatch(perms, residuals, float(np.linalg.norm(B - A) / max(np.linalg.norm(A), 1e-300)))


# --------------------------------------------------------------------------- first layer
STRUCTURED = LABELS[:4]      # the labels of active neurons that the fitted action explains
METRICS = ("data", "weights")
# The largest residual of an explained neuron, per metric. "weights": the partner accounts for at least
# 75 % of the filter's energy (the first release's rule). "data": the partner predicts the mirrored
# neuron's pre-activation on images to within a quarter of the neuron's own spread over images; chosen
# below every residual of untrained networks (tests/test_symmetry.py checks the null: fresh paper MLPs
# explain no neuron).
MAX_RESIDUALS = {"data": 0.25, "weights": 0.5}
MAX_RESIDUAL = MAX_RESIDUALS["weights"]
INACTIVE_TOL = 0.02          # a neuron whose outgoing weights are below 2 % of the largest is inactive


def active_neurons(W2, n=None, tol=INACTIVE_TOL) -> np.ndarray:
    """The first-layer neurons whose outgoing weights (columns of ``W2``) have a norm of at least
    ``tol`` times the largest; all ``n`` when ``W2`` is None."""
    if W2 is None:
        return np.ones(n, bool)
    out = np.linalg.norm(_as_matrix(W2, "W2"), axis=0)
    return out >= tol * out.max()


@dataclass
class FirstLayerAnalysis:
    labels: list             # one of LABELS per neuron
    match: SignedPermutation # mirrored neuron i ~ factor[i] * neuron perm[i] (on active neurons)
    active: np.ndarray       # (n,) bool
    outgoing_norms: np.ndarray
    residuals: np.ndarray    # (n,) relative residual of each neuron's match in ``metric`` (0 for inactive)
    max_residual: float
    signed: bool             # whether the activation's hidden symmetries include sign flips
    counts: dict = field(default_factory=dict)
    pairs: list = field(default_factory=list)   # (i, j, sign) with i < j
    negation_only: int = 0   # unmatched neurons that a *signed* match would explain through a sign flip
    metric: str = "weights"  # "data" (pre-activations on images) or "weights" (filters with biases)

    @property
    def explained(self) -> int:
        """Active neurons that the fitted action explains (inactive ones are exempt, not explained)."""
        return sum(self.counts[k] for k in STRUCTURED)

    @property
    def median_abs_cosine(self) -> float:
        """Median |cosine| of the matches of the active neurons."""
        c = np.abs(self.match.cosines[self.active])
        return float(np.median(c)) if len(c) else float("nan")

    @property
    def median_residual(self) -> float:
        r = self.residuals[self.active]
        return float(np.median(r)) if len(r) else float("nan")


def _label(match, residuals, active, max_residual):
    labels = []
    for i in range(len(match.perm)):
        j, s = match.perm[i], match.signs[i]
        if not active[i]:
            labels.append("inactive")
        elif residuals[i] > max_residual or match.perm[j] != i or match.signs[j] != s or residuals[j] > max_residual:
            labels.append("unmatched")
        elif j == i:
            labels.append("self-symmetric" if s > 0 else "anti-symmetric")
        else:
            labels.append("mirrored pair" if s > 0 else "mirrored-negated pair")
    return labels


def fit_monomial(A, B, scaling="nonzero") -> SignedPermutation:
    """Find ``perm`` and factors ``c`` with ``B[i] ~ c[i] * A[perm[i]]``, ``c`` restricted by ``scaling``
    (:data:`SCALINGS`): ``"none"`` (``c = 1``), ``"sign"`` (``c = +-1``), ``"positive"`` (``c > 0``,
    best fitted), ``"nonzero"`` (any ``c != 0``, best fitted). The assignment maximises the
    cosines (their absolute values where negative factors are allowed), as for
    :func:`fit_signed_permutation`; each fitted ``c[i]`` is then the least-squares factor."""
    _check_scaling(scaling)
    if scaling in ("none", "sign"):
        return fit_signed_permutation(A, B, signed=scaling == "sign")
    A, B = _as_matrix(A, "A"), _as_matrix(B, "B")
    sp = fit_signed_permutation(A, B, signed=scaling == "nonzero")
    Ap = A[sp.perm]
    c = np.einsum("ij,ij->i", B, Ap) / np.maximum(np.einsum("ij,ij->i", Ap, Ap), 1e-300)
    if scaling == "positive":
        c = np.maximum(c, 0.0)
    sp.signs, sp.scales = np.where(c < 0, -1.0, 1.0), np.abs(c)
    sp.residual = float(np.linalg.norm(B - sp.apply(A)) / max(np.linalg.norm(B), 1e-300))
    return sp


def _check_scaling(scaling):
    if scaling not in ("none", "sign", "positive", "nonzero"):
        raise ValueError(f"unknown scaling {scaling!r}; allowed: none, sign, positive, nonzero")


def embed_match(sub, idx, n, scaled):
    """A match of the rows ``idx`` as a match of all ``n`` rows (the others matched to themselves)."""
    match = SignedPermutation(np.arange(n), np.ones(n), np.ones(n), 0.0, np.ones(n) if scaled else None)
    match.perm[idx], match.signs[idx], match.cosines[idx] = idx[sub.perm], sub.signs, sub.cosines
    if scaled:
        match.scales[idx] = sub.scales
    return match


def match_filters(A, B, active, scaling):
    """Weights metric: match the rows of ``B`` (mirrored filters with biases) to those of ``A`` in the
    group of ``scaling``; the residual of row i is ``||B_i - c_i A_pi(i)|| / ||B_i||``."""
    idx = np.flatnonzero(active)
    match = embed_match(fit_monomial(A[idx], B[idx], scaling), idx, len(A), scaling in ("positive", "nonzero"))
    res = np.linalg.norm(B - match.apply(A), axis=1) / np.maximum(np.linalg.norm(B, axis=1), 1e-300)
    return match, np.where(active, res, 0.0)


def pre_activations(W, b, x) -> torch.Tensor:
    """``x W^T + b`` in float64: the pre-activations ``(N, n)`` of a layer on row-stacked inputs."""
    x = torch.as_tensor(x).double()
    return x @ torch.as_tensor(W, dtype=torch.float64).T + torch.as_tensor(b, dtype=torch.float64)


def match_pre_activations(P, Q, scaling="sign", active=None):
    """Data metric: match each moved neuron's pre-activation ``Q[:, i]`` (on transformed images) to
    ``c_i P[:, pi(i)]`` (on the images), ``c_i`` in the group of ``scaling``, minimising the sum of
    the squared relative residuals

        ``r_i = rms_x(Q_i - c_i P_pi(i)) / sd_x(P_i)``:

    the error of predicting the moved neuron from its partner, as the data sees it, relative to
    how much the neuron varies over the images. A constant (the bias) cannot make ``r_i`` small
    alone, and directions of the filters that the images do not excite do not count. Returns
    ``(match, residuals)`` (residual 0 for inactive neurons, which are matched to themselves)."""
    _check_scaling(scaling)
    P, Q = torch.as_tensor(P, dtype=torch.float64), torch.as_tensor(Q, dtype=torch.float64)
    if P.ndim != 2 or P.shape != Q.shape:
        raise ValueError(f"P and Q must be (N, n) pre-activations of equal shape; got {tuple(P.shape)}, {tuple(Q.shape)}")
    n = P.shape[1]
    active = np.ones(n, bool) if active is None else np.asarray(active, bool)
    idx = np.flatnonzero(active)
    Pa, Qa = P[:, idx], Q[:, idx]
    N = len(P)
    BA = (Qa.T @ Pa / N).numpy()                                        # (m, m) E[Q_i P_j]
    AA, BB = Pa.pow(2).mean(0).numpy(), Qa.pow(2).mean(0).numpy()       # E[P_j^2], E[Q_i^2]
    var = np.maximum(Pa.var(0, unbiased=False).numpy(), 1e-300)
    if scaling == "none":
        c = np.ones_like(BA)
    elif scaling == "sign":
        c = np.where(BA < 0, -1.0, 1.0)
    else:
        c = BA / np.maximum(AA, 1e-300)[None]
        if scaling == "positive":
            c = np.maximum(c, 0.0)
    cost = np.maximum(BB[:, None] - 2 * c * BA + c ** 2 * AA[None], 0.0) / var[:, None]
    rows, cols = linear_sum_assignment(cost)
    cf = c[rows, cols]
    cos = BA[rows, cols] / np.sqrt(np.maximum(BB[rows] * AA[cols], 1e-300))
    sub = SignedPermutation(cols.astype(int), np.where(cf < 0, -1.0, 1.0), cos, 0.0, np.abs(cf))
    match = embed_match(sub, idx, n, scaling in ("positive", "nonzero"))
    # the matched residuals computed directly, not read off ``cost``: its expanded square cancels, which leaves
    # sqrt(eps) (1.5e-8 in float64) of an exact match instead of eps
    diff = Qa[:, rows] - torch.from_numpy(cf) * Pa[:, cols]
    res = np.zeros(n)
    res[idx] = (diff.pow(2).mean(0).numpy() / var[rows]) ** 0.5
    match.residual = float(np.sqrt(np.mean(res[idx] ** 2))) if len(idx) else 0.0
    return match, res


def _matcher(metric, W1, b1, transform, images):
    """``fit(active, scaling) -> (match, residuals)`` in the chosen metric."""
    if metric == "data":
        x = torch.as_tensor(images).double()
        P, Q = pre_activations(W1, b1, x), pre_activations(W1, b1, transform(x))
        return lambda active, scaling: match_pre_activations(P, Q, scaling, active)
    A = np.hstack([W1, b1[:, None]])
    B = np.hstack([np.asarray(transform(torch.from_numpy(W1))), b1[:, None]])
    return lambda active, scaling: match_filters(A, B, active, scaling)


def analyze_first_layer(W1, b1, W2=None, transform=mirror, max_residual=None, inactive_tol=INACTIVE_TOL,
                        activation="tanh", active_extra=None, images=None, metric="weights") -> FirstLayerAnalysis:
    """Label each first-layer neuron by how the mirror acts on it.

    The mirrored neurons are matched to the neurons by an element of the activation's
    hidden-symmetry group (:data:`SCALINGS`): a signed permutation for Tanh and sigmoid, a plain
    permutation for GELU (no sign flips), a permutation with positive factors for (leaky) ReLU, a
    monomial matrix for x² and the identity. Each neuron's relative residual decides its label, in
    one of two metrics (:data:`METRICS`), named by ``metric``:

    * ``"data"``, on ``images`` (row-stacked flat images, required): the metric of :func:`match_pre_activations`,
      ``rms_x(pre_i(g x) - c_i pre_pi(i)(x)) / sd_x(pre_i(x))`` over the images;
    * ``"weights"`` (no images): ``||g w_i - c_i w_pi(i)|| / ||w_i||``, filters with their biases.

    ``max_residual`` defaults to the metric's :data:`MAX_RESIDUALS`. Labels:

    * *inactive*: its outgoing weights (column of ``W2``) have norm below ``inactive_tol`` times
      the largest, or ``active_extra`` (optional mask) marks it inactive, for example because it
      is constant on the data. The theorem exempts it; it is neither explained nor unmatched.
    * *unmatched*: residual above ``max_residual``, or the match is not an involution there.
    * otherwise *self-symmetric* (``g w = w``), *anti-symmetric* (``g w = -w``), or half of a
      *mirrored pair* (``g w_i = w_j``) or of a *mirrored-negated pair* (``g w_i = -w_j``).

    For an activation without sign flips, ``negation_only`` counts the unmatched neurons that a
    match with negative factors would have explained through a negation, outside the activation's group.
    """
    check_activation(activation)
    W1, b1 = _as_matrix(W1, "W1"), np.asarray(b1, np.float64).reshape(-1)
    n = len(W1)
    if len(b1) != n:
        raise ValueError(f"b1 has {len(b1)} entries for {n} filters")
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not allowed; allowed: {', '.join(map(repr, METRICS))}")
    if (images is None) != (metric == "weights"):
        raise ValueError("the data metric reads images: pass images with metric='data'" if images is None else
                         "images are read only by the data metric: pass metric='data' with them")
    max_residual = MAX_RESIDUALS[metric] if max_residual is None else max_residual
    if not 0 < max_residual:
        raise ValueError(f"max_residual must be positive; got {max_residual!r}")
    if W2 is not None and _as_matrix(W2, "W2").shape[1] != n:
        raise ValueError(f"W2 must have {n} columns (one per first-layer neuron); got shape {np.shape(W2)}")
    out = np.ones(n) if W2 is None else np.linalg.norm(_as_matrix(W2, "W2"), axis=0)
    active = active_neurons(W2, n, inactive_tol)
    if active_extra is not None:              # e.g. neurons that are constant on the data (dead ReLUs)
        active = active & np.asarray(active_extra, bool)
    fit = _matcher(metric, W1, b1, transform, images)
    scaling = SCALINGS[activation]
    signed = scaling in ("sign", "nonzero")
    match, res = fit(active, scaling)
    labels = _label(match, res, active, max_residual)
    negation_only = 0
    if not signed:
        smatch, sres = fit(active, "nonzero" if scaling == "positive" else "sign")
        slabels = _label(smatch, sres, active, max_residual)
        negation_only = sum(1 for a, b in zip(labels, slabels)
                            if a == "unmatched" and b in ("anti-symmetric", "mirrored-negated pair"))
    pairs = sorted({(min(i, match.perm[i]), max(i, match.perm[i]), int(match.signs[i]))
                    for i in range(n) if labels[i] in ("mirrored pair", "mirrored-negated pair")})
    counts = {k: labels.count(k) for k in LABELS}
    return FirstLayerAnalysis(labels, match, active, out, res, max_residual, signed, counts, pairs, negation_only,
                              metric)


def explained_by_threshold(analysis: FirstLayerAnalysis, thresholds) -> list:
    """How many active neurons each residual threshold would call explained (same match)."""
    return [sum(1 for lab in _label(analysis.match, analysis.residuals, analysis.active, t) if lab in STRUCTURED)
            for t in thresholds]


@torch.no_grad()
def hidden_equivariance_errors(model, x, perms, transform=mirror):
    """For each hidden layer k of an MLP: median over ``x`` of ``||h_k(g x) - P_k h_k(x)|| / ||h_k(x)||``."""
    errs = []
    for k, sp in enumerate(perms, start=1):
        h, hm = model.hidden(x, k).double(), model.hidden(transform(x), k).double()
        Ph = h[:, torch.as_tensor(sp.perm)] * torch.as_tensor(sp.signs)
        errs.append(float(((hm - Ph).norm(dim=1) / h.norm(dim=1).clamp_min(1e-300)).median()))
    return errs


# --------------------------------------------------------------------------- attention heads
@dataclass
class HeadPermutation:
    perm: np.ndarray         # mirrored-input head k ~ mirror of original head perm[k]
    errors: np.ndarray       # per head, relative squared error of its match
    identity_errors: np.ndarray   # per head, the error if every head mirrored itself
    cost: np.ndarray         # (h, h) relative errors of all pairings
    margin: float            # total cost of the second-best assignment minus the best's
    second_best: np.ndarray  # the second-best assignment

    @property
    def cycles(self) -> str:
        return cycles(self.perm)

    @property
    def is_involution(self) -> bool:
        """The mirror is an involution, so the head permutation it induces must be one."""
        return bool(np.array_equal(self.perm[self.perm], np.arange(len(self.perm))))

    @property
    def relative_margin(self) -> float:
        """The margin relative to the best assignment's total cost."""
        return self.margin / max(float(self.errors.sum()), 1e-300)


def second_best_assignment(cost, best):
    """The cheapest assignment other than ``best`` (Murty's partition: forbid each of the best
    assignment's pairs in turn; the second best avoids at least one of them)."""
    out = None
    for k, j in enumerate(best):
        c = np.array(cost, dtype=float)
        c[k, j] = 1e300
        rows, perm = linear_sum_assignment(c)
        total = c[rows, perm].sum()
        if out is None or total < out[0]:
            out = (total, perm)
    return out[1]


def fit_head_permutation(maps, maps_mirrored, center=True) -> HeadPermutation:
    """Match each head's attention maps on mirrored inputs to the mirrored maps of the heads
    on the originals: ``maps_mirrored[:, k] ~ mirror(maps[:, perm[k]])``.

    ``maps`` and ``maps_mirrored`` are ``(N, heads, G, G)`` over the same N images. With
    ``center``, the uniform map ``1/T`` is subtracted first, so that heads that attend almost
    uniformly (and so resemble every other such head) do not look matched.
    """
    a = torch.as_tensor(maps, dtype=torch.float64)
    b = torch.as_tensor(maps_mirrored, dtype=torch.float64)
    if a.ndim != 4 or a.shape != b.shape:
        raise ValueError(f"expected two (N, heads, G, G) tensors of equal shape; got {tuple(a.shape)}, {tuple(b.shape)}")
    am = a.flip(-1).flatten(2)                    # (N, h, T) mirrored maps of the originals
    bf = b.flatten(2)                             # (N, h, T)
    if center:
        am, bf = am - 1.0 / am.shape[-1], bf - 1.0 / bf.shape[-1]
    diff = ((bf ** 2).sum((0, 2))[:, None] + (am ** 2).sum((0, 2))[None]
            - 2 * torch.einsum("nkt,njt->kj", bf, am))                      # (h_b, h_a)
    cost = (diff / (bf ** 2).sum((0, 2)).clamp_min(1e-300)[:, None]).numpy()
    rows, perm = linear_sum_assignment(cost)
    second = second_best_assignment(cost, perm) if len(perm) > 1 else perm
    margin = float(cost[rows, second].sum() - cost[rows, perm].sum())
    return HeadPermutation(perm, cost[rows, perm], np.diag(cost).copy(), cost, margin, second)


def fit_head_linear_maps(values, values_mirrored, perm):
    """Per head ``k``, least-squares ``M_k`` with ``values_mirrored[:, k] ~ values[:, perm[k]] M_k^T``.

    Returns ``(maps, residuals)``: ``(h, d, d)`` and the relative residual of each head.
    """
    v = torch.as_tensor(values, dtype=torch.float64)
    vm = torch.as_tensor(values_mirrored, dtype=torch.float64)
    if v.ndim != 3 or v.shape != vm.shape:
        raise ValueError(f"expected two (N, heads, d) tensors of equal shape; got {tuple(v.shape)}, {tuple(vm.shape)}")
    maps, res = [], []
    for k, j in enumerate(perm):
        sol = torch.linalg.lstsq(v[:, j], vm[:, k]).solution           # (d, d) = M^T
        maps.append(sol.T.numpy())
        res.append(lstsq_residual(v[:, j], vm[:, k]))
    return np.stack(maps), np.asarray(res)


def positional_residual(pos, grid, flip="mirror") -> float:
    """Relative residual of the best linear ``L`` with ``pos(g t) ~ L pos(t)`` over the ``grid x grid``
    positions (``pos`` is ``(grid * grid, d)``, row-major): 0 when the encodings carry a linear
    action of the flip."""
    flips = {"mirror": -1, "updown": -2}
    if flip not in flips:
        raise ValueError(f"unknown flip {flip!r}; allowed: {', '.join(flips)}")
    pos = torch.as_tensor(pos, dtype=torch.float64)
    if pos.ndim != 2 or pos.shape[0] != grid * grid:
        raise ValueError(f"pos must be (grid * grid, d) = ({grid * grid}, d); got {tuple(pos.shape)}")
    P = pos.view(grid, grid, -1)
    target = P.flip(flips[flip] - 1).reshape(grid * grid, -1)                  # pos at the flipped position
    return lstsq_residual(pos, target)
