"""Numbers over seeds: mean, standard deviation and the per-seed values of a list of results of one shape
(:func:`over_seeds`), and the phrases a page prints of them (:func:`pm`, :func:`count`)."""
from __future__ import annotations

import math

import numpy as np


def stats(values) -> dict:
    """``{"mean", "sd", "min", "max", "n", "values"}`` of per-seed numbers (sample sd; 0 for one seed)."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("no values to summarise")
    mean = sum(v) / len(v)
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return {"mean": mean, "sd": sd, "min": min(v), "max": max(v), "n": len(v), "values": v}


def over_seeds(per_seed: list):
    """Aggregate a list of per-seed results of the same shape: every number (bools excluded)
    becomes :func:`stats` of its per-seed values; dicts and lists of numbers of one length
    recurse element by element; other leaves are dropped."""
    if not isinstance(per_seed, (list, tuple)) or not per_seed:
        raise TypeError(f"over_seeds takes a non-empty list of per-seed results; got {type(per_seed).__name__}")
    first = per_seed[0]
    if isinstance(first, dict):
        out = {}
        for k in first:
            if all(isinstance(r, dict) and k in r for r in per_seed):
                agg = over_seeds([r[k] for r in per_seed])
                if agg is not None:
                    out[k] = agg
        return out or None
    if all(isinstance(r, list) and len(r) == len(first) for r in per_seed) and first \
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for r in per_seed for x in r):
        return [stats([r[i] for r in per_seed]) for i in range(len(first))]
    if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in per_seed):
        return stats(per_seed)
    return None


def pm(s: dict, digits=3) -> str:
    """``"0.264 ± 0.012"`` from :func:`stats`."""
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def count(flags, unit="seeds") -> str:
    """``"3 of 3 seeds"``."""
    flags = [bool(f) for f in flags]
    return f"{sum(flags)} of {len(flags)} {unit}"
