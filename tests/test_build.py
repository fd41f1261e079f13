"""The build's plan, estimates, progress lines and summary (book/progress.py, book/build.py): pure
functions on planted chapter states and timings; nothing is executed."""
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import progress  # noqa: E402  (book/progress.py)

CHAPTERS = ["theory", "mlp_a", "mlp_b", "mlp_summary", "attention"]
SUMMARIES = {"mlp_summary": ["mlp_a", "mlp_b"]}
ALL_CACHED = {c: "cached" for c in CHAPTERS}


def table(steps):
    return {s.chapter: (s.execute, s.reason) for s in steps}


def test_a_warm_cache_executes_nothing_and_a_changed_chapter_executes_alone():
    assert not any(s.execute for s in progress.plan(CHAPTERS, ALL_CACHED, SUMMARIES)), "all cached: nothing runs"
    steps = table(progress.plan(CHAPTERS, {**ALL_CACHED, "attention": "changed", "theory": "missing"}, SUMMARIES))
    assert steps == {"theory": (True, "never executed"), "mlp_a": (False, "cached"), "mlp_b": (False, "cached"),
                     "mlp_summary": (False, "cached"), "attention": (True, "changed since its last execution")}


def test_a_summary_executes_when_its_inputs_do():
    steps = table(progress.plan(CHAPTERS, {**ALL_CACHED, "mlp_b": "changed"}, SUMMARIES))
    assert steps["mlp_summary"] == (True, "its inputs execute (mlp_b)"), "it reads the results they rewrite"
    assert steps["theory"] == (False, "cached")


def test_only_a_summary_executes_its_uncached_inputs_first_and_says_so():
    steps = progress.plan(CHAPTERS, {**ALL_CACHED, "mlp_a": "missing", "attention": "missing"}, SUMMARIES,
                          only=["mlp_summary"])
    assert [s.chapter for s in steps] == ["mlp_a", "mlp_summary"], "inputs in build order, before the summary"
    assert table(steps) == {"mlp_a": (True, "input of mlp_summary, never executed"),
                            "mlp_summary": (True, "its inputs execute (mlp_a)")}
    cached_inputs = progress.plan(CHAPTERS, ALL_CACHED, SUMMARIES, only=["mlp_summary"], force=True)
    assert table(cached_inputs) == {"mlp_summary": (True, "--force")}, "cached inputs are reused, even with --force"


def test_only_one_chapter_plans_that_chapter_alone():
    steps = progress.plan(CHAPTERS, {c: "missing" for c in CHAPTERS}, SUMMARIES, only=["mlp_a"])
    assert table(steps) == {"mlp_a": (True, "never executed")}


HISTORY = {"CPU A": {"mlp_a": {"seconds": 630.4, "date": "2026-11-27"}},
           "CPU B": {"mlp_b": {"seconds": 99.0, "date": "2026-11-28"}}}


def test_estimates_are_this_cpus_last_times_else_the_stated_default():
    steps = progress.estimate(progress.plan(CHAPTERS, {c: "missing" for c in CHAPTERS}, SUMMARIES),
                              HISTORY, "CPU A", default=300.0)
    est = {s.chapter: (s.estimate, s.measured) for s in steps}
    assert est["mlp_a"] == (630.4, True), "the last build's time on this CPU"
    assert est["mlp_b"] == (300.0, False), "another CPU's time is not this machine's estimate"
    plan = progress.format_plan(steps, "full", "CPU A", 300.0)
    assert "5:00 a chapter (default)" in plan, "the default is stated"
    assert "mlp_a" in plan and "~   10:30 (measured)" in plan and "5 to execute, about 30:30; 0 cached" in plan, plan


def test_recorded_replaces_one_chapter_on_one_cpu(tmp_path):
    new = progress.recorded(HISTORY, "CPU A", "mlp_b", 123.456, "2026-11-29")
    assert new["CPU A"] == {"mlp_a": HISTORY["CPU A"]["mlp_a"], "mlp_b": {"seconds": 123.5, "date": "2026-11-29"}}
    assert new["CPU B"] == HISTORY["CPU B"] and "mlp_b" not in HISTORY["CPU A"], "the old history is unchanged"
    path = tmp_path / "quick" / "timings.json"
    assert progress.load_history(path) == {}, "no timings yet: an empty history"
    progress.save_history(path, new)
    assert progress.load_history(path) == new


def test_clock():
    assert [progress.clock(s) for s in (0, 44.6, 60, 425, 3600, 3723)] == \
        ["0 s", "45 s", "1:00", "7:05", "1:00:00", "1:02:03"]


