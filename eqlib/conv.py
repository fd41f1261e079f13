"""Layerwise equivariance of a convolutional network: the mirror's action on each layer's channels.

Conventions. Layer l's post-activation maps ``A_l(x)`` have shape ``(N, C, H, W)``; the mirror acts on
them by flipping the width axis. The network is layerwise equivariant at layer l with action ``P_l`` (a
signed channel permutation for Tanh, a permutation with positive scales for ReLU:
:data:`eqlib.symmetry.SCALINGS`) when ``flip(A_l(mirror x)) = P_l A_l(x)``, ``P_l`` acting on channels
(:class:`eqlib.symmetry.SignedPermutation`: ``(P A)[i] = c_i A[perm[i]]``).

``P_l`` is fitted two ways. *Activation matching* correlates ``flip(A_l(mirror x))`` with ``A_l(x)``
channel by channel over images and positions and solves the assignment (Bokman & Kahl's alignment of a
network with its mirrored copy). *Weight matching* needs no data: flipping layer l's kernels along the
width and mixing their input channels by ``P_{l-1}`` must give ``P_l`` times the kernels, biases
included, starting from the identity on the RGB input. The error ``e_l`` (:func:`layer_errors`) reads the
fitted action on test images, beside a free linear map on the channels fitted by least squares, the up-down
flip and a random permutation.
"""
from __future__ import annotations

import copy
import numpy as np
import torch

from eqlib.data import mirror, vflip
from eqlib.losses import relative_equivariance_error, relative_norm
from eqlib.memo import memo
from eqlib.symmetry import (INACTIVE_TOL, SCALINGS, SignedPermutation, embed_match, match_filters, active_neurons,
                            fit_monomial, random_signed_permutation)
from eqlib.rules import Rule

TRANSFORMS = {"mirror": (mirror, -1), "updown": (vflip, -2)}   # the input transformation, the axis it flips


def scaling(model) -> str:
    """The scaling a channel may carry under the activation's symmetry group (``"sign"`` for Tanh,
    ``"positive"`` for ReLU)."""
    return SCALINGS[model.config.activation]


def conv_layers(model) -> list:
    """``[(K, b)]`` per convolution (numpy float64, ``K`` of shape (out, in, 3, 3)), then the head ``(W, b)``."""
    mods = [*model.convs, model.head]
    return [(m.weight.detach().cpu().double().numpy(), m.bias.detach().cpu().double().numpy()) for m in mods]


def outgoing(layers) -> list:
    """Per convolution, its outgoing weights as a matrix whose columns are its channels: the next
    kernel's ``(out*3*3, in)`` or the head's ``(classes, in)``."""
    nxt = [K for K, _ in layers[1:]]
    return [K.transpose(0, 2, 3, 1).reshape(-1, K.shape[1]) if K.ndim == 4 else K for K in nxt]


