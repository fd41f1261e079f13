"""The reproduction report's verdicts follow their stated rules on planted results."""
import pytest

from eqlib.paper import PAPER_TABLE
from eqlib.reproduction import (CLAIMS, END, START, attention_claim, gelu_claim, readme_block, replace_block,
                                tanh_claim, table_claim, theorem_claim)


def mlp(explained=(60, 60, 60), control=(0, 0, 0), init=(0, 0, 0), bypass=(0, 0, 0), negated=(0, 0, 0), scale=1.0):
    per = lambda ex, k: [{"explained": e, "active": 64, "bypass_pairs": [{}] * (bypass[i] if k == "equivariant" else 0),
                          "negated_filters": negated[i] if k == "equivariant" else 0} for i, e in enumerate(ex)]
    out = {}
    for task in ("autoencoder", "classifier"):
        for act in ("tanh", "gelu"):
            metric = {"covariance": {"equivariant": {d: {f: [PAPER_TABLE.get((task, d, f), {}).get(act, 1.0) * scale * x
                                                          for x in (0.95, 1.0, 1.05)] for f in ("mirror", "updown")}
                                                     for d in ("first_layer", "first_two_layers")}}}
            out[(task, act)] = {"per_seed": {"equivariant": per(explained, "equivariant"), "control": per(control, "control"),
                                             "init": per(init, "init")}, "metric": metric}
    return out


def test_tanh_claim_grades_every_most_and_no_seed():
    assert tanh_claim(mlp())["verdict"] == "reproduced"
    assert tanh_claim(mlp(explained=(60, 60, 20)))["verdict"] == "partly", "fewer than half in one seed of three"
    assert tanh_claim(mlp(explained=(60, 20, 20)))["verdict"] == "not reproduced"
    assert tanh_claim(mlp(control=(61, 61, 61)))["verdict"] == "not reproduced", "no more than the control"


def test_gelu_claim_needs_bypass_and_negated_copies():
    assert gelu_claim(mlp(bypass=(1, 2, 0), negated=(6, 8, 9)))["verdict"] == "reproduced"
    assert gelu_claim(mlp(negated=(6, 8, 9)))["verdict"] == "partly", "negated copies, but no bypass"
    assert gelu_claim(mlp(negated=(6, 0, 0)))["verdict"] == "not reproduced"
    assert gelu_claim(mlp(bypass=(1, 1, 0), negated=(0, 8, 9)))["verdict"] == "partly", \
        "a bypass in seeds 0 and 1, the copies in seeds 1 and 2: both together in one seed only"


def test_table_claim_is_the_study_verdict_on_the_chapters_runs():
    assert table_claim(mlp(negated=(6, 8, 9)))["verdict"] == "reproduced", "the paper's own values"
    assert table_claim(mlp(negated=(6, 8, 9), scale=5))["verdict"] == "partly", "right orderings, wrong magnitudes"


def test_attention_and_theorem_claims():
    h = lambda errs: [{"median_error": e, "moved_heads": 4} for e in errs]
    att = {"heads": {"equivariant": h([0.05, 0.05, 0.9]), "control": h([0.6, 0.6, 0.6]), "init": h([0.7, 0.7, 0.7])}}
    assert attention_claim(att)["verdict"] == "partly"
    theory = {"trials": [{"involutions": True, "max_layer_error": 1e-15}] * 3,
              "recovery": {"involutions": [True], "agrees_with_planted": True},
              "equivariant_student": {"error": 1e-7, "layer_errors": [1e-6]}}
    assert theorem_claim(theory)["verdict"] == "reproduced"
    theory["equivariant_student"]["layer_errors"] = [0.3]
    assert theorem_claim(theory)["verdict"] == "not reproduced", "a student that fits but is not layerwise equivariant"
    theory["equivariant_student"]["layer_errors"] = [1e-6]
    theory["trials"][0] = {"involutions": False, "max_layer_error": 1e-15}
    assert theorem_claim(theory)["verdict"] == "not reproduced"


def test_the_readme_block_replaces_only_its_marked_region():
    rows = [{"claim": c, "verdict": "partly", "evidence": "x"} for c in CLAIMS.values()]
    block = readme_block(rows, "2026-11-29", "a CPU", "abc1234", "no setting reproduces the paper")
    text = f"intro\n{START}\nold\n{END}\noutro"
    new = replace_block(text, block)
    assert new.startswith("intro\n") and new.endswith("\noutro") and "old" not in new
    assert new.count("| **partly** |") == len(CLAIMS) and "commit `abc1234`" in new
    assert "**The protocol study** (does the Tanh–GELU contrast depend on our protocol?): no setting" in new
    with pytest.raises(ValueError, match="exactly one generated block"):
        replace_block("no markers", block)


def test_the_readme_carries_a_well_formed_generated_block():
    """The README's block was written by a full build: dated, with a commit, one row per claim, a
    verdict from the allowed ones in each."""
    import re
    from pathlib import Path
    from eqlib.reproduction import VERDICTS
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    block = text[text.index(START):text.index(END)]
    assert re.search(r"From the full build of \d{4}-\d{2}-\d{2}, commit `[0-9a-f]{7,}(-dirty)?`, on .+;", block)
    rows = [line for line in block.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(CLAIMS)
    assert all(re.search(r"\| \*\*(" + "|".join(VERDICTS) + r")\*\* \|", r) for r in rows), rows
