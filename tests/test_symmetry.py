import functools

import numpy as np
import pytest
import torch

from eqlib.data import mirror, vflip
from eqlib.models import MLP, MLPConfig
from eqlib.metric import shared_linear_equivariance
from eqlib.symmetry import (MAX_RESIDUALS, analyze_first_layer, explained_by_threshold, brute_force_signed_permutation, cycles,
                            fit_head_linear_maps, fit_head_permutation, fit_signed_permutation,
                            hidden_equivariance_errors, match_networks,
                            random_signed_permutation, transform_parameters)
from eqlib.theory import equivariant_mlp, mlp_from_layers
from numerics import sum_tol

# LinearFit.solve's ridge, relative to the Gram matrix's mean eigenvalue: it biases an exact map by about this
# much times the latents' eigenvalue spread, which is not round-off and is the same on every machine
RIDGE = 1e-10


@pytest.mark.parametrize("n, seed", [(n, s) for n in (2, 3, 4, 5) for s in range(3)])
def test_hungarian_matches_brute_force_oracle(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, 6))
    B = random_signed_permutation(n, rng).apply(A) + 0.05 * rng.standard_normal((n, 6))
    fast, slow = fit_signed_permutation(A, B), brute_force_signed_permutation(A, B)
    assert np.array_equal(fast.perm, slow.perm) and np.array_equal(fast.signs, slow.signs), \
        "Hungarian matcher finds the brute-force optimum"
    # both read ||B - P A||_F / ||B||_F with the same P: each is within sum_tol(6 n) of the 6 n squares (and the
    # differences', the norms' and the quotient's roundings) of the exact value, relative to it
    assert abs(fast.residual - slow.residual) <= 2 * sum_tol(6 * n + 2) * slow.residual


def test_unsigned_matching_against_oracle():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 4))
    B = A[rng.permutation(5)] + 0.01 * rng.standard_normal((5, 4))
    fast, slow = fit_signed_permutation(A, B, signed=False), brute_force_signed_permutation(A, B, signed=False)
    assert np.array_equal(fast.perm, slow.perm) and (fast.signs == 1).all()


def test_planted_signed_permutation_of_64_filters_is_recovered_exactly():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((64, 3072))
    planted = random_signed_permutation(64, rng)
    B = planted.apply(A) + 1e-3 * rng.standard_normal(A.shape)
    fit = fit_signed_permutation(A, B)
    assert np.array_equal(fit.perm, planted.perm) and np.array_equal(fit.signs, planted.signs), \
        "planted signed permutation recovered exactly"
    assert fit.residual < 2e-3, "the residual is the planted noise level"
    assert np.abs(fit.cosines).min() > 0.99
    # a signed permutation matrix has entries 0 and +-1: each product and sum is exact
    assert np.array_equal(fit.matrix() @ A, fit.apply(A))


