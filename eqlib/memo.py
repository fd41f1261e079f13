"""Analyses cached per model, so that a page whose models are cached re-executes in seconds.

An analysis of a model (its labels, its negated copies, the paper's metric under every reading) costs
seconds to minutes; a change to a figure, a table or a sentence should not repeat it. :func:`memo`
caches a function's result on disk under a key made of the function, its arguments (models by their
parameters, tensors by their shape and a strided sample of their values, data sets by their
fingerprint) and the code of the modules the function's module imports, transitively (:func:`closure`;
docstrings and comments are not code): a change to ``plots.py`` or ``train.py``, or to a docstring of
``metric.py``, leaves every entry valid, a change to ``metric.py``'s code invalidates them. :func:`per_model`
does the same for functions computed over many models at once in shared passes (the metric), one
entry per model. Entries are written atomically; a damaged one is recomputed, never trusted.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from eqlib.atomic import atomic_write
from eqlib.data import cache_dir

# A cached function's key holds the sources of the modules its own module imports, transitively (:func:`closure`):
# a change to the pages' text, tables and figures, or to the training loop, leaves the analyses' entries valid.
# A function may name its modules instead (memo(modules=...)). A change to how entries are stored bumps FORMAT.
FORMAT = "eqlib-analysis-v2"     # v2: keyed by the modules' code (their syntax trees), not their text
SAMPLE = 4099          # a tensor is fingerprinted by its shape, dtype, sum and every SAMPLE-th value
SOURCE_DIR = Path(__file__).resolve().parent     # where the analysis modules' sources are read


def _source(module: str, source_dir: Path | None = None) -> Path:
    """The source file of an ``eqlib`` module named relative to the package (``"metric"``, ``"pages.cnn"``)."""
    return (source_dir or SOURCE_DIR).joinpath(*module.split(".")).with_suffix(".py")


_CLOSURES = {}     # (source folder, module) -> (the sources' stamp, closure): parsed once while no source changes


def _stamp() -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(SOURCE_DIR.rglob("*.py")))


def closure(module: str) -> tuple:
    """``module`` and every ``eqlib`` module it imports, at the top or inside a function, transitively
    (read from the sources with :mod:`ast`; names relative to the package, ``"pages.cnn"`` for a page;
    ``memo`` itself is versioned by :data:`FORMAT`). Parsed again only when a source file changes."""
    stamp, known = _stamp(), _CLOSURES.get((str(SOURCE_DIR), module))
    if known is not None and known[0] == stamp:
        return known[1]
    out = _closure(module)
    _CLOSURES[(str(SOURCE_DIR), module)] = (stamp, out)
    return out


def _closure(module: str, source_dir: Path | None = None, keep_memo=False) -> tuple:
    src = lambda m: _source(m, source_dir)
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen or (m == "memo" and not keep_memo):
            continue
        if not src(m).exists():
            raise ValueError(f"no eqlib module {m!r} in {source_dir or SOURCE_DIR}")
        seen.add(m)
        for node in ast.walk(ast.parse(src(m).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and (node.module == "eqlib" or node.module.startswith("eqlib.")):
                base = node.module[len("eqlib."):] if node.module != "eqlib" else ""
                if base and src(base).exists():
                    todo.append(base)
                todo += [f"{base}.{a.name}".lstrip(".") for a in node.names if src(f"{base}.{a.name}".lstrip(".")).exists()]
            elif isinstance(node, ast.Import):
                todo += [a.name[len("eqlib."):] for a in node.names if a.name.startswith("eqlib.")]
    return tuple(sorted(seen))


def imported_closure(modules, source_dir: Path) -> tuple:
    """Every ``eqlib`` module that ``modules`` import, transitively, ``memo`` included, read from the sources in
    ``source_dir`` (what a page of the book executes: its key holds these modules and no other)."""
    out = set()
    for m in modules:
        out |= set(_closure(m, source_dir, keep_memo=True))
    return tuple(sorted(out))


def _modules(fn, modules) -> tuple:
    return tuple(modules) if modules is not None else closure(fn.__module__.split(".", 1)[1])


_CODE = {}     # sha256 of a source file's bytes -> digest of its code: each text parsed once per process


def code_digest(path: Path) -> str:
    """sha256 of a module's code: its syntax tree without docstrings (comments never reach the tree) and
    without line numbers, so a reworded docstring, a comment or a reflowed line keeps every entry. Only
    the first statement of a module, class or function body is a docstring (Python's own rule): an
    f-string or a string anywhere else is code."""
    raw = path.read_bytes()
    text = hashlib.sha256(raw).hexdigest()
    if text not in _CODE:
        tree = ast.parse(raw)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body and \
                    isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                    isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        _CODE[text] = hashlib.sha256(ast.dump(tree).encode()).hexdigest()
    return _CODE[text]


def sources(modules) -> str:
    """sha256 of the code of ``modules`` (names in the ``eqlib`` package; :func:`code_digest`)."""
    h = hashlib.sha256()
    for name in sorted(modules):
        h.update(name.encode() + b"\0" + code_digest(_source(name)).encode())
    return h.hexdigest()


def fingerprint(x) -> str:
    """A stable text for a function argument: models by their class, config and parameters, tensors and
    arrays by shape, dtype, sum and a strided sample, data sets by their fingerprint, containers item by
    item. Anything else must have a stable ``repr``."""
    if isinstance(x, torch.nn.Module):
        h = hashlib.sha256(type(x).__name__.encode() + repr(getattr(x, "config", None)).encode())
        for k, v in x.state_dict().items():
            h.update(k.encode() + v.detach().cpu().contiguous().numpy().tobytes())
        return f"module:{h.hexdigest()}"
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        flat = x.reshape(-1)
        sample = flat[::SAMPLE].double().numpy().tobytes() if flat.numel() else b""
        total = float(flat.double().sum()) if flat.numel() else 0.0
        return f"tensor:{tuple(x.shape)}:{x.dtype}:{total!r}:{hashlib.sha256(sample).hexdigest()}"
    if isinstance(x, np.ndarray):
        return fingerprint(torch.from_numpy(np.ascontiguousarray(x)))
    if hasattr(x, "fingerprint") and isinstance(getattr(x, "fingerprint"), str):
        return f"data:{x.fingerprint}"
    if isinstance(x, dict):
        return "{" + ",".join(f"{fingerprint(k)}:{fingerprint(v)}" for k, v in sorted(x.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ",".join(fingerprint(v) for v in x) + "]"
    if x is None or isinstance(x, (bool, int, float, str)):
        return repr(x)
    if isinstance(x, os.PathLike):
        return f"path:{os.fspath(x)}"
    if callable(x) and hasattr(x, "__qualname__"):       # a named function (a transform): by its name
        return f"fn:{x.__module__}.{x.__qualname__}"
    raise TypeError(f"cannot fingerprint a {type(x).__name__} for the analysis cache")


def key(name: str, *args, modules, **kw) -> str:
    spec = "|".join([FORMAT, name, sources(modules), fingerprint(list(args)), fingerprint(kw)])
    return hashlib.sha256(spec.encode()).hexdigest()[:24]


def _path(name: str, k: str, cache=None) -> Path:
    return cache_dir(cache) / "analysis" / f"{name}-{k}.pkl"


def load(path: Path):
    """The cached value at ``path``, or ``None`` when absent or damaged."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f)
        return entry["value"] if entry.get("format") == FORMAT else None
    except Exception:       # absent, truncated or from another version: recompute
        return None


def save(path: Path, value):
    """Write atomically (:func:`eqlib.atomic.atomic_write`): two processes writing the same entry never
    leave a torn file."""
    with atomic_write(path) as f:
        pickle.dump({"format": FORMAT, "value": value}, f, protocol=pickle.HIGHEST_PROTOCOL)


STATS = {"hits": 0, "misses": 0}       # this process's cache hits and misses (the tests read them)


def memo(fn=None, *, modules=None):
    """Cache ``fn``'s result per argument values and the sources of ``modules`` (``@memo``: the import
    closure of ``fn``'s module, read when it is called; ``@memo(modules=(...))`` to name them;
    ``EQLIB_ANALYSIS_CACHE=0`` turns the cache off)."""
    if fn is None:
        return functools.partial(memo, modules=None if modules is None else tuple(modules))

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        if os.environ.get("EQLIB_ANALYSIS_CACHE", "1") == "0":
            return fn(*args, **kw)
        path = _path(fn.__name__, key(fn.__qualname__, *args, modules=_modules(fn, modules), **kw))
        value = load(path)
        if value is not None:
            STATS["hits"] += 1
            return value
        STATS["misses"] += 1
        value = fn(*args, **kw)
        save(path, value)
        return value
    return wrapper


def _leaf(tree, i):
    """Model ``i``'s part of a nested dict whose leaves are per-model lists."""
    return {k: _leaf(v, i) for k, v in tree.items()} if isinstance(tree, dict) else tree[i]


def _put(node: dict, tree, i: int, n: int):
    for k, v in tree.items():
        if isinstance(v, dict):
            _put(node.setdefault(k, {}), v, i, n)
        else:
            node.setdefault(k, [None] * n)[i] = v


def per_model(name: str, models: dict, compute, *args, modules=None, **kw) -> dict:
    """``compute(models, *args, **kw)`` for ``models = {kind: [model, ...]}``, returning
    ``{reading: {kind: tree}}`` whose leaves list one value per model, computed only for the models
    without a cached entry (in one shared call) and assembled from the entries of the others. Sound when
    each model's values do not depend on the other models of the call (shared passes only share inputs).
    The key holds the sources of ``modules``, by default the import closure of ``compute``'s module."""
    modules = _modules(compute, modules)
    off = os.environ.get("EQLIB_ANALYSIS_CACHE", "1") == "0"
    found, todo = {}, {}
    for kind, ms in models.items():
        for i, m in enumerate(ms):
            path = _path(name, key(name, m, *args, modules=modules, **kw))
            value = None if off else load(path)
            if value is None:
                todo.setdefault(kind, []).append((i, m, path))
                STATS["misses"] += 1
            else:
                found[(kind, i)] = value
                STATS["hits"] += 1
    if todo:
        res = compute({kind: [m for _, m, _ in v] for kind, v in todo.items()}, *args, **kw)
        for kind, v in todo.items():
            for j, (i, _, path) in enumerate(v):
                found[(kind, i)] = {r: _leaf(res[r][kind], j) for r in res}
                if not off:
                    save(path, found[(kind, i)])
    out = {}
    for (kind, i), one in found.items():
        for r, tree in one.items():
            _put(out.setdefault(r, {}).setdefault(kind, {}), tree, i, len(models[kind]))
    return {r: {kind: out[r][kind] for kind in models} for r in out}
