"""Write requirements.lock: the exact version of everything that requirements.txt pulls in, for
this Python and platform.

    python book/lock.py             # (make lock) keep the lock's versions where they still fit
    python book/lock.py --upgrade   # the newest versions the package index offers
    python book/lock.py --check     # does requirements.lock satisfy requirements.txt?

requirements.txt keeps lower bounds (Colab installs from those); the lock records the versions
the book is built with, and make and CI install with it as a constraint
(``pip install -c requirements.lock -r requirements.txt``), so the project environment holds
exactly the lock's versions. The lock is what pip would install into an empty environment for
requirements.txt (``pip install --dry-run --ignore-installed --report``), with this interpreter's
environment markers, for any patch release of its Python version, from the package index that pip
is configured with: requirements.txt's packages and everything they pull in, and none of the
machine's other packages.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))      # eqlib.atomic (standard library only), also before `make install`
from eqlib.atomic import write_text  # noqa: E402
REQUIREMENTS, LOCK = ROOT / "requirements.txt", ROOT / "requirements.lock"
PYTHON = ".".join(platform.python_version_tuple()[:2])


def requirements(path: Path = REQUIREMENTS) -> list[Requirement]:
    """The requirements of a requirements file (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def pinned(report: dict) -> dict[str, str]:
    """Name -> version of every package in a ``pip install --report``, sorted by name. A local
    version label is dropped (torch 2.14.1+cpu is pinned as 2.14.1, which matches either build)."""
    return dict(sorted((canonicalize_name(item["metadata"]["name"]), Version(item["metadata"]["version"]).public)
                       for item in report["install"]))


def resolve(constraints: Path | None = None) -> tuple[dict[str, str] | None, str]:
    """What pip would install into an empty environment for requirements.txt (within
    ``constraints``); None and pip's message when it cannot."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        # --python-version X.Y: versions that hold for every X.Y.z (Debian 12's 3.11.2 as well as 3.11.7;
        # pip allows it for wheels only, into a --target)
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--python-version", PYTHON, "--only-binary=:all:", "--target", str(Path(tmp) / "target"),
               "--report", str(report), "-r", str(REQUIREMENTS)]
        r = subprocess.run(cmd + (["-c", str(constraints)] if constraints else []), capture_output=True, text=True)
        if r.returncode != 0:
            return None, "\n".join(line for line in r.stderr.splitlines() if "is ignored" not in line)
        return pinned(json.loads(report.read_text())), ""


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
# requirements.lock: the exact versions the book is built with, for Python {python} (any {python}.z) on {platform}.
# Made by `make lock` (book/lock.py): the wheels that `pip install --dry-run --ignore-installed --report
# --python-version {python} -r requirements.txt` would install into an empty environment, keeping this
# file's earlier versions where they still fit (`python book/lock.py --upgrade`: the newest instead):
# requirements.txt's packages and everything they pull in, none of the machine's other packages.
# make and CI install with it as a constraint:
#     pip install -c requirements.lock -r requirements.txt
# requirements.txt keeps lower bounds, for Colab.
"""


def format_lock(lock: dict[str, str]) -> str:
    return HEADER.format(python=PYTHON, platform=f"{platform.system()} {platform.machine()}".lower()) + \
        "".join(f"{name}=={version}\n" for name, version in lock.items())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upgrade", action="store_true", help="resolve afresh instead of keeping the lock's versions")
    ap.add_argument("--check", action="store_true", help="only check that requirements.lock satisfies requirements.txt")
    args = ap.parse_args(argv)
    if args.check:
        bad = violations(read_lock(), requirements())
        print("\n".join(bad) or "requirements.lock satisfies requirements.txt")
        sys.exit(1 if bad else 0)
    lock, why = (None, "") if args.upgrade or not LOCK.exists() else resolve(LOCK)
    if lock is None:
        if why:
            print(f"the lock's versions no longer fit requirements.txt; resolving afresh:\n{why}", file=sys.stderr)
        lock, why = resolve()
    if lock is None:
        sys.exit(f"pip cannot resolve requirements.txt:\n{why}")
    bad = violations(lock, requirements())
    assert not bad, bad                         # pip resolved requirements.txt itself
    write_text(LOCK, format_lock(lock))
    print(f"wrote {LOCK.name}: {len(lock)} packages")


if __name__ == "__main__":
    main()
