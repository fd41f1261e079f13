import pytest
import torch

from eqlib.data import mirror
from eqlib.losses import (equivariance_loss, equivariance_weight, relative_equivariance_error,
                          task_loss)
from numerics import FLOAT32, sum_tol


def test_equivariance_loss_is_zero_for_an_equivariant_map_and_not_otherwise():
    x = torch.randn(8, 3072)
    f = lambda v: 2 * v + mirror(v)            # commutes with the mirror
    # elementwise: g f(g x) rounds the same numbers by the same operations as f(x), in mirrored places
    assert equivariance_loss("autoencoder", f(x), f(mirror(x))) == 0, "f(x) = g f(g x) exactly"
    h = lambda v: v[:, torch.randperm(3072, generator=torch.Generator().manual_seed(0))]
    assert equivariance_loss("autoencoder", h(x), h(mirror(x))) > 0.5, "a random pixel shuffle is not equivariant"
    assert relative_equivariance_error("autoencoder", f(x), f(mirror(x))).max() == 0


def test_classifier_loss_is_invariance():
    x = torch.randn(8, 3072)
    W = torch.randn(10, 3072)
    inv = lambda v: (v + mirror(v)) @ W.T      # mirror-invariant logits
    # x + g x and g x + x are bitwise the same (addition commutes), and so are their products with W
    assert equivariance_loss("classifier", inv(x), inv(mirror(x))) == 0
    assert equivariance_loss("classifier", x @ W.T, mirror(x) @ W.T) > 1.0, "random logits are not invariant"


def test_task_losses():
    x, y = torch.randn(4, 3072), torch.tensor([0, 1, 2, 3])
    assert task_loss("autoencoder", x, x, y) == 0
    logits = torch.full((4, 10), -100.0)
    logits[range(4), y] = 100.0
    # the exact loss is log(1 + 9 e^-200); float32 reads it off the difference of two values near 100 (the logit
    # and the log-sum-exp), each rounded, so within eps of 100
    assert task_loss("classifier", logits, x, y) < sum_tol(1, FLOAT32) * 100
    with pytest.raises(ValueError, match="unknown task 'segmentation'"):
        task_loss("segmentation", x, x, y)


def test_schedule_switches_on_for_the_second_half():
    ws = [equivariance_weight(e, 10, 2.0) for e in range(10)]
    assert ws == [0.0] * 5 + [2.0] * 5
    assert [equivariance_weight(e, 4, 1.0, start=0.0) for e in range(4)] == [1.0] * 4


def test_linear_schedule_ramps_to_the_full_weight():
    ws = [equivariance_weight(e, 8, 4.0, schedule="linear") for e in range(8)]
    assert ws == [0.0] * 4 + [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        equivariance_weight(0, 8, 1.0, schedule="cosine")


def test_fused_autoencoder_losses_equal_the_reference():
    from eqlib.losses import autoencoder_losses
    torch.manual_seed(0)
    out = torch.randn(8, 3072, dtype=torch.float64, requires_grad=True)
    x = torch.randn(4, 3072, dtype=torch.float64)
    lt, le = autoencoder_losses(out, x)
    (lt + 3 * le).backward()
    fused_grad, out.grad = out.grad.clone(), None
    f, f_m = out.split(4)
    rt, re = task_loss("autoencoder", f, x, None), equivariance_loss("autoencoder", f, f_m)
    (rt + 3 * re).backward()
    # float64 sums of 4 x 3072 squares (and a division) in two orders
    n = x.numel()
    assert torch.allclose(lt, rt, rtol=2 * sum_tol(n + 1), atol=0) and torch.allclose(le, re, rtol=2 * sum_tol(n + 1), atol=0), \
        "same loss values"
    # each gradient entry is 2 r_task / n + 6 r_eq / n (its mirrored rows: -6 g r_eq / n): each side rounds each
    # term at most three times and adds once, 7 half-eps of the terms' absolute sum
    r_task, r_eq = (f - x).detach(), (f - mirror(f_m)).detach()
    terms = torch.cat([2 * r_task.abs() / n + 6 * r_eq.abs() / n, 6 * mirror(r_eq).abs() / n])
    assert torch.allclose(fused_grad, out.grad, rtol=0, atol=sum_tol(4) * float(terms.max())), "same gradient"
    assert torch.autograd.gradcheck(lambda o: autoencoder_losses(o, x), (out.detach().requires_grad_(),))
    with pytest.raises(ValueError, match=r"\(2B, D\)"):
        autoencoder_losses(torch.randn(5, 3072), x)


def test_the_one_equivariance_error_is_zero_for_an_equivariant_map_and_not_for_another():
    """eqlib.losses.equivariance_error, the formula every end-to-end error of the package uses (training's history,
    the D4 page's elements, the CNN's invariance), on an exactly mirror-equivariant map and on a negative control."""
    from eqlib.losses import equivariance_error, relative_norm
    x = torch.randn(64, 3072, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = lambda v: torch.tanh(v + mirror(v))                                # f(g x) = g f(x) exactly
    assert float(equivariance_error(f(x), mirror(f(mirror(x)))).max()) == 0.0, "equivariant: g^-1 f(g x) = f(x)"
    h = lambda v: torch.tanh(v + 0.5 * v.roll(1, dims=1))                  # not mirror-equivariant
    assert float(equivariance_error(h(x), mirror(h(mirror(x)))).median()) > 0.1, "the negative control"
    assert relative_norm(torch.zeros(2, 3), torch.zeros(2, 3)).tolist() == [0.0, 0.0], "a zero row reads 0, not nan"
