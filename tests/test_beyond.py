import copy

import numpy as np
import pytest
import torch

from eqlib.beyond import (align, analyze_activation, fit_group_actions, group_fit_residuals, merge_paths,
                          trace_labels, trace_prefix, with_random_filters)
from eqlib.data import mirror
from eqlib.groups import D4
from eqlib.models import MLP, MLPConfig
from eqlib.symmetry import analyze_first_layer, match_networks
from eqlib.theory import equivariant_mlp, mlp_from_layers, scramble
from numerics import FLOAT32, dot_tol, eps, sum_tol


GAUSS = torch.randn(2000, 3072, generator=torch.Generator().manual_seed(5), dtype=torch.float64)   # probe images


def _mlp_with_first_layer(W1, b1, activation, hidden=4, out=3072, seed=0):
    torch.manual_seed(seed)
    m = MLP(MLPConfig((3072, len(W1), hidden, out), (activation, "gelu"))).double()
    with torch.no_grad():
        m.linears[0].weight.copy_(torch.as_tensor(W1))
        m.linears[0].bias.copy_(torch.as_tensor(b1))
    return m


def test_align_recovers_a_scrambled_network_and_keeps_its_function():
    g = lambda x: mirror(x, (1, 2, 3))
    acts = ["tanh", "gelu"]
    layers, _ = equivariant_mlp((6, 5, 4, 6), acts, g, g, seed=1)
    scrambled, _ = scramble(layers, acts, seed=2)
    aligned = align(scrambled, match_networks(layers, scrambled, acts).perms)
    for (W, b), (Wa, ba) in zip(layers, aligned):
        # signed permutation matrices (entries 0 and +-1) move each weight through exact products and sums
        assert np.array_equal(W, Wa) and np.array_equal(b, ba), "the scramble is undone exactly"
    x = torch.randn(7, 6, dtype=torch.float64)
    f = lambda L: mlp_from_layers(L, acts).double()(x)
    # the scramble reorders the 5- and 4-term hidden sums (with their biases): each is off by sum_tol of its
    # terms' absolute sum, bounded by the weights (|tanh| <= 1, GELU's slope and |GELU(t)| / |t| <= 1.13)
    (W2, b2), (W3, b3) = (np.abs(W) for W in layers[1]), (np.abs(W) for W in layers[2])
    terms = float((W3 @ (1.13 * (W2.sum(1) + b2)) + b3).max())
    assert torch.allclose(f(scrambled), f(aligned), rtol=0, atol=2 * 1.13 * sum_tol(6 + 5) * terms), \
        "aligning changes no function"


def test_merging_an_equivariant_network_with_its_mirrored_self_is_flat_only_after_alignment():
    acts = ["tanh", "gelu"]
    g = lambda x: mirror(x)
    layers, _ = equivariant_mlp((3072, 6, 5, 3072), acts, g, g, seed=0)
    a = mlp_from_layers(layers, acts).double()
    b, _ = scramble(layers, acts, seed=3)
    x = torch.randn(64, 3072, dtype=torch.float64)
    r = merge_paths(a, mlp_from_layers(b, acts).double(), "autoencoder", x, None, [0, 0.5, 1], mirrored=True)
    # the mirror and the alignment only permute and negate weights, and the planted weights are exactly
    # symmetrised: the aligned copy is the network bitwise, and so is every point of the path
    assert max(r["aligned"]) - min(r["aligned"]) == 0, "aligned mirrored copy = the network itself"
    # misaligned hidden layers move the midpoint's loss by about 1e-2: a margin far above float64 round-off
    assert max(r["aligned_first"]) - min(r["aligned_first"]) > 1e-6, \
        "the scrambled hidden layers stay misaligned when only the first layer is aligned"
    assert abs(r["naive"][1] - r["naive"][0]) > 1e-3 * r["naive"][0], "the unaligned midpoint is another network"
    # the loss is a mean of 64 x 3072 squares (sum_tol each side); the mirrored, scrambled copy sums its
    # 3072-term pre-activations in another order (dot_tol of their spread), felt through 2 (f - x) df
    assert np.isclose(r["naive"][0], r["naive"][2], rtol=2 * sum_tol(64 * 3072) + 2 * dot_tol(3072), atol=0), \
        "both endpoints compute the same (equivariant) function"


def _d4_closed_filters(seed=0):
    """13 filters: one D4 orbit of size 8, one of size 4 (mirror-symmetric seed), one fixed filter."""
    gen = torch.Generator().manual_seed(seed)
    v, u, t = (torch.randn(1, 3072, generator=gen, dtype=torch.float64) for _ in range(3))
    u = u + D4.act(4, u)
    orbit8 = [D4.act(k, v) for k in range(8)]
    orbit4 = [D4.act(k, u) for k in range(4)]
    fixed = sum(D4.act(k, t) for k in range(8))
    W = torch.cat(orbit8 + orbit4 + [fixed]).numpy()
    b = np.r_[np.full(8, 0.3), np.full(4, -0.2), 0.1]
    return W, b