@torch.no_grad()
def features(model, x, transform="mirror", batch=250) -> list:
    """``[(A_l(x), T(A_l(T x)))]`` per layer, T the width flip for ``"mirror"`` and the height flip for
    ``"updown"``, both ``(N, C, H, W)`` float32 on the CPU."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; allowed: {', '.join(TRANSFORMS)}")
    move, axis = TRANSFORMS[transform]
    model = model.eval()
    dev = next(model.parameters()).device
    shape = model.config.image_shape
    parts = [(model.features(xb.to(dev)), model.features(move(xb, shape).to(dev))) for xb in x.split(batch)]
    return [(torch.cat([p[0][k] for p in parts]).cpu(), torch.cat([p[1][k] for p in parts]).flip(axis).cpu())
            for k in range(len(parts[0][0]))]


def active_channels(layers, feats, tol=INACTIVE_TOL) -> list:
    """Per layer, the channels that count: outgoing weights of at least ``tol`` times the largest
    (:func:`eqlib.symmetry.active_neurons`) and an activation that is not constant on the images (a dead
    ReLU channel is constant 0). The theorem exempts the others."""
    out = []
    for W, (A, _) in zip(outgoing(layers), feats):
        spread = A.double().transpose(0, 1).reshape(A.shape[1], -1).std(dim=1).numpy()
        out.append(active_neurons(W, tol=tol) & (spread > 1e-6 * max(spread.max(), 1e-300)))
    return out


def _rows(A) -> np.ndarray:
    """``(N, C, H, W)`` -> ``(C, N*H*W)`` float64, each channel centred (correlations, not raw cosines)."""
    r = A.double().transpose(0, 1).reshape(A.shape[1], -1)
    return (r - r.mean(dim=1, keepdim=True)).numpy()


def activation_matching(A, B, scaling, active) -> SignedPermutation:
    """``P`` with ``B ~ P A`` from the channels' correlations over images and positions, on the active
    channels (the others are matched to themselves). Where the group has scales (ReLU), each channel's
    scale is then the least-squares factor on the maps themselves, ``<B_i, A_pi(i)> / ||A_pi(i)||^2``, as
    :func:`median_error` reads them (a factor fitted on centred maps shrinks towards 0 where the match is
    imperfect, while a ReLU map's mean is much of its norm)."""
    idx = np.flatnonzero(active)
    scaled = scaling in ("positive", "nonzero")
    match = embed_match(fit_monomial(_rows(A)[idx], _rows(B)[idx], "sign" if scaling == "nonzero" else
                                "none" if scaling == "positive" else scaling), idx, A.shape[1], scaled)
    if scaled:
        a = A.double().transpose(0, 1).reshape(A.shape[1], -1).numpy()
        b = B.double().transpose(0, 1).reshape(B.shape[1], -1).numpy()
        ap = a[match.perm]
        c = np.einsum("ij,ij->i", b, ap) / np.maximum(np.einsum("ij,ij->i", ap, ap), 1e-300)
        c = np.maximum(c, 0.0) if scaling == "positive" else c
        c[~np.asarray(active, bool)] = 1.0
        match.signs, match.scales = np.where(c < 0, -1.0, 1.0), np.abs(c)
    return match


def weight_matching(layers, scaling, actives) -> list:
    """``[P_l]`` from the weights alone: ``flip_w(K_l)`` with input channels mixed by ``P_{l-1}`` (the
    identity on RGB) matched to ``P_l K_l``, the bias a column of its own."""
    P_in, out = np.eye(layers[0][0].shape[1]), []
    for (K, b), active in zip(layers[:-1], actives):
        moved = np.einsum("oikl,ij->ojkl", K[..., ::-1], P_in)
        A = np.concatenate([K.reshape(len(K), -1), b[:, None]], axis=1)
        B = np.concatenate([moved.reshape(len(K), -1), b[:, None]], axis=1)
        match, _ = match_filters(A, B, active, scaling)
        out.append(match)
        P_in = match.matrix()
    return out


def agreement(P, Q, active) -> float:
    """Share of the active channels that two matchings send to the same channel with the same sign."""
    same = (P.perm == Q.perm) & (np.sign(P.factors()) == np.sign(Q.factors()))
    return float(same[active].mean()) if active.any() else float("nan")


def act(P, A):
    """``P A`` on the channel axis of ``(N, C, H, W)`` maps."""
    return torch.einsum("ij,njhw->nihw", torch.as_tensor(P.matrix(), dtype=A.dtype), A)


def median_error(A, B, active, moved) -> float:
    """Median over images of ``||B - moved|| / ||A||`` on the active channels (``moved``: ``P A``)."""
    a, b, m = (t[:, torch.as_tensor(active)].flatten(1).double() for t in (A, B, moved))
    return float(relative_norm(b - m, a, 1e-300).median())


def centred_error(A, B, active, P) -> float:
    """:func:`median_error` of the maps with each channel's mean over images and positions taken out, ``A - mu_A``
    and ``B - mu_B``: a ReLU or sigmoid map's constant part, which any channel matching carries, is no part of it."""
    mu = lambda T: T.double().mean(dim=(0, 2, 3), keepdim=True)
    Ac, Bc = A.double() - mu(A), B.double() - mu(B)
    return median_error(Ac, Bc, active, act(P, Ac))


def linear_map_error(A_fit, B_fit, A, B, active) -> float:
    """The same error with the best free linear map ``M`` on the active channels, fitted by least
    squares over the positions of the fit images and read on the others."""
    keep = torch.as_tensor(active)
    X = A_fit[:, keep].double().transpose(0, 1).flatten(1).T          # (N*H*W, C)
    Y = B_fit[:, keep].double().transpose(0, 1).flatten(1).T
    M = torch.linalg.lstsq(X, Y, driver="gelsd").solution.T            # Y ~ X M^T
    a, b = A[:, keep].double(), B[:, keep].double()
    moved = torch.einsum("ij,njhw->nihw", M, a)
    return float(relative_norm(b - moved, a, 1e-300).median())


def involution_split(P, active) -> dict:
    """The active channels by what ``P`` does to them: ``fixed`` (to itself, +), ``flipped`` (to itself,
    negated), ``swapped`` (in a 2-cycle, either sign pattern whose square is the identity) and
    ``other`` (longer cycles, a 2-cycle whose square negates, or a channel fitted to nothing, its scale 0);
    ``share``: the involutive fraction.
    Scales (ReLU) are a continuous fit and are not read here."""
    perm, sign = P.perm, np.sign(P.factors())
    i = np.flatnonzero(active)
    fixed = perm[i] == i
    invol = (perm[perm[i]] == i) & (sign[i] * sign[perm[i]] > 0)
    n = {"fixed": int((fixed & (sign[i] > 0)).sum()), "flipped": int((fixed & (sign[i] < 0)).sum()),
         "swapped": int((invol & ~fixed).sum()), "other": int((~invol).sum()), "active": len(i),
         "inactive": int((~active).sum())}
    n["share"] = (n["fixed"] + n["flipped"] + n["swapped"]) / max(n["active"], 1)
    return n


# --------------------------------------------------------------------------- criteria
# A layer counts as layerwise equivariant when every row holds (fixed before any result; the page prints these
# sentences, rendered from the thresholds layer_passes reads).
CRITERIA = (
    Rule("error", "its error e_l is at most {t:.2f}", {"t": 0.10}),
    Rule("nulls", "e_l is at most {t:.2g} of both its up-down and its initialisation values", {"t": 1 / 3}),
    Rule("linear", "e_l is at most {t:g} times the free linear map's (or both are at round-off, below {round_off:g})",
         {"t": 1.5, "round_off": 1e-6}),
    Rule("involution", "the fitted action is an involution on at least {t:.0%} of the active channels (read on its "
                       "permutation and signs; ReLU's fitted scales are not)", {"t": 0.90}),
)
THRESHOLDS = {c.key: c["t"] for c in CRITERIA}
ROUND_OFF = CRITERIA[2]["round_off"]     # errors below this are both zero: no ratio is read off them


def layer_passes(row: dict) -> dict:
    """Each criterion's outcome for one layer's row (:func:`analyze`'s), and ``all``."""
    t = THRESHOLDS
    out = {"error": row["e"] <= t["error"],
           "nulls": row["e"] <= t["nulls"] * row["e_updown"] and row["e"] <= t["nulls"] * row["e_init"],
           "linear": row["e"] <= max(t["linear"] * row["e_linear"], ROUND_OFF),
           "involution": row["split"]["share"] >= t["involution"]}
    out["all"] = all(out.values())
    return out


# --------------------------------------------------------------------------- one network
def analyze(model, x_fit, x_eval, init=None, rng=None) -> list:
    """One row per layer: the two matchings and their agreement, ``e`` (activation matching), ``e_weights``
    (weight matching), ``e_linear``, ``e_updown``, ``e_random`` (a random permutation of the same kind),
    ``e_init`` (the same analysis of ``init``, the network at initialisation, given as a model or as its
    rows from an earlier call), the involution split and the criteria's outcomes."""
    rng = np.random.default_rng(0) if rng is None else rng
    sc, layers = scaling(model), conv_layers(model)
    fit, ev, up = features(model, x_fit), features(model, x_eval), features(model, x_eval, "updown")
    fit_up = features(model, x_fit, "updown")
    actives = active_channels(layers, ev)
    by_weights = weight_matching(layers, sc, actives)
    inits = init if isinstance(init, list) or init is None else analyze(init, x_fit, x_eval, rng=np.random.default_rng(1))
    rows = []
    for k, ((Af, Bf), (A, B), (Au, Bu), (Auf, Buf), active, Pw) in enumerate(
            zip(fit, ev, up, fit_up, actives, by_weights)):
        P = activation_matching(Af, Bf, sc, active)
        Pu = activation_matching(Auf, Buf, sc, active)
        Pr = random_signed_permutation(A.shape[1], rng, signed=sc in ("sign", "nonzero"))
        row = {"layer": k + 1, "channels": A.shape[1], "P": P, "P_weights": Pw,
               "agreement": agreement(P, Pw, active),
               "e": median_error(A, B, active, act(P, A)),
               "e_weights": median_error(A, B, active, act(Pw, A)),
               "e_centred": centred_error(A, B, active, P),
               "e_linear": linear_map_error(Af, Bf, A, B, active),
               "e_updown": median_error(Au, Bu, active, act(Pu, Au)),
               "e_random": median_error(A, B, active, act(Pr, A)),
               "e_init": inits[k]["e"] if inits else float("nan"),
               "split": involution_split(P, active), "active": [bool(a) for a in active]}
        row["passes"] = layer_passes(row)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- merging with the mirrored self
def mirrored(model):
    """The network ``x -> f(mirror x)``: every kernel flipped along its width (exact: each operation
    commutes with the flip)."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for conv in m.convs:
            conv.weight.copy_(conv.weight.flip(-1))
    return m


def _invertible(P) -> np.ndarray:
    """``P``'s matrix with a zero scale (a channel fitted to nothing: inactive) read as 1."""
    M = np.zeros((len(P.perm),) * 2)
    M[np.arange(len(M)), P.perm] = np.where(P.factors() == 0, 1.0, P.factors())
    return M


def _inverse(M) -> np.ndarray:
    """The inverse of a monomial matrix: its transpose with every entry inverted."""
    inv = M.T.copy()
    inv[inv != 0] = 1 / inv[inv != 0]
    return inv


def aligned_mirror(model, Ps):
    """The mirrored network with its channels moved by ``P_l^{-1}`` so that they line up with the
    original's (a function-preserving change for the activation's group): its layer l maps are
    ``P_l^{-1} flip(A_l(mirror x))``, ``A_l(x)`` where the network is layerwise equivariant."""
    m = mirrored(model)
    dev = m.head.weight.device
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64, device=dev)
    P_in = as_t(np.eye(m.convs[0].in_channels))
    with torch.no_grad():
        for conv, P in zip(m.convs, Ps):
            M = _invertible(P)
            Pinv = as_t(_inverse(M))
            K = torch.einsum("ij,jkab,kl->ilab", Pinv, conv.weight.double(), P_in)
            conv.weight.copy_(K.to(conv.weight.dtype))
            conv.bias.copy_((Pinv @ conv.bias.double()).to(conv.bias.dtype))
            P_in = as_t(M)
        m.head.weight.copy_((m.head.weight.double() @ P_in).to(m.head.weight.dtype))
    return m


