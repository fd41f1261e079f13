"""The two architectures of the paper, an MLP and a single-query attention autoencoder, and a
mirror-commuting convolutional classifier (the "Beyond the paper" chapter).

Only ``nn.Module``s and their configs live here. Each config is a frozen dataclass
that validates itself, so a bad value fails at construction with a clear message.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "square": torch.square,
}


def check_activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")


def _check_input(x, n, what):
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != n:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{what} expects a batch of flattened images of shape (B, {n}); got {shape}")


# --------------------------------------------------------------------------- MLP
@dataclass(frozen=True)
class MLPConfig:
    """A fully connected network ``W_L s(... s(W_1 x + b_1) ...) + b_L``.

    ``widths`` lists input, hidden and output sizes; ``activations`` has one entry per
    hidden layer; ``init_scales`` multiplies PyTorch's default initialisation of each
    linear layer's weights (a small first-layer scale keeps the input directions that
    the data never excites near zero instead of at their random initial values).
    """

    widths: tuple = (3072, 64, 256, 256, 3072)
    activations: tuple = ("tanh", "gelu", "gelu")
    init_scales: tuple = None          # None: 1.0 for every linear layer

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.init_scales is None:
            object.__setattr__(self, "init_scales", (1.0,) * (len(self.widths) - 1))
        object.__setattr__(self, "activations", tuple(self.activations))
        object.__setattr__(self, "init_scales", tuple(float(s) for s in self.init_scales))
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be at least two positive integers; got {self.widths}")
        if len(self.activations) != len(self.widths) - 2:
            raise ValueError(f"need one activation per hidden layer ({len(self.widths) - 2}); "
                             f"got {len(self.activations)}: {self.activations}")
        for a in self.activations:
            check_activation(a)
        if len(self.init_scales) != len(self.widths) - 1 or any(s < 0 for s in self.init_scales):
            raise ValueError(f"need one non-negative init scale per linear layer ({len(self.widths) - 1}); "
                             f"got {self.init_scales}")

    @classmethod
    def paper(cls, task="autoencoder", first_activation="tanh", hidden=(64, 256, 256),
              later_activation="gelu", first_init_scale=1.0):
        """The paper's depth-4 network: first activation Tanh or GELU, later ones GELU."""
        out = {"autoencoder": 3072, "classifier": 10}
        if task not in out:
            raise ValueError(f"unknown task {task!r}; allowed: {', '.join(out)}")
        hidden = tuple(hidden)
        return cls(widths=(3072, *hidden, out[task]),
                   activations=(first_activation,) + (later_activation,) * (len(hidden) - 1),
                   init_scales=(first_init_scale,) + (1.0,) * len(hidden))


class MLP(nn.Module):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        w = config.widths
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(w[:-1], w[1:]))
        with torch.no_grad():
            for lin, s in zip(self.linears, config.init_scales):
                lin.weight.mul_(s)

    def hidden(self, x, depth=None):
        """Post-activation outputs of the first ``depth`` hidden layers (all by default)."""
        _check_input(x, self.config.widths[0], "MLP")
        n = len(self.config.activations) if depth is None else depth
        if not 0 <= n <= len(self.config.activations):
            raise ValueError(f"depth must be in 0..{len(self.config.activations)}; got {depth}")
        for lin, act in zip(self.linears[:n], self.config.activations[:n]):
            x = ACTIVATIONS[act](lin(x))                        # (B, width)
        return x

    def forward(self, x):
        return self.linears[-1](self.hidden(x))               # (B, out)


# --------------------------------------------------------------------------- attention
@dataclass(frozen=True)
class AttentionConfig:
    """Single-query multi-head attention autoencoder.

    A stride-``patch`` convolution turns the image into a grid of tokens, learnable
    positional encodings are added, one learnable query attends over the tokens with
    ``heads`` heads, and an MLP decodes the pooled vector back to the image.
    """

    image_size: int = 32
    channels: int = 3
    patch: int = 2
    dim: int = 64
    heads: int = 8
    decoder_hidden: int = 512
    decoder_activation: str = "gelu"

    def __post_init__(self):
        for k in ("image_size", "channels", "patch", "dim", "heads", "decoder_hidden"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"{k} must be a positive integer; got {getattr(self, k)}")
        if self.image_size % self.patch:
            raise ValueError(f"patch={self.patch} must divide image_size={self.image_size}")
        if self.dim % self.heads:
            raise ValueError(f"heads={self.heads} must divide dim={self.dim}")
        check_activation(self.decoder_activation)

    @property
    def grid(self):
        return self.image_size // self.patch


