"""Ready to publish: both workflows pass actionlint, the wheel installs and runs outside the
checkout, the licence and the citation agree everywhere, and the README's publishing steps
are all that a new repository address needs."""
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
PLACEHOLDER = "https://github.com/set.repository.url/in-config"   # book/build.py's UNSET_URL: no account can own it


def tool(name: str) -> str:
    """A command-line tool that requirements.txt installs next to this Python."""
    path = Path(sysconfig.get_path("scripts")) / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -r requirements.txt"
    return found


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- workflows
def actionlint(*files) -> subprocess.CompletedProcess:
    return run([tool("actionlint"), "-no-color", f"-shellcheck={tool('shellcheck')}", "-pyflakes=", *files])


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "pages.yml"}
    r = actionlint(*files)
    assert r.returncode == 0 and not r.stdout.strip(), f"actionlint findings:\n{r.stdout}{r.stderr}"


def test_actionlint_finds_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ steps.nope.outputs.x }}\n"
                      "      - run: cd $HOME/dir && ls\n")
    r = actionlint(broken)
    assert r.returncode != 0, "actionlint fails on a broken workflow"
    assert "[expression]" in r.stdout, f"an undefined step output is an error:\n{r.stdout}"
    assert "[shellcheck]" in r.stdout, f"run: scripts are checked with shellcheck:\n{r.stdout}"


def test_ci_workflow_runs_the_ci_script_on_pushes_and_pull_requests():
    wf = load_yaml(WORKFLOWS / "ci.yml")
    triggers = wf.get("on", wf.get(True))          # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    runs = [s.get("run", "") for job in wf["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in runs, "the same steps as .ci/run: the job runs it"
    assert not any("shared" in r for r in runs), "CIFAR-10 comes from torchvision's download on GitHub"