def test_d4_fits_of_a_closed_filter_set_form_a_homomorphism_with_the_planted_orbits():
    W, b = _d4_closed_filters()
    r = fit_group_actions(_mlp_with_first_layer(W, b, "tanh"), D4, GAUSS)
    assert r["max_defect"] == 0 and r["orders_agree"] == 7 and r["matched_by_every_element"] == 13
    assert r["orbit_sizes"] == {"1": 1, "4": 1, "8": 1} and r["orbit_stabiliser_holds"] == 3
    stab = {o["size"]: set(o["stabiliser"]) for o in r["orbits"]}
    assert stab[1] == set(D4.names) and len(stab[4]) == 2 and stab[8] == {"e"}


def test_d4_fits_of_random_filters_are_no_homomorphism():
    rng = np.random.default_rng(0)
    m = _mlp_with_first_layer(rng.standard_normal((13, 3072)), rng.standard_normal(13), "tanh")
    r = fit_group_actions(m, D4, GAUSS)
    assert r["max_defect"] > 0.5 and r["matched_by_every_element"] == 0


def test_random_filters_keep_the_norms_and_lose_the_structure():
    W, b = _d4_closed_filters()
    m = _mlp_with_first_layer(W, b, "tanh")
    rm = with_random_filters(m, seed=0)
    # float64: four 3072-term norms (the filters', the draws', and both compared here), each off by half of
    # sum_tol(3072), and the rescaling's two roundings per entry
    assert torch.allclose(rm.linears[0].weight.norm(dim=1), m.linears[0].weight.norm(dim=1),
                          rtol=2 * sum_tol(3073), atol=0)
    assert torch.equal(rm.linears[0].bias, m.linears[0].bias) and torch.equal(rm.linears[1].weight, m.linears[1].weight)
    r = fit_group_actions(rm, D4, GAUSS)
    assert r["matched_by_every_element"] == 0 and r["mean_defect"] > 0.5, "the planted orbits are gone"


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "square", "tanh", "gelu", "identity"])
def test_the_predicted_latent_action_is_exact_on_a_planted_layer_and_wrong_on_a_random_one(activation):
    gen = torch.Generator().manual_seed(1)
    v0, v1 = (torch.randn(3072, generator=gen, dtype=torch.float64) for _ in range(2))
    c = {"relu": 3.0, "leaky_relu": 0.5, "sigmoid": -1.0, "square": -2.0, "tanh": -1.0, "gelu": 1.0,
         "identity": -2.0}[activation]
    W = torch.stack([v0 + mirror(v0), v1, c * mirror(v1)]).numpy() / 40
    b = np.array([0.3, 0.2, 0.2 * c])
    m = _mlp_with_first_layer(W, b, activation)
    x = torch.randn(400, 3072, dtype=torch.float64)
    a = analyze_first_layer(W, b, m.linears[1].weight.detach().numpy(), activation=activation)
    assert a.explained == 3
    r = group_fit_residuals(m, a, x[:200], x[200:])
    assert r["in_group"] < in_group_round_off(m, a, x[200:]), \
        "pre(g x) = c pre(pi x) gives h(g x) exactly in the group's form"
    rng = np.random.default_rng(0)
    Wr = rng.standard_normal((3, 3072)) / 40
    mr = _mlp_with_first_layer(Wr, b, activation)
    ar = analyze_first_layer(Wr, b, mr.linears[1].weight.detach().numpy(), activation=activation)
    assert group_fit_residuals(mr, ar, x[:200], x[200:])["in_group"] > 0.1


def in_group_round_off(m, a, x):
    """The float64 round-off bound of ``group_fit_residuals(...)["in_group"]`` for a planted exact layer: each
    pre-activation of ``x`` and of ``g x`` is a 3072-term dot product plus its bias (and the filter's own
    rounding when scaled by ``c``: two terms more), off by ``sum_tol(3075)`` of its terms' absolute sum; the
    activation's slope (``2 |t|`` for the square, 1.13 for GELU, 1/4 for the sigmoid, at most 1 otherwise)
    carries it into the latent, and the predicted map multiplies one side by ``|alpha|``, fitted to float64
    round-off too. Per row relative to the latent's spread, as the residual is, and the median of the bounds
    bounds the median."""
    from eqlib.beyond import _latent_factors
    act = m.config.activations[0]
    W, b = m.linears[0].weight.detach(), m.linears[0].bias.detach()
    alpha = torch.as_tensor(_latent_factors(act, a.match.factors())[0]).abs()
    perm = torch.as_tensor(a.match.perm)
    pre = lambda x: x @ W.T + b
    bound = lambda x: sum_tol(3075) * (x.abs() @ W.abs().T + b.abs())
    slope = lambda x: (2 * (pre(x).abs() + bound(x)) if act == "square"
                       else {"gelu": 1.13, "sigmoid": 0.25}.get(act, 1.0))
    xm = mirror(x)
    y = m.hidden(x, 1).detach()
    err = slope(xm) * bound(xm) + alpha * (slope(x) * bound(x))[:, perm] + sum_tol(3073) * alpha * y[:, perm].abs()
    return float((err.norm(dim=1) / (y - y.mean(0)).norm(dim=1)).median())


