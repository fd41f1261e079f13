"""The augmentation page: the equivariance loss against random mirroring and the weight-0 control,
forked from one snapshot per seed; findings, texts and tables.
"""
from __future__ import annotations

from dataclasses import replace

from eqlib.verdicts import PAPER, WORDS, Claim, grade, judged, majority
from eqlib.rules import Rule
from eqlib.analysis import analyze_mlp, mlp_metric
from eqlib.stats import count, over_seeds, pm, stats
from eqlib.metric import DEFAULT_READING
from eqlib.pages.common import EQUIVARIANT_ENOUGH, check_seeds, histories, metric_samples
from eqlib.protocol import mlp_configs
from eqlib.tables import KIND_NAMES, quality_key
from eqlib.train import initial_model, train, train_seeds


def augmentation_chapter(data, seeds, tasks=("autoencoder", "classifier"), n_images=20_000, n_fit=20_000,
                         n_eval=20_000, progress=False, **train_kw) -> dict:
    """For each task (Tanh first layer), three ways to the second half of training: the
    equivariance loss, random mirroring of the inputs (and targets), and neither (weight 0);
    all three fork from one snapshot per seed. Per model, and for the shared initialisation: the MLP
    chapter's analysis; per kind: the metric under every reading."""
    seeds = check_seeds(seeds)
    out, models_out = {}, {}
    x_train, _, x_test, _ = data.tensors()
    for task in tasks:
        mc, tc = mlp_configs(task, "tanh", **train_kw)
        runs = train_seeds(mc, tc, data, seeds, progress=progress)
        for s in seeds:
            runs[s]["augmentation"] = train(mc, replace(tc, seed=s, equivariance_mode="augment"), data,
                                            progress=progress)
        kinds = ("equivariant", "augmentation", "control")
        models = {k: [runs[s][k].model.cpu().eval() for s in seeds] for k in kinds}
        models["init"] = [initial_model(mc, replace(tc, seed=s)).eval() for s in seeds]     # the null
        analyses = {k: [analyze_mlp(m, task, x_train[:n_images], x_test[:5000]) for m in ms] for k, ms in models.items()}
        out[task] = {"per_seed": analyses, "aggregate": {k: over_seeds(a) for k, a in analyses.items()},
                     "metric": mlp_metric(models, data, n_fit=n_fit, n_eval=n_eval),
                     "metric_samples": metric_samples(data, n_fit, n_eval),
                     "test": {k: [runs[s][k].history[-1] for s in seeds] for k in kinds},
                     "history": {k: histories(runs, seeds, k) for k in kinds},
                     "train_seconds": {k: {str(s): runs[s][k].seconds for s in seeds} for k in kinds},
                     "forked_at": {k: {str(s): runs[s][k].forked_at for s in seeds} for k in kinds}}
        models_out[task] = models
    return {"seeds": seeds, "tasks": out}, models_out


def augmentation_findings(res: dict) -> dict:
    """Per task and seed, whether the equivariance loss beats augmentation: a lower end-to-end
    equivariance error, and more first-layer neurons explained."""
    out = {}
    for task, r in res["tasks"].items():
        t = r["test"]
        out[f"{task}: loss more equivariant end to end than augmentation"] = [
            a["test_equivariance_error"] < b["test_equivariance_error"] for a, b in zip(t["equivariant"], t["augmentation"])]
        out[f"{task}: loss explains more neurons than augmentation"] = [
            a["explained"] > b["explained"] for a, b in zip(r["per_seed"]["equivariant"], r["per_seed"]["augmentation"])]
    return out


