"""One set of verdict words, one "most seeds", and the words as the book's sentences use them. The rules
that decide a verdict are rows of :class:`eqlib.rules.Rule`.
"""
from __future__ import annotations

# The verdict words of every judgement in the book: the report's claims and the protocol study's settings.
# The fourth is for a prediction of ours whose precondition fails (the networks are not equivariant enough
# to test it): neither reproduced nor refuted.
WORDS = ("reproduced", "partly", "not reproduced", "not testable")
MARKS = {WORDS[0]: "✓", WORDS[1]: "◐", WORDS[2]: "✗", WORDS[3]: "–", None: "·"}     # None: not judged (a task not run)


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


# the verdict words as verbs, for sentences whose subject is a setting or a task's rows (singular, plural)
_VERBS = {WORDS[0]: ("reproduces", "reproduce"), WORDS[1]: ("partly reproduces", "partly reproduce"),
          WORDS[2]: ("does not reproduce", "do not reproduce"), WORDS[3]: ("cannot be tested", "cannot be tested")}


def verb(word: str, plural: bool = False) -> str:
    """``"partly"`` -> ``"partly reproduces"`` (``plural``: ``"partly reproduce"``)."""
    return _VERBS[check_word(word)][bool(plural)]
