"""Oracle tests of the convolutional network and of its layerwise analysis (eqlib.conv).

The planted networks are built here, independently of eqlib.conv: each kernel is averaged with its
width-flipped copy moved by planted channel involutions, ``K = (K + P_out^T flip_w(K) P_in) / 2``, which
makes the network exactly layerwise equivariant with actions ``P_l``.
"""
import numpy as np
import pytest
import torch

from eqlib import conv
from eqlib.data import mirror
from eqlib.models import CNN, CNNConfig, build_model, config_dict, config_from_dict
from eqlib.symmetry import SignedPermutation, fit_monomial, random_involution, random_signed_permutation
from numerics import FLOAT64, eps, sum_tol

CFG = dict(channels=(6, 8, 8), pools=(True, True, False))


def images(n=48, seed=0):
    return torch.randn(n, 3 * 32 * 32, generator=torch.Generator().manual_seed(seed))


def network(activation="tanh", seed=0):
    torch.manual_seed(seed)
    return CNN(CNNConfig(activation=activation, **CFG)).double()


def scaled_involution(n, rng):
    """An unsigned involution whose 2-cycles carry reciprocal scales (c, 1/c): P @ P = I, P != P^T."""
    P = random_involution(n, rng, signed=False, fixed_fraction=0.3)
    P.scales = np.ones(n)
    for i in range(n):
        if P.perm[i] > i:
            c = rng.uniform(0.5, 2.0)
            P.scales[i], P.scales[P.perm[i]] = c, 1 / c
    return P


def planted(activation="tanh", seed=0, signed=True, scaled=False):
    """A random network made exactly layerwise equivariant; returns it and its planted actions. Each
    kernel is averaged with its image under K -> P^-1 flip(K) P_in, an involution when P @ P = I."""
    model, rng = network(activation, seed), np.random.default_rng(seed)
    P_in, Ps = np.eye(3), []
    with torch.no_grad():
        for c in model.convs:
            P = scaled_involution(c.out_channels, rng) if scaled else \
                random_involution(c.out_channels, rng, signed=signed, fixed_fraction=0.3)
            M, K = P.matrix(), c.weight.numpy()
            Minv = np.linalg.inv(M)
            if activation == "relu":
                c.bias.add_(0.5)          # no dead channel: every channel is active and must be matched
            moved = np.einsum("ij,jkab,kl->ilab", Minv, K[..., ::-1], P_in)     # P^-1 flip(K) P_in
            c.weight.copy_(torch.from_numpy((K + moved) / 2))
            c.bias.copy_(torch.from_numpy((c.bias.numpy() + Minv @ c.bias.numpy()) / 2))
            P_in, Ps = M, Ps + [P]
        W = model.head.weight.numpy()
        model.head.weight.copy_(torch.from_numpy((W + W @ P_in) / 2))
    return model, Ps


def round_off(model, x, extra=0, dtype=FLOAT64):
    """Worst-case round-off (in ``dtype``, float64 by default) of ``model`` on the images ``x``: a bound on the error of every entry of each
    layer's maps, and one on the logits'. A convolution's output is a sum of in x 9 products and its bias, off by
    sum_tol of its terms' absolute sum, which the kernel's absolute sum times the layer input's largest entry
    bounds; the activation (tanh, ReLU) has slope at most 1 and carries the input's error on; each 2 x 2 average
    pooling (4 terms and a division) and the global mean add their own sums; the head sums the channels.
    ``extra``: roundings already in each weight (a planted or aligned network), counted as that many terms more."""
    tanh = model.config.activation == "tanh"
    mag, err, maps, size = float(x.abs().max()), 0.0, [], model.config.image_shape[-1]
    for c, pool in zip(model.convs, model.config.pools):
        K, b = c.weight.detach().abs(), c.bias.detach().abs()
        rows = K.flatten(1).sum(1)
        pre = rows * mag + b                                  # bounds each channel's pre-activation
        err = float((sum_tol(K[0].numel() + 1 + extra, dtype) * pre + rows * err).max())
        mag = 1.0 if tanh else float(pre.max())               # |tanh| <= 1, |ReLU(t)| <= |t|
        maps.append(err)
        if pool:
            err, size = err + sum_tol(5, dtype) * mag, size // 2
    W, b = model.head.weight.detach().abs(), model.head.bias.detach().abs()
    err += sum_tol(size * size + 1, dtype) * mag              # the mean over positions
    return maps, float((sum_tol(W.shape[1] + 1 + extra, dtype) * (W.sum(1) * mag + b) + W.sum(1) * err).max())


