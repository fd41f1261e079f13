"""Rules as data. A :class:`Rule` is one row: its key, its thresholds and a sentence template over them.
The page prints ``rule.sentence`` and the code reads ``rule["name"]``, so what a reader is told and what
is checked cannot drift apart (``tests/test_verdicts.py`` plants values on both sides of each threshold).

A module of its own, apart from :mod:`eqlib.verdicts`' words, so that the analyses which read rules
(:mod:`eqlib.conv`) are not re-run when a verdict is reworded (the analysis cache keys hold the code of
the modules an analysis imports).
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field


WRITTEN = {"before": "written before the numbers it judges were known",
           "after": "written after a build whose numbers it judges had been read"}


@dataclass(frozen=True)
class Rule:
    """One criterion or rule: ``key``, a ``template`` in :meth:`str.format` syntax over ``thresholds``,
    and the thresholds themselves. Every threshold must appear in the template, so the sentence names
    each number the code tests."""
    key: str
    template: str
    thresholds: dict = field(default_factory=dict)
    written: str = "before"      # "before" the numbers it judges were known, or "after" a build that showed them

    def __post_init__(self):
        if self.written not in WRITTEN:
            raise ValueError(f"rule {self.key!r}: written={self.written!r} is not allowed; choose one of: "
                             f"{', '.join(map(repr, WRITTEN))}")
        named = {f for _, f, _, _ in string.Formatter().parse(self.template) if f}
        if named != set(self.thresholds):
            raise ValueError(f"rule {self.key!r}: its sentence names {sorted(named)} but its thresholds are "
                             f"{sorted(self.thresholds)}; each threshold must be stated, and only those")

    @property
    def sentence(self) -> str:
        return self.template.format(**self.thresholds)

    def __getitem__(self, name):
        return self.thresholds[name]


def table(rules) -> dict:
    """``{key: rule}`` of a sequence of rules, refusing a repeated key."""
    out = {}
    for r in rules:
        if r.key in out:
            raise ValueError(f"rule key {r.key!r} appears twice")
        out[r.key] = r
    return out
