"""The environment that make builds: on a distribution's Python, which refuses pip installs
(PEP 668), `make install` makes the project's own venv, and every later command runs the venv's
interpreter, whose Jupyter kernel the book's chapters run in.

The test installs everything into a fresh venv (torch included: several GB, a minute or more
from a local index); `-m "not slow_install"` deselects it, `make test` and CI run it, and
EQLIB_REQUIRE_EXTERNALLY_MANAGED=1 (set by .ci/run) turns its skip into a failure."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow_install
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import lock  # noqa: E402  (book/lock.py)

REQUIRED = os.environ.get("EQLIB_REQUIRE_EXTERNALLY_MANAGED") == "1"
PROBE = ("import ensurepip, os, sys, sysconfig, venv\n"
         "marker = os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')\n"
         "print(os.path.exists(marker) and sys.prefix == sys.base_prefix and sys.version_info >= (3, 10))\n")


def externally_managed_python() -> str | None:
    """A Python marked EXTERNALLY-MANAGED (PEP 668), outside any venv, that can make a venv."""
    names = sorted({str(p) for p in Path("/usr/bin").glob("python3*") if re.fullmatch(r"python3(\.\d+)?", p.name)})
    for python in [*names, shutil.which("python3")]:
        if python and subprocess.run([python, "-c", PROBE], capture_output=True, text=True).stdout.strip() == "True":
            return python
    return None


def copy_of_the_repository(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "_build", "generated", "__pycache__", "*.egg-info", "build", "plotly.min.js"))
    return dest


def test_make_install_on_an_externally_managed_python(tmp_path):
    python = externally_managed_python()
    if python is None:
        why = "no EXTERNALLY-MANAGED Python with venv here (Debian: apt-get install python3-venv)"
        pytest.fail(why) if REQUIRED else pytest.skip(why)
    repo = copy_of_the_repository(tmp_path / "repo")
    user_jupyter = tmp_path / "user-jupyter"            # where a --user kernel would land
    drop = {"VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH", "PYTHONHOME", "JUPYTER_PATH",
            "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}        # not this session's environment nor an outer make's
    env = {**{k: v for k, v in os.environ.items() if k not in drop}, "JUPYTER_DATA_DIR": str(user_jupyter)}

    def make(*args, timeout=60):
        return subprocess.run(["make", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)

    pip = subprocess.run([python, "-m", "pip", "install", "--dry-run", "packaging"], capture_output=True, text=True)
    if "No module named pip" not in pip.stderr:
        assert "externally-managed-environment" in pip.stderr, \
            f"{python} refuses pip installs (what the old Makefile ran):\n{pip.stdout}{pip.stderr}"

    start = time.perf_counter()
    r = make("install", f"PYTHON={python}", timeout=1800)
    seconds = time.perf_counter() - start
    assert r.returncode == 0, f"make install PYTHON={python} failed after {seconds:.0f} s:\n{r.stdout}{r.stderr[-4000:]}"
    print(f"make install PYTHON={python}: {seconds:.0f} s")
    assert make("-q", "install").returncode == 0, "a second make install has nothing to do"

    venv = repo / ".venv"
    cfg = dict(line.split(" = ", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if " = " in line)
    assert cfg["include-system-site-packages"] == "false", "an externally managed Python's packages stay out"
    probe = ("import json, sys\n"
             "from importlib import metadata\n"
             "installed = {}\n"         # before setuptools puts its vendored packages on sys.path
             "for d in metadata.distributions():\n"
             "    installed.setdefault(d.metadata['Name'], d.version)\n"
             "import eqlib, setuptools, torch\n"
             "from jupyter_client.kernelspec import KernelSpecManager\n"
             "print(json.dumps({'prefix': sys.prefix, 'eqlib': eqlib.__file__, 'setuptools': setuptools.__version__,\n"
             "    'kernel': KernelSpecManager().get_kernel_spec('eqlib').argv[0], 'installed': installed}))\n")
    r = subprocess.run([venv / "bin" / "python", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert Path(out["prefix"]).resolve() == venv.resolve() and Path(out["eqlib"]).is_relative_to(repo), out
    assert int(out["setuptools"].split(".")[0]) >= 77, "the wheel test builds with setuptools>=77"
    assert out["kernel"] == str(venv / "bin" / "python"), "the eqlib kernel is the venv's interpreter"
    assert not user_jupyter.exists(), "nothing written to the user's Jupyter kernels"
    installed = {canonicalize_name(name): version.split("+")[0] for name, version in out["installed"].items()}
    del installed["pip"], installed["eqlib"]
    assert installed == lock.read_lock(repo / "requirements.lock"), \
        "the fresh venv holds exactly the lock's packages at the lock's versions"

    for target in ("book", "test"):
        r = make("-n", target)
        lines = [line for line in r.stdout.splitlines() if line.strip()]
        assert r.returncode == 0 and lines, r.stdout + r.stderr
        assert all(line.startswith(".venv/bin/python ") for line in lines), \
            f"make -n {target} runs only the venv's interpreter:\n{r.stdout}"