def test_progress_line_within_and_over_the_estimate():
    line = progress.progress_line("attention", 150, 630, build_elapsed=1500, left_after=2820)
    assert line == "[book]   attention: 2:30 of ~10:30, ~8:00 left; build: 25:00 so far, ~55:00 left"
    over = progress.progress_line("attention", 720, 630, build_elapsed=2070, left_after=2820)
    assert over == "[book]   attention: 12:00, 1:30 over its ~10:30; build: 34:30 so far, ~48:30 left", \
        "the chapters after it at their estimates, and 1:30 more of this one: the overrun alone"


def test_the_build_eta_grows_while_a_chapter_overruns_and_follows_the_finished_chapters():
    left = lambda line: line.rsplit("~", 1)[1]
    etas = [left(progress.progress_line("study", t, 600, 1000 + t, left_after=3000)) for t in (700, 900, 1200)]
    assert etas == ["51:40 left", "55:00 left", "1:00:00 left"], "never frozen: it grows by the overrun alone"
    last = [left(progress.progress_line("cnn", t, 300, 1000 + t, left_after=0)) for t in (290, 400, 700)]
    assert last == ["10 s left", "1:40 left", "6:40 left"], "the last chapter too: no '~0 s left' while it overruns"
    fast = progress.progress_line("study", 100, 600, 1100, 3000)
    assert left(fast) == "58:20 left", "8:20 of this one and 3000 s of the next ones"


def test_a_machine_that_never_built_scales_the_reference_by_its_matmul_rate():
    reference = {"cpu": "Ref CPU", "matmul_gflops": 300.0, "date": "2026-11-30",
                 "seconds": {"theory": 60.0, "mlp_a": 600.0, "mlp_b": 900.0, "mlp_summary": 10.0}}
    steps = progress.estimate(progress.plan(CHAPTERS, {c: "missing" for c in CHAPTERS}, SUMMARIES),
                              HISTORY, "CPU A", 300.0, reference, rate=150.0)
    est = {s.chapter: (s.estimate, s.source) for s in steps}
    assert est["mlp_a"] == (630.4, "measured"), "this CPU's own time first"
    assert est["mlp_b"] == (1800.0, "reference") and est["theory"] == (120.0, "reference"), \
        "half the matmul rate: twice the reference's time"
    assert est["attention"] == (300.0, "default"), "no reference time: the default"
    plan = progress.format_plan(steps, "full", "CPU A", 300.0, None, reference, 150.0)
    assert "the reference machine's (Ref CPU, 300 GFLOP/s, 2026-11-30) scaled to this one's 150 GFLOP/s" in plan
    assert "~   30:00 (reference)" in plan and "5 to execute, about 47:50" in plan, plan


def test_recorded_keeps_training_and_analysis_apart_and_the_reference_needs_every_chapter():
    new = progress.recorded({}, "CPU A", "mlp_a", 700.0, "2026-11-30", train_seconds=520.04)
    assert new["CPU A"]["mlp_a"] == {"seconds": 700.0, "date": "2026-11-30", "train_seconds": 520.0,
                                     "analysis_seconds": 180.0}
    ref = progress.reference_record(new, "CPU A", 303.04, "2026-11-30", ["mlp_a"])
    assert ref["seconds"] == {"mlp_a": 700.0} and ref["matmul_gflops"] == 303.0
    assert ref["split"]["mlp_a"] == {"train_seconds": 520.0, "analysis_seconds": 180.0}
    import pytest
    with pytest.raises(ValueError, match=r"no time on CPU A for \['theory'\]"):
        progress.reference_record(new, "CPU A", 303.0, "2026-11-30", ["theory", "mlp_a"])


def test_the_matmul_rate_is_measured_in_about_a_second():
    t = time.perf_counter()
    rate = progress.matmul_rate(0.3, n=256)
    assert 0.3 <= time.perf_counter() - t < 3 and 1 < rate < 1e5, rate