class AttentionAutoencoder(nn.Module):
    """``f(x) = dec(W_o concat_h[ W_v,h sum_t a_h(t) z_t ])``, ``a_h = softmax_t(<W_q,h q, W_k,h z_t>/sqrt(d_h))``.

    With a single query the keys never need to be formed: ``<W_q,h q, W_k,h z_t> =
    <W_k,h^T W_q,h q, z_t>``; the values commute with the attention average; and the
    tokens are affine in the patches, so the per-token work is two products with the
    small patch vectors. The result equals the textbook computation (tested against
    ``torch.nn.functional.multi_head_attention_forward``).
    """

    def __init__(self, config: AttentionConfig):
        super().__init__()
        self.config = c = config
        self.embed = nn.Conv2d(c.channels, c.dim, kernel_size=c.patch, stride=c.patch)
        self.pos = nn.Parameter(0.02 * torch.randn(c.grid * c.grid, c.dim))
        self.query = nn.Parameter(torch.randn(c.dim) / math.sqrt(c.dim))
        self.q_proj = nn.Linear(c.dim, c.dim)
        self.k_proj = nn.Linear(c.dim, c.dim)        # its bias cancels in the softmax
        self.v_proj = nn.Linear(c.dim, c.dim)
        self.out_proj = nn.Linear(c.dim, c.dim)
        self.dec1 = nn.Linear(c.dim, c.decoder_hidden)
        self.dec2 = nn.Linear(c.decoder_hidden, c.channels * c.image_size ** 2)

    def patches(self, x):
        """Non-overlapping ``patch x patch`` patches, ``(B, C * patch * patch, T)``: channel-major, the
        tokens row-major over the grid (``pixel_unshuffle``, much faster on a CPU than a 6-d permute)."""
        c = self.config
        _check_input(x, c.channels * c.image_size ** 2, "AttentionAutoencoder")
        x = x.view(-1, c.channels, c.image_size, c.image_size)
        return F.pixel_unshuffle(x, c.patch).flatten(2)                        # (B, C p p, T)

    def tokens(self, x):
        """Image tokens: the stride-``patch`` convolution plus positional encodings, ``(B, T, d)``."""
        e = self.embed.weight.flatten(1)                                       # (d, C p p)
        return self.patches(x).transpose(1, 2) @ e.T + self.embed.bias + self.pos   # (B, T, d)

    def mean_token(self, x):
        """The tokens' mean over the grid, ``(B, d)``: tokens are affine in the patches, so the mean is
        taken on the 12-dimensional patches first (what uniform attention pools)."""
        e = self.embed.weight.flatten(1)                                       # (d, C p p)
        return self.patches(x).mean(2) @ e.T + self.embed.bias + self.pos.mean(0)   # (B, d)

    def _attend(self, x):
        # Everything here is linear in the tokens z_t = E p_t + c + pos_t, so the per-token
        # work runs on the small patches p_t instead of the d-dimensional tokens, and the
        # scale 1/sqrt(d_h) is folded into the query-key vector u.
        c = self.config
        dh = c.dim // c.heads
        p = self.patches(x)                                                    # (B, C p p, T)
        e, e_bias = self.embed.weight.flatten(1), self.embed.bias              # (d, C p p), (d,)
        q = self.q_proj(self.query).view(c.heads, dh)                          # (h, dh)
        u = torch.einsum("hed,he->hd", self.k_proj.weight.view(c.heads, dh, c.dim), q) / math.sqrt(dh)  # (h, d)
        logits = (u @ e) @ p + (u @ (self.pos + e_bias).T)                     # (B, h, T)
        attn = torch.softmax(logits, dim=-1)                                   # (B, h, T)
        pooled = (attn @ p.transpose(1, 2)) @ e.T + attn @ self.pos + e_bias   # (B, h, d) = sum_t a_t z_t
        w_v = self.v_proj.weight.view(c.heads, dh, c.dim)
        values = torch.einsum("bhd,hed->bhe", pooled, w_v) + self.v_proj.bias.view(c.heads, dh)  # (B, h, dh)
        return attn, values

    def attention(self, x):
        """Each head's attention map over the token grid, ``(B, heads, G, G)``."""
        g = self.config.grid
        return self._attend(x)[0].view(-1, self.config.heads, g, g)

    def head_values(self, x):
        """Each head's output before the output projection, ``(B, heads, d_head)``."""
        return self._attend(x)[1]

    def latent(self, x):
        """The attention layer's output ``(B, d)``."""
        return self.out_proj(self._attend(x)[1].flatten(1))

    def forward(self, x):
        h = ACTIVATIONS[self.config.decoder_activation](self.dec1(self.latent(x)))      # (B, hidden)
        return self.dec2(h)                                                    # (B, C*H*W)


