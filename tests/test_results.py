import builtins
import json

import pytest

from eqlib import checks, page, results


def test_md_table_renders_rows():
    md = page.md_table(["a", "b"], [[1, "x"], [2, [3, 4]]])
    assert md.data == "| a | b |\n|---|---|\n| 1 | x |\n| 2 | [3, 4] |"


def test_glue_is_a_no_op_without_myst_nb(monkeypatch):
    real_import = builtins.__import__

    def no_myst(name, *a, **kw):
        if name.startswith("myst_nb"):
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_myst)
    assert page.glue("k", 1) is None, "on Colab, glue does nothing and does not fail"


def test_results_file_digest_ignores_timings_and_write_is_atomic(tmp_path):
    a = results.Run(tmp_path / "a.json", "quick", [0, 1])
    a.results.update({"x": 0.1234567891, "seconds": 5.0})
    b = results.Run(tmp_path / "b.json", "quick", [0, 1])
    b.results.update({"x": 0.1234567899, "seconds": 9.0})
    assert a.save()["digest"] == b.save()["digest"], "timings and the 10th digit do not change the digest"
    assert json.loads((tmp_path / "a.json").read_text())["x"] == 0.1234567891
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"
    c = results.Run(tmp_path / "c.json", "quick", [0, 1])
    c.results.update({"x": 0.13})
    assert c.save()["digest"] != a.results["digest"]


def test_the_digest_of_a_rebuild_with_models_cached_is_the_cold_builds(tmp_path):
    """Whether a model was trained or loaded, and the report's per-page seconds, are the cache's and the
    machine's state, not results: a rebuild from cached models must give the cold build's digest."""
    cold, warm = (results.Run(tmp_path / f"{n}.json", "full", [0]) for n in ("cold", "warm"))
    cold.results.update({"cells": {"a": {"loaded": [False, False], "forked_at": [0, 10], "x": 0.5}},
                         "compute": {"machine": "m", "total_s": 900.0, "per_part_s": {"p": 900.0}, "per_page_s": {"p": 900.0}}})
    warm.results.update({"cells": {"a": {"loaded": [True, True], "forked_at": [0, 10], "x": 0.5}},
                         "compute": {"machine": "m", "total_s": 90.0, "per_part_s": {"p": 90.0}, "per_page_s": {"p": 90.0}}})
    assert cold.save()["digest"] == warm.save()["digest"]
    warm.results["cells"]["a"]["forked_at"] = [0, 5]
    assert warm.save()["digest"] != cold.results["digest"], "how a model was trained is a result; where it came from is not"


def test_parameter_checks_name_the_value():
    with pytest.raises(ValueError, match="parameter profile='slow' is not allowed; choose one of: 'full', 'quick'"):
        results.Run("r.json", "slow")
    with pytest.raises(ValueError, match=r"parameter n=-1 must be an integer >= 0"):
        checks.check_int("n", -1)
    with pytest.raises(ValueError, match=r"parameter w=nan must be a finite number"):
        checks.check_number("w", float("nan"))


def test_provenance_names_the_cpu():
    assert results.cpu_name() and results.cpu_name() in results.Run("r.json", "quick").provenance()["machine"]


CPUINFO = "processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: {name}\n" \
          "flags\t\t: fpu sse sse2 {flags}\n\nprocessor\t: 1\nmodel name\t: {name}\n"


def test_the_cpus_name_tells_this_projects_machines_apart():
    """Three machines called 'AMD EPYC' and one Intel Xeon: training times differ up to 2.5x between them, so a
    timing's machine names its family, model and widest vector instructions, not the model name alone."""
    machines = {
        ("AuthenticAMD", 26, 2, "AMD EPYC", "avx2 avx512f avx512_bf16"): "AMD EPYC (family 26, model 2, AVX-512 BF16)",
        ("AuthenticAMD", 25, 17, "AMD EPYC", "avx2 avx512f avx512_bf16"): "AMD EPYC (family 25, model 17, AVX-512 BF16)",
        ("AuthenticAMD", 23, 49, "AMD EPYC", "avx2"): "AMD EPYC (family 23, model 49, AVX2)",
        ("GenuineIntel", 6, 143, "Intel(R) Xeon(R) Processor", "avx2 avx512f avx512_bf16 amx_tile amx_bf16"):
            "Intel(R) Xeon(R) Processor (family 6, model 143, AMX)",
    }
    for (vendor, family, model, name, flags), expected in machines.items():
        text = CPUINFO.format(vendor=vendor, family=family, model=model, name=name, flags=flags)
        assert results.cpu_name(text) == expected
    assert len(set(machines.values())) == 4
    assert results.cpu_name("") == results.cpu_name("no cpuinfo here\n") != "", "elsewhere: the platform's name"


def test_provenance_names_the_dependency_lock_and_what_differs_from_it(tmp_path):
    import hashlib
    from importlib import metadata
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"# a comment\nnumpy=={metadata.version('numpy')}\npytest==0.0.1\nnot-installed-here==1.0\n")
    status = results.lock_status(lock)
    assert status == {"file": "requirements.lock", "sha256": hashlib.sha256(lock.read_bytes()).hexdigest()[:12],
                      "packages": 3, "differ": [f"pytest {metadata.version('pytest')} (locked 0.0.1)"]}, \
        "only an installed package at another version differs; one not installed (a platform's) does not"
    assert results.lock_status(tmp_path / "none.lock") is None, "no lock beside eqlib (Colab): nothing to say"
    repo = results.lock_status()
    assert repo["file"] == "requirements.lock" and results.Run("r.json", "quick").provenance()["lock"] == repo
    note = page.provenance_note({**results.Run("r.json", "quick").provenance(), "lock": status}).data
    assert f"dependency lock: `requirements.lock` (sha256 {status['sha256']}), 3 packages, 1 installed at other" in note


def test_package_versions_are_read_without_importing_the_package_and_equal_its_own():
    """Oracle: a fresh interpreter reads torchvision's version through eqlib without importing it, then imports
    it and compares with its own ``__version__`` (local build tag included)."""
    import subprocess
    import sys
    code = ("import sys; from eqlib.results import package_version, versions\n"
            "v = versions()\n"
            "assert 'torchvision' not in sys.modules, 'versions() imported torchvision'\n"
            "import torchvision, plotly\n"
            "assert v['torchvision'] == torchvision.__version__, (v['torchvision'], torchvision.__version__)\n"
            "assert v['plotly'] == plotly.__version__\n"
            "assert package_version('no_such_package_here') is None\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