def test_summary_table_lists_estimate_and_time_of_each_chapter():
    steps = progress.estimate(progress.plan(CHAPTERS, {**ALL_CACHED, "mlp_a": "changed", "attention": "missing"},
                                            SUMMARIES), HISTORY, "CPU A", 300.0)
    text = progress.summary_table(steps, {"mlp_a": 600.0, "mlp_summary": 30.0}, book_seconds=45.0)
    rows = {line.split()[1]: line.split()[2:] for line in text.splitlines()[1:]}
    assert rows["theory"] == ["cached"]
    assert rows["mlp_a"] == ["10:30", "10:00", "-30", "s"], "estimate, time taken, difference"
    assert rows["mlp_summary"][:2] == ["5:00", "30"], "the summary re-ran after its input"
    assert rows["attention"] == ["5:00", "not", "run"], "a build that stopped early says what did not run"
    assert rows["chapters"] == ["15:30", "10:30"] and rows["jupyter-book"] == ["45", "s"]


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_ticker_prints_lines_in_a_log_and_rewrites_one_line_on_a_terminal():
    for tty in (False, True):
        out = Stream(tty)
        with progress.Ticker(lambda: "[book]   tick", every=0.02, stream=out):
            time.sleep(0.15)
        text = out.getvalue()
        assert text.count("[book]   tick") >= 2, text
        if tty:
            assert text.startswith("\r\033[K") and text.endswith("\r\033[K") and "\n" not in text
        else:
            assert "\r" not in text and set(text.splitlines()) == {"[book]   tick"}, "a CI log gets plain lines"


def test_build_plan_names_every_chapter_and_executes_nothing():
    import build
    r = subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), "--profile", "quick", "--plan"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    listed = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("[book]   ")]
    assert listed == list(build.CHAPTERS), r.stdout
    assert "to execute, about" in r.stdout.splitlines()[-1]


def test_a_change_to_any_eqlib_module_changes_the_chapters_key_the_pages_included(tmp_path, monkeypatch):
    """The executed notebooks are keyed by the eqlib sources: a page module (eqlib/pages/) counts as much as a
    module below it, and moving code from one file to another is a change too."""
    import shutil
    import build  # book/build.py
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "eqlib", root / "eqlib", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(build, "ROOT", root)
    before = build.eqlib_digest()
    page = root / "eqlib" / "pages" / "cnn.py"
    page.write_text(page.read_text() + "\nPLANTED = 1\n")
    assert build.eqlib_digest() != before, "a planted change to a page module"
    page.write_text(page.read_text().replace("\nPLANTED = 1\n", ""))
    assert build.eqlib_digest() == before, "undone, the key is the old one"
    (root / "eqlib" / "pages" / "common.py").rename(root / "eqlib" / "pages" / "shared.py")
    assert build.eqlib_digest() != before, "the same code under another name"


def test_the_timing_table_sums_parts_and_names_the_machine():
    record = {"cpu": "Planted CPU", "matmul_gflops": 100.0, "date": "2026-01-02",
              "seconds": {"a": 30.0, "b": 90.0, "c": 3600.0},
              "split": {"a": {"train_seconds": 20.0, "analysis_seconds": 10.0},
                        "b": {"train_seconds": 60.0, "analysis_seconds": 30.0}, "c": {}}}
    text = progress.timing_table(record, {"first": ["a", "b"], "second": ["c"]})
    assert text.startswith("Cold full build on Planted CPU (100 GFLOP/s float32), 2026-01-02:")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "chapter" not in line]
    assert rows == ["| a | 30 s | 20 s | 10 s |", "| b | 1:30 | 1:00 | 30 s |", "| **first** | **2:00** | 1:20 | 40 s |",
                    "| **second** | **1:00:00** | — | — |",
                    "| **the whole book** | **1:02:00** | — | — |"], "a part of one chapter is its subtotal alone; without a split it shows none, not a guess"
    late = progress.timing_table(record, {"first": ["a", "d"]})
    assert late.endswith("Pages added since this reference was measured, not in it: d.") and "| d |" not in late, \
        "a page the reference never timed is named, not given a time"


def test_a_generated_block_is_replaced_whole_and_only_its_own():
    text = ("x\n<!-- generated:timings (writer) -->\nold\nrows\n<!-- /generated:timings -->\n"
            "<!-- generated:claims -->\nkeep\n<!-- /generated:claims -->\n")
    out = progress.replace_generated(text, "timings", "new")
    assert out == text.replace("old\nrows", "new")
    with pytest.raises(ValueError, match="exactly one generated block 'speed'"):
        progress.replace_generated(text, "speed", "new")


def test_the_readme_timing_table_is_the_full_reference_rendered():
    """The README's timing table comes from book/reference_timings.json (written with it by --write-reference),
    so no number in it is typed by hand."""
    import re
    import build    # book/build.py, on the path above
    record = progress.load_reference(progress.REFERENCE, "full")
    assert record is not None, "book/reference_timings.json has no full profile: run a cold full build, then --write-reference"
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- generated:timings[^>]*-->\n(.*?)\n<!-- /generated:timings -->", readme, re.S)
    assert block and block.group(1) == progress.timing_table(record, build.PARTS)
    assert set(build.PARTS["the paper"]) >= {"protocol_study", "attention"} and build.PARTS["the report"] == ["report"]


