"""Finite groups acting on flattened images: the left-right mirror (order 2) and the dihedral
group of the square, D4 (order 8: four rotations, four reflections).

An element acts on a batch of flat images ``(B, C*H*W)`` through :meth:`Group.act`. The
multiplication table, inverses and orders are not typed in: they are read off the actions
themselves (two elements are equal when they move a random probe image identically), so
they cannot disagree with what the training loss and the fits use.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from eqlib.data import IMAGE_SHAPE


def _d4(x, k, image_shape):
    """``r^rot s^ref``: first the mirror ``s`` (if ``ref``), then ``rot`` quarter turns ``r``."""
    rot, ref = k % 4, k // 4
    c, h, w = image_shape
    if h != w:
        raise ValueError(f"D4 acts on square images; got {h} x {w}")
    y = x.reshape(-1, c, h, w)
    if ref:
        y = y.flip(-1)
    if rot:
        y = torch.rot90(y, rot, dims=(-2, -1))
    return y.reshape(x.shape)


def _mirror(x, k, image_shape):
    return x if k == 0 else x.reshape(-1, *image_shape).flip(-1).reshape(x.shape)


_TABLES = {}


@dataclass(frozen=True)
class Group:
    name: str
    names: tuple        # one name per element; element 0 is the identity
    _act: callable

    @property
    def order(self) -> int:
        return len(self.names)

    def check(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.order:
            raise ValueError(f"element {k!r} is not in {self.name}; allowed: 0..{self.order - 1} ({', '.join(self.names)})")
        return k

    def act(self, k, x, image_shape=IMAGE_SHAPE):
        """Element ``k`` acting on flat images ``x`` (``(B, C*H*W)``) or a single flat image."""
        return self._act(x, self.check(k), image_shape)

    def act_each(self, ks, x, image_shape=IMAGE_SHAPE):
        """A different element per row: ``ks`` is a ``(B,)`` integer tensor."""
        out = torch.empty_like(x)
        for k in range(self.order):
            rows = (ks == k).nonzero().flatten()
            if len(rows):
                out[rows] = self._act(x[rows], k, image_shape)
        return out

    def table(self) -> list:
        """``table[a][b] = a * b`` (first ``b``, then ``a``), read off the actions on a probe image
        (computed once per group)."""
        if self.name not in _TABLES:
            _TABLES[self.name] = self._read_table()
        return _TABLES[self.name]

    def _read_table(self) -> list:
        gen = torch.Generator().manual_seed(0)
        shape = (1, 4, 4) if self.name == "D4" else (1, 2, 3)
        probe = torch.randn(1, shape[0] * shape[1] * shape[2], generator=gen, dtype=torch.float64)
        images = [self.act(k, probe, shape) for k in range(self.order)]

        def which(y):
            hits = [k for k, im in enumerate(images) if torch.equal(im, y)]
            if len(hits) != 1:
                raise RuntimeError(f"{self.name}: a product matches {len(hits)} elements")
            return hits[0]

        return [[which(self.act(a, self.act(b, probe, shape), shape)) for b in range(self.order)]
                for a in range(self.order)]

    def inverse(self, k) -> int:
        t = self.table()
        return next(b for b in range(self.order) if t[self.check(k)][b] == 0)

    def element_order(self, k) -> int:
        t, x, n = self.table(), self.check(k), 1
        while x != 0:
            x, n = t[x][k], n + 1
        return n


MIRROR = Group("mirror", ("e", "s"), _mirror)
D4 = Group("D4", ("e", "r", "r²", "r³", "s", "rs", "r²s", "r³s"), _d4)
GROUPS = {"mirror": MIRROR, "d4": D4}


def get_group(name) -> Group:
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; allowed: {', '.join(GROUPS)}")
    return GROUPS[name]
