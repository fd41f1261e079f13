"""Verdicts as data: one set of verdict words, one "most seeds", and rules whose sentences are
rendered from the thresholds the code tests.

A :class:`Rule` is one row: its key, its thresholds and a sentence template over them. The page prints
``rule.sentence`` and the code reads ``rule["name"]``, so what a reader is told and what is checked
cannot drift apart (``tests/test_verdicts.py`` plants values on both sides of each threshold).
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field

# The verdict words of every judgement in the book: the report's claims and the protocol study's settings.
WORDS = ("reproduced", "partly", "not reproduced")
MARKS = {WORDS[0]: "✓", WORDS[1]: "◐", WORDS[2]: "✗", None: "·"}     # None: not judged (a task not run)


def majority(flags) -> bool:
    """"In most seeds": more than half of them (2 of 3)."""
    flags = [bool(f) for f in flags]
    return sum(flags) > len(flags) / 2


def grade(every: bool, most: bool) -> str:
    """The verdict word of a claim that holds in ``every`` case, in ``most``, or neither."""
    return WORDS[0] if every else WORDS[1] if most else WORDS[2]


def check_word(word) -> str:
    if word not in WORDS:
        raise ValueError(f"verdict {word!r} is not allowed; allowed: {', '.join(map(repr, WORDS))}")
    return word


@dataclass(frozen=True)
class Rule:
    """One criterion or rule: ``key``, a ``template`` in :meth:`str.format` syntax over ``thresholds``,
    and the thresholds themselves. Every threshold must appear in the template, so the sentence names
    each number the code tests."""
    key: str
    template: str
    thresholds: dict = field(default_factory=dict)

    def __post_init__(self):
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


# the verdict words as verbs, for sentences whose subject is a setting or a task's rows (singular, plural)
_VERBS = {WORDS[0]: ("reproduces", "reproduce"), WORDS[1]: ("partly reproduces", "partly reproduce"),
          WORDS[2]: ("does not reproduce", "do not reproduce")}


def verb(word: str, plural: bool = False) -> str:
    """``"partly"`` -> ``"partly reproduces"`` (``plural``: ``"partly reproduce"``)."""
    return _VERBS[check_word(word)][bool(plural)]