def median_round_off(A, E, f):
    """A bound on the median over images of ``||B - P A|| / ||A||`` (conv.median_error) where exactly ``B = P A``,
    every entry of ``A`` and ``B`` is within ``E`` of its exact value and ``P``'s factors are at most ``f``:
    ``(1 + f) E sqrt(entries) / ||A||`` per image, and the rounding of ``P A``'s products."""
    a = A.flatten(1).double()
    return float(((1 + f) * E * a.shape[1] ** 0.5 / a.norm(dim=1)).median()) + eps() * f


def analysis_round_off(model, Ps, rows, x_fit, x_eval):
    """Per layer, float64 round-off bounds of what conv.analyze reads off a planted (exactly layerwise
    equivariant) network: the relative error of the factors fitted by activation matching (a least-squares ratio
    of two sums over the fit maps' positions) and by weight matching (three layers compound, each a ratio of two
    sums over the 73 or fewer kernel entries planted to within a few roundings each), and the errors ``e``,
    ``e_weights`` and ``e_linear`` (the free map, fitted by least squares on the fit maps, moves by their
    round-off over their smallest singular value; the solver's own round-off is backward stable)."""
    (E_fit, _), (E_eval, _) = round_off(model, x_fit, extra=6), round_off(model, x_eval, extra=6)
    f_fit, f_eval = conv.features(model, x_fit), conv.features(model, x_eval)
    out, rho_w = [], 0.0
    for k, (row, P) in enumerate(zip(rows, Ps)):
        active = torch.as_tensor(row["active"])
        f = float(np.abs(P.factors())[row["active"]].max())
        Af, Bf = (t[:, active].transpose(0, 1).flatten(1) for t in f_fit[k])       # (channels, positions)
        n = Af.shape[1]
        rho = float((E_fit[k] * n ** 0.5 * (1 / Bf.norm(dim=1) + 2 / Af.norm(dim=1))).max()) + sum_tol(2 * n + 1)
        rho_w += sum_tol(2 * (model.convs[k].weight[0].numel() + 1) + 1) + 6 * eps()
        e = median_round_off(f_eval[k][0][:, active], E_eval[k], f)
        X = Af.T                                                                   # (positions, channels)
        s = torch.linalg.svdvals(X)
        e_linear = e + (1 + f) * E_fit[k] * X.numel() ** 0.5 / float(s[-1]) + sum_tol(X.numel()) * float(s[0] / s[-1]) * f
        out.append({"factors": rho + eps(), "factors_weights": rho_w, "e": e + f * rho, "e_weights": e + f * rho_w,
                    "e_linear": e_linear})
    return out


def same_action(P, Q, mask):
    return np.array_equal(P.perm[mask], Q.perm[mask]) and \
        np.array_equal(np.sign(P.factors())[mask], np.sign(Q.factors())[mask])


# --------------------------------------------------------------------------- the architecture
def test_symmetric_kernels_give_a_mirror_invariant_network():
    model = network()
    with torch.no_grad():
        for c in model.convs:
            c.weight.copy_((c.weight + c.weight.flip(-1)) / 2)
    x = images(8).double()
    # float64: the mirrored image's sums run in mirrored order; each side is within round_off of the exact logits
    torch.testing.assert_close(model(x), model(mirror(x)), rtol=0, atol=2 * round_off(model, x)[1])
    assert (model(x) - model(x.flip(0))).abs().max() > 1e-3          # not a constant network


def test_a_random_network_is_not_invariant_and_its_mirrored_copy_is_exact():
    model, x = network(), images(8).double()      # global pooling averages much of the difference away
    assert (model(x) - model(mirror(x))).norm() / model(x).norm() > 1e-3
    # flipped kernels on x and kernels on the flipped x: the same products, summed in other orders
    torch.testing.assert_close(conv.mirrored(model)(x), model(mirror(x)), rtol=0, atol=2 * round_off(model, x)[1])


