import numpy as np
import pytest
import torch

from eqlib.analysis import (analyze_attention, analyze_mlp, affine_r2, direct_negated_filters, find_negated_copies,
                            members, near_linear_fractions, pair_outgoing, share_of_output)
from eqlib.stats import count, over_seeds, pm, stats
from eqlib.data import mirror
from eqlib.models import MLP, MLPConfig
from numerics import FLOAT32, cancel_tol, dot_tol, sum_tol


def planted_bypass(seed=0, n=12):
    """Random first layer with a direct bypass pair (0, 1) and a mirrored one (2, 3)."""
    rng = np.random.default_rng(seed)
    W1, b1, W2 = rng.standard_normal((n, 3072)), rng.standard_normal(n), rng.standard_normal((5, n))
    W1[1], b1[1], W2[:, 1] = -W1[0], -b1[0], -W2[:, 0]
    W1[3] = -np.asarray(mirror(torch.from_numpy(W1[2])))
    b1[3], W2[:, 3] = -b1[2], -W2[:, 2]
    return W1, b1, W2


def test_planted_negated_copies_and_bypass_pairs_are_found_and_random_layers_have_none():
    W1, b1, W2 = planted_bypass()
    x = torch.randn(2000, 3072, generator=torch.Generator().manual_seed(0))
    noisy = W1 + 0.05 * np.random.default_rng(1).standard_normal(W1.shape)
    found = {(p["i"], p["j"], *p["kinds"]): p["bypass"] for p in find_negated_copies(noisy, b1, W2, x)}
    assert found == {(0, 1, "direct"): True, (2, 3, "mirrored"): True}, "both planted pairs, nothing else"
    W2[:, 1] = W2[:, 0]                              # same outgoing weights: a negated copy that adds, not cancels
    pairs = find_negated_copies(W1, b1, W2, x)
    assert {(p["i"], p["j"], *p["kinds"]): p["bypass"] for p in pairs} == {(0, 1, "direct"): False,
                                                                           (2, 3, "mirrored"): True}
    assert members(pairs) == [0, 1, 2, 3]
    sym = W1[0] + np.asarray(mirror(torch.from_numpy(W1[0])))      # a mirror-symmetric neuron and its negation:
    W1[4], W1[5], b1[4], b1[5] = sym, -sym, 0.2, -0.2                   # a negated copy directly and through the mirror
    both = [p for p in find_negated_copies(W1, b1, W2, x) if (p["i"], p["j"]) == (4, 5)]
    assert len(both) == 1 and both[0]["kinds"] == ["direct", "mirrored"], "listed once, with both kinds"
    W1[5], b1[5] = -0.78 * sym, -0.78 * 0.2
    assert not [p for p in find_negated_copies(W1, b1, W2, x) if (p["i"], p["j"]) == (4, 5)], \
        "at 0.78 of the scale the residual is 0.22 of the larger neuron's spread but 0.28 of the smaller's: no copy"
    rng = np.random.default_rng(2)
    assert find_negated_copies(rng.standard_normal((64, 3072)), rng.standard_normal(64), rng.standard_normal((9, 64)),
                               x) == [], "random filters hold no negated copy"


def test_a_gelu_bypass_pair_is_exactly_linear_and_carries_its_share():
    torch.manual_seed(0)
    m = MLP(MLPConfig((3072, 4, 3), ("gelu",)))
    with torch.no_grad():
        m.linears[0].weight[1] = -m.linears[0].weight[0]
        m.linears[0].bias[1] = -m.linears[0].bias[0]
        m.linears[1].weight[:, 1] = -m.linears[1].weight[:, 0]
    x = torch.randn(4000, 3072, dtype=torch.float64)      # more samples than input dimensions
    m64 = MLP(m.config).double()
    m64.load_state_dict(m.state_dict())
    pair = lambda x: m64.hidden(x, 1)[:, :2] @ m64.linears[1].weight[:, :2].T
    # an output off by a relative dot_tol leaves 1 - R^2 of its square, far below dot_tol itself
    assert affine_r2(pair, x, torch.randn(200, 3072, dtype=torch.float64)) > 1 - dot_tol(3072), \
        "GELU(t) - GELU(-t) = t: the pair is affine"
    single = lambda x: m64.hidden(x, 1)[:, 2:3]
    assert affine_r2(single, x, torch.randn(200, 3072, dtype=torch.float64)) < 0.99, "one GELU neuron alone is not"
    assert 0 < share_of_output(m64, x, [0, 1]) < 1 and share_of_output(m64, x, []) == 0.0
    assert share_of_output(m64, x, [0, 1, 2, 3]) == pytest.approx(1.0, abs=sum_tol(len(x) * 3)), \
        "every neuron carries the whole contribution, up to the round-off of summing it twice"