def test_the_latent_residual_of_a_random_small_sigmoid_layer_is_large():
    """The null at initialisation: small random sigmoid filters leave a latent that hardly varies about
    sigmoid's 1/2. Relative to ||h(x)||, the in-group residual of such a layer was about 0.002 (a trained
    sigmoid network's: 0.09 to 0.16), so the null looked better than every trained network; relative to
    the latent's spread about its mean, a random match is as wrong as it is at any scale."""
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((3, 3072)) / 4000, np.array([0.3, 0.2, -0.2])
    m = _mlp_with_first_layer(W, b, "sigmoid")
    a = analyze_first_layer(W, b, m.linears[1].weight.detach().numpy(), activation="sigmoid")
    x = torch.randn(400, 3072, dtype=torch.float64)
    r = group_fit_residuals(m, a, x[:200], x[200:])
    assert r["in_group"] > 0.5 and r["unconstrained"] > 0.1


def test_analyze_activation_exempts_dead_relus():
    gen = torch.Generator().manual_seed(2)
    v0 = torch.randn(3072, generator=gen, dtype=torch.float64)
    W = torch.stack([v0 + mirror(v0), torch.zeros(3072, dtype=torch.float64)]).numpy() / 40
    m = _mlp_with_first_layer(W, np.array([0.3, -1.0]), "relu").float()      # neuron 1 never fires
    r = analyze_activation(m, torch.randn(100, 3072), torch.randn(100, 3072))
    assert r["constant"] == 1 and r["counts"]["inactive"] == 1 and r["counts"]["self-symmetric"] == 1


def test_trace_prefix_and_labels_replay_the_trained_model(cache):
    from conftest import synthetic_cifar
    from eqlib.train import TrainConfig, train
    cfg = MLPConfig((3072, 8, 16, 3072), ("tanh", "gelu"))
    r = train(cfg, TrainConfig(epochs=2, batch_size=128), synthetic_cifar(), cache=cache, progress=False)
    x = torch.randn(5, 3072)
    # in float64, where the replay and the model agree to the round-off of their sums
    trace64 = {k: [t.double() for t in v] for k, v in r.trace.items()}
    model64 = copy.deepcopy(r.model).cpu().double()
    f = trace_prefix(trace64, 2, cfg.activations)(x.double())
    # two computations of each 3072-term first-layer sum (with its bias), then of each 8-term second-layer
    # sum, which carries the first layer's error; |tanh| <= 1, GELU's slope <= 1.13
    (W1, b1), (W2, b2) = ((lin.weight.detach().abs(), lin.bias.detach().abs()) for lin in model64.linears[:2])
    tol1 = 2 * sum_tol(3073) * float((x.double().abs() @ W1.T + b1).max())
    tol2 = 1.13 * (2 * sum_tol(9) * float((W2.sum(1) + b2).max()) + float(W2.sum(1).max()) * tol1)
    assert torch.allclose(f["first_layer"], model64.hidden(x.double(), 1), rtol=0, atol=tol1)
    assert torch.allclose(f["first_two_layers"], model64.hidden(x.double(), 2), rtol=0, atol=tol2)
    rows = trace_labels(r.trace, "tanh", x)
    assert [row["epoch"] for row in rows] == [0, 1, 2] and all(len(row["labels"]) == 8 for row in rows)


def test_pair_norm_ratio_is_the_ratio_of_the_paired_filters_norms():
    gen = torch.Generator().manual_seed(3)
    v0, v1 = (torch.randn(3072, generator=gen, dtype=torch.float64) for _ in range(2))
    W = torch.stack([v0 + mirror(v0), v1, 3 * mirror(v1)]).numpy() / 40
    m = _mlp_with_first_layer(W, np.array([0.3, 0.2, 0.6]), "relu").float()
    r = analyze_activation(m, torch.randn(200, 3072), torch.randn(200, 3072))
    # the filters (with biases) are exactly 3:1 in float64 before the float32 model rounds every entry by half
    # an eps, so each norm; the norms are then summed over 3073 entries in float64
    assert r["pairs"] == [(1, 2, 1)] and r["pair_norm_ratio"] == pytest.approx(3.0, rel=eps(FLOAT32) + sum_tol(2 * 3073))
