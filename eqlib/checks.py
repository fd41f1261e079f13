"""A page's parameters, checked before anything runs: a bad value stops the notebook with a message that
names the parameter, its value and what is allowed."""
from __future__ import annotations

import math


def check_choice(name, value, allowed):
    """Stop a notebook early with a clear message when a parameter is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"parameter {name}={value!r} is not allowed; choose one of: {', '.join(map(repr, allowed))}")
    return value


def check_int(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"parameter {name}={value!r} must be an integer >= {minimum}")
    return value


def check_number(name, value, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"parameter {name}={value!r} must be a finite number >= {minimum}")
    return value

