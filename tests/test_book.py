"""The book's sources: notebooks are clean templates, their install cell points at the
repository of _config.yml, bad parameters stop them early, and the build configuration
covers every chapter."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "book"))
import build  # noqa: E402  (book/build.py)
from eqlib import registry  # noqa: E402
from conftest import cache_with_data  # noqa: E402


def cells(nb_path):
    return json.loads(nb_path.read_text())["cells"]


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"theory.ipynb", "mlp_filters.ipynb", "mlp_summary.ipynb",
                                           "protocol_study.ipynb", "attention_heads.ipynb"}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_clean_template(nb):
    cs = cells(nb)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in cs if c["cell_type"] == "code"), \
        "notebooks are committed without outputs"
    tagged = [c for c in cs if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters' (papermill)"
    assert cs[0]["cell_type"] == "markdown" and cs[0]["source"][0].startswith("# "), "starts with a title"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_points_at_the_configured_repository(nb):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    install = [c for c in cells(nb) if "remove-cell" in c.get("metadata", {}).get("tags", [])]
    assert len(install) == 1, "one hidden install cell"
    src = "".join(install[0]["source"])
    assert "import eqlib" in src and "except ImportError" in src, "skipped when eqlib is importable"
    assert re.search(r'^\s*REPOSITORY\s*=\s*"([^"]*)"', src, re.M).group(1) == url, \
        "install cell's REPOSITORY equals _config.yml's repository"


def test_build_covers_the_toc_and_profiles(tmp_path):
    toc = build.write_toc(tmp_path).read_text()
    assert yaml.safe_load(toc) == registry.toc(), "the table of contents is the registry's, written by the build"
    for chapter in build.CHAPTERS:
        assert f"book/generated/{chapter}" in toc, f"{chapter} is in the table of contents"
        assert (ROOT / "notebooks" / build.CHAPTERS[chapter][0]).exists()
    for md in [registry.ROOT_PAGE, *(m for ms in registry.BOOK_PAGES.values() for m in ms)]:
        assert (ROOT / f"{md}.md").exists(), f"{md}: a book page of the registry exists"
    for profile, overrides in build.PROFILES.items():
        assert set(overrides) <= set(build.CHAPTERS), f"profile {profile} names only known chapters"
    assert build.colab_link("theory") is None or build.colab_link("theory").startswith(
        "https://colab.research.google.com/github/"), "a Colab link once the address is set, none before"


def test_unknown_profile_is_refused():
    r = subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), "--profile", "huge"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "unknown profile 'huge'" in r.stderr


@pytest.mark.parametrize("params, message", [
    ({"first_activation": "swish"}, "first_activation='swish' is not allowed"),
    ({"task": "regression"}, "task='regression' is not allowed"),
    ({"epochs": -1}, "epochs=-1 must be an integer"),
    ({"profile": "huge"}, "profile='huge' is not allowed"),
])
def test_bad_parameters_stop_the_notebook_early(tmp_path, params, message):
    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(ROOT / "notebooks" / "mlp_filters.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={**params, "live_widgets": False, "results_path": str(tmp_path / "r.json")},
                            kernel_name=build.KERNEL, progress_bar=False, cwd=str(tmp_path))
    assert message in str(e.value)
    executed = json.loads((tmp_path / "out.ipynb").read_text())["cells"]
    failed = [i for i, c in enumerate(executed) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    loads_data = [i for i, c in enumerate(executed) if "load_cifar10(" in "".join(c["source"])]
    assert failed and failed[0] < loads_data[0], "the notebook stops before it touches the data"
    assert not (tmp_path / "r.json").exists(), "no results file is written"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_parses_every_parameter(nb, caplog):
    """Papermill (and Colab's form view) must see every parameter: no 'Unable to parse line'."""
    import logging
    import papermill as pm
    with caplog.at_level(logging.WARNING):
        found = pm.inspect_notebook(str(nb))
    assert not [r.message for r in caplog.records if "Unable to parse" in r.message]
    source = "".join(next(c for c in cells(nb) if "parameters" in c.get("metadata", {}).get("tags", []))["source"])
    names = re.findall(r"^(\w+)\s*=", source, re.M)
    assert names and set(names) <= set(found), f"parameters papermill missed: {set(names) - set(found)}"


def code_cell_lengths():
    out = []
    for nb in NOTEBOOKS:
        for c in cells(nb):
            src, tags = "".join(c["source"]), c.get("metadata", {}).get("tags", [])
            if c["cell_type"] != "code" or "parameters" in tags or "remove-cell" in tags \
                    or src.lstrip().startswith(("import", "from")):    # the install cell: hidden set-up
                continue
            out.append((nb.name, sum(1 for line in src.splitlines() if line.strip()), src))
    return out


def test_notebook_cells_are_short_and_prose_is_glued():
    import statistics
    lengths = code_cell_lengths()
    long = [(name, n) for name, n, _ in lengths if n > 15]
    assert statistics.median(n for _, n, _ in lengths) <= 6, "median code cell at most 6 non-blank lines"
    assert not long, f"code cells over 15 lines: {long}"
    assert not [name for name, _, src in lengths if "display(Markdown(f" in src], "prose comes through glue"


def test_install_cell_source_can_be_overridden():
    for nb in NOTEBOOKS:
        src = "".join(next(c for c in cells(nb) if "remove-cell" in c.get("metadata", {}).get("tags", []))["source"])
        assert 'os.environ.get("EQLIB_INSTALL"' in src, f"{nb.name}: EQLIB_INSTALL overrides the install source"


HIDE_CHECKOUT = '''# the rehearsal's venv must not see the checkout's editable eqlib (a fresh Colab does not)
import sys
sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")]
'''


@pytest.mark.skipif(not __import__("os").environ.get("EQLIB_DATA"), reason="needs CIFAR-10 (EQLIB_DATA)")
def test_colab_rehearsal_notebooks_install_eqlib_through_their_own_first_cell(tmp_path, child_venv):
    """A fresh environment without eqlib runs the theory notebook and a quick MLP notebook; their
    install cell installs eqlib from this checkout (EQLIB_INSTALL), as Colab installs it from GitHub."""
    import os
    venv = tmp_path / "venv"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "JUPYTER_PATH": str(venv / "share" / "jupyter"),
           "EQLIB_INSTALL": f"eqlib @ file://{ROOT}", "PIP_NO_BUILD_ISOLATION": "0", "EQLIB_CACHE": str(cache_with_data(tmp_path / "cache"))}
    run = lambda *args, **kw: subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, **kw)
    py = str(child_venv(venv, with_pip=False))       # pip, setuptools: this environment's
    site = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", check=True).stdout
    (Path(site.strip()) / "sitecustomize.py").write_text(HIDE_CHECKOUT)
    assert run(py, "-c", "import eqlib").returncode != 0, "eqlib starts missing"
    run(py, "-m", "ipykernel", "install", "--prefix", str(venv), "--name", "rehearsal", check=True)
    runs = [("theory.ipynb", {}), ("mlp_filters.ipynb", {"profile": "quick", "epochs": 2, "train_size": 1000,
                                                        "seeds": [0], "n_fit": 500, "n_eval": 500,
                                                        "n_eval_other": 500, "n_images": 2000})]
    for name, params in runs:
        args = [x for k, v in {**params, "live_widgets": False, "results_path": str(tmp_path / f"{name}.json")}.items()
                for x in ("-y", f"{k}: {json.dumps(v)}")]
        done = run(py, "-m", "papermill", str(ROOT / "notebooks" / name), str(tmp_path / name), "-k", "rehearsal", *args)
        assert done.returncode == 0, f"{name} failed in the fresh environment:\n{done.stderr[-3000:]}"
        assert (tmp_path / f"{name}.json").exists()
    where = run(py, "-c", "import eqlib; print(eqlib.__file__)", check=True).stdout
    assert where.startswith(str(venv)), f"eqlib was installed into the fresh environment, not found elsewhere: {where}"


