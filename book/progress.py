"""What book/build.py tells a person during a build that can take two hours: the plan (which
chapters execute and why, which are cached, how long each should take), a progress line while a
chapter runs, and a table of the times at the end.

Estimates come from the last build's measured time of each chapter on this CPU, kept per profile in
``.cache/book/<profile>/timings.json`` ({cpu name: {chapter: {"seconds": s, "train_seconds": t,
"analysis_seconds": a, "date": d}}}: training the models this run had to train, and the rest); a
chapter never timed on this CPU gets the reference machine's time (``book/reference_timings.json``,
written from a cold full build) scaled by the ratio of the two machines' float32 matrix-multiply rates,
this one's measured in about a second; failing that, a stated default. While a chapter runs, the
build's remaining time is scaled by how far the finished chapters and the running one have overrun
their estimates, so it keeps moving when a chapter runs long. Everything here but ``Ticker`` and
``matmul_rate`` is a pure function.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # eqlib.atomic (standard library only)
from eqlib.atomic import write_text  # noqa: E402
from eqlib.results import replace_generated# noqa: E402,F401  (the README's generated blocks, one mechanism)

DEFAULT_SECONDS = {"full": 300.0, "quick": 20.0}    # a chapter never timed, here or on the reference machine
FALLBACK_SECONDS = 300.0                            # a profile without a default above
REFERENCE = Path(__file__).with_name("reference_timings.json")
SOURCES = ("measured", "reference", "default")


@dataclass
class Step:
    chapter: str
    execute: bool
    reason: str                 # why it executes, or "cached"
    estimate: float = 0.0       # seconds
    source: str = "default"     # "measured": the last build's time on this CPU; "reference": the reference
                                # machine's, scaled by the matmul rates; "default": the stated default

    @property
    def measured(self) -> bool:
        return self.source == "measured"


def plan(chapters: list[str], status: dict[str, str], summaries: dict[str, list[str]],
         only: list[str] | None = None, force: bool = False) -> list[Step]:
    """The chapters to go through, in build order. ``status[c]`` is "cached" (its executed copy is
    current), "changed" (executed before, from other inputs) or "missing". ``only`` selects chapters;
    a selected summary whose inputs are not cached executes them first. A summary also executes when
    any of its inputs does (they rewrite its inputs)."""
    selected = [c for c in chapters if not only or c in only]
    needed_by = {c: s for s in selected for c in summaries.get(s, [])
                 if c not in selected and status[c] != "cached"}
    steps, executing = [], set()
    for c in chapters:
        if c not in selected and c not in needed_by:
            continue
        rerun = [i for i in summaries.get(c, []) if i in executing]
        if c in needed_by:
            reason = f"input of {needed_by[c]}, {'never executed' if status[c] == 'missing' else 'changed'}"
        elif force:
            reason = "--force"
        elif status[c] != "cached":
            reason = "never executed" if status[c] == "missing" else "changed since its last execution"
        elif rerun:
            reason = f"its inputs execute ({', '.join(rerun)})" if len(rerun) <= 2 else f"{len(rerun)} of its inputs execute"
        else:
            reason = "cached"
        step = Step(c, reason != "cached", reason)
        if step.execute:
            executing.add(c)
        steps.append(step)
    return steps


def estimate(steps: list[Step], history: dict, cpu: str, default: float, reference: dict | None = None,
             rate: float | None = None, calibration: dict | None = None) -> list[Step]:
    """Fill each step's estimate: its last measured time on this CPU; else the reference machine's time, its
    training scaled by how long a real training step takes here against there and its analysis by how long a real
    analysis step does (``calibration`` here and the reference's own, :func:`calibrate`); where the reference has no
    calibration, its time times ``r / rate`` (the two machines' float32 matmul rates, in GFLOP/s); else ``default``."""
    timed = history.get(cpu, {})
    ref = (reference or {}).get("seconds", {})
    split = (reference or {}).get("split", {})
    there = (reference or {}).get("calibration")
    scale = reference["matmul_gflops"] / rate if reference and rate else None
    for s in steps:
        if s.chapter in timed:
            s.estimate, s.source = float(timed[s.chapter]["seconds"]), "measured"
        elif s.chapter in ref and there and calibration:
            train = split.get(s.chapter, {}).get("train_seconds", 0.0)
            analysis = float(ref[s.chapter]) - train
            s.estimate = (train * calibration["train_step_s"] / there["train_step_s"]
                          + analysis * calibration["analysis_step_s"] / there["analysis_step_s"])
            s.source = "reference"
        elif s.chapter in ref and scale:
            s.estimate, s.source = float(ref[s.chapter]) * scale, "reference"
        else:
            s.estimate, s.source = default, "default"
    return steps


def calibrate(repeats: int = 3) -> dict:
    """How long this machine takes for the book's real steps, in about three seconds: one training step of the MLP
    chapters' autoencoder (a paired batch of 2 x 256 images, the equivariance loss on, Adam, float32), and one
    analysis step (the pre-activations of 20,000 images on 64 filters in float64, their Gram matrix and a
    least-squares fit, as the labels and the metric compute them); the best of ``repeats`` each."""
    import torch
    from eqlib.losses import autoencoder_losses
    from eqlib.models import MLPConfig, build_model
    torch.manual_seed(0)
    model = build_model(MLPConfig.paper("autoencoder", "tanh"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(512, 3072)

    def train_step():
        task, eq = autoencoder_losses(model(x), x[:256])
        opt.zero_grad(set_to_none=True)
        (task + eq).backward()
        opt.step()
    images, W = torch.randn(20_000, 3072, dtype=torch.float64), torch.randn(64, 3072, dtype=torch.float64)

    def analysis_step():
        P = images @ W.T
        torch.linalg.lstsq(P[:, :32], P[:, 32:])
        return P.T @ P

    def best(f):
        f()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)
    return {"train_step_s": round(best(train_step), 5), "analysis_step_s": round(best(analysis_step), 5)}


def recorded(history: dict, cpu: str, chapter: str, seconds: float, date: str, train_seconds: float | None = None) -> dict:
    """``history`` with this chapter's time on this CPU replaced; with ``train_seconds`` (the training
    this run did), the training and the analysis (the rest) apart."""
    entry = {"seconds": round(seconds, 1), "date": date}
    if train_seconds is not None:
        t = min(float(train_seconds), seconds)
        entry.update(train_seconds=round(t, 1), analysis_seconds=round(seconds - t, 1))
    return {**history, cpu: {**history.get(cpu, {}), chapter: entry}}


def reference_record(history: dict, cpu: str, rate: float, date: str, chapters: list[str],
                     calibration: dict | None = None) -> dict:
    """The reference file's content from this CPU's timings of a cold build: each chapter's time, with
    its training and analysis where recorded, and the matmul rate that scales them on other machines."""
    timed = history.get(cpu, {})
    missing = [c for c in chapters if c not in timed]
    if missing:
        raise ValueError(f"no time on {cpu} for {missing}; a reference needs every chapter of a full build")
    return {"cpu": cpu, "matmul_gflops": round(rate, 1), "date": date, **({"calibration": calibration} if calibration else {}),
            "seconds": {c: timed[c]["seconds"] for c in chapters},
            "split": {c: {k: timed[c][k] for k in ("train_seconds", "analysis_seconds") if k in timed[c]}
                      for c in chapters}}


def load_references(path: Path, profile: str) -> list:
    """Every reference record of ``profile`` in ``path`` (``{profile: {cpu: reference_record(...)}}``), one per CPU
    that has made one, newest first."""
    try:
        entry = json.loads(path.read_text()).get(profile)
    except (OSError, ValueError, AttributeError):
        return []
    if not entry:
        return []
    records = [entry] if "cpu" in entry else list(entry.values())
    return sorted(records, key=lambda r: r["date"], reverse=True)


def load_reference(path: Path, profile: str) -> dict | None:
    """The newest reference record of ``profile`` (:func:`load_references`), if any."""
    records = load_references(path, profile)
    return records[0] if records else None


def with_reference(path: Path, profile: str, record: dict) -> dict:
    """The reference file's content with ``record`` as its CPU's record of ``profile`` (the other CPUs' kept)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    kept = {r["cpu"]: r for r in load_references(path, profile)}
    return {**old, profile: {**kept, record["cpu"]: record}}


def slowest_cold_build_minutes(path: Path = REFERENCE, profile: str = "full") -> float:
    """The longest cold build of ``profile`` among the reference records, in minutes (what a CI time limit is
    sized from)."""
    records = load_references(path, profile)
    if not records:
        raise ValueError(f"no reference timings of the {profile} profile in {path}")
    return max(sum(r["seconds"].values()) for r in records) / 60


def matmul_rate(seconds: float = 1.0, n: int = 1024) -> float:
    """This machine's float32 matrix-multiply rate in GFLOP/s, the best of as many ``n``-by-``n`` products
    as fit in about ``seconds``."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def load_history(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def save_history(path: Path, history: dict):
    write_text(path, json.dumps(history, indent=1, sort_keys=True))


def clock(seconds: float) -> str:
    """45 s, 7:05, 1:02:03."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def format_plan(steps: list[Step], profile: str, cpu: str, default: float, only: list[str] | None = None,
                reference: dict | None = None, rate: float | None = None, calibration: dict | None = None) -> str:
    width = max([len(s.chapter) for s in steps] + [7])
    ref = ""
    if reference and calibration and reference.get("calibration"):
        there = reference["calibration"]
        ref = (f", else the reference machine's ({reference['cpu']}, {reference['date']}), its training scaled by a "
               f"real training step here against there ({calibration['train_step_s'] * 1e3:.0f} against "
               f"{there['train_step_s'] * 1e3:.0f} ms) and its analysis by an analysis step "
               f"({calibration['analysis_step_s'] * 1e3:.0f} against {there['analysis_step_s'] * 1e3:.0f} ms) (reference)")
    elif reference and rate:
        ref = (f", else the reference machine's ({reference['cpu']}, {reference['matmul_gflops']:.0f} GFLOP/s, "
               f"{reference['date']}) scaled to this one's {rate:.0f} GFLOP/s (reference)")
    lines = [f"[book] plan: profile {profile}, on {cpu}; estimates are the last build's times on this CPU "
             f"(measured){ref}, or {clock(default)} a chapter (default)"]
    for s in steps:
        if s.execute:
            lines.append(f"[book]   {s.chapter:<{width}}  execute  ~{clock(s.estimate):>8} "
                         f"{'(' + s.source + ')':<11} {s.reason}")
        else:
            lines.append(f"[book]   {s.chapter:<{width}}  cached")
    run = [s for s in steps if s.execute]
    total = sum(s.estimate for s in run)
    lines.append(f"[book] {len(run)} to execute, about {clock(total)}; {len(steps) - len(run)} cached"
                 + ("; --only: the other chapters are left as they are" if only else ""))
    return "\n".join(lines)


def progress_line(chapter: str, elapsed: float, estimate: float, build_elapsed: float, left_after: float) -> str:
    """One line while a chapter runs: its elapsed and remaining time, and the build's. The chapters after it keep
    their estimates (``left_after``): a chapter that overruns, or finished ones that did, say nothing of the next
    chapter, which trains other networks; the running chapter, once past its estimate, is expected to run as long
    again as it has overrun so far, so the build's remaining time grows by that overrun alone, the last chapter
    included, instead of freezing."""
    if elapsed <= estimate:
        this, left = f"{clock(elapsed)} of ~{clock(estimate)}, ~{clock(estimate - elapsed)} left", estimate - elapsed
    else:
        this, left = f"{clock(elapsed)}, {clock(elapsed - estimate)} over its ~{clock(estimate)}", elapsed - estimate
    return f"[book]   {chapter}: {this}; build: {clock(build_elapsed)} so far, ~{clock(left + left_after)} left"


def summary_table(steps: list[Step], took: dict[str, float], book_seconds: float | None = None) -> str:
    """The times at the end: each chapter's estimate and measured time (cached, or not reached)."""
    width = max([len(s.chapter) for s in steps] + [12])
    lines = [f"[book] {'chapter':<{width}}  {'estimate':>9}  {'took':>9}  {'difference':>10}"]
    for s in steps:
        if not s.execute:
            lines.append(f"[book] {s.chapter:<{width}}  {'':>9}  {'cached':>9}")
        elif s.chapter not in took:
            lines.append(f"[book] {s.chapter:<{width}}  {clock(s.estimate):>9}  {'not run':>9}")
        else:
            d = took[s.chapter] - s.estimate
            lines.append(f"[book] {s.chapter:<{width}}  {clock(s.estimate):>9}  {clock(took[s.chapter]):>9}  "
                         f"{('+' if d >= 0 else '-') + clock(abs(d)):>10}")
    run = [s for s in steps if s.execute and s.chapter in took]
    lines.append(f"[book] {'chapters':<{width}}  {clock(sum(s.estimate for s in run)):>9}  "
                 f"{clock(sum(took[s.chapter] for s in run)):>9}")
    if book_seconds is not None:
        lines.append(f"[book] {'jupyter-book':<{width}}  {'':>9}  {clock(book_seconds):>9}")
    return "\n".join(lines)


class Ticker:
    """Prints ``line()`` every ``every`` seconds while a chapter runs, from a background thread: a new
    line each time where stdout is not a terminal (a CI log: no carriage returns), the same line
    rewritten in place on a terminal."""

    def __init__(self, line: Callable[[], str], every: float | None = None, stream=None):
        self.line, self.stream = line, stream or sys.stdout
        self.tty = self.stream.isatty()
        self.every = every or (5.0 if self.tty else 30.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._shown = False

    def _run(self):
        while not self._stop.wait(self.every):
            text = self.line()
            self.stream.write(f"\r\033[K{text}" if self.tty else f"{text}\n")
            self.stream.flush()
            self._shown = True

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def today() -> str:
    return time.strftime("%Y-%m-%d")


def timing_table(record: dict, parts: dict[str, list[str]]) -> str:
    """A reference record (:func:`reference_record`) as a Markdown table: each chapter's time with its
    training and analysis where recorded, a subtotal per part (``{part: [chapters]}``, in order; a part of one
    chapter shows its subtotal alone) and the total, under a line naming the machine, its float32 matmul rate
    and the date. The README shows this
    for the full profile; the numbers are the reference file's, never typed."""
    split, seconds = record.get("split", {}), record["seconds"]
    unknown = [c for cs in parts.values() for c in cs if c not in seconds]
    parts = {p: [c for c in cs if c in seconds] for p, cs in parts.items()}
    cell = lambda v: clock(v) if v is not None else "—"
    def row(name, chapters, bold=False):
        total = sum(seconds[c] for c in chapters)
        parts_of = [[split.get(c, {}).get(k) for c in chapters] for k in ("train_seconds", "analysis_seconds")]
        train, analysis = (None if None in v else sum(v) for v in parts_of)
        b = "**" if bold else ""
        return f"| {b}{name}{b} | {b}{clock(total)}{b} | {cell(train)} | {cell(analysis)} |"
    lines = [f"Cold full build on {record['cpu']} ({record['matmul_gflops']:.0f} GFLOP/s float32), {record['date']}:",
             "", "| chapter | total | training | analysis |", "|---|---|---|---|"]
    for part, chapters in parts.items():
        lines += [row(c, [c]) for c in chapters if len(chapters) > 1] + [row(part, chapters, bold=True)]
    lines.append(row("the whole book", [c for cs in parts.values() for c in cs], bold=True))
    if unknown:
        lines += ["", f"Pages added since this reference was measured, not in it: {', '.join(unknown)}."]
    return "\n".join(lines)



def build_times(full: list, quick: list) -> str:
    """The Quick start's line: how long each build takes from empty caches, per machine that has a reference
    record (``full`` and ``quick``: :func:`load_references` of each profile), from those records alone."""
    def line(records, what):
        if not records:
            return f"{what}: not measured yet"
        return f"{what}: " + "; ".join(f"{clock(sum(r['seconds'].values()))} on {r['cpu']} ({r['date']})" for r in records)
    return ("From empty caches, on this project's 2-core machines (book/reference_timings.json): "
            + line(quick, "`make book-quick`") + "; " + line(full, "`make book`") + ".")