@pytest.mark.parametrize("bad, match", [
    (dict(channels=(4, 4), pools=(True,)), "one pooling flag per layer"),
    (dict(channels=(4, 0), pools=(True, True)), "positive integers"),
    (dict(channels=(4,), pools=(True,), activation="swish"), "unknown activation 'swish'"),
    (dict(channels=(4, 4, 4, 4, 4, 4), pools=(True,) * 6), "divisible by 64"),
])
def test_bad_configs_are_refused_with_the_value(bad, match):
    with pytest.raises(ValueError, match=match):
        CNNConfig(**bad)


def test_config_round_trips_and_input_shape_is_checked():
    cfg = CNNConfig(**CFG)
    assert config_from_dict(config_dict(cfg)) == cfg
    with pytest.raises(ValueError, match=r"\(B, 3072\)"):
        build_model(cfg)(torch.zeros(2, 100))


# --------------------------------------------------------------------------- the analysis
@pytest.mark.parametrize("activation, signed, scaled", [("tanh", True, False), ("relu", False, False),
                                                        ("relu", False, True)])
def test_a_planted_action_is_recovered_exactly_by_both_matchings(activation, signed, scaled):
    model, Ps = planted(activation, signed=signed, scaled=scaled)
    rows = conv.analyze(model, images(16, 1).double(), images(32, 2).double())
    bounds = analysis_round_off(model, Ps, rows, images(16, 1).double(), images(32, 2).double())
    for k, (row, P, tol) in enumerate(zip(rows, Ps, bounds)):
        # invariant logits need W P = W: the head drops a channel that P negates in place (inactive, exempt)
        negated = (P.perm == np.arange(len(P.perm))) & (P.signs < 0)
        active = ~negated if k == len(Ps) - 1 else np.ones(len(P.perm), bool)
        assert row["split"]["active"] == active.sum() and row["split"]["inactive"] == (~active).sum()
        assert same_action(row["P"], P, active) and same_action(row["P_weights"], P, active)
        if scaled:     # the reciprocal scales too, by both matchings
            np.testing.assert_allclose(row["P"].factors(), P.factors(), rtol=tol["factors"], atol=0)
            np.testing.assert_allclose(row["P_weights"].factors(), P.factors(), rtol=tol["factors_weights"], atol=0)
        assert row["agreement"] == 1.0
        assert row["e"] < tol["e"] and row["e_weights"] < tol["e_weights"] and row["e_linear"] < tol["e_linear"], \
            (row["e"], row["e_weights"], row["e_linear"], tol)
        assert row["e_random"] > 0.1 and row["e_updown"] > 0.1
        assert row["split"]["share"] == 1.0 and conv.involution_split(P, active)["other"] == 0
        assert row["passes"]["error"] and row["passes"]["linear"] and row["passes"]["involution"]


def test_a_perturbed_layer_fails_its_criterion_and_the_others_still_pass():
    model, Ps = planted("tanh")
    with torch.no_grad():
        w = model.convs[1].weight
        w.add_(0.5 * w.norm() / w.numel() ** 0.5 * torch.randn(w.shape, generator=torch.Generator().manual_seed(3),
                                                                  dtype=w.dtype))
    rows = conv.analyze(model, images(16, 1).double(), images(32, 2).double())
    tol = analysis_round_off(model, Ps[:1], rows[:1], images(16, 1).double(), images(32, 2).double())[0]
    assert rows[0]["passes"]["error"] and rows[0]["e"] < tol["e"], "the first layer is untouched: still exact"
    assert not rows[1]["passes"]["error"] and not rows[1]["passes"]["all"]


def test_independent_random_layers_fail_every_layer():
    model = network("tanh", seed=5)
    rows = conv.analyze(model, images(16, 1).double(), images(32, 2).double(), init=network("tanh", seed=6))
    for row in rows:
        assert row["e"] > conv.THRESHOLDS["error"] and not row["passes"]["all"]
        assert row["e_init"] > conv.THRESHOLDS["error"]


def test_involution_split_counts_each_kind():
    from eqlib.symmetry import SignedPermutation
    P = SignedPermutation(np.array([0, 1, 3, 2, 5, 6, 4, 7, 9, 8]), np.array([1., -1, -1, -1, 1, 1, 1, 1, 1, -1]),
                          np.ones(10), 0.0)
    active = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1], bool)
    n = conv.involution_split(P, active)      # (3 4) with signs (-,-) squares to I; (9 10) with (+,-) does not
    assert (n["fixed"], n["flipped"], n["swapped"], n["other"], n["inactive"]) == (1, 1, 2, 5, 1)
    assert n["share"] == pytest.approx(4 / 9)