def interpolate(a, b, alpha: float):
    """The network with parameters ``(1 - alpha) a + alpha b``."""
    m = copy.deepcopy(a)
    with torch.no_grad():
        for p, pa, pb in zip(m.parameters(), a.parameters(), b.parameters()):
            p.copy_((1 - alpha) * pa + alpha * pb)
    return m


@torch.no_grad()
def accuracy(model, x, y, batch=1000) -> float:
    dev = next(model.parameters()).device
    hits = sum(int((model(xb.to(dev)).argmax(1).cpu() == yb).sum()) for xb, yb in zip(x.split(batch), y.split(batch)))
    return hits / len(x)


@torch.no_grad()
def invariance_error(model, x, batch=1000) -> float:
    """Median over images of ``||f(x) - f(mirror x)|| / ||f(x)||`` on the logits."""
    dev = next(model.parameters()).device
    shape = model.config.image_shape
    errs = [relative_equivariance_error("classifier", model(xb.to(dev)), model(mirror(xb, shape).to(dev))).cpu()
            for xb in x.split(batch)]
    return float(torch.cat(errs).median())


def merge_path(model, Ps, x, y, alphas=tuple(np.linspace(0, 1, 11))) -> dict:
    """Test accuracy along the straight path from ``theta`` to its aligned mirror and to its plain
    mirror, the barrier of each (the largest drop below the endpoints' line), and the invariance error of
    the original and of both midpoints."""
    ends = {"aligned": aligned_mirror(model, Ps), "naive": mirrored(model)}
    out = {"alphas": [float(a) for a in alphas], "invariance": {"original": invariance_error(model, x)}}
    for name, other in ends.items():
        acc = [accuracy(interpolate(model, other, float(a)), x, y) for a in alphas]
        line = [(1 - a) * acc[0] + a * acc[-1] for a in alphas]
        out[name] = {"accuracy": acc, "barrier": float(max(l - v for l, v in zip(line, acc))),
                     "midpoint": accuracy(interpolate(model, other, 0.5), x, y)}
        out["invariance"][name] = invariance_error(interpolate(model, other, 0.5), x)
    return out