# --------------------------------------------------------------------------- CNN
@dataclass(frozen=True)
class CNNConfig:
    """A convolutional classifier whose every operation commutes with the left-right mirror.

    Each layer is a 3x3 convolution (stride 1, padding 1) and the activation, followed by 2x2
    average pooling where ``pools`` says so; then global average pooling and a linear layer. The
    sizes must stay even before every pooling (32 -> 16 -> 8), so that the pooling windows map onto
    each other under the flip. No stride-2 convolution (its grid is not mirror symmetric) and no
    batch norm (a per-channel scale symmetry that breaks identifiability). A network whose kernels
    are all left-right symmetric is therefore exactly mirror invariant (tested).
    """

    channels: tuple = (32, 64, 64)
    activation: str = "tanh"
    pools: tuple = (True, True, False)     # 2x2 average pooling after layer l
    classes: int = 10
    image_shape: tuple = (3, 32, 32)

    def __post_init__(self):
        for k in ("channels", "pools", "image_shape"):
            object.__setattr__(self, k, tuple(getattr(self, k)))
        object.__setattr__(self, "pools", tuple(bool(p) for p in self.pools))
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"channels must be positive integers, one per layer; got {self.channels}")
        if len(self.pools) != len(self.channels):
            raise ValueError(f"need one pooling flag per layer ({len(self.channels)}); got {self.pools}")
        check_activation(self.activation)
        if not isinstance(self.classes, int) or self.classes < 1:
            raise ValueError(f"classes must be a positive integer; got {self.classes!r}")
        if len(self.image_shape) != 3 or any(not isinstance(s, int) or s < 1 for s in self.image_shape):
            raise ValueError(f"image_shape must be (channels, height, width); got {self.image_shape}")
        need = 2 ** sum(self.pools)
        if self.image_shape[1] % need or self.image_shape[2] % need:
            raise ValueError(f"{sum(self.pools)} poolings need height and width divisible by {need}; "
                             f"got image_shape {self.image_shape}")


class CNN(nn.Module):
    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = config
        c = (config.image_shape[0], *config.channels)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(c[:-1], c[1:]))
        self.head = nn.Linear(c[-1], config.classes)

    def images(self, x):
        """Flattened images ``(B, C*H*W)``, as the data and the training loop hold them, as ``(B, C, H, W)``."""
        _check_input(x, math.prod(self.config.image_shape), "CNN")
        return x.reshape(len(x), *self.config.image_shape)

    def features(self, x, depth=None):
        """The post-activation maps ``(B, C_l, H_l, W_l)`` of the first ``depth`` layers (all by
        default), each before its pooling."""
        n = len(self.config.channels) if depth is None else depth
        if not 0 <= n <= len(self.config.channels):
            raise ValueError(f"depth must be in 0..{len(self.config.channels)}; got {depth}")
        h, out = self.images(x), []
        for conv, pool in zip(self.convs[:n], self.config.pools[:n]):
            a = ACTIVATIONS[self.config.activation](conv(h))
            out.append(a)
            h = F.avg_pool2d(a, 2) if pool else a
        return out

    def forward(self, x):
        h = self.images(x)
        for conv, pool in zip(self.convs, self.config.pools):
            h = ACTIVATIONS[self.config.activation](conv(h))
            h = F.avg_pool2d(h, 2) if pool else h
        return self.head(h.mean(dim=(2, 3)))                        # (B, classes)


def build_model(config):
    if isinstance(config, MLPConfig):
        return MLP(config)
    if isinstance(config, AttentionConfig):
        return AttentionAutoencoder(config)
    if isinstance(config, CNNConfig):
        return CNN(config)
    raise TypeError(f"unknown model config {type(config).__name__}; allowed: MLPConfig, AttentionConfig, CNNConfig")


def config_dict(config) -> dict:
    """A JSON-ready description of a model config, including its type."""
    return {"type": type(config).__name__, **asdict(config)}


def config_from_dict(d: dict):
    d = dict(d)
    kind = d.pop("type")
    classes = {"MLPConfig": MLPConfig, "AttentionConfig": AttentionConfig, "CNNConfig": CNNConfig}
    if kind not in classes:
        raise ValueError(f"unknown model config type {kind!r}; allowed: {', '.join(classes)}")
    return classes[kind](**d)