def test_the_readme_build_times_are_the_references_rendered():
    """The Quick start's build times come from book/reference_timings.json, every machine's record of both profiles."""
    import re
    full, quick = (progress.load_references(progress.REFERENCE, p) for p in ("full", "quick"))
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- generated:build-times[^>]*-->\n(.*?)\n<!-- /generated:build-times -->", readme, re.S)
    assert block and block.group(1) == progress.build_times(full, quick)
    for r in full + quick:
        assert progress.clock(sum(r["seconds"].values())) in block.group(1) and r["cpu"] in block.group(1)


def test_references_keep_one_record_per_cpu(tmp_path):
    path = tmp_path / "ref.json"
    rec = lambda cpu, date, s: {"cpu": cpu, "date": date, "matmul_gflops": 100.0, "seconds": {"a": s}}
    path.write_text(json.dumps({"full": rec("Intel", "2026-12-01", 10.0)}))          # the older, one-record form
    assert progress.load_references(path, "full") == [rec("Intel", "2026-12-01", 10.0)]
    path.write_text(json.dumps(progress.with_reference(path, "full", rec("AMD", "2026-12-07", 20.0))))
    assert [r["cpu"] for r in progress.load_references(path, "full")] == ["AMD", "Intel"], "newest first, both kept"
    path.write_text(json.dumps(progress.with_reference(path, "full", rec("AMD", "2026-12-08", 30.0))))
    assert [r["seconds"]["a"] for r in progress.load_references(path, "full")] == [30.0, 10.0], "a CPU's own replaced"
    assert progress.slowest_cold_build_minutes(path) == 0.5


def test_a_chapters_key_holds_the_modules_its_notebook_imports_and_no_other(tmp_path, monkeypatch):
    """A page re-executes when a module it imports (transitively) changes, and only then: a planted change to the
    CNN page's module changes the CNN page's key and the report's (which reads the CNN's verdict), not the theory
    page's."""
    import shutil
    import build  # book/build.py
    root = tmp_path / "checkout"
    for d in ("eqlib", "notebooks"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(build, "ROOT", root)
    pages = ("theory", "cnn", "report")
    before = {c: build.eqlib_digest(c) for c in pages}
    module = root / "eqlib" / "pages" / "cnn.py"
    module.write_text(module.read_text() + "\nPLANTED = 1\n")
    after = {c: build.eqlib_digest(c) for c in pages}
    assert after["cnn"] != before["cnn"] and after["report"] != before["report"], "the pages that import it"
    assert after["theory"] == before["theory"], "a page that does not import it keeps its key"
    module.write_text(module.read_text().replace("\nPLANTED = 1\n", ""))
    assert {c: build.eqlib_digest(c) for c in pages} == before, "undone, the old keys"


def test_a_machine_that_never_built_scales_training_and_analysis_by_its_own_real_steps():
    reference = {"cpu": "Ref CPU", "matmul_gflops": 300.0, "date": "2026-12-07",
                 "calibration": {"train_step_s": 0.020, "analysis_step_s": 0.10},
                 "seconds": {"theory": 60.0, "mlp_a": 600.0, "mlp_b": 900.0, "mlp_summary": 10.0},
                 "split": {"mlp_a": {"train_seconds": 400.0, "analysis_seconds": 200.0}, "theory": {"train_seconds": 0.0}}}
    here = {"train_step_s": 0.040, "analysis_step_s": 0.05}        # training twice as slow, analysis twice as fast
    steps = progress.estimate(progress.plan(CHAPTERS, {c: "missing" for c in CHAPTERS}, SUMMARIES),
                              {}, "CPU A", 300.0, reference, calibration=here)
    est = {s.chapter: s.estimate for s in steps}
    assert est["mlp_a"] == pytest.approx(400 * 2 + 200 / 2), "each part by its own step"
    assert est["theory"] == pytest.approx(30.0) and est["mlp_b"] == pytest.approx(450.0), \
        "no training: analysis alone (a chapter without a split counts as analysis)"
    plan = progress.format_plan(steps, "full", "CPU A", 300.0, None, reference, None, here)
    assert "a real training step here against there (40 against 20 ms)" in plan, plan
    c = progress.calibrate(repeats=1)
    assert set(c) == {"train_step_s", "analysis_step_s"} and all(v > 0 for v in c.values())
