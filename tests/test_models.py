
import pytest
import torch
import torch.nn.functional as F

from eqlib.models import (ACTIVATIONS, MLP, AttentionAutoencoder, AttentionConfig, MLPConfig,
                          build_model, config_dict, config_from_dict)
from numerics import FLOAT32, eps, sum_tol


def test_paper_mlp_shapes():
    for task, out in (("autoencoder", 3072), ("classifier", 10)):
        cfg = MLPConfig.paper(task, "tanh")
        assert cfg.widths == (3072, 64, 256, 256, out) and cfg.activations == ("tanh", "gelu", "gelu")
        m = MLP(cfg)
        assert m(torch.randn(4, 3072)).shape == (4, out)
        assert m.hidden(torch.randn(4, 3072), 1).shape == (4, 64), "first hidden layer has the 64 filters"


def test_activations_are_applied():
    cfg = MLPConfig((3, 5, 2), ("tanh",))
    m = MLP(cfg)
    x = torch.randn(7, 3)
    assert torch.equal(m.hidden(x), torch.tanh(m.linears[0](x))), "the same operations: bitwise"
    for name in ("tanh", "gelu", "relu", "sigmoid", "identity"):
        assert name in ACTIVATIONS


def test_init_scale_shrinks_the_first_layer():
    torch.manual_seed(0)
    a = MLP(MLPConfig.paper(first_init_scale=1.0)).linears[0].weight.double().norm()
    torch.manual_seed(0)
    b = MLP(MLPConfig.paper(first_init_scale=0.01)).linears[0].weight.double().norm()
    # the float32 weights are scaled by 0.01 rounded to float32, each product rounded again: eps of float32;
    # the norms of 64 x 3072 entries are taken in float64 (in float32 their round-off could reach 1%)
    assert torch.isclose(b, 0.01 * a, rtol=eps(FLOAT32) + sum_tol(2 * 64 * 3072), atol=0), \
        "init_scales multiplies the default initialisation"


@pytest.mark.parametrize("kwargs, match", [
    (dict(widths=(3072, 64, 10), activations=("swish",), init_scales=(1, 1)), "unknown activation 'swish'"),
    (dict(widths=(3072, 64, 10), activations=("tanh", "gelu"), init_scales=(1, 1)), "one activation per hidden layer"),
    (dict(widths=(3072, 0, 10), activations=("tanh",), init_scales=(1, 1)), "positive integers"),
    (dict(widths=(3072, 64, 10), activations=("tanh",), init_scales=(1,)), "init scale"),
])
def test_bad_mlp_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPConfig(**kwargs)


def test_bad_task_and_shapes():
    with pytest.raises(ValueError, match="unknown task 'regression'"):
        MLPConfig.paper("regression")
    m = MLP(MLPConfig.paper())
    with pytest.raises(ValueError, match=r"\(B, 3072\); got \(4, 3, 32, 32\)"):
        m(torch.randn(4, 3, 32, 32))
    a = AttentionAutoencoder(AttentionConfig())
    with pytest.raises(ValueError, match="3072"):
        a(torch.randn(2, 100))
    with pytest.raises(ValueError, match="heads=5 must divide dim=64"):
        AttentionConfig(heads=5)
    with pytest.raises(ValueError, match="patch=3 must divide"):
        AttentionConfig(patch=3)


def attention_round_off(m, x, attn):
    """Float64 round-off bounds of the lean attention against the textbook one (each side within them of the exact
    values): ``(logits, weights, output)``, the logits' error, the attention weights' relative error and the
    output's error. The logits are sums of products along chains of at most 3 d + d_h + 12 + 6 terms (query and key
    projections, the key-query dot product, the patch embedding and its additions, in either grouping), off by
    sum_tol of the chains' absolute sum; exp and the normalisation add a sum over the T tokens; the output sums
    the weighted tokens, their 12 + 2 terms and two projections of d + 1, relative to its absolute sum."""
    c = m.config
    dh, T = c.dim // c.heads, c.grid ** 2
    A = lambda t: t.detach().abs()
    qa = (A(m.q_proj.weight) @ A(m.query) + A(m.q_proj.bias)).view(c.heads, dh)
    za = m.patches(x).abs().transpose(1, 2) @ A(m.embed.weight).flatten(1).T + A(m.embed.bias) + A(m.pos)   # (B, T, d)
    ua = torch.einsum("hed,he->hd", A(m.k_proj.weight).view(c.heads, dh, c.dim), qa) / dh ** 0.5
    logits_abs = ua @ za.transpose(1, 2) + (qa * A(m.k_proj.bias).view(c.heads, dh)).sum(1)[:, None] / dh ** 0.5
    logits = sum_tol(3 * c.dim + dh + 12 + 6) * float(logits_abs.max())
    weights = 2 * logits + sum_tol(T + 2)                       # exp, the sum over the tokens, the division
    values_abs = torch.einsum("bhd,hed->bhe", attn.detach() @ za, A(m.v_proj.weight).view(c.heads, dh, c.dim)) \
        + A(m.v_proj.bias).view(c.heads, dh)
    out_abs = values_abs.flatten(1) @ A(m.out_proj.weight).T + A(m.out_proj.bias)
    return logits, weights, (weights + sum_tol(T + 12 + 2 + 2 * (c.dim + 1))) * float(out_abs.max())


