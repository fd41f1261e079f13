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
def relative_equivariance_error(task, out, out_mirrored):
    """Per-sample ``||f(x) - g' f(g x)|| / ||f(x)||`` (g' the output action)."""
    diff = out - output_action(task)(out_mirrored)
    return diff.norm(dim=1) / out.norm(dim=1).clamp_min(1e-12)
