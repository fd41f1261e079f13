import functools

import numpy as np
import pytest

from eqlib.data import mirror
from eqlib.symmetry import fit_signed_permutation, mlp_forward
from eqlib.theory import (equivariant_mlp, fit_student, intertwiner_table, recover_layerwise_action,
                          scramble)
from numerics import sum_tol

G = functools.partial(mirror, image_shape=(3, 4, 4))


def round_off(layers, x):
    """Float64 round-off bounds of a tanh MLP (numpy layers) on the rows ``x``, per layer (the hidden ones, then
    the output), entrywise: each layer's sums are off by sum_tol of their terms' absolute sum, and carry the
    layer input's error through the weights (tanh's slope is at most 1)."""
    h, e, out = np.asarray(x, np.float64), np.zeros_like(x, dtype=np.float64), []
    for k, (W, b) in enumerate(layers):
        e = sum_tol(W.shape[1] + 1) * (np.abs(h) @ np.abs(W).T + np.abs(b)) + e @ np.abs(W).T
        h = np.tanh(h @ W.T + b) if k < len(layers) - 1 else h @ W.T + b
        out.append(e)
    return out


@pytest.mark.parametrize("widths, seed", [((48, 10, 48), 0), ((48, 16, 12, 48), 1),
                                          ((48, 20, 14, 9, 48), 2), ((48, 32, 32, 32, 10), 3)])
def test_theorem_recovery_is_exact(widths, seed):
    acts = ["tanh"] * (len(widths) - 2)
    out = G if widths[-1] == 48 else (lambda v: v)          # autoencoder or invariant classifier
    layers, planted = equivariant_mlp(widths, acts, G, out, seed=seed)
    hidden, Qs = scramble(layers, acts, seed=seed + 10)
    x = np.random.default_rng(seed).standard_normal((64, 48))
    # the scrambled network sums its hidden layers in permuted order: both are within round_off of the exact output
    tol = float((round_off(layers, x)[-1] + round_off(hidden, x)[-1]).max())
    assert np.abs(mlp_forward(hidden, acts, x) - mlp_forward(layers, acts, x)).max() < tol, \
        "hidden symmetries leave the function unchanged"
    rec = recover_layerwise_action(hidden, acts, G, out, x)
    assert all(rec.involutions), "the recovered map G -> K_k is a homomorphism (involutions)"
    # h_k(g x) sums the mirrored inputs' terms in another order than P_k h_k(x): each within its round-off
    bounds = [float((e + em).max()) for e, em in zip(round_off(hidden, x)[:-1], round_off(hidden, G(x))[:-1])]
    assert all(e < t for e, t in zip(rec.layer_errors, bounds)), "every layer is equivariant under the recovered action"
    for P, Q, P0 in zip(rec.perms, Qs, planted):
        # signed permutation matrices (entries 0 and +-1) multiply exactly
        assert np.array_equal(P.matrix(), Q.matrix() @ P0.matrix() @ Q.matrix().T), "recovered = conjugated planted"


def test_non_equivariant_network_fails_recovery():
    rng = np.random.default_rng(0)
    layers = [(rng.standard_normal((10, 48)), rng.standard_normal(10)), (rng.standard_normal((48, 10)), rng.standard_normal(48))]
    rec = recover_layerwise_action(layers, ["tanh"], G, G, rng.standard_normal((20, 48)))
    assert rec.layer_residuals[0] > 0.5 and rec.layer_errors[0] > 0.1, "negative control"


def test_intertwiner_table_matches_theory():
    _, passes = intertwiner_table(["tanh", "relu", "gelu", "identity"])
    assert passes["tanh"] == {"permutation": True, "sign flip": True, "positive scaling": False,
                              "negative scaling": False, "invertible": False}
    assert passes["relu"]["positive scaling"] and not passes["relu"]["sign flip"]
    assert [k for k, v in passes["gelu"].items() if v] == ["permutation"]
    assert all(passes["identity"].values())
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        intertwiner_table(["swish"])


def test_student_recovers_teacher_up_to_signed_permutation():
    rng = np.random.default_rng(0)
    teacher = [(rng.standard_normal((4, 3)), rng.standard_normal(4)), (rng.standard_normal((2, 4)), rng.standard_normal(2))]
    student, err, _ = fit_student(teacher, ["tanh"], seed=0)
    # an optimisation tolerance, not round-off: L-BFGS stops at fit_student's target (1e-7) or at its best restart
    assert err < 1e-5, f"student imitates the teacher (relative error {err:.1e})"
    fit = fit_signed_permutation(np.hstack([teacher[0][0], teacher[0][1][:, None]]),
                                 np.hstack([student[0][0], student[0][1][:, None]]))
    assert np.abs(fit.cosines).min() > 0.999, "identifiability: the parameters agree up to a signed permutation"