def test_attention_matches_textbook_multi_head_attention():
    torch.manual_seed(0)
    m = AttentionAutoencoder(AttentionConfig(dim=32, heads=4, decoder_hidden=16)).double()
    c = m.config
    x = torch.randn(6, 3072, dtype=torch.float64)       # float64: the two computations agree to their round-off
    z = m.embed(x.view(-1, 3, 32, 32)).flatten(2).transpose(1, 2) + m.pos        # conv tokens (B, T, d)
    # 12-term sums with the bias and the position added, in two orders
    terms = m.patches(x).abs().transpose(1, 2) @ m.embed.weight.detach().abs().flatten(1).T \
        + m.embed.bias.detach().abs() + m.pos.detach().abs()
    assert torch.allclose(z, m.tokens(x), rtol=0, atol=2 * sum_tol(12 + 2) * float(terms.max())), \
        "tokens are the stride-2 convolution plus positions"
    q = m.query.expand(len(x), 1, c.dim)
    w_in = torch.cat([m.q_proj.weight, m.k_proj.weight, m.v_proj.weight])
    b_in = torch.cat([m.q_proj.bias, m.k_proj.bias, m.v_proj.bias])
    out, w = F.multi_head_attention_forward(
        q.transpose(0, 1), z.transpose(0, 1), z.transpose(0, 1), c.dim, c.heads, w_in, b_in, None, None,
        False, 0.0, m.out_proj.weight, m.out_proj.bias, need_weights=True, average_attn_weights=False)
    _, weights, output = attention_round_off(m, x, w[:, :, 0])
    assert torch.allclose(out[0], m.latent(x), rtol=0, atol=2 * output), "lean attention equals PyTorch's reference"
    maps = m.attention(x)
    assert maps.shape == (6, 4, 16, 16)
    assert torch.allclose(w[:, :, 0].reshape(6, 4, 16, 16), maps, rtol=0, atol=2 * weights * float(maps.max()))
    # the normalisation's sum over the 256 tokens and its division, then this sum
    assert torch.allclose(maps.sum((2, 3)), torch.ones(6, 4, dtype=torch.float64), rtol=0, atol=sum_tol(2 * 256 + 1)), \
        "each head's map is a distribution"
    assert m(x).shape == (6, 3072)


def test_config_round_trip_and_build():
    for cfg in (MLPConfig.paper("classifier", "gelu"), AttentionConfig(heads=4)):
        assert config_from_dict(config_dict(cfg)) == cfg
        assert isinstance(build_model(cfg), torch.nn.Module)
    with pytest.raises(TypeError, match="unknown model config"):
        build_model({"widths": 3})


def test_the_mean_token_is_the_mean_of_the_tokens():
    from eqlib.models import AttentionAutoencoder, AttentionConfig
    torch.manual_seed(0)
    m = AttentionAutoencoder(AttentionConfig()).double()
    x = torch.randn(16, 3 * 32 * 32, dtype=torch.float64)   # float64: the two orders agree to their round-off
    with torch.no_grad():
        # a mean over the 256 tokens (and its division) of 12-term sums with the bias and the position, in two
        # orders, relative to the mean of the terms' absolute values
        terms = m.patches(x).abs().mean(2) @ m.embed.weight.abs().flatten(1).T + m.embed.bias.abs() + m.pos.abs().mean(0)
        tol = 2 * sum_tol(256 + 1 + 12 + 2) * float(terms.max())
        assert torch.allclose(m.mean_token(x), m.tokens(x).mean(1), rtol=0, atol=tol), "taken on the patches, the same mean"