# --------------------------------------------------------------------------- cached, for the page
def _plain(rows: list) -> list:
    """Layer rows with the fitted actions as lists instead of objects (for results files)."""
    out = []
    for r in rows:
        row = {k: v for k, v in r.items() if k not in ("P", "P_weights")}
        row["perm"], row["factors"] = r["P"].perm.tolist(), [float(f) for f in r["P"].factors()]
        row["perm_weights"] = r["P_weights"].perm.tolist()
        out.append(row)
    return out


def _action(row) -> SignedPermutation:
    f = np.asarray(row["factors"])
    return SignedPermutation(np.asarray(row["perm"]), np.where(f < 0, -1.0, 1.0), np.ones(len(f)), 0.0, np.abs(f))


@memo
def analyze_network(model, x_fit, x_eval, init_rows=None) -> list:
    """:func:`analyze` of one network (``init_rows``: its initialisation's rows from an earlier call), as
    plain rows (:func:`_plain`), the first layer with each channel's residual under the fitted action
    (``residuals``: ``||B_i - c_i A_pi(i)|| / ||B_i||`` over the evaluation images' positions, channels centred)."""
    rows = analyze(model, x_fit, x_eval, init=init_rows)
    (A, B), = features(model, x_eval)[:1]
    a, b = _rows(A), _rows(B)
    res = np.linalg.norm(b - rows[0]["P"].apply(a), axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-300)
    out = _plain(rows)
    out[0]["residuals"] = [float(x) for x in res]
    return out


@memo
def merge_network(model, rows, x, y, alphas) -> dict:
    """:func:`merge_path` with the actions of :func:`analyze_network`'s rows."""
    return merge_path(model, [_action(r) for r in rows], x, y, alphas)
