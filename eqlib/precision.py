"""Which floating-point precision training uses.

bfloat16 matrix multiplies run 2.5x to 4x faster than float32 on CPUs that have them in hardware
(Intel's AMX, AVX-512 BF16) and slower on CPUs that emulate them (AVX2 only). ``"auto"`` picks
bfloat16 where the hardware has it and float32 elsewhere; ``EQLIB_PRECISION`` overrides the choice
for a whole build (``EQLIB_PRECISION=float32`` always trains in float32). Training autocasts the
forward pass to the chosen precision; the optimiser's state and every analysis stay in float32 and
float64.
"""
from __future__ import annotations

import os
from pathlib import Path

PRECISIONS = ("float32", "bfloat16")
CHOICES = (*PRECISIONS, "auto")
NATIVE_FLAGS = ("amx_bf16", "avx512_bf16")     # /proc/cpuinfo flags of a CPU that multiplies bfloat16 natively
ENV = "EQLIB_PRECISION"
DEFAULT = "float32"     # TrainConfig's default: "auto" only once the benchmark's check shows bfloat16 changes no conclusion


def cpu_flags(cpuinfo="/proc/cpuinfo") -> set:
    """The CPU's feature flags (Linux); empty where ``cpuinfo`` cannot be read."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def native_bfloat16(flags=None) -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (:data:`NATIVE_FLAGS`)."""
    flags = cpu_flags() if flags is None else set(flags)
    return any(f in flags for f in NATIVE_FLAGS)


def check_precision(precision) -> str:
    if precision not in CHOICES:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(CHOICES)}")
    return precision


def resolve(precision="auto", flags=None, env=None) -> str:
    """The concrete precision of ``precision``: itself when it names one; for ``"auto"``, the
    environment's :data:`ENV` when set (``float32``, ``bfloat16`` or ``auto``), else bfloat16 where
    the CPU has it natively (:func:`native_bfloat16`) and float32 elsewhere."""
    check_precision(precision)
    if precision != "auto":
        return precision
    env = os.environ.get(ENV, "") if env is None else env
    if env:
        try:
            precision = check_precision(env.strip())
        except ValueError as e:
            raise ValueError(f"{ENV}={env!r}: {e}") from None
        if precision != "auto":
            return precision
    return "bfloat16" if native_bfloat16(flags) else "float32"


def describe(precision=None, flags=None) -> str:
    """The training precision in words (default: :data:`DEFAULT` resolved here), for a page's provenance."""
    precision = resolve(DEFAULT, flags) if precision is None else precision
    native = native_bfloat16(flags)
    why = "this CPU has bfloat16 in hardware" if native else "this CPU has no bfloat16 in hardware"
    return f"{precision} ({why}; {ENV} overrides)"


# --------------------------------------------------------------------------- the check that bfloat16 changes no conclusion
def compare(values: dict, counts: dict, base="float32", other="bfloat16") -> dict:
    """Whether training in ``other`` instead of ``base`` changes a conclusion, from the same seeds.

    ``values[precision][row]`` lists one metric value per seed (the paper's rows); ``counts[precision][name]``
    one label count per seed (first-layer neurons explained). A row agrees when its means differ by less
    than ``base``'s spread over seeds (its range, max - min: a precision that only adds noise must not widen
    the tolerance it is judged by); ``"spread_other"`` gives ``other``'s range beside it. A count agrees
    when ``other``'s mean lies within ``base``'s range over seeds. Returns per row and count the numbers and
    ``ok``, and ``"agrees"``: every row and count agrees."""
    rows = {}
    for row, b in values[base].items():
        o = values[other][row]
        spread = max(b) - min(b)
        diff = sum(o) / len(o) - sum(b) / len(b)
        rows[row] = {base: list(b), other: list(o), "difference": diff, "spread": spread,
                     "spread_other": max(o) - min(o), "ok": abs(diff) < spread}
    cts = {}
    for name, b in counts[base].items():
        o = counts[other][name]
        mean = sum(o) / len(o)
        cts[name] = {base: list(b), other: list(o), "ok": min(b) <= mean <= max(b)}
    return {"rows": rows, "counts": cts, "agrees": all(r["ok"] for r in rows.values()) and all(c["ok"] for c in cts.values())}
