"""Write requirements.lock: the exact versions, in this environment, of everything that
requirements.txt pulls in.

    python book/lock.py            # (make lock) rewrite requirements.lock from this environment
    python book/lock.py --check    # does requirements.lock satisfy requirements.txt?

requirements.txt keeps lower bounds (Colab installs from those); the lock records what the book
was built with, for this Python and platform, and make and CI install with it as a constraint
(``pip install -c requirements.lock -r requirements.txt``). The lock is the closure of
requirements.txt over the installed packages' own requirements (environment markers evaluated for
this interpreter, extras followed), each at its installed version: the machine's unrelated
packages stay out.
"""
from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS, LOCK = ROOT / "requirements.txt", ROOT / "requirements.lock"


def requirements(path: Path = REQUIREMENTS) -> list[Requirement]:
    """The requirements of a requirements file (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def installed() -> dict[str, tuple[str, list[str]]]:
    """Every distribution this interpreter imports: canonical name -> (version, its requirements).
    The first on sys.path wins, as it does for imports (a venv's own before its base's)."""
    out = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name and name not in out:
            out[name] = (dist.version, dist.requires or [])
    return out


def closure(roots: list[Requirement], dists: dict[str, tuple[str, list[str]]],
            env: dict | None = None) -> dict[str, str]:
    """Name -> installed version of the roots and, recursively, of what they require, with markers
    evaluated in ``env`` (this interpreter's by default) and extras followed. A requirement whose
    distribution is not installed is an error: the lock would miss it."""
    env = env or default_environment()
    wanted: dict[str, set[str]] = {}            # name -> the extras asked of it
    todo = [r for r in roots if r.marker is None or r.marker.evaluate({**env, "extra": ""})]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = wanted.get(name)
        if extras is not None and set(req.extras) <= extras:
            continue
        if name not in dists:
            raise LookupError(f"{req} is required but {name} is not installed: make install first")
        wanted[name] = (extras or set()) | set(req.extras)
        for line in dists[name][1]:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({**env, "extra": e}) for e in ["", *wanted[name]]):
                todo.append(sub)
    return {name: dists[name][0] for name in sorted(wanted)}


def violations(lock: dict[str, str], reqs: list[Requirement]) -> list[str]:
    """The requirements that the lock leaves out or pins outside their specifier."""
    out = []
    for req in reqs:
        version = lock.get(canonicalize_name(req.name))
        if version is None:
            out.append(f"{req}: not in the lock")
        elif not req.specifier.contains(Version(version), prereleases=True):
            out.append(f"{req}: locked at {version}")
    return out


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """requirements.lock as name -> version (each line ``name==version``)."""
    out = {}
    for req in requirements(path):
        [spec] = req.specifier
        assert spec.operator == "==", f"{req}: a lock pins exact versions"
        out[canonicalize_name(req.name)] = spec.version
    return out


HEADER = """\
# requirements.lock: the exact versions the book was built with, for Python {python} on {platform}.
# Made by `make lock` (book/lock.py): requirements.txt's requirements and, recursively, theirs
# (markers evaluated for this interpreter), each at the version installed in the project environment;
# the machine's other packages are not listed. make and CI install with it as a constraint:
#     pip install -c requirements.lock -r requirements.txt
# requirements.txt keeps lower bounds, for Colab. To move to newer versions: upgrade in the
# environment (pip install -U ...), run the tests, then make lock.
"""


def write(path: Path = LOCK) -> dict[str, str]:
    lock = closure(requirements(), installed())
    bad = violations(lock, requirements())
    if bad:
        raise SystemExit("the installed versions do not satisfy requirements.txt:\n  " + "\n  ".join(bad))
    text = HEADER.format(python=".".join(platform.python_version_tuple()[:2]),
                         platform=f"{platform.system()} {platform.machine()}".lower())
    text += "".join(f"{name}=={version}\n" for name, version in lock.items())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return lock


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check that requirements.lock satisfies requirements.txt")
    args = ap.parse_args(argv)
    if args.check:
        bad = violations(read_lock(), requirements())
        print("\n".join(bad) or "requirements.lock satisfies requirements.txt")
        sys.exit(1 if bad else 0)
    lock = write()
    print(f"wrote {LOCK.name}: {len(lock)} packages")


if __name__ == "__main__":
    main()
