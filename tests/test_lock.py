"""requirements.lock (book/lock.py): exact versions inside requirements.txt's ranges, read off pip's
own resolution of requirements.txt. That installing with it gives exactly its packages and versions
is checked by tests/test_environment.py, which installs into a fresh venv."""
import sys
import tomllib
from pathlib import Path

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


def test_pinned_reads_a_pip_report_and_drops_local_version_labels():
    report = {"install": [{"metadata": {"name": "Torch", "version": "2.14.1+cpu"}},
                          {"metadata": {"name": "jupyter_book", "version": "1.0.4.post1"}},
                          {"metadata": {"name": "numpy", "version": "2.4.6"}}]}
    assert lock.pinned(report) == {"jupyter-book": "1.0.4.post1", "numpy": "2.4.6", "torch": "2.14.1"}, \
        "canonical names, sorted; 2.14.1+cpu pinned as 2.14.1, which either build satisfies"


def test_the_lock_file_round_trips(tmp_path):
    pins = {"numpy": "2.4.6", "torch": "2.14.1"}
    path = tmp_path / "requirements.lock"
    path.write_text(lock.format_lock(pins))
    assert lock.read_lock(path) == pins and path.read_text().startswith("# requirements.lock: ")