def test_a_gelu_pair_with_equal_outgoing_weights_is_an_even_unit_not_a_bypass():
    """GELU(t) + GELU(-t) = t (2 Phi(t) - 1) = t erf(t / sqrt 2): a negated copy whose outgoing weights are
    equal computes an even, |t|-like unit; with opposite weights it computes t (the bypass)."""
    torch.manual_seed(0)
    m = MLP(MLPConfig((3072, 6, 3), ("gelu",)))
    with torch.no_grad():
        W1, b1, W2 = m.linears[0].weight, m.linears[0].bias, m.linears[1].weight
        W1[1], b1[1], W2[:, 1] = -W1[0], -b1[0], W2[:, 0]          # equal outgoing weights: even
        W1[3], b1[3], W2[:, 3] = -W1[2], -b1[2], -W2[:, 2]         # opposite outgoing weights: bypass
    x = torch.randn(3000, 3072, generator=torch.Generator().manual_seed(1)).double()
    m = m.double()
    with torch.no_grad():
        h, t = m.hidden(x, 1), m.linears[0](x)
        even = h[:, :2] @ W2[:, :2].double().T
        bypass = h[:, 2:4] @ W2[:, 2:4].double().T
    expected_even = W2[:, 0].double()[None] * (t[:, :1] * torch.erf(t[:, :1] / 2 ** 0.5))
    # float64 throughout: t is a 3072-term dot product, GELU and erf a few operations more
    tol = dot_tol(3072) * float(t.abs().max())
    assert torch.allclose(even, expected_even, rtol=0, atol=tol), "equal outgoing weights: v t erf(t / sqrt 2)"
    assert torch.allclose(bypass, W2[:, 2].double()[None] * t[:, 2:3], rtol=0, atol=tol), "opposite: v t, linear"
    pairs = find_negated_copies(m.linears[0].weight.detach(), m.linears[0].bias.detach(),
                                m.linears[1].weight.detach(), x[:2000].float())
    kinds = {(p["i"], p["j"]): (p["bypass"], p["even"]) for p in pairs if "direct" in p["kinds"]}
    assert kinds == {(0, 1): (False, True), (2, 3): (True, False)}, "each pair classified by its outgoing weights"
    # outgoing residuals are read off expanded squares (3 outputs): an exact match reads cancel_tol, not 0
    assert next(p for p in pairs if (p["i"], p["j"]) == (0, 1))["even_residual"] < cancel_tol(3)
    assert direct_negated_filters({"negated_copies": pairs}) == 4
    summary = pair_outgoing([{"negated_copies": pairs}])
    assert summary["pairs"] == 2 and summary["bypass"] == 1 and summary["even"] == 1
    assert summary["outgoing_residuals"] == pytest.approx([2.0, 0.0], abs=cancel_tol(3)), \
        "equal weights give 2, opposite 0"


def test_direct_negated_filters_counts_only_direct_pairs_once_per_neuron():
    pairs = [{"i": 0, "j": 1, "kinds": ["direct"]}, {"i": 1, "j": 2, "kinds": ["direct", "mirrored"]},
             {"i": 4, "j": 5, "kinds": ["mirrored"]}]
    assert direct_negated_filters({"negated_copies": pairs}) == 3, "neurons 0, 1, 2; the mirrored-only pair not"


