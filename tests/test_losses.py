import pytest
import torch

from eqlib.data import mirror
from eqlib.losses import (equivariance_loss, equivariance_weight, relative_equivariance_error,
                          task_loss)


def test_equivariance_loss_is_zero_for_an_equivariant_map_and_not_otherwise():
    x = torch.randn(8, 3072)
    f = lambda v: 2 * v + mirror(v)            # commutes with the mirror
    assert equivariance_loss("autoencoder", f(x), f(mirror(x))) < 1e-10, "f(x) = g f(g x) exactly"
    h = lambda v: v[:, torch.randperm(3072, generator=torch.Generator().manual_seed(0))]
    assert equivariance_loss("autoencoder", h(x), h(mirror(x))) > 0.5, "a random pixel shuffle is not equivariant"
    assert relative_equivariance_error("autoencoder", f(x), f(mirror(x))).max() < 1e-6


def test_classifier_loss_is_invariance():
    x = torch.randn(8, 3072)
    W = torch.randn(10, 3072)
    inv = lambda v: (v + mirror(v)) @ W.T      # mirror-invariant logits
    assert equivariance_loss("classifier", inv(x), inv(mirror(x))) < 1e-8
    assert equivariance_loss("classifier", x @ W.T, mirror(x) @ W.T) > 1.0, "random logits are not invariant"


def test_task_losses():
    x, y = torch.randn(4, 3072), torch.tensor([0, 1, 2, 3])
    assert task_loss("autoencoder", x, x, y) == 0
    logits = torch.full((4, 10), -100.0)
    logits[range(4), y] = 100.0
    assert task_loss("classifier", logits, x, y) < 1e-6
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
    assert torch.allclose(lt, rt) and torch.allclose(le, re), "same loss values"
    assert torch.allclose(fused_grad, out.grad, atol=1e-15), "same gradient"
    assert torch.autograd.gradcheck(lambda o: autoencoder_losses(o, x), (out.detach().requires_grad_(),))
    with pytest.raises(ValueError, match=r"\(2B, D\)"):
        autoencoder_losses(torch.randn(5, 3072), x)
