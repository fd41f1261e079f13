"""The protocol study's logic: its grid of settings, the runs of a cell (train-or-load, analysed), the paper's six
rows and the pre-registered verdict that judges them (the only place the paper's table is judged: the report calls it
too), the exploratory breakdown per task and reading, where the autoencoder's contrast appears, and stage 2's rule.
Its page (:mod:`eqlib.pages.protocol_study`) draws its tables and figures from these."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from eqlib.analysis import analyze_mlp, mlp_metric
from eqlib.stats import stats
from eqlib.metric import DEFAULT_READING, PAPER_READINGS, READING_SHORT, READINGS
from eqlib.paper import (ACTIVATIONS, FACTOR, PAPER_TABLE, mean_below, ranges_disjoint, seedwise_below,
                         within_factor)
from eqlib.protocol import mlp_configs
from eqlib.tables import quality_key
from eqlib.train import train
from eqlib.rules import Rule, table as rule_table
from eqlib.verdicts import WORDS, majority, verb


TASKS = ("autoencoder", "classifier")
# The verdict's thresholds. The pre-registered verdict reads the six rows of both tasks; a per-task verdict
# (exploratory) reads one task's three rows with the counts scaled to them, rounded up (5 of 6 pairs: 3 of 3;
# 8 of 12 values: 4 of 6).
ORDER_MIN, PAIRS = 5, 6      # criterion 1: Tanh below GELU in at least ORDER_MIN of PAIRS row pairs
WITHIN_MIN, VALUES = 8, 12   # criterion 6: at least WITHIN_MIN of VALUES values within FACTOR of the paper's
NEGATED_MIN = 5              # "GELU networks show negated copies": at least this many of the 64 filters in one
F2_FRACTION = 0.5            # criterion 4: GELU f₂ below this fraction of GELU f₁ in the autoencoder
ORDERINGS = ("tanh_below_gelu", "disjoint", "lr_below_ud", "gelu_f2_half")
VERDICTS = WORDS             # one set of verdict words, the report's (eqlib.verdicts)
AE_F1 = ("autoencoder", "first_layer", "mirror")     # the row of the paper's picture: 0.029 against 0.40
AE_F1_KEY = "|".join(AE_F1)


def _scaled(k: int, n: int, total: int) -> int:
    """``k`` of ``total`` scaled to ``n``, rounded up: ``ceil(k n / total)`` in integers."""
    return -(-k * n // total)


def _check_tasks(tasks) -> tuple:
    tasks = tuple(tasks)
    if not tasks or set(tasks) - set(TASKS):
        raise ValueError(f"unknown tasks {list(tasks)}; allowed: {', '.join(TASKS)} (one or both)")
    return tuple(t for t in TASKS if t in tasks)


def negated_tasks(tasks=TASKS) -> tuple:
    """The tasks whose GELU networks must show negated copies: both in the pre-registered verdict; for a
    single task, the autoencoder only (the paper: degenerate "particularly in the autoencoder")."""
    tasks = _check_tasks(tasks)
    return tasks if tasks == TASKS else tuple(t for t in tasks if t == "autoencoder")


def criteria(tasks=TASKS) -> tuple:
    """The criteria as rows (:class:`eqlib.verdicts.Rule`), each sentence rendered from the thresholds that
    :func:`verdict` tests. For both tasks these are the pre-registered criteria, word for word as the
    page states them above its results; for one task, the same criteria on its rows alone, the counts
    scaled to its rows."""
    tasks = _check_tasks(tasks)
    if tasks == TASKS:
        return (
            Rule("tanh_below_gelu", "Tanh is below GELU in at least {min} of the {pairs} row pairs",
                 {"min": ORDER_MIN, "pairs": PAIRS}),
            Rule("disjoint", "the seed ranges are disjoint in the autoencoder's and the classifier's first-layer "
                             "left-right rows"),
            Rule("lr_below_ud", "left-right is below up-down in every seed"),
            Rule("gelu_f2_half", "GELU f₂ is below {fraction:g} times GELU f₁ in the autoencoder",
                 {"fraction": F2_FRACTION}),
            Rule("negated", "GELU networks show negated copies in most seeds: at least {min} of the 64 first-layer "
                            "filters belong to a negated copy", {"min": NEGATED_MIN}),
            Rule("magnitudes", "at least {min} of the {values} values are within {factor:g}× of the paper's",
                 {"min": WITHIN_MIN, "values": VALUES, "factor": FACTOR}),
        )
    (task,) = tasks
    n = PAIRS // len(TASKS)
    out = [Rule("tanh_below_gelu", f"Tanh is below GELU in at least {{min}} of the {task}'s {{pairs}} row pairs",
                {"min": _scaled(ORDER_MIN, n, PAIRS), "pairs": n}),
           Rule("disjoint", f"the seed ranges are disjoint in the {task}'s first-layer left-right row"),
           Rule("lr_below_ud", f"left-right is below up-down in every seed of the {task}'s first layers")]
    if task == "autoencoder":
        out.append(Rule("gelu_f2_half", "GELU f₂ is below {fraction:g} times GELU f₁", {"fraction": F2_FRACTION}))
    if task in negated_tasks(tasks):
        out.append(Rule("negated", f"the GELU {task}s show negated copies in most seeds: at least {{min}} of the 64 "
                                   "first-layer filters belong to a negated copy", {"min": NEGATED_MIN}))
    out.append(Rule("magnitudes", f"at least {{min}} of the {task}'s {{values}} values are within {{factor:g}}× of "
                                  "the paper's", {"min": _scaled(WITHIN_MIN, 2 * n, VALUES), "values": 2 * n,
                                                  "factor": FACTOR}))
    return tuple(out)


# The pre-registered verdict's criteria, word for word as the page states them above its results.
CRITERIA = criteria()


@dataclass(frozen=True)
class Setting:
    """One cell of the study: a name, the factor it varies, its value shown on the factor's axis, the
    overrides of :func:`eqlib.protocol.mlp_configs`' arguments, and the tasks it is run for."""
    name: str
    factor: str
    value: str
    overrides: dict = field(default_factory=dict)
    tasks: tuple = TASKS


