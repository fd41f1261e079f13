"""Atomic writes: a file is replaced whole or not at all, whoever writes it and however many do at once.

Every cache and results file of eqlib (checkpoints, analyses, statistics, draws, results) is written
through :func:`atomic_write`: a unique temporary file in the target's folder, then a rename onto the
target, which POSIX makes atomic. Two processes writing the same path each write their own temporary
file, and the last rename wins; a reader sees the old file or a new one, never a torn one. A write that
fails leaves the old file and no temporary file.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path, mode: str = "wb"):
    """``with atomic_write(path) as f: ...`` writes ``f`` and then renames it onto ``path`` (its folder
    made if missing); ``mode`` is ``"wb"`` or ``"w"``."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w'; got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str):
    with atomic_write(path, "w") as f:
        f.write(text)