def test_pages_workflow_builds_the_full_book_with_caches_and_deploys_it():
    wf = load_yaml(WORKFLOWS / "pages.yml")
    text = (WORKFLOWS / "pages.yml").read_text()
    branch = load_yaml(ROOT / "_config.yml")["repository"].get("branch", "main")
    assert wf.get("on", wf.get(True))["push"]["branches"] == [branch], "publishes from _config.yml's branch"
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    steps = build["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert any(s.get("run") == "make book" for s in steps), "the full book, as the README builds it"
    assert "actions/upload-pages-artifact" in uses
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    sys.path.insert(0, str(ROOT / "book"))
    from progress import slowest_cold_build_minutes
    assert 1.5 * slowest_cold_build_minutes() <= build["timeout-minutes"] <= 360, \
        "a time limit sized from the slowest measured cold build with a margin, under GitHub's 360 minutes"
    assert "How long a build takes" in text and not re.search(r"\d+(\.\d)? min\b", text.split("jobs:")[0]), \
        "the comment points at the one generated source of build times and types none"
    assert build["permissions"] == {"contents": "write"} and any(
        "git push" in s.get("run", "") and "colab" in s.get("run", "") for s in steps), \
        "each page's notebook is pushed to the branch its Colab link opens"
    assert any(s.get("run") == "make networks" for s in steps), "the networks the pages used, packed"
    cache_steps = [s for s in steps if s.get("uses", "").startswith("actions/cache")]
    assert cache_steps, "caches between runs"
    for s in cache_steps:
        assert {".cache/book", ".cache/eqlib"} <= set(s["with"]["path"].split()), \
            "the executed notebooks and the model cache are kept"
    key = next(s for s in cache_steps if "restore" in s["uses"])["with"]["key"]
    for inputs in ("notebooks/*.ipynb", "eqlib/**/*.py", "requirements.txt", "requirements.lock"):
        assert inputs in key, f"the cache key hashes {inputs}, as book/build.py's keys do"
    assert "EQLIB_CACHE=$PWD/.cache/eqlib" in text, "the models are trained where the cache is kept"


# --------------------------------------------------------------------------- the wheel
def test_wheel_builds_passes_twine_and_runs_outside_the_checkout(tmp_path, child_venv):
    src = tmp_path / "src"                       # only what the sdist is made of: no stray files
    shutil.copytree(ROOT / "eqlib", src / "eqlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    # The sdist, then the wheel built from it; --no-isolation: the installed setuptools, no network.
    r = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src])
    assert r.returncode == 0, r.stdout + r.stderr
    wheels, sdists = sorted(dist.glob("eqlib-*.whl")), sorted(dist.glob("eqlib-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    r = run([sys.executable, "-m", "twine", "check", "--strict", wheels[0], sdists[0]])
    assert r.returncode == 0, r.stdout + r.stderr

    # A fresh environment that reuses the installed torch & co. but not eqlib's editable install.
    venv = tmp_path / "venv"
    python = child_venv(venv)
    r = run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", wheels[0]])
    assert r.returncode == 0, r.stdout + r.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import json, importlib, importlib.metadata as md, pkgutil, torch, eqlib\n"
             "from eqlib.data import mirror\nfrom eqlib.symmetry import cycles\n"
             "mods = sorted(m.name for m in pkgutil.walk_packages(eqlib.__path__, 'eqlib.'))\n"
             "[importlib.import_module(m) for m in mods]\n"
             "x = torch.arange(6.0).reshape(1, 1, 2, 3)\n"
             "print(json.dumps({'file': eqlib.__file__, 'version': eqlib.__version__,\n"
             "    'dist_version': md.version('eqlib'), 'license': md.metadata('eqlib')['License-Expression'],\n"
             "    'cycles': cycles([0, 2, 1]), 'mirror': mirror(x, (1, 2, 3)).flatten().tolist(), 'modules': mods}))\n")
    r = run([python, "-I", "-c", probe], cwd=elsewhere)      # -I: neither the cwd nor PYTHONPATH on sys.path
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(venv.resolve()), \
        f"eqlib is imported from the installed wheel, not from a checkout: {out['file']}"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert out["version"] == out["dist_version"] == version
    assert out["license"] == "MIT"
    assert out["cycles"] == "(2 3)", "eqlib.symmetry.cycles runs from the wheel"
    assert out["mirror"] == [2.0, 1.0, 0.0, 5.0, 4.0, 3.0], "eqlib.data.mirror reverses the width axis"
    checkout = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                      for p in (ROOT / "eqlib").rglob("*.py") if p.parent.name != "__pycache__")
    assert out["modules"] == [m for m in checkout if m != "eqlib"], \
        "every module of the checkout is in the wheel and imports there (the pages package too)"


# --------------------------------------------------------------------------- licence and citation
def citation() -> dict:
    return load_yaml(ROOT / "CITATION.cff")


def test_licence_is_mit_in_license_pyproject_and_citation():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 the eqlib authors" in text
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert citation()["license"] == "MIT"


def check_cff(path: Path) -> subprocess.CompletedProcess:
    # check-jsonschema ships the Citation File Format schema: no network at test time.
    return run([tool("check-jsonschema"), "--builtin-schema", "vendor.citation-file-format",
                "--default-filetype", "yaml", path])


def test_citation_cff_validates():
    r = check_cff(ROOT / "CITATION.cff")
    assert r.returncode == 0, r.stdout + r.stderr


def test_citation_cff_schema_rejects_a_broken_file(tmp_path):
    cff = citation()
    del cff["authors"]
    cff["references"][0]["identifiers"][0]["type"] = "arxiv"          # not a CFF identifier type
    broken = tmp_path / "CITATION.cff"
    broken.write_text(yaml.safe_dump(cff, allow_unicode=True))
    r = check_cff(broken)
    assert r.returncode != 0 and "'authors' is a required property" in r.stdout, r.stdout


