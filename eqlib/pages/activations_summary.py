"""The activations' summary page: every activation page's verdict side by side.
"""
from __future__ import annotations

from eqlib.stats import pm, stats
from eqlib.metric import DEFAULT_READING
from eqlib.symmetry import SCALINGS


def activations_summary_text(results: dict, verdicts: dict) -> str:
    """Where the prediction holds and where it fails, activation by activation, and which half of
    the criterion fails."""
    judged = {a: v for a, v in verdicts.items() if v["applicable"]}
    held = [a for a, v in judged.items() if v["holds"] == v["n"]]
    failed = [a for a, v in judged.items() if v["holds"] == 0]
    mixed = [a for a in judged if a not in held + failed]
    part = lambda names, what: f"{what}: {', '.join(names)}" if names else f"{what}: none"
    both = "; ".join([part(held, "both parts hold in every seed for"),
                      part(mixed, "in some seeds only for"), part(failed, "in no seed for")])
    each = ", ".join(f"{a} {v['structure']} and {v['residual']} of {v['n']}" for a, v in judged.items())
    neg = [a for a, r in results.items() if SCALINGS[a] in ("none", "positive")]
    no_neg = [a for a in neg if all(s["negation_only"] == 0 for s in results[a]["per_seed"])]
    return (f"{both}. Seeds with at least half of the active neurons explained, and with the in-group residual at "
            f"most twice the unconstrained one: {each}. Where the group has no negation ({', '.join(neg)}), no "
            f"filter needed one in {len(no_neg)} of {len(neg)} activations over all seeds.")


def summary_table(results: dict, verdicts: dict) -> tuple:
    """One row per activation: its predicted group, what the fit finds (mean ± sd over seeds), the
    first-layer metric under the primary reading (and its centred variant, which a constant offset such as
    sigmoid's cannot shrink), and in how many seeds the prediction holds."""
    rows = []
    for act, r in results.items():
        agg, m = r["aggregate"], r["metric"][DEFAULT_READING]["equivariant"]
        init = r["aggregate_init"]["explained"]
        rows.append([act, r["predicted_group"], f"{pm(agg['explained'], 1)} / {pm(agg['active'], 1)}", pm(init, 1),
                     pm(agg["negation_only"], 1), pm(agg["in_group"]), pm(agg["unconstrained"]),
                     pm(stats(m["first_layer"]["mirror"])),
                     pm(stats(m["first_layer_centred"]["mirror"])) if "first_layer_centred" in m else "–",
                     pm(stats(m["first_layer_pre"]["mirror"])), pm(stats(m["first_layer"]["updown"])),
                     f"{verdicts[act]['structure']} of {verdicts[act]['n']}",
                     f"{verdicts[act]['residual']} of {verdicts[act]['n']}",
                     f"{verdicts[act]['holds']} of {verdicts[act]['n']}" if verdicts[act]["applicable"] else "n/a"])
    return ["activation", "predicted group", "explained / active", "explained at initialisation", "negation only",
            "in-group residual",
            "unconstrained residual", "metric, left-right (primary)", "the same, centred", "its floor",
            "metric, up-down (primary)",
            "≥ half explained (seeds)", "in-group ≤ 2× unconstrained (seeds)", "prediction holds (seeds)"], rows