def augmentation_texts(res: dict) -> dict:
    """The glued phrases of the augmentation page, per task."""
    out = {"enough": f"{EQUIVARIANT_ENOUGH:.2g}"}
    for task, r in res["tasks"].items():
        t = task[:2]
        e2e = {k: stats([h["test_equivariance_error"] for h in v]) for k, v in r["test"].items()}
        expl = {k: [a["explained"] for a in v] for k, v in r["per_seed"].items()}
        m = {k: r["metric"][DEFAULT_READING][k]["first_layer"]["mirror"] for k in r["per_seed"]}
        out.update({f"{t}_e2e_{k}": pm(v) for k, v in e2e.items()})
        out.update({f"{t}_explained_{k}": pm(stats(v), 1) for k, v in expl.items()})
        out.update({f"{t}_metric_{k}": pm(stats(v)) for k, v in m.items()})
        out[f"{t}_aug_more_than_control"] = count([a > c for a, c in zip(expl["augmentation"], expl["control"])])
        out[f"{t}_aug_metric_below_control"] = count([a < c for a, c in zip(m["augmentation"], m["control"])])
        out[f"{t}_aug_e2e_below_control"] = count([a["test_equivariance_error"] < c["test_equivariance_error"]
                                                   for a, c in zip(r["test"]["augmentation"], r["test"]["control"])])
        for k in ("augmentation", "equivariant"):
            ratios = [a["test_equivariance_error"] / max(c["test_equivariance_error"], 1e-300)
                      for a, c in zip(r["test"][k], r["test"]["control"])]
            out[f"{t}_{k}_ratio"] = ", ".join(f"{x:.2f}" for x in ratios)
            out[f"{t}_{k}_enough"] = count([x <= EQUIVARIANT_ENOUGH for x in ratios])
        enough = all(a["test_equivariance_error"] <= EQUIVARIANT_ENOUGH * c["test_equivariance_error"]
                     for a, c in zip(r["test"]["augmentation"], r["test"]["control"]))
        out[f"{t}_testable"] = ("equivariant enough in every seed, so the comparison below tests the prediction" if enough
                                else "not equivariant enough in every seed, so the comparison below cannot confirm or refute "
                                     "the prediction: it shows what augmentation does to the layers at the equivariance it "
                                     "reaches")
    for i, flags in enumerate(augmentation_findings(res).values()):
        out[f"loss_beats_aug_{i}"] = count(flags)
    return out


def quality_table(test: dict, task) -> tuple:
    """Test quality and end-to-end equivariance error per model kind, mean ± sd over seeds."""
    key = quality_key(task)
    return (["model", key.replace("_", " "), "end-to-end equivariance error"],
            [[KIND_NAMES[k], pm(stats([t[key] for t in ts]), 4), pm(stats([t["test_equivariance_error"] for t in ts]))]
             for k, ts in test.items()])


# --------------------------------------------------------------------------- the report's claims this page decides

AUGMENTATION_RULE = Rule("augmentation", "on the augmentation page's Tanh networks, per task: not testable unless augmentation makes "
                         "them equivariant enough in most seeds of each task (end-to-end error at most {enough:.2g} of "
                         "the weight-0 control's); then reproduced if, in most seeds of each task, augmentation "
                         "explains at least {share:.0%} as many first-layer neurons as the equivariance loss; partly if "
                         "in one task; not reproduced otherwise", {"enough": EQUIVARIANT_ENOUGH, "share": 0.9},
         written="after")

def augmentation_claim(res: dict) -> dict:
    """:data:`RULES` ``["augmentation"]``, from the augmentation page's results, per task."""
    rule = AUGMENTATION_RULE
    inputs, parts = {}, []
    for task, r in res["tasks"].items():
        t = r["test"]
        ratios = [a["test_equivariance_error"] / max(c["test_equivariance_error"], 1e-300)
                  for a, c in zip(t["augmentation"], t["control"])]
        aug = [a["explained"] for a in r["per_seed"]["augmentation"]]
        loss = [a["explained"] for a in r["per_seed"]["equivariant"]]
        inputs.update({f"{task}: augmentation's end-to-end error over the control's": ratios,
                       f"{task}: neurons explained, augmentation": aug, f"{task}: neurons explained, the loss": loss})
        parts.append(f"{task}: end-to-end error {', '.join(f'{x:.2f}' for x in ratios)} of the control's; explained "
                     f"first-layer neurons, augmentation {aug} against the loss's {loss}")
    tasks = list(res["tasks"])

    def judge(i):
        enough = {t: majority(x <= rule["enough"] for x in i[f"{t}: augmentation's end-to-end error over the control's"])
                  for t in tasks}
        ok = {t: majority(a >= rule["share"] * b for a, b in zip(i[f"{t}: neurons explained, augmentation"],
                                                                 i[f"{t}: neurons explained, the loss"])) for t in tasks}
        return WORDS[3] if not all(enough.values()) else grade(all(ok.values()), any(ok.values()))
    integer = {n for n in inputs if "explained" in n}
    return {**judged(judge, inputs, integer=integer, seeds=res.get("seeds")), "evidence": "; ".join(parts),
            "seeds": f"{len(res['seeds'])} seeds per task"}

CLAIMS = (
    Claim('augmentation', "Ours, beyond the paper: an MLP made mirror-equivariant by data augmentation instead of the loss is "
                    "layerwise equivariant alike (the theorem is about the function, not how it was trained)",
          f"ours: {PAPER}, the theorem's premise (an equivariant function), reached without the loss",
          "augmentation (ours)", AUGMENTATION_RULE, lambda by_page: augmentation_claim(by_page["augmentation"]), ours=True),
)