def test_citation_cites_the_reproduction_and_references_the_paper():
    cff, config = citation(), load_yaml(ROOT / "_config.yml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    init = (ROOT / "eqlib" / "__init__.py").read_text()
    assert cff["type"] == "software" and cff["title"] == config["title"]
    assert cff["version"] == project["version"] and f'__version__ = "{cff["version"]}"' in init
    assert cff["repository-code"] == config["repository"]["url"], "python book/sync_repository.py"
    [paper] = cff["references"]
    assert paper["title"] == "Identifiable Equivariant Networks are Layerwise Equivariant" and paper["year"] == 2026
    assert [a["family-names"] for a in paper["authors"]] == ["Shahverdi", "Marchetti", "Bökman", "Kohn"]
    ids = {i["type"]: str(i["value"]) for i in paper["identifiers"]}
    assert ids == {"other": "arXiv:2601.21645", "doi": "10.48550/arXiv.2601.21645"}


def release_disagreements(cff: dict, project: dict, zenodo: dict) -> list[str]:
    """Where CITATION.cff, pyproject.toml's [project] and .zenodo.json disagree on the version, the
    title (pyproject.toml has none of its own: its description names the paper reproduced), the
    licence or the authors."""
    out = []
    for key, values in {"version": (str(cff["version"]), project["version"], zenodo["version"]),
                        "licence": (cff["license"], project["license"], zenodo["license"]),
                        "title": (cff["title"], zenodo["title"])}.items():
        if len(set(values)) != 1:
            out.append(f"{key}: {values}")
    paper = cff["title"].split(" — ")[0]
    if paper.lower() not in project["description"].lower():
        out.append(f"title: pyproject's description does not name {paper!r}")
    if [a["name"] for a in cff["authors"]] != [c["name"] for c in zenodo["creators"]]:
        out.append(f"authors: {cff['authors']} vs {zenodo['creators']}")
    return out


def test_citation_pyproject_and_zenodo_agree_on_version_title_and_licence():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    zenodo = json.loads((ROOT / ".zenodo.json").read_text())
    assert not release_disagreements(citation(), project, zenodo), release_disagreements(citation(), project, zenodo)
    assert zenodo["upload_type"] == "software" and zenodo["description"] and zenodo["access_right"] == "open"
    assert {"identifier": "10.48550/arXiv.2601.21645", "relation": "references", "scheme": "doi",
            "resource_type": "publication-conferencepaper"} in zenodo["related_identifiers"]


def test_release_disagreements_are_found():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    zenodo = json.loads((ROOT / ".zenodo.json").read_text())
    bumped = {**project, "version": "0.2.0", "description": "A reproduction"}
    found = release_disagreements(citation(), bumped, {**zenodo, "license": "Apache-2.0", "title": "x"})
    assert [f.split(":")[0] for f in found] == ["version", "licence", "title", "title"], found


def bibtex_blocks(path: Path) -> dict:
    blocks = re.findall(r"```bibtex\n(.*?)\n```", path.read_text(), re.S)
    return {re.match(r"@\w+\{([^,]+),", b)[1]: b for b in blocks}


@pytest.mark.parametrize("page", ["README.md", "book/bibliography.md"])
def test_readme_and_bibliography_show_how_to_cite_paper_and_reproduction(page):
    blocks = bibtex_blocks(ROOT / page)
    bib = (ROOT / "book" / "references.bib").read_text()
    entry = re.search(r"@inproceedings\{shahverdi2026identifiable,.*?\n\}", bib, re.S)[0]
    assert blocks.get("shahverdi2026identifiable") == entry, "the paper's BibTeX is book/references.bib's entry"
    software = blocks.get("eqlib2026reproduction", "")
    cff = citation()
    assert software.startswith("@software{") and f"version = {{{cff['version']}}}" in software
    assert re.search(r"title\s*=\s*\{(.*)\}", software)[1].replace("---", "—") == cff["title"], \
        "the reproduction's BibTeX agrees with CITATION.cff"


# --------------------------------------------------------------------------- the publishing steps
NEW_URL = "https://github.com/someone/layerwise-equivariance"


def copy_of_the_repository(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "_build", "generated", "__pycache__", "*.egg-info", "build", "plotly.min.js"))
    return dest


def book_tests(repo: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_book.py",
                "-k", "install_cell or covers_the_toc"], cwd=repo)



