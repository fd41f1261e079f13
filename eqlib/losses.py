"""Task losses, the two equivariance losses, and the schedule that switches them on.

With ``g`` the left-right mirror acting on images:

* autoencoder (equivariance):  ``mean ||f(x) - g f(g x)||^2 / D``
* classifier  (invariance):    ``mean ||f(x) - f(g x)||^2 / K``

Both are means over the batch and the output coordinates, the same scale as MSE.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from eqlib.data import mirror

TASKS = ("autoencoder", "classifier")


def check_task(task):
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")


def output_action(task):
    """How the group acts on the output: the mirror for images, trivially on class logits."""
    check_task(task)
    return mirror if task == "autoencoder" else (lambda y: y)


def task_loss(task, out, x, y):
    """MSE reconstruction for the autoencoder, cross-entropy for the classifier."""
    check_task(task)
    if task == "autoencoder":
        return F.mse_loss(out, x)
    return F.cross_entropy(out, y)


def equivariance_loss(task, out, out_mirrored):
    """``out = f(x)``, ``out_mirrored = f(g x)``; 0 exactly when f is equivariant on the batch."""
    return F.mse_loss(out, output_action(task)(out_mirrored))


def group_equivariance_loss(task, out, out_g, group, k):
    """``out = f(x)``, ``out_g = f(g_k x)``: ``mean ||f(x) - g_k^{-1} f(g_k x)||^2 / D`` for the
    autoencoder, ``mean ||f(x) - f(g_k x)||^2 / K`` for the classifier (``group`` from
    :mod:`eqlib.groups`). For the mirror it equals :func:`equivariance_loss`."""
    check_task(task)
    back = out_g if task == "classifier" else group.act(group.inverse(k), out_g)
    return F.mse_loss(out, back)


SCHEDULES = ("step", "linear")


def equivariance_weight(epoch, epochs, weight, start=0.5, schedule="step"):
    """Weight of the equivariance loss in epoch ``epoch`` (0-based), on from epoch ``round(start * epochs)``.

    ``"step"``: the full weight from then on (the paper's schedule). ``"linear"``: a ramp that
    reaches the full weight in the last epoch, ``weight * (k + 1) / n`` in the k-th of n epochs.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}")
    first = int(round(start * epochs))
    if epoch < first:
        return 0.0
    return float(weight) if schedule == "step" else float(weight) * (epoch - first + 1) / (epochs - first)


@torch.no_grad()
def relative_norm(diff, ref, floor=1e-12):
    """Per row, ``||diff|| / ||ref||`` (rows flattened; ``ref``'s norm floored at ``floor``, so a zero row reads 0,
    not nan): the one relative norm of the package's errors."""
    return diff.flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp_min(floor)


def equivariance_error(out, back):
    """Per sample, ``||f(x) - g^{-1} f(g x)|| / ||f(x)||`` from ``out = f(x)`` and ``back = g^{-1} f(g x)`` (for an
    invariant network, ``f(g x)`` itself): the one formula of the end-to-end equivariance error, every group's."""
    return relative_norm(out - back, out)


def relative_equivariance_error(task, out, out_mirrored):
    """Per-sample ``||f(x) - g' f(g x)|| / ||f(x)||`` under the mirror (g' the task's output action)."""
    return equivariance_error(out, output_action(task)(out_mirrored))


class _AutoencoderLosses(torch.autograd.Function):
    """Both autoencoder losses from the stacked output ``[f(x); f(gx)]`` in one pass.

    Equal to ``(task_loss, equivariance_loss)`` computed separately, but the gradient is
    written straight into one ``(2B, D)`` tensor: no split, concatenation or loss-function
    temporaries, which matter on a CPU where these small matrices are cheap to multiply.
    """

    @staticmethod
    def forward(ctx, out, x):
        b = len(x)
        f, f_m = out[:b], out[b:]
        r_task = f - x                                   # (B, D)
        r_eq = f - mirror(f_m)                           # (B, D)
        ctx.save_for_backward(r_task, r_eq)
        n = r_task.numel()
        return r_task.pow(2).sum() / n, r_eq.pow(2).sum() / n

    @staticmethod
    def backward(ctx, g_task, g_eq):
        r_task, r_eq = ctx.saved_tensors
        b, n = len(r_task), r_task.numel()
        grad = torch.empty((2 * b, r_task.shape[1]), dtype=r_task.dtype, device=r_task.device)
        torch.add(r_task * (2 * g_task / n), r_eq, alpha=float(2 * g_eq / n), out=grad[:b])
        torch.mul(mirror(r_eq), -2 * g_eq / n, out=grad[b:])
        return grad, None


def autoencoder_losses(out, x):
    """``(task_loss, equivariance_loss)`` of an autoencoder from ``out = model([x; g x])``."""
    if out.ndim != 2 or out.shape[0] != 2 * len(x) or out.shape[1:] != x.shape[1:]:
        raise ValueError(f"expected out of shape (2B, D) = ({2 * len(x)}, {x.shape[1]}); got {tuple(out.shape)}")
    return _AutoencoderLosses.apply(out, x)