def test_near_linear_fraction_oracle():
    m = MLP(MLPConfig((3072, 2, 3), ("gelu",)))
    with torch.no_grad():
        m.linears[0].weight.zero_()
        m.linears[0].bias.copy_(torch.tensor([3.0, 0.0]))        # always t = 3, always t = 0
    f = near_linear_fractions(m, torch.randn(10, 3072), "gelu")
    assert f.tolist() == [1.0, 0.0]
    assert near_linear_fractions(m, torch.randn(10, 3072), "tanh").tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="no near-linear range defined for 'relu'"):
        near_linear_fractions(m, torch.randn(10, 3072), "relu")


def test_analyze_mlp_on_an_exactly_equivariant_network_explains_every_filter():
    from eqlib.theory import equivariant_mlp, mlp_from_layers
    layers, _ = equivariant_mlp((3072, 12, 10, 3072), ("tanh", "gelu"), mirror, mirror, seed=0)
    m = mlp_from_layers(layers, ("tanh", "gelu"))
    x = torch.randn(400, 3072, generator=torch.Generator().manual_seed(0))
    r = analyze_mlp(m, "autoencoder", x, x[:100], n_function=100)
    assert r["explained"] == 12 and r["counts"]["unmatched"] == 0
    # the network is float64 and exactly equivariant: what is left is the round-off of 3072-term dot products
    # (pre-activations of x and of its mirror, summed in other orders), relative to their spread
    assert r["median_residual"] < dot_tol(3072), "residuals at float64 round-off"
    assert max(r["propagation"]["function_errors"]) < 3 * dot_tol(3072), "three layers, each at round-off"
    assert r["explained_by_threshold"]["0.1"] == 12


def test_over_seeds_aggregates_numbers_and_phrases_them():
    per_seed = [{"a": 1.0, "b": {"c": 2, "flag": True, "name": "x"}, "l": [1.0, 2.0], "s": ["p"]},
                {"a": 3.0, "b": {"c": 4, "flag": False, "name": "y"}, "l": [3.0, 6.0], "s": ["q"]}]
    agg = over_seeds(per_seed)
    assert [x["mean"] for x in agg["l"]] == [2.0, 4.0] and "s" not in agg, "lists of numbers element-wise"
    assert agg["a"]["mean"] == 2.0 and agg["a"]["sd"] == pytest.approx(np.sqrt(2)) and agg["a"]["values"] == [1.0, 3.0]
    assert set(agg["b"]) == {"c"}, "bools and strings are not averaged"
    assert pm(agg["a"], 2) == "2.00 ± 1.41" and stats([5])["sd"] == 0.0
    assert count([True, True, False]) == "2 of 3 seeds"
    with pytest.raises(ValueError, match="no values"):
        stats([])


def test_mlp_metric_is_arranged_per_kind_depth_flip_and_seed_and_matches_a_direct_call(tmp_path):
    from conftest import synthetic_cifar
    from eqlib.analysis import mlp_metric
    from eqlib.metric import paper_metric
    d = synthetic_cifar()
    torch.manual_seed(0)
    ms = {"equivariant": [MLP(MLPConfig((3072, 6, 5, 3), ("tanh", "gelu"))) for _ in range(2)],
          "control": [MLP(MLPConfig((3072, 6, 5, 3), ("tanh", "gelu")))]}
    out = mlp_metric(ms, d, readings=["gaussian", "images"], n_fit=300, n_eval=200, cache=tmp_path)
    assert set(out) == {"gaussian", "images"} and set(out["gaussian"]) == {"equivariant", "control"}
    assert len(out["gaussian"]["equivariant"]["first_two_layers"]["updown"]) == 2
    m = ms["equivariant"][1]
    direct = paper_metric({"f": lambda x: m.hidden(x, 2)}, d, readings=["gaussian"], n_fit=300, n_eval=200)
    assert out["gaussian"]["equivariant"]["first_two_layers"]["mirror"][1] == direct.medians["gaussian"]["f"]["mirror"]


