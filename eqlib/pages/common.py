"""The pages' shared layer: a page's parameters checked, its configs recorded, its sample sizes, its
model kinds, and the bar for "equivariant enough". Every page module builds on it.
"""
from __future__ import annotations

from dataclasses import asdict

from eqlib.metric import READINGS, reading_samples


KINDS = ("equivariant", "control")           # the trained models of a seed
NULL_KINDS = KINDS + ("init",)               # and the shared initialisation, the null of every structure claim
EQUIVARIANT_ENOUGH = 1 / 3      # a network counts as equivariant when its end-to-end error is at most this times the control's


def check_seeds(seeds, shown_seed=None):
    """Seeds as a chapter's parameter: a non-empty list of distinct non-negative integers, and the
    seed whose figures are drawn among them."""
    if not isinstance(seeds, (list, tuple)) or not seeds or len(set(seeds)) != len(seeds) or \
            any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"parameter seeds={seeds!r} must be a non-empty list of distinct non-negative integers")
    if shown_seed is not None and shown_seed not in seeds:
        raise ValueError(f"parameter shown_seed={shown_seed!r} is not one of the seeds {list(seeds)}")
    return list(seeds)


def metric_samples(data, n_fit, n_eval, readings=None) -> dict:
    """``{reading: {"fit": n, "eval": n}}``: the samples behind each reading's numbers."""
    return {r: reading_samples(r, data, n_fit, n_eval) for r in (readings or READINGS)}


def config_record(model_config, train_config) -> dict:
    """The ``config`` entry of a results file."""
    return {"model": asdict(model_config), "train": asdict(train_config)}


def histories(runs, seeds, kind) -> dict:
    """``{seed: history}`` of one kind of model, for a results file."""
    return {str(s): runs[s][kind].history for s in seeds}


def learned(res: dict, baseline: float, fraction=0.9) -> list:
    """Per seed, whether the autoencoder learned to reconstruct: test error below ``fraction`` of
    ``baseline`` (the error of predicting the mean training image)."""
    return [t["test_reconstruction_error"] < fraction * baseline for t in res["test"]]
