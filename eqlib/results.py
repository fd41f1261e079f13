"""What every page records about itself: its results file and the provenance of its numbers (machine, packages,
lock, protocol, timings), and the digest that tells two builds' results apart. Nothing here displays or trains."""
from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from eqlib.atomic import write_text
from eqlib.checks import check_choice
from eqlib.precision import describe as describe_precision

PROFILES = ("full", "quick")
_TRAINING = {"seconds": 0.0}     # training done in this process (eqlib.train adds to it; loads add nothing)


def count_training(seconds: float):
    """Add ``seconds`` of training done in this process (called by :func:`eqlib.train.train`)."""
    _TRAINING["seconds"] += float(seconds)


def training_seconds() -> float:
    """The seconds this process has spent training models (not loading them) so far."""
    return _TRAINING["seconds"]


_NETWORKS: list = []             # the cache keys of the networks this process trained or loaded, in order


def note_network(key: str):
    """Record that this process used the network ``key`` (called by :func:`eqlib.train.train`)."""
    _NETWORKS.append(key)


def networks_used(since: int = 0) -> list:
    """The distinct networks used since the ``since``-th, sorted: what a page's results file names, so that the
    book's networks can be packed (:func:`eqlib.networks.pack`)."""
    return sorted(set(_NETWORKS[since:]))


def in_book() -> bool:
    """True while book/build.py executes the notebook (it sets ``EQLIB_BOOK=1``)."""
    return os.environ.get("EQLIB_BOOK") == "1"


def package_version(name: str) -> str | None:
    """A package's ``__version__`` without importing it, or None where it is not installed. torchvision's
    import alone takes 1 to 3 s, the largest fixed cost of a page that never uses it, for this one string.
    An imported package answers itself; else its ``version.py`` (torchvision's and torch's, with the local
    build tag such as ``+cu130`` that the installed metadata leaves out); else its installed metadata."""
    if name in sys.modules:
        return sys.modules[name].__version__
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    source = Path(spec.origin).with_name("version.py")
    found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", source.read_text(), re.M) if source.exists() else None
    return found.group(1) if found else importlib.metadata.version(name)


def versions() -> dict:
    import scipy
    import torch
    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "scipy": scipy.__version__}
    for name in ("torchvision", "plotly"):
        if (v := package_version(name)) is not None:
            out[name] = v
    return out


ISA_TAGS = (("amx_tile", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))


