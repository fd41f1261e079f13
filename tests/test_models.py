
import pytest
import torch
import torch.nn.functional as F

from eqlib.models import (ACTIVATIONS, MLP, AttentionAutoencoder, AttentionConfig, MLPConfig,
                          build_model, config_dict, config_from_dict)


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
    assert torch.allclose(m.hidden(x), torch.tanh(m.linears[0](x)))
    for name in ("tanh", "gelu", "relu", "sigmoid", "identity"):
        assert name in ACTIVATIONS


def test_init_scale_shrinks_the_first_layer():
    torch.manual_seed(0)
    a = MLP(MLPConfig.paper(first_init_scale=1.0)).linears[0].weight.norm()
    torch.manual_seed(0)
    b = MLP(MLPConfig.paper(first_init_scale=0.01)).linears[0].weight.norm()
    assert torch.isclose(b, 0.01 * a), "init_scales multiplies the default initialisation"


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


def test_attention_matches_textbook_multi_head_attention():
    torch.manual_seed(0)
    m = AttentionAutoencoder(AttentionConfig(dim=32, heads=4, decoder_hidden=16))
    c = m.config
    x = torch.randn(6, 3072)
    z = m.embed(x.view(-1, 3, 32, 32)).flatten(2).transpose(1, 2) + m.pos        # conv tokens (B, T, d)
    assert torch.allclose(z, m.tokens(x), atol=1e-5), "tokens are the stride-2 convolution plus positions"
    q = m.query.expand(len(x), 1, c.dim)
    w_in = torch.cat([m.q_proj.weight, m.k_proj.weight, m.v_proj.weight])
    b_in = torch.cat([m.q_proj.bias, m.k_proj.bias, m.v_proj.bias])
    out, w = F.multi_head_attention_forward(
        q.transpose(0, 1), z.transpose(0, 1), z.transpose(0, 1), c.dim, c.heads, w_in, b_in, None, None,
        False, 0.0, m.out_proj.weight, m.out_proj.bias, need_weights=True, average_attn_weights=False)
    assert torch.allclose(out[0], m.latent(x), atol=1e-5), "lean attention equals PyTorch's reference"
    maps = m.attention(x)
    assert maps.shape == (6, 4, 16, 16)
    assert torch.allclose(w[:, :, 0].reshape(6, 4, 16, 16), maps, atol=1e-6)
    assert torch.allclose(maps.sum((2, 3)), torch.ones(6, 4)), "each head's map is a distribution"
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
    m = AttentionAutoencoder(AttentionConfig())
    x = torch.randn(16, 3 * 32 * 32)
    with torch.no_grad():
        assert torch.allclose(m.mean_token(x), m.tokens(x).mean(1), atol=1e-5), "taken on the patches, the same mean"