def test_analyze_attention_on_a_model_with_mirror_symmetric_heads():
    from eqlib.models import AttentionAutoencoder, AttentionConfig
    torch.manual_seed(0)
    m = AttentionAutoencoder(AttentionConfig(image_size=8, patch=2, dim=8, heads=2, decoder_hidden=4))
    with torch.no_grad():   # symmetric patch embedding, zero positional encodings: every head mirrors itself
        m.embed.weight.copy_((m.embed.weight + m.embed.weight.flip(-1)) / 2)
        m.pos.zero_()
    m = m.double()                                   # float64: the symmetry is exact up to its round-off
    x = torch.randn(50, 3 * 8 * 8, dtype=torch.float64)
    r = analyze_attention(m, x)
    assert r["cycles"] == "identity" and r["involution"] and r["fixed_heads"] == 2
    # the matching error is a squared relative distance read off an expanded square over 50 images x 16 tokens;
    # the per-head maps are least-squares fits of 50 x 4 values
    assert r["median_error"] < sum_tol(50 * 16) and max(r["head_linear_residuals"]) < sum_tol(50 * 4)
    assert r["positional_residual"] == {"mirror": 0.0, "updown": 0.0}, "zero encodings are trivially equivariant"
    with torch.no_grad():
        m.embed.weight.normal_()                       # break the symmetry: heads no longer mirror themselves
    assert analyze_attention(m, x)["median_error"] > 0.01


def test_the_attention_floor_is_the_latent_under_uniform_attention():
    from eqlib.analysis import attention_prefix
    from eqlib.models import AttentionAutoencoder, AttentionConfig
    torch.manual_seed(0)
    m = AttentionAutoencoder(AttentionConfig(image_size=8, patch=2, dim=8, heads=2, decoder_hidden=4))
    x = torch.randn(20, 3 * 8 * 8)
    with torch.no_grad():
        out = attention_prefix(m)(x)
        assert (out["latent"] - out["latent_pre"]).abs().max() > 1e-4, "a random query attends unevenly"
        m.k_proj.weight.zero_()                          # every logit equal: the softmax is uniform
        out = attention_prefix(m)(x)
    # float32: the softmax's 16 equal weights average the values in another order than the mean does, and the
    # projection sums 8 of them more
    tol = sum_tol(16 + 8, FLOAT32) * (1 + float(out["latent_pre"].abs().max()))
    assert torch.allclose(out["latent"], out["latent_pre"], rtol=0, atol=tol), "uniform attention is the floor"


def test_negated_structure_counts_filters_pairs_and_groups_and_a_null_for_the_outgoing_weights():
    from eqlib.analysis import negated_groups, negated_structure
    rng = np.random.default_rng(0)
    W1, b1, W2 = rng.standard_normal((8, 3072)), rng.standard_normal(8), rng.standard_normal((5, 8))
    W1[1], b1[1] = -W1[0], -b1[0]                                  # a pair
    W1[3], b1[3] = -W1[2], -b1[2]                                  # 3 and 4 both negate 2: one group of three
    W1[4], b1[4] = -W1[2] + 0.2 * rng.standard_normal(3072) / np.sqrt(3072) * np.linalg.norm(W1[2]), -b1[2]
    x = torch.randn(3000, 3072, generator=torch.Generator().manual_seed(0))
    s = negated_structure(W1, b1, W2, x, thresholds=(0.05, 0.25, 1.0))
    assert s["by_threshold"]["0.25"] == {"filters": 5, "pairs": 3, "groups": 2, "largest": 3}, s["by_threshold"]
    assert s["by_threshold"]["0.05"] == {"filters": 4, "pairs": 2, "groups": 2, "largest": 2}, \
        "filter 4, a noisy copy (residual about 0.2), leaves at a tighter threshold"
    assert s["by_threshold"]["1.0"]["filters"] >= 5, "the count only grows with the threshold"
    null = s["outgoing_null"]
    assert null["pairs"] == 8 * 7 // 2 and 0 < null["q05"] < null["median"] < null["q95"] < 2, \
        "random pairs of Gaussian outgoing weights: residuals spread around sqrt(2), never 0"
    assert negated_groups([{"i": 0, "j": 1}, {"i": 1, "j": 2}, {"i": 5, "j": 6}]) == [[0, 1, 2], [5, 6]]
