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


# --------------------------------------------------------------------------- how far a verdict is from flipping
def _sd(values) -> float:
    v = [float(x) for x in values]
    if len(v) < 2:
        return 0.0
    m = sum(v) / len(v)
    return (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5


def _with(inputs: dict, name: str, i: int, value) -> dict:
    out = {k: list(v) for k, v in inputs.items()}
    out[name][i] = value
    return out


def _flip_integer(inputs, name, i, judge, word, cap, bounds=(0, None)):
    x = inputs[name][i]
    lo, hi = bounds
    for d in range(1, cap + 1):
        for step in (-d, d):
            if x + step >= lo and (hi is None or x + step <= hi) and judge(_with(inputs, name, i, x + step)) != word:
                return step
    return None


def _flip_float(inputs, name, i, judge, word, steps=40):
    """The smallest multiplicative change of one positive value that changes the verdict: the first factor of a
    geometric grid (up to 10^12 either way) that flips it, then bisection between it and the last that did not."""
    x = float(inputs[name][i])
    if x <= 0:
        return None
    best = None
    for direction in (1, -1):
        lo, hi = 0.0, None
        for k in range(1, 121):                                 # exp(±0.23 k): 1.26x ... 10^12x
            t = 0.23 * k
            if judge(_with(inputs, name, i, x * 2.718281828 ** (direction * t))) != word:
                hi = t
                break
            lo = t
        if hi is None:
            continue
        for _ in range(steps):
            mid = (lo + hi) / 2
            if judge(_with(inputs, name, i, x * 2.718281828 ** (direction * mid))) != word:
                hi = mid
            else:
                lo = mid
        to = x * 2.718281828 ** (direction * hi)
        if best is None or abs(to - x) < abs(best):
            best = to - x
    return best


def margin(inputs: dict, judge, integer=(), seeds=None, unit="seed", labels=None, bounds=None) -> dict:
    """How far the verdict ``judge(inputs)`` is from flipping: the smallest change of a single input that changes
    it, computed by the rule itself. ``inputs`` maps a quantity's name to its per-seed values (counts, listed in
    ``integer``, change by whole steps; other values by factors); changes of different quantities are compared in
    units of that quantity's seed-to-seed standard deviation. Returns the verdict, the flip (which quantity, which
    seed, from what to what, to which word), the spread, ``fragile`` (the flip is within one standard deviation of
    the seeds: another machine's round-off or another seed could flip it) and the sentence the report prints.
    ``labels[name]`` names each value where it is not a seed (a trial, say); ``bounds[name] = (lo, hi)`` keeps a
    count within what it can be (a count of layers of a three-layer network)."""
    word = judge(inputs)
    best = None
    for name, values in inputs.items():
        spread = _sd(values)
        for i, x in enumerate(values):
            if name in integer:
                step = _flip_integer(inputs, name, i, judge, word, cap=max(64, 2 * int(abs(x))),
                                     bounds=(bounds or {}).get(name, (0, None)))
            else:
                step = _flip_float(inputs, name, i, judge, word)
            if step is None:
                continue
            scale = spread if spread > 0 else max(abs(float(x)), 1.0 if name in integer else 1e-300)
            cost = abs(step) / scale
            if best is None or cost < best["cost"]:
                new = judge(_with(inputs, name, i, x + step))
                best = {"cost": cost, "name": name, "index": i, "from": x, "to": x + step, "change": step,
                        "spread": spread, "to_word": new}
    if best is None:
        return _two_inputs(inputs, judge, word, integer, seeds, unit, labels, bounds)
    if labels and best["name"] in labels:
        who = labels[best["name"]][best["index"]]
    else:
        who = f"{unit} {seeds[best['index']] if seeds is not None else best['index']}"
    if best["name"] in integer:
        n = abs(int(best["change"]))
        change = f"{n} {'more' if best['change'] > 0 else 'fewer'} ({best['from']} → {best['to']})"
    else:
        change = f"{best['to']:.3g} instead of {best['from']:.3g} (×{best['to'] / best['from']:.3g})"
    fragile = abs(best["change"]) <= best["spread"]
    text = (f"flips to {best['to_word']} if {best['name']}, {who}, were {change}; seed-to-seed sd "
            f"{best['spread']:.3g}" + (": fragile" if fragile else ""))
    return {"word": word, "flip": {k: v for k, v in best.items() if k != "cost"}, "fragile": fragile, "text": text}


FACTORS = (1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0)    # a value's changes when two values change
BUDGET = 4000          # the verdicts the two-input search may evaluate


def _two_inputs(inputs, judge, word, integer, seeds, unit, labels, bounds) -> dict:
    """Where no single input's change flips a verdict (it needs most seeds to turn, say), the cheapest change of two
    inputs that does: integers by up to twice their spread plus one, other values by factors up to 20 either way;
    cost measured as for one input, in units of each quantity's spread."""
    positions = [(n, i) for n, v in inputs.items() for i in range(len(v))]
    spread = {n: _sd(v) for n, v in inputs.items()}
    scale = lambda n, x: spread[n] if spread[n] > 0 else max(abs(float(x)), 1.0 if n in integer else 1e-300)

    def moves(n, i):
        x = inputs[n][i]
        if n in integer:
            lo, hi = (bounds or {}).get(n, (0, None))
            cap = int(2 * spread[n]) + 1
            return [x + d for d in range(-cap, cap + 1) if d and x + d >= lo and (hi is None or x + d <= hi)]
        return [x * f for f in FACTORS] + [x / f for f in FACTORS] if x > 0 else []
    best, calls = None, 0
    for a in range(len(positions)):
        for b in range(a + 1, len(positions)):
            if calls > BUDGET:
                break
            (n1, i1), (n2, i2) = positions[a], positions[b]
            x1, x2 = inputs[n1][i1], inputs[n2][i2]
            for y1 in moves(n1, i1):
                c1 = abs(y1 - x1) / scale(n1, x1)
                if best is not None and c1 >= best["cost"]:
                    continue
                step = _with(inputs, n1, i1, y1)
                for y2 in moves(n2, i2):
                    cost = c1 + abs(y2 - x2) / scale(n2, x2)
                    if best is not None and cost >= best["cost"]:
                        continue
                    new, calls = judge(_with(step, n2, i2, y2)), calls + 1
                    if new != word:
                        best = {"cost": cost, "changes": [(n1, i1, x1, y1), (n2, i2, x2, y2)], "to_word": new}
    if best is None:
        searched = "" if calls <= BUDGET else f" (of the {BUDGET:,} two-input changes searched)"
        return {"word": word, "flip": None, "fragile": False,
                "text": f"no change of one or two inputs flips it{searched}"}

    def who(n, i):
        if labels and n in labels:
            return labels[n][i]
        return f"{unit} {seeds[i] if seeds is not None else i}"

    def change(n, x, y):
        if n in integer:
            return f"{abs(int(y - x))} {'more' if y > x else 'fewer'} ({x} → {y})"
        return f"{y:.3g} instead of {x:.3g}"
    fragile = all(abs(y - x) <= spread[n] for n, _, x, y in best["changes"])
    text = (f"no single input's change flips it; it flips to {best['to_word']} if "
            + " and ".join(f"{n}, {who(n, i)}, were {change(n, x, y)}" for n, i, x, y in best["changes"])
            + "; seed-to-seed sd " + ", ".join(f"{spread[n]:.3g}" for n, *_ in best["changes"])
            + (": fragile" if fragile else ""))
    return {"word": word, "flip": {"changes": best["changes"], "to_word": best["to_word"]}, "fragile": fragile,
            "text": text}


def judged(judge, inputs: dict, integer=(), seeds=None, **kw) -> dict:
    """A claim's verdict, its margin (:func:`margin`: the smallest change of its inputs that flips it, and whether
    that lies within the seeds' spread) and the inputs it was judged on."""
    m = margin(inputs, judge, integer=integer, seeds=seeds, **kw)
    return {"verdict": m["word"], "margin": m["text"], "fragile": m["fragile"], "flip": m["flip"], "inputs": inputs}


PAPER = "Shahverdi, Marchetti, Bökman and Kohn (ICML 2026, arXiv:2601.21645)"


class Claim:
    """One claim of the reproduction report, owned by the page module that decides it: its ``key``, its ``text`` as
    its source words it, the ``source``, a ``short`` name for the pages' headers, its ``rule`` (an
    :class:`eqlib.rules.Rule`: the sentence and thresholds the judge reads), ``ours`` (a prediction beyond the paper)
    and ``judge(by_page)``, which reads the pages' results files (``{page: results}``) and returns the row's verdict,
    margin, evidence and seeds."""

    def __init__(self, key, text, source, short, rule, judge, ours=False):
        if rule.key != key:
            raise ValueError(f"claim {key!r} has the rule of {rule.key!r}")
        self.key, self.text, self.source, self.short, self.rule, self.judge, self.ours = \
            key, text, source, short, rule, judge, ours