def test_unrelated_matrices_are_reported_as_unrelated():
    rng = np.random.default_rng(0)
    fit = fit_signed_permutation(rng.standard_normal((64, 3072)), rng.standard_normal((64, 3072)))
    assert fit.residual > 1.3, "no signed permutation relates independent random matrices"
    assert np.abs(fit.cosines).max() < 0.2


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="same shape"):
        fit_signed_permutation(np.ones((3, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match="2-D"):
        fit_signed_permutation(np.ones(3), np.ones(3))


def test_cycles():
    assert cycles([0, 4, 2, 3, 1]) == "(2 5)"
    assert cycles([1, 0, 3, 2]) == "(1 2)(3 4)"
    assert cycles([0, 1, 2]) == "identity"


G = functools.partial(mirror, image_shape=(3, 4, 4))


def small_equivariant(seed=0, acts=("tanh", "tanh")):
    layers, planted = equivariant_mlp((48, 12, 10, 48), acts, G, G, seed=seed)
    return layers, planted, mlp_from_layers(layers, acts)


def test_equivariant_network_by_construction_is_recognised():
    layers, planted, model = small_equivariant()
    moved = transform_parameters(layers, G, G)
    match = match_networks(layers, moved, ["tanh", "tanh"])
    for got, want in zip(match.perms, planted):
        assert np.array_equal(got.matrix(), want.matrix()), "planted hidden action recovered exactly"
    # the moved parameters are the planted ones permuted and negated, and so is every product with a signed
    # permutation matrix: the residuals are exactly 0
    assert max(match.layer_residuals) == 0 and match.output_residual == 0
    x = torch.randn(50, 48, dtype=torch.float64)
    errs = hidden_equivariance_errors(model, x, match.perms, transform=G)
    assert all(e < t for e, t in zip(errs, hidden_round_off(layers, match.perms, x))), \
        "each hidden layer is equivariant under its fitted signed permutation"


def hidden_round_off(layers, perms, x):
    """Per hidden layer, a float64 round-off bound of ``hidden_equivariance_errors`` of an exactly equivariant
    tanh MLP: ``h_k(g x)`` sums its terms in a permuted order, so it and ``P_k h_k(x)`` are each within sum_tol
    of their sums' absolute terms (a layer's input's error carried on by its weights, tanh's slope at most 1)
    of the same exact values; per row relative to ``||h_k(x)||``, and the median of the bounds bounds the median."""
    def bound(x):
        h, e, out = x, torch.zeros_like(x), []
        for W, b in layers[:-1]:
            W, b = torch.from_numpy(W), torch.from_numpy(b)
            e = sum_tol(W.shape[1] + 1) * (h.abs() @ W.abs().T + b.abs()) + e @ W.abs().T
            h = torch.tanh(h @ W.T + b)
            out.append((h, e))
        return out
    return [float(((em + e[:, torch.as_tensor(P.perm)]).norm(dim=1) / h.norm(dim=1)).median())
            for (h, e), (_, em), P in zip(bound(x), bound(G(x)), perms)]


def test_metric_zero_for_equivariant_high_for_random_and_exact_on_any_inputs():
    """The paper's metric (eqlib.metric, its one implementation) on a network built equivariant."""
    _, _, model = small_equivariant()
    f = lambda x: model.hidden(x.double(), 2)
    torch.manual_seed(0)
    rnd = MLP(MLPConfig((48, 12, 10, 48), ("tanh", "tanh"))).double()
    gauss = lambda seed: [torch.randn(1000, 48, generator=torch.Generator().manual_seed(seed + k)) for k in range(3)]
    up = functools.partial(vflip, image_shape=(3, 4, 4))
    med = {k: {t: float(e.median()) for t, e in v.items()} for k, v in shared_linear_equivariance(
        {"eq": f, "random": lambda x: rnd.hidden(x.double(), 1)}, {"mirror": G, "updown": up}, gauss(0), gauss(10)).items()}
    # the fit's ridge biases an exact map by about 1e-10; float64 round-off is far below; the factor 100 leaves
    # room for the latents' eigenvalue spread
    assert med["eq"]["mirror"] < 100 * RIDGE, "equivariant network: exact linear action on its latent space"
    assert med["random"]["mirror"] > 0.2, "random weights are not equivariant"
    assert med["eq"]["updown"] > 0.2, "the mirror-equivariant network is not up-down equivariant"
    x = torch.randn(600, 48, dtype=torch.float64)
    e = shared_linear_equivariance({"eq": f}, {"mirror": G}, [x[:400]], [x[400:]])["eq"]["mirror"]
    assert len(e) == 200 and float(e.median()) < 100 * RIDGE, "exact on any inputs"


def make_filters(rng, n_self=4, n_anti=2, n_pairs=3, n_neg=3, n_inactive=2, n_random=2):
    """Filters (as 3x32x32 images) with known mirror labels."""
    def sym(v, s):
        return (v + s * mirror(v)) / 2
    rows, labels, bias = [], [], []
    for _ in range(n_self):
        rows.append(sym(torch.randn(3072, dtype=torch.float64), 1)); labels.append("self-symmetric"); bias.append(rng.normal())
    for _ in range(n_anti):
        rows.append(sym(torch.randn(3072, dtype=torch.float64), -1)); labels.append("anti-symmetric"); bias.append(0.0)
    for kind, s in (("mirrored pair", 1), ("mirrored-negated pair", -1)):
        for _ in range(n_pairs if s > 0 else n_neg):
            v = torch.randn(3072, dtype=torch.float64)
            b = rng.normal()
            rows += [v, s * mirror(v)]; labels += [kind, kind]; bias += [b, s * b]
    for _ in range(n_random):
        rows.append(torch.randn(3072, dtype=torch.float64)); labels.append("unmatched"); bias.append(rng.normal())
    for _ in range(n_inactive):
        rows.append(torch.randn(3072, dtype=torch.float64)); labels.append("inactive"); bias.append(rng.normal())
    W1 = torch.stack(rows).numpy()
    W2 = rng.standard_normal((8, len(rows)))
    W2[:, -n_inactive:] = 0.0
    return W1, np.array(bias), W2, labels


def test_first_layer_labels_on_planted_filters():
    rng = np.random.default_rng(0)
    W1, b1, W2, labels = make_filters(rng)
    perm = rng.permutation(len(W1))                 # hide the order
    W1, b1, W2, labels = W1[perm], b1[perm], W2[:, perm], [labels[i] for i in perm]
    res = analyze_first_layer(W1 + 1e-4 * rng.standard_normal(W1.shape), b1, W2)
    assert res.labels == labels, "each planted filter gets its label"
    assert res.counts["mirrored pair"] == 6 and res.counts["mirrored-negated pair"] == 6
    assert len(res.pairs) == 6
    assert res.explained == len(W1) - 2 - 2, "explained = active and matched: inactive neurons are exempt, not explained"
    structured = np.isin(res.labels, ["self-symmetric", "anti-symmetric", "mirrored pair", "mirrored-negated pair"])
    # the planted noise, 1e-4 of each weight, leaves residuals of about 2e-4; round-off is far below
    assert res.residuals[structured].max() < 1e-3 and res.residuals[np.array(res.labels) == "unmatched"].min() > 1


def test_first_layer_of_random_weights_is_unmatched():
    rng = np.random.default_rng(1)
    res = analyze_first_layer(rng.standard_normal((64, 3072)), rng.standard_normal(64), rng.standard_normal((10, 64)))
    assert res.counts["unmatched"] == 64, "random filters have no mirror structure"


def test_data_metric_labels_planted_filters_like_the_weights_metric():
    """On Gaussian images the data metric sees every direction; planted labels come out the same,
    with the residual now measured on the pre-activations."""
    rng = np.random.default_rng(0)
    W1, b1, W2, labels = make_filters(rng)
    x = torch.randn(4000, 3072, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    res = analyze_first_layer(W1 + 1e-4 * rng.standard_normal(W1.shape), b1, W2, images=x, metric="data")
    assert res.metric == "data" and res.max_residual == MAX_RESIDUALS["data"]
    assert res.labels == labels, "each planted filter gets its label in the data metric too"
    assert res.counts["unmatched"] == 2 and res.explained == len(W1) - 4


def test_data_metric_ignores_directions_the_images_never_excite_and_the_weights_metric_does_not():
    """Images in a mirror-closed 40-dimensional subspace; filters exactly mirror-structured inside it
    plus large noise orthogonal to it (the never-trained directions of a small initialisation). The
    data metric explains every filter; the weights metric explains none."""
    rng = np.random.default_rng(0)
    V = torch.from_numpy(rng.standard_normal((20, 3072)))
    basis = torch.linalg.qr(torch.cat([V, mirror(V)]).T)[0].T                  # (40, 3072), orthonormal rows
    x = torch.from_numpy(rng.standard_normal((3000, 40))) @ basis
    W1, b1, W2, labels = make_filters(rng, n_random=0, n_inactive=0)
    inside = torch.from_numpy(W1) @ basis.T @ basis
    noise = torch.from_numpy(rng.standard_normal(W1.shape))
    noise -= noise @ basis.T @ basis
    W = (inside + 3 * noise * inside.norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True)).numpy()
    data = analyze_first_layer(W, b1, W2, images=x, metric="data")
    weights = analyze_first_layer(W, b1, W2)
    assert data.labels == labels and data.explained == len(W)
    assert weights.explained == 0, "the noise outside the images' span dominates the weights metric"


def test_a_matching_bias_alone_does_not_explain_a_neuron_in_the_data_metric():
    """Tiny filters with large biases (a small first-layer initialisation): the weights metric pairs
    neurons by their biases, the data metric does not."""
    rng = np.random.default_rng(3)
    x = torch.randn(3000, 3072, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    W1 = 1e-3 * rng.standard_normal((16, 3072)) / np.sqrt(3072)
    b1 = np.repeat(rng.standard_normal(8), 2)                       # pairs of equal biases
    W2 = rng.standard_normal((5, 16))
    assert analyze_first_layer(W1, b1, W2).explained >= 4, "the biases alone explain neurons in the weights metric"
    assert analyze_first_layer(W1, b1, W2, images=x, metric="data").explained == 0, "not as the data sees them"


def brute_force_pre_activation_match(P, Q, scaling):
    """Exhaustive search over permutations and, per pair, the best factor allowed by ``scaling``, of the sum
    of squared relative residuals rms(Q_i - c P_pi(i))^2 / var(P_i): an oracle for n <= 5."""
    import itertools
    best = None
    for perm in itertools.permutations(range(P.shape[1])):
        total, cs = 0.0, []
        for i, j in enumerate(perm):
            q, p = Q[:, i], P[:, j]
            c = {"none": 1.0, "sign": 1.0 if q @ p >= 0 else -1.0,
                 "positive": max(float(q @ p / (p @ p)), 0.0), "nonzero": float(q @ p / (p @ p))}[scaling]
            total += float(((q - c * p) ** 2).mean() / P[:, i].var(unbiased=False))
            cs.append(c)
        # assignments that tie in real arithmetic (partners clipped to the factor 0, whose terms do not depend
        # on the partner) differ only in the order of adding their n terms: keep the first
        if best is None or total < best[0] * (1 - 2 * sum_tol(P.shape[1])):
            best = (total, perm, cs)
    return best


@pytest.mark.parametrize("scaling", ["none", "sign", "positive", "nonzero"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pre_activation_matching_matches_the_brute_force_oracle(scaling, seed):
    from eqlib.symmetry import match_pre_activations
    g = torch.Generator().manual_seed(seed)
    P = torch.randn(200, 5, generator=g, dtype=torch.float64) + torch.randn(5, generator=g, dtype=torch.float64)
    perm = torch.randperm(5, generator=g)
    c = torch.tensor([1.5, -0.7, 2.0, -1.2, 0.9], dtype=torch.float64)
    Q = P[:, perm] * c + 0.3 * torch.randn(200, 5, generator=g, dtype=torch.float64)
    match, res = match_pre_activations(P, Q, scaling)
    total, best_perm, best_c = brute_force_pre_activation_match(P, Q, scaling)
    # both read r_i^2 = mean((Q_i - c_i P_pi(i))^2) / var(P_i): the differences are each rounded within eps of
    # |Q| + |c P|, the means of 200 squares within sum_tol of their terms, and the variance, whose centring
    # cancels, within sum_tol of mean(P_i^2); the fitted factor's own error enters only at second order (it
    # minimises r_i)
    N, pp, cc = len(P), P[:, list(best_perm)], torch.tensor(best_c, dtype=torch.float64)
    var, sq = P.var(0, unbiased=False), P.pow(2).mean(0)
    terms = ((Q.abs() + (cc * pp).abs()) ** 2).mean(0) / var * (1 + sq / var)
    assert np.isclose((res ** 2).sum(), total, rtol=0, atol=2 * sum_tol(3 * N + 10) * float(terms.sum())), \
        f"{scaling}: the Hungarian assignment reaches the exhaustive optimum"
    if scaling != "positive":       # with negated partners clipped to factor 0, several assignments tie
        # each fitted factor is the ratio of two 200-term sums, Q_i . P_pi(i) relative to its absolute terms
        ratio = float(((Q * pp).abs().sum(0) / (Q * pp).sum(0).abs()).max())
        assert list(match.perm) == list(best_perm) and \
            np.allclose(match.factors(), best_c, rtol=2 * sum_tol(N + 2) * (1 + ratio), atol=0), "same match, same factors"


def test_positive_scalings_leave_a_negated_partner_unmatched():
    """Negative control: in a group without negation (ReLU's), a partner that is the neuron's negation
    gets the factor 0 and a residual of at least 1; a signed group explains it."""
    x = torch.randn(3000, 3072, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rng = np.random.default_rng(2)
    v = rng.standard_normal(3072) / 55
    W1 = np.stack([v, -np.asarray(mirror(torch.from_numpy(v)))] + [rng.standard_normal(3072) / 55 for _ in range(3)])
    b1 = np.array([0.1, -0.1, 0.0, 0.2, -0.3])
    pos = analyze_first_layer(W1, b1, np.ones((2, 5)), activation="relu", images=x, metric="data")
    assert pos.labels[:2] == ["unmatched"] * 2 and pos.residuals[:2].min() >= 0.99 and pos.negation_only == 2
    assert analyze_first_layer(W1, b1, np.ones((2, 5)), activation="tanh", images=x, metric="data").labels[:2] == \
        ["mirrored-negated pair"] * 2


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_fresh_paper_mlps_explain_no_neuron_in_the_data_metric(activation, cifar):
    """The null at initialisation on real images: the paper's MLP, untrained, at the book's init scale
    (0.01) and at PyTorch's (1.0), five seeds each, explains no first-layer neuron."""
    x = cifar.tensors()[0][:10_000]
    for scale in (0.01, 1.0):
        for seed in range(5):
            torch.manual_seed(seed)
            m = MLP(MLPConfig.paper("autoencoder", activation, first_init_scale=scale))
            L = [(l.weight.detach().double().numpy(), l.bias.detach().double().numpy()) for l in m.linears]
            a = analyze_first_layer(L[0][0], L[0][1], L[1][0], activation=activation, images=x, metric="data")
            assert a.explained == 0, f"{activation}, init scale {scale}, seed {seed}: {a.counts}"
            assert a.residuals[a.active].min() > MAX_RESIDUALS["data"], "every residual of the null is above the threshold"


def planted_gelu_network(sign_flip_in_gelu_layer, seed=0):
    """Two parameter sets of a (tanh, gelu) MLP related by a planted signed permutation (tanh
    layer) and a permutation (gelu layer), optionally with one sign flip in the GELU layer."""
    rng = np.random.default_rng(seed)
    W1, b1, W2, b2, W3, b3 = (rng.standard_normal(s) for s in ((6, 10), (6,), (5, 6), (5,), (3, 5), (3,)))
    P1, P2 = random_signed_permutation(6, rng).matrix(), random_signed_permutation(5, rng, signed=False).matrix()
    if sign_flip_in_gelu_layer:
        P2[np.flatnonzero(P2[:, 0])[0], 0] = -1.0
    a = [(W1, b1), (W2, b2), (W3, b3)]
    b = [(P1 @ W1, P1 @ b1), (P2 @ W2 @ P1.T, P2 @ b2), (W3 @ P2.T, b3)]
    return a, b, P2


def test_gelu_layer_is_matched_by_a_permutation_and_a_sign_flip_there_is_not_a_symmetry():
    a, b, P2 = planted_gelu_network(False)
    m = match_networks(a, b, ["tanh", "gelu"])
    assert np.array_equal(m.perms[1].matrix(), P2), "planted GELU-layer permutation recovered"
    # products with signed permutation matrices are exact: so are the residuals of the planted match
    assert max(m.layer_residuals) == 0 and m.output_residual == 0
    a, b, _ = planted_gelu_network(True)
    m = match_networks(a, b, ["tanh", "gelu"])
    assert m.layer_residuals[1] > 0.1, "a sign flip is outside GELU's group, so no permutation explains it"


def test_gelu_first_layer_is_matched_without_signs():
    rng = np.random.default_rng(0)
    W1, b1, W2, labels = make_filters(rng)
    res = analyze_first_layer(W1, b1, W2, activation="gelu")
    expected = ["unmatched" if lab in ("anti-symmetric", "mirrored-negated pair") else lab for lab in labels]
    assert res.labels == expected, "GELU has no sign flips: negated partners are not in its group"
    assert res.negation_only == 2 + 2 * 3, "a signed match would explain the 2 anti-symmetric and 6 negated-pair filters"
    assert not res.signed and analyze_first_layer(W1, b1, W2, activation="tanh").negation_only == 0


def test_median_cosine_ignores_inactive_neurons():
    rng = np.random.default_rng(0)
    W1, b1, W2, _ = make_filters(rng, n_self=2, n_anti=0, n_pairs=0, n_neg=0, n_random=6, n_inactive=12)
    res = analyze_first_layer(W1, b1, W2)
    assert np.median(np.abs(res.match.cosines)) > 0.99, "inactive neurons carry a cosine of 1"
    assert res.median_abs_cosine < 0.2, "most active neurons are random: their median |cos| is small"


def test_labels_come_from_the_residual_not_a_loose_cosine():
    rng = np.random.default_rng(0)
    v, u = rng.standard_normal((2, 3072))
    u -= (u @ v) / (v @ v) * v
    u *= np.linalg.norm(v) / np.linalg.norm(u)
    partner = 0.85 * v + np.sqrt(1 - 0.85 ** 2) * u            # cosine 0.85 with v, same norm
    W1 = np.stack([v, np.asarray(mirror(torch.from_numpy(partner)))] + [rng.standard_normal(3072) for _ in range(4)])
    res = analyze_first_layer(W1, np.zeros(6), np.ones((3, 6)))
    # float64: u orthogonal to v and of v's norm to the round-off of 3072-term sums, then the cosine's own
    # normalised 3072-term dot product: a few sum_tol(3072)
    assert res.match.perm[0] == 1 and abs(res.match.cosines[0] - 0.85) < 4 * sum_tol(3073)
    assert res.residuals[0] > 0.5 and res.labels[:2] == ["unmatched"] * 2, \
        "cosine 0.85 (residual 0.55) leaves 28 % of the energy unexplained: unmatched"
    assert explained_by_threshold(res, [0.5, 0.6]) == [0, 2], "a looser threshold would call them a pair"
    W1[1] = 0.3 * np.asarray(mirror(torch.from_numpy(v)))           # right direction, wrong norm
    res = analyze_first_layer(W1, np.zeros(6), np.ones((3, 6)))
    assert res.match.cosines[0] > 0.999 and res.labels[:2] == ["unmatched"] * 2, "a norm mismatch is not a symmetry"


def test_head_permutation_planted():
    torch.manual_seed(0)
    maps = torch.softmax(torch.randn(40, 6, 8 * 8, dtype=torch.float64), -1).view(40, 6, 8, 8)
    planted = np.array([0, 4, 2, 5, 1, 3])
    mirrored = maps.flip(-1)[:, planted] + 1e-4 * torch.randn(40, 6, 8, 8, dtype=torch.float64)
    fit = fit_head_permutation(maps, mirrored)
    assert np.array_equal(fit.perm, planted), "planted head permutation recovered"
    # the planted noise (1e-4 of maps of about 1/64) sets the errors (3e-5); round-off is far below
    assert fit.errors.max() < 1e-3 and fit.identity_errors[1] > 0.1
    assert fit.cycles == "(2 5)(4 6)"
    v = torch.randn(300, 6, 4, dtype=torch.float64)
    M = torch.randn(6, 4, 4, dtype=torch.float64)
    vm = torch.einsum("bhd,hed->bhe", v[:, planted], M)
    maps_fit, res = fit_head_linear_maps(v, vm, planted)
    # the targets' 4-term sums are rounded (sum_tol(4) of |v| |M|), which moves them out of the span by that
    # much; the least squares on 300 x 4 is backward stable (round-off of the 1200-entry problem, and of the
    # residual's own 4-term sums); the fitted map moves by the targets' error over the smallest singular value
    # and by cond times the solver's round-off
    for k, j in enumerate(planted):
        vj, Mk = v[:, j], M[k]
        sv = torch.linalg.svdvals(vj)
        dvm = sum_tol(4) * float((vj.abs() @ Mk.abs().T).norm())
        scale = 1 + float(sv[0] * torch.linalg.matrix_norm(Mk, 2) / vm[:, k].norm())
        assert res[k] < dvm / float(vm[:, k].norm()) + sum_tol(300 * 4 + 5) * scale, "per-head GL(d) maps recovered"
        tol = dvm / float(sv[-1]) + float(sv[0] / sv[-1]) * sum_tol(300 * 4) * float(torch.linalg.matrix_norm(Mk, 2))
        assert np.allclose(maps_fit[k], Mk.numpy(), rtol=0, atol=tol), "per-head GL(d) maps recovered"
    with pytest.raises(ValueError, match="equal shape"):
        fit_head_permutation(maps, mirrored[:5])


def test_head_permutation_is_centred_checked_for_involution_and_has_a_margin():
    torch.manual_seed(1)
    T = 8 * 8
    bumps = 0.02 * torch.softmax(3 * torch.randn(30, 4, T, dtype=torch.float64), -1)
    maps = (0.98 / T + bumps).view(30, 4, 8, 8)       # nearly uniform heads with distinct small bumps
    planted = np.array([1, 0, 2, 3])
    mirrored = maps.flip(-1)[:, planted]
    fit = fit_head_permutation(maps, mirrored)
    assert np.array_equal(fit.perm, planted) and fit.is_involution
    assert fit.identity_errors[0] > 0.5, "centred: head 1 is not its own mirror"
    raw = fit_head_permutation(maps, mirrored, center=False)
    assert raw.identity_errors[0] < 0.05, "uncentred, the uniform part hides the difference (why we centre)"
    # an exact fit's cost is the round-off of an expanded square, at most 4 sum_tol(30 x 64) = 1.7e-12 per head,
    # so the relative margin of a margin above 0.5 is at least about 7e10: 1e6 is a deliberately low floor
    assert fit.margin > 0.5 and fit.relative_margin > 1e6, "the second-best assignment is far worse than an exact fit"
    assert not np.array_equal(fit.second_best, planted)
    three_cycle = np.array([1, 2, 0, 3])
    fit3 = fit_head_permutation(maps, maps.flip(-1)[:, three_cycle])
    assert np.array_equal(fit3.perm, three_cycle) and not fit3.is_involution, "a 3-cycle is flagged"
    twins = maps.clone()
    twins[:, 1] = twins[:, 0]
    tie = fit_head_permutation(twins, twins.flip(-1))
    # each cost is a squared relative distance read off an expanded square (three 30 x 64-term sums), within
    # 4 sum_tol of 1 of its exact value; the two assignments differ in two heads' costs, each side
    assert tie.margin < 2 * 2 * 4 * sum_tol(30 * T + 2), "two identical heads: swapping them costs nothing, so the margin is 0"


def test_positional_residual_oracle():
    from eqlib.symmetry import positional_residual
    g = torch.Generator().manual_seed(0)
    u = torch.randn(16, 16, 6, generator=g, dtype=torch.float64)
    pos = torch.cat([u + u.flip(1), u - u.flip(1)], -1).reshape(256, 12)   # mirror acts by diag(1, -1)
    # the flipped encodings are exactly pos diag(1, -1): backward-stable least squares on 256 x 12 (and the
    # residual's 12-term sums) leaves its round-off, the map's norm 1 doubling it at most
    assert positional_residual(pos, 16, "mirror") < 2 * sum_tol(256 * 12 + 13)
    assert positional_residual(pos, 16, "updown") > 0.5, "nothing makes them up-down equivariant"
    with pytest.raises(ValueError, match="unknown flip 'diagonal'"):
        positional_residual(pos, 16, "diagonal")


def _planted_scaled_layer(seed=0):
    """Six filters: 0 self-symmetric; 1, 2 a mirrored pair with w_2 = 3 g w_1; 3, 4 a mirrored pair with
    w_4 = -2 g w_3 (negated); 5 random. Biases follow the same factors."""
    from eqlib.data import mirror
    g = torch.Generator().manual_seed(seed)
    r = lambda: torch.randn(3072, generator=g, dtype=torch.float64)
    v0, v1, v3, v5 = r(), r(), r(), r()
    W = torch.stack([v0 + mirror(v0), v1, 3 * mirror(v1), v3, -2 * mirror(v3), v5])
    b = torch.tensor([0.3, 0.2, 0.6, -0.1, 0.2, 0.5], dtype=torch.float64)
    return W.numpy(), b.numpy()


@pytest.mark.parametrize("activation, labels, negation_only", [
    ("relu", ["self-symmetric", "mirrored pair", "mirrored pair", "unmatched", "unmatched", "unmatched"], 2),
    ("leaky_relu", ["self-symmetric", "mirrored pair", "mirrored pair", "unmatched", "unmatched", "unmatched"], 2),
    ("square", ["self-symmetric", "mirrored pair", "mirrored pair", "mirrored-negated pair",
                "mirrored-negated pair", "unmatched"], 0),
    ("gelu", ["self-symmetric", "unmatched", "unmatched", "unmatched", "unmatched", "unmatched"], 0),
    ("tanh", ["self-symmetric", "unmatched", "unmatched", "unmatched", "unmatched", "unmatched"], 0),
])
def test_each_activation_matches_within_its_own_group(activation, labels, negation_only):
    W, b = _planted_scaled_layer()
    a = analyze_first_layer(W, b, activation=activation)
    assert a.labels == labels
    assert a.negation_only == negation_only
    # each factor is the ratio of two 3073-term float64 sums over filters planted exactly up to the rounding of
    # 3 g w_1 (half an eps per entry); a residual is then within that ratio's error and a few roundings more
    rtol = sum_tol(2 * 3073 + 2)
    if activation in ("relu", "square"):
        assert np.allclose(a.match.factors()[[1, 2]], [1 / 3, 3], rtol=rtol, atol=0), "g w_1 = w_2 / 3 and g w_2 = 3 w_1"
    if activation == "square":
        assert np.allclose(a.match.factors()[[3, 4]], [-0.5, -2], rtol=rtol, atol=0) \
            and a.residuals[:5].max() < sum_tol(2 * 3073 + 4)


def test_fit_monomial_recovers_a_planted_monomial_and_names_a_bad_scaling():
    from eqlib.symmetry import fit_monomial
    rng = np.random.default_rng(0)
    A = rng.standard_normal((7, 20))
    perm, c = rng.permutation(7), rng.uniform(0.2, 5, 7) * rng.choice([-1, 1], 7)
    B = c[:, None] * A[perm]
    m = fit_monomial(A, B, "nonzero")
    # B is c A rounded once per entry; each factor is the ratio of two 20-term sums, and the residual is within
    # that ratio's error and a few roundings more
    rtol, res_tol = sum_tol(2 * 20 + 2), sum_tol(2 * 20 + 4)
    assert np.array_equal(m.perm, perm) and np.allclose(m.factors(), c, rtol=rtol, atol=0) and m.residual < res_tol
    pos = fit_monomial(A, np.abs(c)[:, None] * A[perm], "positive")
    assert np.allclose(pos.factors(), np.abs(c), rtol=rtol, atol=0) and pos.residual < res_tol
    assert fit_monomial(A, B, "positive").residual > 0.1, "negative factors are outside the positive group"
    with pytest.raises(ValueError, match="unknown scaling 'negative'; allowed: none, sign, positive, nonzero"):
        fit_monomial(A, B, "negative")


def test_the_metric_is_named_not_guessed_from_the_arguments():
    rng = np.random.default_rng(0)
    W1, b1, x = rng.standard_normal((4, 3072)), np.zeros(4), rng.standard_normal((50, 3072))
    with pytest.raises(ValueError, match="images are read only by the data metric: pass metric='data'"):
        analyze_first_layer(W1, b1, images=x)
    with pytest.raises(ValueError, match="the data metric reads images"):
        analyze_first_layer(W1, b1, metric="data")
    with pytest.raises(ValueError, match=r"metric='pixels' is not allowed; allowed: 'data', 'weights'"):
        analyze_first_layer(W1, b1, metric="pixels")
    assert analyze_first_layer(W1, b1, images=x, metric="data").metric == "data"
