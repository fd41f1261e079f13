"""The theorem on small exact networks: equivariant MLPs built by construction, hidden
symmetries that scramble them, their recovery, intertwiner groups, and a student that
learns a teacher's function.

All arrays are float64 numpy; MLPs are lists of layers ``(W, b)`` as in
:mod:`eqlib.symmetry`. Group actions are functions on row-stacked vectors (for
example :func:`eqlib.data.mirror` with a small ``image_shape``) that are involutions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from eqlib.metric import lstsq_residual
from eqlib.models import ACTIVATIONS, MLP, MLPConfig
from eqlib.symmetry import (ODD_ACTIVATIONS, cycles, fit_signed_permutation, match_networks, mlp_forward,
                            random_involution, random_signed_permutation, transform_parameters)


def _rows(action, V):
    return np.asarray(action(torch.from_numpy(np.ascontiguousarray(V))))


def _cols(action, V):
    return _rows(action, V.T).T


def equivariant_mlp(widths, activations, in_action, out_action, seed=0):
    """A random MLP with ``f(g x) = g' f(x)`` exactly, and the planted hidden actions.

    Each hidden layer k gets a random involutive (signed) permutation ``P_k``; the weights
    are symmetrised, ``W_k = (V + P_k V P_{k-1}) / 2``, so that ``W_k P_{k-1} = P_k W_k``
    (with ``P_0 = g`` and ``P_L = g'``). Returns ``(layers, planted)``.
    """
    rng = np.random.default_rng(seed)
    Ps = [random_involution(n, rng, signed=a in ODD_ACTIVATIONS) for n, a in zip(widths[1:-1], activations)]
    last = len(widths) - 2
    layers = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        V = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        c = 0.5 * rng.standard_normal(n_out)
        VP = _rows(in_action, V) if k == 0 else V @ Ps[k - 1].matrix()        # V P_{k-1}
        if k == last:
            W, b = (V + _cols(out_action, VP)) / 2, (c + _rows(out_action, c[None])[0]) / 2
        else:
            W, b = (V + Ps[k].apply(VP)) / 2, (c + Ps[k].apply(c[:, None])[:, 0]) / 2
        layers.append((W, b))
    return layers, Ps


def scramble(layers, activations, seed=0):
    """Apply a random element of the hidden symmetry group: ``W_k -> Q_k W_k Q_{k-1}^T``.

    The function does not change. Signs are used where the activation is odd.
    Returns ``(scrambled_layers, Qs)``.
    """
    rng = np.random.default_rng(seed)
    Qs = [random_signed_permutation(len(W), rng, signed=a in ODD_ACTIVATIONS)
          for (W, _), a in zip(layers[:-1], activations)]
    out, Q_prev = [], np.eye(layers[0][0].shape[1])
    for k, (W, b) in enumerate(layers):
        Q = Qs[k].matrix() if k < len(Qs) else np.eye(len(W))
        out.append((Q @ W @ Q_prev.T, Q @ b))
        Q_prev = Q
    return out, Qs


@dataclass
class Recovery:
    perms: list               # recovered P_k, one per hidden layer
    layer_residuals: list
    output_residual: float
    involutions: list         # P_k @ P_k == I (the map G -> K_k is a homomorphism)
    layer_errors: list        # max |s(W_k h) ... - P_k ...| on test inputs, per hidden layer


def recover_layerwise_action(layers, activations, in_action, out_action, x_test) -> Recovery:
    """The proof, executed: compare the parameters with those of ``g'^{-1} f(g .)`` and read
    off the unique hidden symmetries; check homomorphism and layerwise equivariance."""
    moved = transform_parameters(layers, in_action, out_action)
    match = match_networks(layers, moved, activations)
    errs, h, hg = [], np.asarray(x_test, np.float64), _rows(in_action, np.asarray(x_test, np.float64))
    for (W, b), act, P in zip(layers[:-1], activations, match.perms):
        s = ACTIVATIONS[act]
        h = s(torch.from_numpy(h @ W.T + b)).numpy()
        hg = s(torch.from_numpy(hg @ W.T + b)).numpy()
        errs.append(float(np.abs(hg - h @ P.matrix().T).max()))   # h_k(g x) = P_k h_k(x)
    return Recovery(match.perms, match.layer_residuals, match.output_residual,
                    [p.is_involution() for p in match.perms], errs)


def mlp_from_layers(layers, activations) -> MLP:
    """An :class:`eqlib.models.MLP` (float64) holding the given parameters."""
    widths = (layers[0][0].shape[1],) + tuple(len(W) for W, _ in layers)
    model = MLP(MLPConfig(widths, tuple(activations))).double()
    with torch.no_grad():
        for lin, (W, b) in zip(model.linears, layers):
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
    return model


# --------------------------------------------------------------------------- intertwiners
GROUP_ELEMENTS = ("permutation", "sign flip", "positive scaling", "negative scaling", "invertible")


def sample_group_element(kind, n, rng):
    if kind == "permutation":
        return np.eye(n)[rng.permutation(n)]
    if kind == "sign flip":
        s = rng.choice([-1.0, 1.0], n)
        s[0] = -1.0
        return np.diag(s)
    if kind == "positive scaling":
        return np.diag(rng.uniform(1.5, 3.0, n))
    if kind == "negative scaling":
        return np.diag(-rng.uniform(1.5, 3.0, n))
    if kind == "invertible":
        return rng.standard_normal((n, n))
    raise ValueError(f"unknown group element {kind!r}; allowed: {', '.join(GROUP_ELEMENTS)}")


def intertwiner_fit(activation, A, samples=4000, seed=0, affine=False):
    """Fit the best ``B`` (and offset ``c`` if ``affine``) with ``s(A x) ~ B s(x)`` over Gaussian
    inputs ``x``. Returns ``(lhs, fitted, residual)``: ``s(A x)``, the fit, and the relative
    least-squares residual (0 means ``A`` passes through the activation)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
    s = ACTIVATIONS[activation]
    x = 2.0 * np.random.default_rng(seed).standard_normal((samples, len(A)))
    lhs = s(torch.from_numpy(x @ A.T)).numpy()
    rhs = s(torch.from_numpy(x)).numpy()
    if affine:
        rhs = np.hstack([rhs, np.ones((samples, 1))])
    fitted = rhs @ np.linalg.lstsq(rhs, lhs, rcond=None)[0]
    return lhs, fitted, float(np.linalg.norm(lhs - fitted) / max(np.linalg.norm(lhs), 1e-300))


def intertwiner_residual(activation, A, samples=4000, seed=0, affine=False):
    """The residual of :func:`intertwiner_fit`: how far ``s(A x) = B s(x)`` is from holding."""
    return intertwiner_fit(activation, A, samples, seed, affine)[2]


def intertwiner_table(activations, kinds=GROUP_ELEMENTS, n=6, seed=0, tol=1e-8, affine=False):
    """``{activation: {kind: residual}}``, and which elements pass (residual < tol)."""
    rng = np.random.default_rng(seed)
    table = {}
    for a in activations:
        table[a] = {k: intertwiner_residual(a, sample_group_element(k, n, rng), seed=seed, affine=affine)
                    for k in kinds}
    passes = {a: {k: r < tol for k, r in row.items()} for a, row in table.items()}
    return table, passes


# --------------------------------------------------------------------------- a student
def fit_student(teacher_layers, activations, seed=0, samples=1000, steps=1000, restarts=8, target=1e-7):
    """Train a student of the teacher's architecture on the teacher's outputs (L-BFGS,
    float64), from up to ``restarts`` random initialisations, stopping at the first whose
    relative error is below ``target``; keep the one with the lowest training error
    (training can stall in a local minimum, which says nothing about identifiability).
    Returns ``(student_layers, relative_error, errors_of_the_restarts_tried)``."""
    widths = (teacher_layers[0][0].shape[1],) + tuple(len(W) for W, _ in teacher_layers)
    teacher = mlp_from_layers(teacher_layers, activations)
    x = torch.randn(samples, widths[0], dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        y = teacher(x)
    best, errors = None, []
    for r in range(restarts):
        torch.manual_seed(seed + r)
        student = MLP(MLPConfig(widths, tuple(activations))).double()
        opt = torch.optim.LBFGS(student.parameters(), lr=1, max_iter=steps, tolerance_grad=1e-14,
                                tolerance_change=1e-16, history_size=50, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = ((student(x) - y) ** 2).mean()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            errors.append(float((student(x) - y).norm() / y.norm()))
        if best is None or errors[-1] < best[1]:
            best = ([(l.weight.detach().numpy().copy(), l.bias.detach().numpy().copy()) for l in student.linears],
                    errors[-1])
        if best[1] < target:
            break
    return best[0], best[1], errors


# --------------------------------------------------------------------------- the chapter's experiments
def agrees_with_planted(rec: Recovery, scrambles, planted) -> bool:
    """The recovered actions equal the planted ones conjugated by the scrambling, ``Q P Q^T``."""
    return all(np.allclose(P.matrix(), Q.matrix() @ P0.matrix() @ Q.matrix().T)
               for P, Q, P0 in zip(rec.perms, scrambles, planted))


TRIALS = (((48, 10, 48), 1), ((48, 32, 48), 2), ((48, 20, 14, 9, 48), 3), ((48, 40, 30, 20, 10), 4),
          ((48, 64, 64, 64, 64, 48), 5))


def recovery_trials(g, x, trials=TRIALS) -> list:
    """Build, scramble and recover Tanh MLPs of several widths and depths (``g`` on 48-dim inputs;
    a 10-dimensional output is an invariant classifier)."""
    out = []
    for widths, s in trials:
        acts = ["tanh"] * (len(widths) - 2)
        out_action = g if widths[-1] == widths[0] else (lambda v: v)
        layers, _ = equivariant_mlp(widths, acts, g, out_action, seed=s)
        scrambled, _ = scramble(layers, acts, seed=s + 100)
        r = recover_layerwise_action(scrambled, acts, g, out_action, x)
        out.append({"widths": list(widths), "seed": s, "max_layer_error": max(r.layer_errors),
                    "involutions": all(r.involutions), "output_residual": r.output_residual})
    return out


def teacher_student(seed=0):
    """A random 3-4-2 Tanh teacher and the student fitted to its function; returns the student's
    error, the errors of the restarts, and the signed permutation matching student to teacher."""
    rng = np.random.default_rng(seed)
    teacher = [(rng.standard_normal((4, 3)), rng.standard_normal(4)), (rng.standard_normal((2, 4)), rng.standard_normal(2))]
    student, err, restarts = fit_student(teacher, ["tanh"], seed=seed)
    aug = lambda L: np.hstack([L[0][0], L[0][1][:, None]])
    return err, restarts, fit_signed_permutation(aug(teacher), aug(student))


def linear_counterexample(g, seed=0):
    """An equivariant linear network hidden by a random invertible map: the best signed permutation
    and the best invertible map relating its mirrored first layer to itself, as residuals."""
    lin, _ = equivariant_mlp((48, 16, 48), ["identity"], g, g, seed=seed)
    A = np.random.default_rng(seed).standard_normal((16, 16))
    W1 = A @ lin[0][0]
    gW1 = _rows(g, W1)
    return fit_signed_permutation(W1, gW1).residual, lstsq_residual(W1.T, gW1.T)      # W1 g = M W1


def gelu_bypass_counterexample(g, x, seed=0):
    """An exactly invariant GELU network made of two bypass pairs: its invariance error, its
    distance from the linear map it computes, and the residual of the best permutation under the mirror."""
    r = np.random.default_rng(seed)
    u0 = r.standard_normal(48)
    u = (u0 + _rows(g, u0[None])[0]) / 2
    a = r.standard_normal(48)
    W = np.stack([a, -a, u - a, -(u - a)])
    net = [(W, np.zeros(4)), (np.array([[1.0, -1.0, 1.0, -1.0]]), np.zeros(1))]
    fx = mlp_forward(net, ["gelu"], x)
    invariance = np.abs(mlp_forward(net, ["gelu"], _rows(g, x)) - fx).max()
    return float(invariance), float(np.abs(fx[:, 0] - x @ u).max()), fit_signed_permutation(W, _rows(g, W), signed=False).residual


def inactive_counterexample(g, seed=0):
    """An equivariant Tanh network plus one neuron with zero outgoing weights: the first-layer
    residual when that neuron must be matched, and when it is exempt."""
    (W1, b1), (W2, b2) = equivariant_mlp((48, 12, 48), ["tanh"], g, g, seed=seed)[0]
    r = np.random.default_rng(seed)
    layers = [(np.vstack([W1, r.standard_normal((1, 48))]), np.append(b1, 0.3)), (np.hstack([W2, np.zeros((48, 1))]), b2)]
    moved = transform_parameters(layers, g, g)
    active = [np.linalg.norm(layers[1][0], axis=0) > 0]
    return (match_networks(layers, moved, ["tanh"]).layer_residuals[0],
            match_networks(layers, moved, ["tanh"], active=active).layer_residuals[0])


def intertwiner_samples(activations, seed=0, n=6, samples=40):
    """For the explorer: per activation and group element, ``s(A x)`` and its best fit ``B s(x)`` on a few samples."""
    rng = np.random.default_rng(seed)
    out = {}
    for act in activations:
        for kind in GROUP_ELEMENTS:
            lhs, fitted, _ = intertwiner_fit(act, sample_group_element(kind, n, rng), samples=samples, seed=1)
            out[(act, kind)] = (lhs.ravel().astype(np.float32).round(4), fitted.ravel().astype(np.float32).round(4))
    return out


def recovery_summary(g, x, depth=3, width=16, seed=0) -> str:
    """What the recovery widget shows for one setting: build an equivariant Tanh network of ``depth`` hidden layers
    of ``width`` neurons, scramble it, recover its layerwise action, and say whether every recovered action is an
    involution, the largest layer errors, and the actions' cycles."""
    acts = ["tanh"] * depth
    layers, _ = equivariant_mlp([48] + [width] * depth + [48], acts, g, g, seed=seed)
    r = recover_layerwise_action(scramble(layers, acts, seed=seed + 1)[0], acts, g, g, x)
    return (f"involutions: {r.involutions}  \nmax layer errors: {[f'{e:.1e}' for e in r.layer_errors]}  \n"
            f"actions: {[cycles(P.perm) for P in r.perms]}")


def recovery_widget(g, x):
    """An ipywidgets form over :func:`recovery_summary`: any depth, width and seed (live kernels); its ``result`` is
    what it shows."""
    import ipywidgets as widgets
    from IPython.display import Markdown
    return widgets.interactive(lambda depth=3, width=16, seed=0: Markdown(recovery_summary(g, x, depth, width, seed)),
                               depth=(1, 5), width=(4, 64, 4), seed=(0, 20))