def cpu_name(cpuinfo: str | None = None) -> str:
    """The processor as this project tells its machines apart: its model name, family, model and widest vector
    instructions (``/proc/cpuinfo``, or ``cpuinfo``'s text), e.g. ``AMD EPYC (family 26, model 2, AVX-512 BF16)``.
    Training times and the last bits of training differ between machines that share a model name (an AMD EPYC
    with AVX2 alone trains at about half the rate of one with AVX-512); elsewhere, the platform's name."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    first = cpuinfo.split("\n\n", 1)[0]
    fields = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in first.splitlines()) if _)
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    isa = next((tag for flag, tag in ISA_TAGS if flag in flags), None)
    detail = [f"family {fields['cpu family']}" if "cpu family" in fields else None,
              f"model {fields['model']}" if "model" in fields else None, isa]
    detail = [d for d in detail if d]
    return fields["model name"] + (f" ({', '.join(detail)})" if detail else "")


def lock_status(path=None) -> dict | None:
    """The dependency lock beside a checkout's eqlib (requirements.lock): its sha256 prefix, how many
    packages it pins, and those installed at another version; None without a checkout (Colab)."""
    import hashlib
    import re
    from importlib import metadata
    path = Path(path) if path else Path(__file__).resolve().parent.parent / "requirements.lock"
    if not path.is_file():
        return None
    text = path.read_text()
    norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()     # noqa: E731  (PEP 503 names)
    installed = {}
    for dist in metadata.distributions():                        # the first on sys.path wins, as in imports
        installed.setdefault(norm(dist.metadata["Name"] or ""), dist.version)
    locked = dict(line.strip().split("==") for line in text.splitlines() if "==" in line and not line.startswith("#"))
    differ = [f"{name} {installed[norm(name)]} (locked {v})" for name, v in locked.items()
              if norm(name) in installed and installed[norm(name)].split("+")[0] != v]   # 2.14.1+cpu is 2.14.1
    return {"file": path.name, "sha256": hashlib.sha256(text.encode()).hexdigest()[:12], "packages": len(locked),
            "differ": differ}


class Run:
    """Collects a page's numbers and writes them, with their provenance, as JSON."""

    def __init__(self, path, profile, seed=0, config=None, protocol=None):
        self.path = Path(path)
        self.profile = check_choice("profile", profile, PROFILES)
        self.start, self.trained_before, self.networks_before = time.perf_counter(), training_seconds(), len(_NETWORKS)
        self.results = {"config": config or {}, "seed": seed}
        # the page's resolved protocol (eqlib.protocol.Protocol, or a page module's own), in its provenance
        self.protocol = None if protocol is None else {k: list(v) if isinstance(v, tuple) else v
                                                       for k, v in dataclasses.asdict(protocol).items()}

    def provenance(self, data=None) -> dict:
        import torch
        p = {"profile": self.profile, "seed": self.results["seed"], "versions": versions(),
             "machine": f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} CPU threads, "
                        f"torch threads {torch.get_num_threads()}",
             "device": "cuda" if torch.cuda.is_available() else "cpu",
             "precision": describe_precision(),
             "run_seconds": round(time.perf_counter() - self.start, 1),
             "train_seconds_here": round(training_seconds() - self.trained_before, 1),
             "networks": networks_used(self.networks_before)}
        if data is not None:
            p["data"] = {"source": data.source, "description": data.description}
        if (lock := lock_status()) is not None:
            p["lock"] = lock
        if self.protocol is not None:
            p["protocol"] = self.protocol
        return p

    def save(self, data=None) -> dict:
        """Write the results file atomically. ``digest`` hashes everything but the timings,
        so the same seed on the same machine gives the same digest."""
        self.results["provenance"] = self.provenance(data)
        self.results["digest"] = digest(self.results)
        write_text(self.path, json.dumps(_jsonable(self.results), indent=1, sort_keys=True))
        return self.results


def load_or_run(path, expected, found, compute, data, profile="full", seeds=()) -> dict:
    """A page's results file: read when it exists, else computed and written, so that the next call
    reads it. ``found(results)`` names what a file holds; it must equal ``expected`` (else a
    ``ValueError`` names both, and the file is left as it is). ``compute(data)`` returns
    ``(results, config)``; ``data`` is a callable returning the data set, called only then."""
    import json
    path = Path(path)
    if path.exists():
        r = json.loads(path.read_text())
        if found(r) != expected:
            raise ValueError(f"{path} holds {found(r)}, not {expected}")
        return r
    d = data()
    results, config = compute(d)
    run = Run(path, profile, list(seeds), config=config)
    run.results.update(results)
    return run.save(d)


def replace_generated(text: str, name: str, body: str) -> str:
    """``text`` with the body of its generated block ``name`` (between ``<!-- generated:NAME ... -->`` and
    ``<!-- /generated:NAME -->``) replaced by ``body``; exactly one such block must exist. The README's blocks
    (the claims, the build times) are written through here."""
    pattern = re.compile(r"(<!-- generated:" + re.escape(name) + r"\b[^>]*-->\n).*?(\n<!-- /generated:"
                         + re.escape(name) + r" -->)", re.S)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"the text must hold exactly one generated block {name!r} between its markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


# what changes with the machine's load or the cache's state, not with the results: timings, and whether a model
# was trained or loaded (a rebuild with models cached gives a cold build's digest)
VOLATILE = {"seconds", "run_seconds", "train_seconds", "train_seconds_here", "loaded_from_cache", "loaded", "digest",
            "total_s", "per_part_s", "per_page_s"}


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in VOLATILE}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    if isinstance(x, float):
        return float(f"{x:.6g}")   # last-bit noise of threaded BLAS reductions must not change the digest
    return x


def digest(results: dict) -> str:
    """sha256 of a results dict without its timings (and without the digest itself), with
    floats rounded to 6 significant digits."""
    import hashlib
    return hashlib.sha256(json.dumps(_strip(_jsonable(results)), sort_keys=True).encode()).hexdigest()


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x