def decay_for(lr: float, epochs: int, n_train: int, batch_size: int) -> float:
    """The decoupled weight decay ``lambda`` that shrinks a direction no gradient reaches by e⁻¹ over
    training: AdamW multiplies each weight by ``1 - lr * lambda`` per step, so over ``T`` steps by
    about ``exp(-lr * lambda * T)``; ``lambda = 1 / (lr * T)``."""
    steps = epochs * -(-n_train // batch_size)
    return 1.0 / (lr * steps)


def settings(decay: float, widths=((64, 32, 64), (64, 16, 64)), weights=(0.3, 3.0, 10.0), init_scales=(1.0,),
             lengths=(40,), classifier_factors=("default", "widths", "weight", "init")) -> list:
    """The study's grid: the default, then each factor varied alone. ``classifier_factors`` names the
    factors also run for the classifier (the others run for the autoencoder only, and are judged with
    the default classifier's rows)."""
    cl = lambda f: TASKS if f in classifier_factors else ("autoencoder",)
    out = [Setting("default", "default", "default", {}, cl("default"))]
    out += [Setting(f"widths {tuple(w)}", "widths", str(tuple(w)), {"hidden": tuple(w)}, cl("widths")) for w in widths]
    out += [Setting(f"weight {w:g}", "weight", f"{w:g}", {"equivariance_weight": float(w)}, cl("weight")) for w in weights]
    out += [Setting(f"init × {s:g}", "init", f"{s:g}", {"first_init_scale": float(s)}, cl("init")) for s in init_scales]
    out += [Setting(f"{e} epochs", "length", str(e), {"epochs": int(e)}, cl("length")) for e in lengths]
    if decay:
        out.append(Setting(f"weight decay {decay:.3g}", "weight decay", f"{decay:.3g}",
                           {"optimizer": "adamw", "weight_decay": float(decay)}, cl("weight decay")))
    return out


def check_settings(cells) -> list:
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        raise ValueError(f"settings must have distinct names; got {names}")
    if not cells or cells[0].name != "default" or cells[0].overrides:
        raise ValueError("the first setting must be the default, with no overrides")
    bad = [c.name for c in cells if set(c.tasks) - set(TASKS) or not c.tasks]
    if bad:
        raise ValueError(f"settings {bad} name unknown tasks; allowed: {', '.join(TASKS)}")
    return list(cells)


# --------------------------------------------------------------------------- running a cell
def run_cell(cell: Setting, task, activation, data, seeds, base: dict, n_images=10_000, progress=False) -> dict:
    """Train (or load, or fork) one setting for one task and first activation over ``seeds``; analyse
    every model. Returns the models and per-seed analyses, test numbers and training times."""
    kw = {**base, **cell.overrides}
    mc, tc = mlp_configs(task, activation, **kw)
    runs = [train(mc, replace(tc, seed=s), data, progress=progress) for s in seeds]
    x_train, _, x_test, _ = data.tensors()
    models = [r.model.cpu().eval() for r in runs]
    return {"models": models, "analyses": [analyze_mlp(m, task, x_train[:n_images], x_test[:5000]) for m in models],
            "test": [r.history[-1] for r in runs], "seconds": [r.seconds for r in runs],
            "loaded": [r.loaded for r in runs], "forked_at": [r.forked_at for r in runs]}


def run_study(cells, data, seeds, base: dict, n_fit=20_000, n_eval=20_000, n_images=10_000, progress=False,
              grid=True) -> dict:
    """Every cell of the grid for its tasks and both activations, then the metric of all models from
    shared passes. Returns ``{"cells": {name: {task: {activation: ...}}}, "models": ...}``; the
    metric of each cell is ``{reading: {"equivariant": {depth: {flip: [per seed]}}}}``. ``grid=False``
    runs cells that are not a grid (stage 2's combined setting, without the default)."""
    cells = check_settings(cells) if grid else list(cells)
    out, models = {}, {}
    for c in cells:
        for task in c.tasks:
            for act in ACTIVATIONS:
                r = run_cell(c, task, act, data, seeds, base, n_images, progress)
                models[(c.name, task, act)] = r.pop("models")
                out.setdefault(c.name, {}).setdefault(task, {})[act] = r
    metric = mlp_metric({f"{k[0]}|{k[1]}|{k[2]}": ms for k, ms in models.items()}, data, n_fit=n_fit, n_eval=n_eval)
    for (name, task, act) in models:
        out[name][task][act]["metric"] = {rd: {"equivariant": m[f"{name}|{task}|{act}"]} for rd, m in metric.items()}
    return {"cells": out, "models": models}


# --------------------------------------------------------------------------- the six rows and the verdict
def six_rows(metric_of, negated_of, tasks=TASKS, reading=DEFAULT_READING) -> dict:
    """The paper's rows of ``tasks`` and the GELU networks' negated-copy counts, in the shape :func:`verdict`
    reads: ``{"rows": {(task, layers, flip): {activation: [per seed]}}, "negated": {task: [per seed]}}``.
    ``metric_of(task, activation)`` is a model set's ``{reading: {"equivariant": {layers: {flip: [...]}}}}``,
    ``negated_of(task)`` the GELU networks' per-seed analyses. The study's cells and the report's chapters
    both go through here, so the table is built one way."""
    tasks = _check_tasks(tasks)
    rows = {k: {a: list(metric_of(k[0], a)[reading]["equivariant"][k[1]][k[2]]) for a in ACTIVATIONS}
            for k in PAPER_TABLE if k[0] in tasks}
    return {"rows": rows, "negated": {t: [a["negated_filters"] for a in negated_of(t)] for t in tasks}}


def cell_table(cell: dict, default: dict, reading=DEFAULT_READING) -> dict:
    """The paper's six rows for one setting (:func:`six_rows`) from the cell's results, the tasks it did not
    run taken from the ``default`` cell."""
    src = lambda task: cell.get(task) or default[task]
    return six_rows(lambda t, a: src(t)[a]["metric"], lambda t: src(t)["gelu"]["analyses"], TASKS, reading)


def verdict(table: dict, tasks=TASKS, rules=None) -> dict:
    """The verdict of one setting from its rows (:func:`six_rows`), by the criteria of ``tasks``
    (:func:`criteria`, or ``rules`` given): each criterion's truth, the counts behind it, and the verdict,
    one of :data:`VERDICTS`. *Reproduced*: every criterion holds. *Partly*: the orderings
    (:data:`ORDERINGS`) hold, but the negated copies or the magnitudes do not. Otherwise *not reproduced*.
    With both tasks (the default) this is the pre-registered verdict; with one, the same criteria read on
    that task's rows (exploratory). The only place the table is judged: the report calls it too."""
    tasks = _check_tasks(tasks)
    rules = rule_table(criteria(tasks) if rules is None else rules)
    expected = [r.key for r in criteria(tasks)]
    if list(rules) != expected:
        raise ValueError(f"the criteria of {list(tasks)} are {expected}; got rules {list(rules)}")
    rows = {k: v for k, v in table["rows"].items() if k[0] in tasks}
    want = [k for k in PAPER_TABLE if k[0] in tasks]
    if sorted(rows) != sorted(want):
        raise ValueError(f"the verdict reads the paper's rows of {list(tasks)}: {want}; got {sorted(rows)}")
    mean = lambda v: float(np.mean(v))
    pairs = [(k, mean_below(v["tanh"], v["gelu"])) for k, v in rows.items()]
    n_order = sum(ok for _, ok in pairs)
    first_lr = [k for k in rows if k[1] == "first_layer" and k[2] == "mirror"]
    disjoint = {k: ranges_disjoint(rows[k]["tanh"], rows[k]["gelu"]) for k in first_lr}
    lr_ud = {(k[0], a): all(seedwise_below(rows[k][a], rows[(k[0], "first_layer", "updown")][a]))
             for k in first_lr for a in ACTIVATIONS}
    ae = lambda layers: mean(rows[("autoencoder", layers, "mirror")]["gelu"])
    f2_over_f1 = ae("first_two_layers") / ae("first_layer") if "autoencoder" in tasks else None
    negated = {t: list(table["negated"][t]) for t in negated_tasks(tasks)}
    neg_min = rules["negated"]["min"] if "negated" in rules else NEGATED_MIN
    neg = {t: majority(n >= neg_min for n in v) for t, v in negated.items()}
    factor = rules["magnitudes"]["factor"]
    within = sum(within_factor(mean(rows[k][a]), PAPER_TABLE[k][a], factor) for k in rows for a in ACTIVATIONS)
    test = {"tanh_below_gelu": lambda r: n_order >= r["min"],
            "disjoint": lambda r: all(disjoint.values()), "lr_below_ud": lambda r: all(lr_ud.values()),
            "gelu_f2_half": lambda r: f2_over_f1 < r["fraction"], "negated": lambda r: all(neg.values()),
            "magnitudes": lambda r: within >= r["min"]}
    holds = {k: bool(test[k](r)) for k, r in rules.items()}
    if all(holds.values()):
        v = VERDICTS[0]
    elif all(holds[k] for k in ORDERINGS if k in holds):
        v = VERDICTS[1]
    else:
        v = VERDICTS[2]
    return {"verdict": v, "tasks": list(tasks), "holds": holds, "tanh_below_gelu": n_order, "pairs": len(pairs),
            "disjoint": {f"{k[0]}": ok for k, ok in disjoint.items()}, "lr_below_ud": {f"{t} {a}": ok for (t, a), ok in lr_ud.items()},
            "gelu_f2_over_f1": f2_over_f1, "negated": negated, "negated_holds": neg,
            "within": within, "values": 2 * len(rows),
            "ratio": {f"{k[0]}|{k[1]}|{k[2]}": mean(v["gelu"]) / mean(v["tanh"]) for k, v in rows.items()},
            "order_every_seed": {f"{k[0]}|{k[1]}|{k[2]}": ranges_disjoint(v["tanh"], v["gelu"]) for k, v in rows.items()}}


# --------------------------------------------------------------------------- exploratory: per task, per reading
def readings_of(cells: dict) -> list:
    """The readings every model of the default cell was measured under, in :data:`eqlib.metric.READINGS`' order."""
    have = cells["default"]["autoencoder"]["tanh"]["metric"]
    return [r for r in READINGS if r in have] + [r for r in have if r not in READINGS]


def exploratory(cells: dict, readings=None) -> dict:
    """Per setting, reading and task, :func:`verdict` on that task's rows alone:
    ``{setting: {reading: {task: verdict or None}}}``; ``None`` where the setting did not run the task
    (its rows would be the default's). Computed after the pre-registered verdict, not a replacement for it."""
    readings = readings_of(cells) if readings is None else list(readings)
    return {name: {r: {t: verdict(cell_table(c, cells["default"], r), (t,)) if t in c else None for t in TASKS}
                   for r in readings} for name, c in cells.items()}


def _f1(cell: dict, reading: str) -> dict:
    return {a: list(cell["autoencoder"][a]["metric"][reading]["equivariant"]["first_layer"]["mirror"])
            for a in ACTIVATIONS}


def reading_ratios(cells: dict, readings=None) -> dict:
    """``{setting: {reading: GELU mean / Tanh mean}}`` of the autoencoder's first layer, left-right."""
    readings = readings_of(cells) if readings is None else list(readings)
    return {name: {r: float(np.mean(_f1(c, r)["gelu"]) / np.mean(_f1(c, r)["tanh"])) for r in readings}
            for name, c in cells.items() if "autoencoder" in c}


CONTRAST = ("the autoencoder's first-layer contrast: left-right, every Tanh seed below every GELU seed, and both "
            "means within 2× of the paper's")


def contrast_cells(cells: dict, readings=None) -> list:
    """Every (setting, reading) in which :data:`CONTRAST` appears, with the per-seed values."""
    readings = readings_of(cells) if readings is None else list(readings)
    paper = PAPER_TABLE[AE_F1]
    out = []
    for name, c in cells.items():
        if "autoencoder" not in c:
            continue
        for r in readings:
            v = _f1(c, r)
            if ranges_disjoint(v["tanh"], v["gelu"]) and all(within_factor(float(np.mean(v[a])), paper[a]) for a in ACTIVATIONS):
                out.append({"setting": name, "reading": r, **v})
    return out


def contrast_line(hits: list, cells: dict | None = None) -> str:
    """Where the autoencoder's contrast appears, in one line: setting, reading and the seeds' values; with ``cells``,
    first in how many of the cells it was looked for, the paper's readings apart from the amplitude checks (which
    the metric keeps out of the paper's readings), and that among that many cells some show it by chance."""
    seeds = lambda v: "/".join(f"{x:.3g}" for x in v)
    p = PAPER_TABLE[AE_F1]
    count = ""
    if cells is not None:
        ae = [n for n, c in cells.items() if "autoencoder" in c]
        rs = readings_of(cells)
        paper = [r for r in rs if r in PAPER_READINGS]
        checks = [r for r in rs if r not in PAPER_READINGS]
        k_p = sum(h["reading"] in PAPER_READINGS for h in hits)
        n_p, n_c = len(ae) * len(paper), len(ae) * len(checks)
        count = (f"in {k_p} of {n_p} setting–reading cells under the paper's readings and {len(hits) - k_p} of {n_c} "
                 f"under the amplitude checks (among {n_p + n_c} cells looked at, some show it by chance: this locates, "
                 "it does not test), ")
    if not hits:
        return f"{count}under no setting and reading (the paper: Tanh {p['tanh']:g}, GELU {p['gelu']:g})"
    return count + "under " + "; ".join(
        f"{h['setting']}, {READING_SHORT.get(h['reading'], h['reading'])} reading: Tanh {seeds(h['tanh'])}, "
        f"GELU {seeds(h['gelu'])}" for h in hits) + f" (the paper: Tanh {p['tanh']:g}, GELU {p['gelu']:g})"


# --------------------------------------------------------------------------- stage 2: one combined setting
STAGE2_RULE = ("Each factor takes the level whose autoencoder first-layer GELU/Tanh ratio (left-right, primary "
               "reading, mean over seeds) came closest to the paper's, in log distance; a factor whose closest "
               "level is the default stays at the default. The combined setting is trained for both tasks and both "
               "activations over the same seeds and judged by the same criteria. With fewer than two factors "
               "moved there is nothing new to combine, and stage 2 is skipped.")


def combine(verdicts: dict, grid, key=AE_F1_KEY) -> dict:
    """:data:`STAGE2_RULE` applied to stage 1's verdicts: ``{"chosen": {factor: setting or "default"},
    "distance": {setting: |log(ratio / paper's)|}, "setting": the combined Setting or None, "reason"}``."""
    paper = PAPER_TABLE[AE_F1]["gelu"] / PAPER_TABLE[AE_F1]["tanh"]
    dist = {n: abs(float(np.log(v["ratio"][key] / paper))) for n, v in verdicts.items()}
    chosen, overrides = {}, {}
    for factor in dict.fromkeys(s.factor for s in grid if s.name != "default"):
        levels = [s for s in grid if s.factor == factor and s.name in dist]
        best = min(levels, key=lambda s: dist[s.name], default=None)
        if best is None or dist[best.name] >= dist["default"]:
            chosen[factor] = "default"
        else:
            chosen[factor] = best.name
            overrides.update(best.overrides)
    moved = [f for f, n in chosen.items() if n != "default"]
    if len(moved) < 2:
        reason = ("nothing to combine: no factor moved the ratio closer to the paper's than the default" if not moved
                  else f"only one factor ({moved[0]}) moved the ratio closer to the paper's: its best level is a "
                       "stage-1 setting already, so there is nothing new to combine")
        return {"chosen": chosen, "distance": dist, "setting": None, "reason": reason}
    name = "combined: " + " + ".join(chosen[f] for f in moved)
    return {"chosen": chosen, "distance": dist, "reason": f"{len(moved)} factors moved: {', '.join(moved)}",
            "setting": Setting(name, "combined", "combined", overrides, TASKS)}


def study_verdicts(cells: dict) -> dict:
    """``{setting: verdict(...)}`` for every setting of :func:`run_study`'s ``"cells"``."""
    return {name: verdict(cell_table(c, cells["default"])) for name, c in cells.items()}


def overall(verdicts: dict) -> str:
    """The study's answer in one sentence: which settings reproduce or partly reproduce the paper, or none."""
    for v in VERDICTS[:2]:
        names = [n for n, r in verdicts.items() if r["verdict"] == v]
        if names:
            return f"{', '.join(names)} {verb(v, len(names) > 1)} the paper"
    return "no setting reproduces the paper, not even partly"


def most_moved(verdicts: dict, key="autoencoder|first_layer|mirror") -> tuple:
    """The setting whose GELU/Tanh ratio of ``key`` differs most (in log) from the default's, and that ratio."""
    base = np.log(verdicts["default"]["ratio"][key])
    name = max((n for n in verdicts if n != "default"), key=lambda n: abs(np.log(verdicts[n]["ratio"][key]) - base),
               default="default")
    return name, verdicts[name]["ratio"][key]


def factor_rows(cells: dict, settings_list, task="autoencoder", reading=DEFAULT_READING) -> dict:
    """Per factor: its settings (the default first) and per activation the per-seed first-layer left-right
    values under ``reading``: ``{factor: {"values": [...], "settings": [...], "tanh": [[...]], "gelu": [[...]]}}``."""
    f1 = lambda name, a: cells[name][task][a]["metric"][reading]["equivariant"]["first_layer"]["mirror"]
    out = {}
    for s in settings_list:
        if s.name == "default" or task not in s.tasks:
            continue
        row = out.setdefault(s.factor, {"values": ["default"], "settings": ["default"],
                                        **{a: [f1("default", a)] for a in ACTIVATIONS}})
        row["values"].append(s.value)
        row["settings"].append(s.name)
        for a in ACTIVATIONS:
            row[a].append(f1(s.name, a))
    return out


def seeds_complete(cells: dict, seeds) -> bool:
    """Whether every cell has every seed, for every task it ran and both activations."""
    return all(len(r["analyses"]) == len(seeds) and len(r["test"]) == len(seeds)
               and all(len(f) == len(seeds) for d in r["metric"].values() for k in d.values() for fl in k.values()
                       for f in fl.values())
               for c in cells.values() for t in c.values() for r in t.values())


def summary_row(name, cell: dict, task="autoencoder", reading=DEFAULT_READING) -> dict:
    """The study table's numbers for one setting and task: per activation f₁ left-right and up-down, f₂,
    the floor, the end-to-end error, the task quality, and the explained and negated filters (mean and sd
    over seeds), and the bypass pairs over all seeds. Empty where the setting did not run the task."""
    out = {}
    for a, r in cell.get(task, {}).items():
        m = r["metric"][reading]["equivariant"]
        out[a] = {"f1": stats(m["first_layer"]["mirror"]), "f1_ud": stats(m["first_layer"]["updown"]),
                  "f2": stats(m["first_two_layers"]["mirror"]), "floor": stats(m["first_layer_pre"]["mirror"]),
                  "e2e": stats([t["test_equivariance_error"] for t in r["test"]]),
                  "quality": stats([t[quality_key(task)] for t in r["test"]]),
                  "explained": stats([x["explained"] for x in r["analyses"]]),
                  "negated": stats([x["negated_filters"] for x in r["analyses"]]),
                  "bypass": sum(len(x["bypass_pairs"]) for x in r["analyses"])}
    return out


def study_texts(verdicts: dict, cells: dict, grid) -> dict:
    """The glued phrases of the study page, from its verdicts: the overall answer, the counts per verdict,
    the factor that moved the contrast most, the negated copies per setting, which setting's filters to
    show beside the default's (one that reproduces, else one that partly does, else the most moved), and
    what the outcome implies."""
    key = "autoencoder|first_layer|mirror"
    names = lambda v: ", ".join(n for n, r in verdicts.items() if r["verdict"] == v) or "none"
    orders = [r["tanh_below_gelu"] for r in verdicts.values()]
    moved, moved_ratio = most_moved(verdicts, key)
    paper = PAPER_TABLE[("autoencoder", "first_layer", "mirror")]
    shown = next((n for v in VERDICTS[:2] for n, r in verdicts.items() if r["verdict"] == v and n != "default"), None)
    reason = "a setting that " + verb(verdicts[shown]["verdict"]) + " the paper" if shown else \
        "the setting that moved the contrast most"
    shown = shown or moved
    neg = "; ".join(f"{n}: {sum(x >= NEGATED_MIN for x in r['negated']['autoencoder'])} of "
                    f"{len(r['negated']['autoencoder'])}" for n, r in verdicts.items()
                    if "autoencoder" in cells[n])
    implication = implication_text(verdicts, exploratory(cells), contrast_cells(cells))
    return {"overall": overall(verdicts), "n_reproduces": names(VERDICTS[0]), "n_partly": names(VERDICTS[1]),
            "n_not": names(VERDICTS[2]), "order_range": f"{min(orders)} to {max(orders)}",
            "order_default": f"{verdicts['default']['tanh_below_gelu']} of {verdicts['default']['pairs']}",
            "moved": moved, "moved_ratio": f"GELU/Tanh {moved_ratio:.2g}",
            "ratio_default": f"{verdicts['default']['ratio'][key]:.2g}", "ratio_paper": f"{paper['gelu'] / paper['tanh']:.2g}",
            "negated_by_setting": neg, "implication": implication, "contrast": contrast_line(contrast_cells(cells), cells), "shown_setting": shown, "shown_reason": reason}


def task_outcomes(explore: dict, task: str, readings=None) -> dict:
    """``{verdict: [(setting, reading), ...]}`` of one task's exploratory verdicts (settings that ran it)."""
    out = {v: [] for v in VERDICTS}
    for name, per in explore.items():
        for r, v in per.items():
            if (readings is None or r in readings) and v[task] is not None:
                out[v[task]["verdict"]].append((name, r))
    return out


def implication_text(verdicts: dict, explore: dict, hits: list, primary=DEFAULT_READING) -> str:
    """What the study's outcome implies, computed: the pre-registered answer, then (exploratory) each
    task's verdicts under the primary reading and under every reading, and where the autoencoder's
    first-layer contrast appears."""
    names = lambda pairs: ", ".join(n for n, _ in pairs) or "none"
    parts = [f"Pre-registered: {overall(verdicts)}."]
    per_task = []
    for task in TASKS:
        prim = task_outcomes(explore, task, [primary])
        anyr = task_outcomes(explore, task)
        n = sum(len(v) for v in anyr.values())
        per_task.append(f"the {task}'s rows reproduce under {names(prim[VERDICTS[0]])} and partly under "
                        f"{names(prim[VERDICTS[1]])} (primary reading); under any reading, they reproduce in "
                        f"{len(anyr[VERDICTS[0]])} and partly in {len(anyr[VERDICTS[1]])} of {n} setting–reading cells")
    parts.append("Exploratory, per task: " + "; ".join(per_task) + ".")
    parts.append(f"The autoencoder's first-layer contrast appears {contrast_line(hits)}.")   # counted above it
    return " ".join(parts)


def stage2_verdicts(cell: dict, default: dict, reading=DEFAULT_READING) -> dict:
    """Stage 2's setting judged like stage 1's: the pre-registered verdict and each task's."""
    table = cell_table(cell, default, reading)
    return {"both": verdict(table), **{t: verdict(table, (t,)) for t in TASKS}}


def run_stage2(chosen: dict, data, seeds, base: dict, default: dict, run=True, **kw) -> dict:
    """Stage 2: train and judge :func:`combine`'s setting (``kw`` as for :func:`run_study`), or say why not.
    Returns ``{"name", "cells", "models", "verdicts", "text"}`` (``name`` and the rest ``None`` or empty when
    skipped)."""
    setting = chosen["setting"] if run else None
    if setting is None:
        reason = chosen["reason"] if run else "not run in this profile"
        return {"name": None, "cells": {}, "models": {}, "verdicts": None, "text": stage2_text(None, None, reason)}
    st = run_study([setting], data, seeds, base, grid=False, **kw)
    v = stage2_verdicts(st["cells"][setting.name], default)
    return {"name": setting.name, "cells": st["cells"], "models": st["models"], "verdicts": v,
            "text": stage2_text(setting.name, v, chosen["reason"])}


def stage2_text(name: str | None, v: dict | None, reason: str) -> str:
    """Stage 2 in one sentence: the combined setting and its verdicts, or why it was skipped."""
    if name is None:
        return f"skipped, {reason}"
    return (f"{name}: {verb(v['both']['verdict'])} the paper (pre-registered criteria); per task, the autoencoder's "
            f"rows {verb(v['autoencoder']['verdict'], True)} and the classifier's {verb(v['classifier']['verdict'], True)}")


def cells_record(cells: dict) -> dict:
    """Study cells as plain data for the results file."""
    return {n: {t: {a: dict(r) for a, r in c.items()} for t, c in cs.items()} for n, cs in cells.items()}


def stage2_record(chosen: dict) -> dict:
    """:func:`combine`'s outcome as plain data for the results file."""
    s = chosen["setting"]
    return {"chosen": chosen["chosen"], "distance": chosen["distance"], "reason": chosen["reason"],
            "setting": {"name": s.name, "overrides": s.overrides, "tasks": list(s.tasks)} if s else None}
