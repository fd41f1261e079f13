"""Tolerances from the arithmetic, not from one machine.

A result that is exact in real arithmetic comes out of floating point with round-off, whose size depends on
the dtype, the size of the computation and the order of its sums; the order depends on the kernels that the
instruction set selects (MKL's AVX2 or AVX-512 paths, ATen's vectorised loops, the number of threads). A
test's tolerance must hold for any order, so the suite writes it from the dtype's machine epsilon and the
size of the computation, with the functions below, never as a number that passed on one machine.
``make numerics`` runs the numerical tests under every instruction set this machine can imitate.

The bounds are Higham's (*Accuracy and Stability of Numerical Algorithms*, 2nd ed., sections 3.1 and 4.2):
an ``n``-term sum or dot product computed in any order has an error of at most ``gamma_n`` times the sum
of the absolute values of its terms, ``gamma_n = n u / (1 - n u)`` with the unit round-off ``u = eps / 2``;
for ``n u <= 1/2``, ``gamma_n <= n eps``.
"""
from __future__ import annotations

import math

import torch

FLOAT32, FLOAT64 = torch.float32, torch.float64


def eps(dtype=FLOAT64) -> float:
    """The dtype's machine epsilon: 1.19e-07 (float32), 2.22e-16 (float64)."""
    return torch.finfo(dtype).eps


def sum_tol(n: int, dtype=FLOAT64) -> float:
    """Relative error bound of an ``n``-term sum or dot product, relative to the sum of its terms' absolute
    values, in any order of summation: ``n eps >= gamma_n``."""
    if n * eps(dtype) / 2 > 0.5:
        raise ValueError(f"n={n} is too large for the first-order bound in {dtype}")
    return n * eps(dtype)


def dot_tol(n: int, dtype=FLOAT64) -> float:
    """Error bound of ``w . x`` over ``x`` with ``n`` independent standard-normal entries, relative to the
    spread of ``w . x`` (its standard deviation, ``||w||``): ``sum_{k} |w_k x_k| <= ||w|| ||x||`` and
    ``||x|| ~ sqrt(n)``, so ``sum_tol(n) sqrt(n)``."""
    return sum_tol(n, dtype) * math.sqrt(n)


def cancel_tol(n: int, dtype=FLOAT64) -> float:
    """Error bound of a distance read off the expanded square ``||a||^2 + ||b||^2 - 2 a . b`` (``n`` terms
    each), relative to ``max(||a||, ||b||)``: the square is off by ``sum_tol(n)`` times ``4 max^2``, and the
    square root of that is what an exact match (distance 0) reads."""
    return 2 * math.sqrt(sum_tol(n, dtype))
