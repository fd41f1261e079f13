"""requirements.lock (book/lock.py): exact versions inside requirements.txt's ranges, made from the
closure of requirements.txt over installed packages, and nothing else of the machine."""
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import lock  # noqa: E402  (book/lock.py)


def test_the_lock_satisfies_requirements_txt():
    locked = lock.read_lock()
    assert not lock.violations(locked, lock.requirements()), \
        "every requirement of requirements.txt is locked at a version its specifier contains"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not lock.violations(locked, [Requirement(d) for d in deps]), "and so is every dependency of eqlib"
    assert "eqlib" not in locked, "eqlib itself is installed from the checkout, not pinned"


def test_the_lock_says_how_it_was_made():
    head = [line for line in lock.LOCK.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(head)
    assert head and "make lock" in text and "pip install -c requirements.lock -r requirements.txt" in text


def test_violations_catch_a_lock_outside_the_ranges():
    reqs = [Requirement("numpy>=1.24"), Requirement("torch>=2.2"), Requirement("jupyter-book==1.0.4.post1")]
    assert lock.violations({"numpy": "2.1.0", "torch": "2.14.1", "jupyter-book": "1.0.4.post1"}, reqs) == []
    bad = lock.violations({"numpy": "1.23.5", "jupyter-book": "1.0.4"}, reqs)
    assert bad == ["numpy>=1.24: locked at 1.23.5", "torch>=2.2: not in the lock",
                   "jupyter-book==1.0.4.post1: locked at 1.0.4"], bad


PLANTED = {          # name -> (installed version, its requirements), as importlib.metadata reports them
    "app": ("1.0", ["lib>=2", "winonly; sys_platform == 'win32'", "extra-dep; extra == 'fancy'",
                    "Other_Lib[plots]"]),
    "lib": ("2.5", ["app"]),                            # a cycle
    "other-lib": ("0.3", ["plot-dep; extra == 'plots'", "test-dep; extra == 'test'"]),
    "plot-dep": ("4.0", []),
    "test-dep": ("1.1", []),
    "extra-dep": ("9.9", []),
    "winonly": ("1.0", []),
    "unrelated": ("7.0", []),                           # installed, but nothing here requires it
}
LINUX = {"sys_platform": "linux", "python_version": "3.11", "python_full_version": "3.11.2", "os_name": "posix",
         "platform_machine": "x86_64", "platform_system": "Linux", "implementation_name": "cpython",
         "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
         "implementation_version": "3.11.2"}


def test_closure_follows_requirements_markers_and_extras_and_nothing_else():
    got = lock.closure([Requirement("app")], PLANTED, env=LINUX)
    assert got == {"app": "1.0", "lib": "2.5", "other-lib": "0.3", "plot-dep": "4.0"}, \
        "the closure holds what app pulls in on Linux, extras asked for included, at installed versions"
    fancy = lock.closure([Requirement("app[fancy]")], PLANTED, env=LINUX)
    assert fancy["extra-dep"] == "9.9" and "test-dep" not in fancy, "an extra is followed only when asked for"
    windows = lock.closure([Requirement("app")], PLANTED, env={**LINUX, "sys_platform": "win32"})
    assert "winonly" in windows and "unrelated" not in windows


def test_closure_refuses_a_requirement_that_is_not_installed():
    with pytest.raises(LookupError, match="missing is not installed"):
        lock.closure([Requirement("app"), Requirement("missing>=1")], PLANTED, env=LINUX)