def _code(nb):
    """A notebook's code cells as Python (IPython's ``%pip`` lines dropped)."""
    return "\n".join("\n".join(line for line in "".join(c["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
                     for c in cells(nb) if c["cell_type"] == "code")


def missing_eqlib_names(code: str) -> tuple:
    """The ``eqlib`` modules a notebook's code imports, and the names it uses that ``eqlib`` lacks: a name
    imported from ``eqlib``, or an attribute read off an imported ``eqlib`` module (``tables.study``)."""
    import ast
    import importlib
    tree = ast.parse(code)
    modules, missing = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "eqlib":
            mod = importlib.import_module(node.module)
            for a in node.names:
                if not hasattr(mod, a.name):
                    try:                                     # a submodule not yet imported: from eqlib import plots
                        modules[a.asname or a.name] = importlib.import_module(f"{node.module}.{a.name}")
                    except ImportError:
                        missing.append(f"{node.module}.{a.name}")
                elif isinstance(getattr(mod, a.name), type(importlib)):
                    modules[a.asname or a.name] = getattr(mod, a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            if not hasattr(modules[node.value.id], node.attr):
                missing.append(f"{modules[node.value.id].__name__}.{node.attr}")
    return sorted(modules), sorted(set(missing))


def test_the_name_check_finds_a_removed_name():
    code = "from eqlib import tables\nfrom eqlib.pages.report import claims, no_such_name\ntables.md_nothing(1)\n"
    assert missing_eqlib_names(code) == (["tables"], ["eqlib.pages.report.no_such_name", "eqlib.tables.md_nothing"])
    assert shadowed_eqlib_names("from eqlib.pages.theory import trials_table\ntrials_table = 3\n") == ["trials_table"]


def shadowed_eqlib_names(code: str) -> list:
    """Names imported from ``eqlib`` that the notebook also assigns (``trials = ...`` after importing ``trials``)."""
    import ast
    tree = ast.parse(code)
    imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                and n.module.startswith("eqlib") for a in n.names}
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    stored |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return sorted(imported & stored)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_eqlib_name_a_notebook_uses_exists(nb):
    """What a refactor of ``eqlib`` can break without running a chapter: a name gone, or one the notebook
    overwrites with a variable of its own."""
    code = _code(nb)
    modules, missing = missing_eqlib_names(code)
    assert not missing, f"{nb.name} uses names eqlib no longer has: {missing}"
    assert not shadowed_eqlib_names(code), f"{nb.name} overwrites names it imports from eqlib"