def test_criteria_sentences_carry_the_thresholds_the_code_tests():
    at_round_off = {"e": 2e-14, "e_updown": 0.3, "e_init": 0.25, "e_linear": 1e-14, "split": {"share": 1.0}}
    assert conv.layer_passes(at_round_off)["all"], "two errors at round-off: no ratio is read off them"
    row = {"e": 0.09, "e_updown": 0.3, "e_init": 0.25, "e_linear": 0.06, "split": {"share": 0.9}}
    p = conv.layer_passes(row)
    assert p["error"] and p["linear"] and p["involution"] and not p["nulls"]   # 0.09 > 0.25 / 3
    assert "0.10" in conv.CRITERIA[0].sentence and "90%" in conv.CRITERIA[3].sentence


# --------------------------------------------------------------------------- merging
def test_the_aligned_midpoint_is_exactly_invariant_when_the_actions_are_involutions():
    model, x, rng = network(seed=2), images(32, 4).double(), np.random.default_rng(0)
    Ps = [random_involution(c.out_channels, rng, signed=True) for c in model.convs]
    mid = conv.interpolate(model, conv.aligned_mirror(model, Ps), 0.5)
    # signed permutations move weights exactly and the midpoint's sums are symmetric: exactly invariant weights,
    # so each image's logits and its mirror's are within round_off of the same exact values
    f = mid(x).detach().norm(dim=1)
    assert conv.invariance_error(mid, x) < float((2 * round_off(mid, x)[1] * mid.config.classes ** 0.5 / f).median())
    assert conv.invariance_error(model, x) > 1e-3                      # a random network: far from round-off


def test_the_aligned_mirror_moves_each_layer_by_the_inverse_action_also_when_it_is_no_involution():
    model, x, rng = network("relu", seed=4), images(8).double(), np.random.default_rng(2)
    Ps = []
    for c in model.convs:                     # random monomials: neither involutions nor orthogonal
        P = random_signed_permutation(c.out_channels, rng, signed=False)
        P.scales = rng.uniform(0.5, 2.0, c.out_channels)
        Ps.append(P)
    aligned = conv.aligned_mirror(model, Ps)
    # the aligned weights carry up to three roundings (the inverse scale, two products) and the expected maps
    # the model's round-off times an inverse scale (at most 2) and two roundings more
    (E_a, logits_a), (E, logits) = round_off(aligned, x, extra=3), round_off(model, x)
    for A, P, (_, B), ea, e in zip(aligned.features(x), Ps, conv.features(model, x), E_a, E):
        expected = torch.einsum("ij,njhw->nihw", torch.from_numpy(np.linalg.inv(P.matrix())), B.double())
        tol = ea + 2 * e + eps() * float(expected.abs().max())
        torch.testing.assert_close(A, expected, rtol=0, atol=tol)
    torch.testing.assert_close(aligned(x), model(mirror(x)), rtol=0, atol=logits_a + logits)


def test_the_aligned_mirror_of_a_planted_network_is_the_network_itself():
    model, Ps = planted("tanh", seed=3)
    other, x = conv.aligned_mirror(model, Ps), images(8).double()
    # signed permutations and flips move the symmetrised weights onto themselves exactly: the same network
    torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)


def test_relu_scales_are_fitted_on_the_maps_the_error_reads():
    """On a perturbed planted ReLU network, the fitted scales give a smaller error than unit scales and than
    scales fitted on centred maps (those shrink towards 0 where the match is imperfect)."""
    model, _ = planted("relu", signed=False, scaled=True)
    with torch.no_grad():
        w = model.convs[2].weight
        w.add_(0.15 * w.norm() / w.numel() ** 0.5 * torch.randn(w.shape, generator=torch.Generator().manual_seed(5),
                                                                   dtype=w.dtype))
    A, B = conv.features(model, images(32, 2).double())[2]
    active = np.ones(A.shape[1], bool)
    error = lambda P: conv.median_error(A, B, active, conv.act(P, A))
    fitted = conv.activation_matching(A, B, "positive", active)
    unit = SignedPermutation(fitted.perm, np.ones(len(fitted.perm)), np.ones(len(fitted.perm)), 0.0)
    centred = fit_monomial(conv._rows(A), conv._rows(B), "positive")
    assert error(fitted) < 0.7 * error(centred) and error(fitted) < 0.2 * error(unit)
