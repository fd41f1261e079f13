"""What book/build.py tells a person during a build that can take two hours: the plan (which
chapters execute and why, which are cached, how long each should take), a progress line while a
chapter runs, and a table of the times at the end.

Estimates come from the last build's measured time of each chapter on this CPU, kept per profile in
``.cache/book/<profile>/timings.json`` ({cpu name: {chapter: {"seconds": s, "date": d}}}); a chapter
never timed on this CPU gets a stated default. Everything here but ``Ticker`` is a pure function.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DEFAULT_SECONDS = {"full": 300.0, "quick": 20.0}    # a chapter never timed on this CPU (about the mean)
FALLBACK_SECONDS = 300.0                            # a profile without a default above


@dataclass
class Step:
    chapter: str
    execute: bool
    reason: str                 # why it executes, or "cached"
    estimate: float = 0.0       # seconds
    measured: bool = False      # the estimate is the last build's time on this CPU, not the default


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


def estimate(steps: list[Step], history: dict, cpu: str, default: float) -> list[Step]:
    """Fill each step's estimate: its last measured time on this CPU, else ``default``."""
    timed = history.get(cpu, {})
    for s in steps:
        if s.chapter in timed:
            s.estimate, s.measured = float(timed[s.chapter]["seconds"]), True
        else:
            s.estimate, s.measured = default, False
    return steps


def recorded(history: dict, cpu: str, chapter: str, seconds: float, date: str) -> dict:
    """``history`` with this chapter's time on this CPU replaced."""
    return {**history, cpu: {**history.get(cpu, {}), chapter: {"seconds": round(seconds, 1), "date": date}}}


def load_history(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def save_history(path: Path, history: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(history, indent=1, sort_keys=True))
    tmp.replace(path)


def clock(seconds: float) -> str:
    """45 s, 7:05, 1:02:03."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def format_plan(steps: list[Step], profile: str, cpu: str, default: float, only: list[str] | None = None) -> str:
    width = max([len(s.chapter) for s in steps] + [7])
    lines = [f"[book] plan: profile {profile}, on {cpu}; estimates are the last build's times on this CPU "
             f"(measured) or {clock(default)} a chapter (default)"]
    for s in steps:
        if s.execute:
            lines.append(f"[book]   {s.chapter:<{width}}  execute  ~{clock(s.estimate):>8} "
                         f"{'(measured)' if s.measured else '(default) '}  {s.reason}")
        else:
            lines.append(f"[book]   {s.chapter:<{width}}  cached")
    run = [s for s in steps if s.execute]
    total = sum(s.estimate for s in run)
    lines.append(f"[book] {len(run)} to execute, about {clock(total)}; {len(steps) - len(run)} cached"
                 + ("; --only: the other chapters are left as they are" if only else ""))
    return "\n".join(lines)


def progress_line(chapter: str, elapsed: float, estimate: float, build_elapsed: float, left_after: float) -> str:
    """One line while a chapter runs: its elapsed and remaining time, and the build's."""
    if elapsed <= estimate:
        this, left = f"{clock(elapsed)} of ~{clock(estimate)}, ~{clock(estimate - elapsed)} left", estimate - elapsed
    else:
        this, left = f"{clock(elapsed)}, {clock(elapsed - estimate)} over its ~{clock(estimate)}", 0.0
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