def placeholder_warning(repo: Path) -> str:
    code = "import sys; sys.path.insert(0, 'book'); import build; print(build.placeholder_warning('full'))"
    r = run([sys.executable, "-c", code], cwd=repo)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_publishing_steps_are_all_a_new_address_needs(tmp_path):
    repo = copy_of_the_repository(tmp_path / "repo")
    config = repo / "_config.yml"
    url = load_yaml(config)["repository"]["url"]
    if url != PLACEHOLDER:                            # a published repository: start from the placeholder
        config.write_text(config.read_text().replace(f"url: {url}", f"url: {PLACEHOLDER}"))
        run([sys.executable, "book/sync_repository.py"], cwd=repo)
    config_url = PLACEHOLDER
    assert "repository.url in _config.yml" in placeholder_warning(repo) and "sync_repository" in \
        placeholder_warning(repo), "the full build warns that the address is not set, and says how to set it"
    notebooks = {p.name: json.loads(p.read_text()) for p in (repo / "notebooks").glob("*.ipynb")}

    # Step 1: set repository.url, as a person would, in the file's own text.
    config.write_text(config.read_text().replace(f"url: {config_url}", f"url: {NEW_URL}"))
    assert load_yaml(config)["repository"]["url"] == NEW_URL
    r = book_tests(repo)
    assert r.returncode == 1 and f"{len(notebooks)} failed" in r.stdout.splitlines()[-1], \
        "without step 2 the install cells disagree with _config.yml, and the tests say so:\n" + r.stdout[-2000:]

    # Step 2: the command of the README.
    r = run([sys.executable, "book/sync_repository.py"], cwd=repo)
    assert r.returncode == 0 and "updated" in r.stdout, r.stdout + r.stderr
    r = book_tests(repo)
    assert r.returncode == 0, "after step 2 the book's tests pass:\n" + r.stdout[-2000:]
    assert placeholder_warning(repo) == "None", "no warning once the address is set"
    assert load_yaml(repo / "CITATION.cff")["repository-code"] == NEW_URL
    r = run([sys.executable, "book/sync_repository.py"], cwd=repo)
    assert "already" in r.stdout, "running it again changes nothing"

    for name, before in notebooks.items():            # only the install cell's URL changed
        after = json.loads((repo / "notebooks" / name).read_text())
        changed = [i for i, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b]
        assert len(after["cells"]) == len(before["cells"]) and len(changed) == 1, name
        a, b = before["cells"][changed[0]], after["cells"][changed[0]]
        assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}
        assert "".join(b["source"]) == "".join(a["source"]).replace(config_url, NEW_URL), name
        assert {k: v for k, v in before.items() if k != "cells"} == {k: v for k, v in after.items() if k != "cells"}

    # Nothing else in the repository still points at the old address.
    allowed = {Path("book/build.py"), Path("tests/test_publishing.py")}      # the placeholder constant
    stale = [p.relative_to(repo) for p in repo.rglob("*") if p.is_file() and p.relative_to(repo) not in allowed
             and p.suffix in {".py", ".md", ".yml", ".yaml", ".cff", ".ipynb", ".toml", ".txt", ".bib", ""}
             and config_url in p.read_text(errors="ignore")]
    assert not stale, f"still pointing at {config_url}: {stale}"


def test_the_readme_layout_names_every_module():
    """Every module of ``eqlib`` outside ``eqlib/pages/`` has its row in the README's layout table (the pages
    have one row together), and the table names no module that is gone."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "README.md").read_text()
    layout = text[text.index("## Layout"):text.index("## Adding a page")]
    named = set(re.findall(r"`(eqlib/[\w/]+\.py)`", layout))
    modules = {str(p.relative_to(root)) for p in (root / "eqlib").glob("*.py") if p.name != "__init__.py"}
    assert modules <= named, f"modules without a row: {sorted(modules - named)}"
    assert all((root / m).exists() for m in named), f"rows for modules that are gone: {sorted(m for m in named if not (root / m).exists())}"
