"""The tables several pages share, as ``(header, rows)`` for :func:`eqlib.page.md_table`, and the names
they print (model kinds, activations). A table only one page shows lives in that page's module
(:mod:`eqlib.pages`).

Every function takes results already computed (a chapter's per-seed analyses, its metric,
...) and only arranges and formats them: mean ± standard deviation over seeds, with the
per-seed values where a count is shown.
"""
from __future__ import annotations

from eqlib.analysis import FLOOR_NAMES
from eqlib.stats import over_seeds, pm, stats
from eqlib.metric import FLIP_NAMES, READING_SHORT, activation_tested, floor_key
from eqlib.symmetry import LABELS


KIND_NAMES = {"equivariant": "equivariant", "control": "control (weight 0)", "at switch-on": "at switch-on",
              "augmentation": "augmentation", "d4": "D4 loss", "init": "at initialisation",
              "random": "random filters (same norms)"}


ACT_NAMES = {"tanh": "Tanh", "gelu": "GELU"}


def quality_key(task) -> str:
    return "test_accuracy" if task == "classifier" else "test_reconstruction_error"


def test_quality(test: dict, train_seconds: dict, task) -> tuple:
    """``test[kind]`` lists the last history row per seed; ``train_seconds[kind]`` maps seed to seconds."""
    key = quality_key(task)
    rows = [[KIND_NAMES[k], pm(stats([t[key] for t in ts]), 4), pm(stats([t["test_equivariance_error"] for t in ts])),
             f"{sum(train_seconds[k].values()):.0f}"] for k, ts in test.items()]
    return ["model", key.replace("_", " "), "end-to-end equivariance error", "training, all seeds (s)"], rows


def labels(analyses: dict) -> tuple:
    """Label counts in the data metric: mean ± sd and the per-seed values, per model kind (the
    trained models beside the network at initialisation); the last row is the weights metric's
    count of explained neurons, the first release's reading."""
    agg = {k: over_seeds(a) for k, a in analyses.items()}
    rows = [[lab, *(x for k in analyses for x in (pm(agg[k]["counts"][lab], 1), [a["counts"][lab] for a in analyses[k]]))]
            for lab in LABELS]
    rows.append(["**explained** (active and matched)",
                 *(x for k in analyses for x in (pm(agg[k]["explained"], 1), [a["explained"] for a in analyses[k]]))])
    rows.append(["explained, weights metric",
                 *(x for k in analyses for x in (pm(agg[k]["weights"]["explained"], 1),
                                                 [a["weights"]["explained"] for a in analyses[k]]))])
    return ["label", *(x for k in analyses for x in (KIND_NAMES[k], "per seed"))], rows


def metric_table(metric: dict, samples: dict, depth="first_layer") -> tuple:
    """The paper's metric at one prefix depth, every reading and flip, per model kind, each value
    beside its floor (the same prefix without its last activation), with the samples behind it; and
    beside them the centred variant (``<depth>_centred``, :func:`eqlib.metric.shared_linear_equivariance`)
    where the metric holds one."""
    kinds = list(next(iter(metric.values())))
    fl, ce = floor_key(depth), f"{depth}_centred"
    centred = all(ce in metric[r][k] for r in metric for k in kinds)
    cols = lambda r, k, f: (pm(stats(metric[r][k][depth][f])), pm(stats(metric[r][k][fl][f])),
                            *((pm(stats(metric[r][k][ce][f])),) if centred else ()))
    rows = [[READING_SHORT[r], f"{samples[r]['fit']:,} / {samples[r]['eval']:,}", FLIP_NAMES[f],
             *(x for k in kinds for x in cols(r, k, f))] for r in metric for f in FLIP_NAMES]
    return ["reading", "samples (fit / eval)", "flip",
            *(x for k in kinds for x in (KIND_NAMES[k], f"floor ({FLOOR_NAMES[depth]})",
                                         *((f"{KIND_NAMES[k]}, centred",) if centred else ())))], rows


def tested_readings(metric: dict, kind="equivariant", depth="first_layer") -> dict:
    """The glued phrases that say which readings test the activation of ``kind``."""
    t = activation_tested(metric, kind, depth)
    names = lambda ok: ", ".join(READING_SHORT[r] for r, v in t.items() if v == ok) or "none"
    return {"tested": names(True), "at_floor": names(False)}
