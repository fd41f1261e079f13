"""Each page's own notebook, as its Colab link opens it: the page's parameters, its header, its numbers in a plain
kernel, no MyST, no path of the builder's machine, and an install cell pinned to the book's commit.

The export is a product of the book's build (`make book-quick` writes _build/quick/colab/); the tests that read it
are skipped without it, unless EQLIB_REQUIRE_BROWSER=1 (CI), where the build must have made it."""
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import build  # noqa: E402  (book/build.py)
import export  # noqa: E402  (book/export.py)

PROFILE = "quick"
COLAB = ROOT / "_build" / PROFILE / "colab"
EXECUTED = ROOT / ".cache" / "book" / PROFILE
REQUIRED = os.environ.get("EQLIB_REQUIRE_BROWSER") == "1"


def built():
    ok = COLAB.is_dir() and all((COLAB / f"{c}.ipynb").exists() for c in build.CHAPTERS)
    if not ok:
        if REQUIRED:
            pytest.fail(f"no Colab notebooks in {COLAB}: the quick build must write them")
        pytest.skip("no built book: run `make book-quick` first")


def effective_parameters(executed) -> dict:
    """What an executed page ran with: its visible parameters cell, then papermill's injected cell over it."""
    values = {}
    for c in executed.cells:
        tags = c.metadata.get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            exec(c.source, {}, values)
    return values


# --------------------------------------------------------------------------- without a build
def test_set_parameters_writes_values_keeps_comments_and_names_an_unknown_parameter():
    src = 'profile = "full"     # "full" or "quick"\ntask = "autoencoder"  # the task\nseeds = None'
    out = export.set_parameters(src, {"task": "classifier", "seeds": [0, 1]})
    assert out == 'profile = "full"     # "full" or "quick"\ntask = "classifier"  # the task\nseeds = [0, 1]'
    with pytest.raises(ValueError, match=r"parameters \['widht'\] are not in the template's parameters cell; "
                                         r"it defines: profile, task, seeds"):
        export.set_parameters(src, {"widht": 3})


def test_every_page_is_made_from_its_template_with_its_own_parameters_visible():
    for chapter, (template, params, _) in build.CHAPTERS.items():
        nb = build.runnable(chapter, "full")
        shown = export.read_parameters(nb)
        template_defaults = export.read_parameters(nbformat.read(ROOT / "notebooks" / template, as_version=4))
        assert {k: shown[k] for k in params} == params, f"{chapter}: its own parameters in the visible cell"
        assert shown["profile"] == "full"
        assert {k: v for k, v in shown.items() if k not in params and k != "profile"} == \
            {k: v for k, v in template_defaults.items() if k not in params and k != "profile"}, \
            f"{chapter}: every other parameter is the template's"
        prose = [c for c in nb.cells if c.source.startswith(export.PROSE_TITLE)]
        glued = [c for c in nb.cells if c.cell_type == "markdown" and export.names_values(c.source)]
        assert len(prose) == len(glued), f"{chapter}: one prose cell after every paragraph with glued values"


def test_the_pages_notebooks_differ_where_the_pages_do():
    a, b = (export.read_parameters(build.runnable(c, "full")) for c in ("mlp_tanh_autoencoder", "mlp_gelu_classifier"))
    assert (a["task"], a["first_activation"]) == ("autoencoder", "tanh")
    assert (b["task"], b["first_activation"]) == ("classifier", "gelu"), \
        "the GELU classifier's page runs the GELU classifier, not the template's Tanh autoencoder"


def test_to_markdown_leaves_no_myst():
    md = (":::{prf:theorem} Main\n:label: thm\nIf {glue:text}`x` holds, see {doc}`mlp_summary` and "
          "{cite}`shahverdi2026identifiable`, and [the overview](../mlp_overview.md).\n:::\n\n"
          "```{glue:figure} fig_a\n\nCaption over {glue:text}`n` seeds.\n```")
    out = export.to_markdown(md, lambda t: f"https://book/{build.book_page(t)}", {"shahverdi2026identifiable": "S (2026)"})
    assert "{" not in out and ":::" not in out and "```" not in out, out
    assert "⟨x⟩" in out and "*Figure.* Caption over ⟨n⟩ seeds." in out and "S (2026)" in out
    assert "(https://book/book/generated/mlp_summary.html)" in out and "(https://book/book/mlp_overview.html)" in out


def test_the_colab_link_opens_the_pages_own_notebook(monkeypatch):
    monkeypatch.setattr(build, "repository_url", lambda: ("https://github.com/someone/book", "main"))
    for chapter in build.CHAPTERS:
        assert build.colab_link(chapter) == ("https://colab.research.google.com/github/someone/book/blob/"
                                             f"{build.COLAB_BRANCH}/{chapter}.ipynb")
    monkeypatch.setattr(build, "repository_url", lambda: (build.UNSET_URL, "main"))
    assert build.colab_link("theory") is None and "sync_repository" in build.UNSET_MESSAGE


def test_the_install_cell_pins_the_commit_and_the_locked_versions():
    template = next(c for c in nbformat.read(ROOT / "notebooks" / "theory.ipynb", as_version=4).cells
                    if "remove-cell" in c.metadata.get("tags", []))
    src = build.install_source(template.source, "a" * 40)
    assert f'COMMIT = "{"a" * 40}"' in src and repr(build.locked_versions()) in src
    lock = (ROOT / "requirements.lock").read_text()
    assert all(f"\n{v}\n" in lock for v in build.locked_versions()), "the lock's own versions"
    assert not set(build.COLAB_LOCKED) & set(build.COLAB_KEEPS)
    ns = {"os": os}
    code = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("%"))
    code = code.replace("import eqlib", "import eqlib_not_installed_here")
    with pytest.raises(RuntimeError, match="repository.url in _config.yml .*sync_repository"):
        exec(code, ns)                          # the address is not set: it stops at once, saying how to set it


# --------------------------------------------------------------------------- on the quick build
def test_each_pages_notebook_carries_the_parameters_its_page_was_built_with():
    built()
    for chapter in build.CHAPTERS:
        executed = nbformat.read(EXECUTED / f"{chapter}.ipynb", as_version=4)
        ran = {k: v for k, v in effective_parameters(executed).items() if k not in build.BUILD_ONLY}
        published = nbformat.read(COLAB / f"{chapter}.ipynb", as_version=4)
        assert {k: v for k, v in export.read_parameters(published).items() if k not in build.BUILD_ONLY} == ran, chapter
        page = nbformat.read(ROOT / "book" / "generated" / f"{chapter}.ipynb", as_version=4)
        assert export.parameters_cell(page).source == export.parameters_cell(published).source, \
            f"{chapter}: the book's page shows the same parameters cell as its notebook"


def test_the_pages_notebooks_hold_no_myst_no_outputs_and_no_path_of_this_machine():
    built()
    paths = [p.rstrip("/") for p in build.machine_paths() if len(p) > 1]
    for chapter in build.CHAPTERS:
        nb = nbformat.read(COLAB / f"{chapter}.ipynb", as_version=4)
        for c in nb.cells:
            if c.cell_type == "markdown":
                assert not re.search(r"\{(glue|doc|cite)[:}]|^:::|```\{", c.source, re.M), (chapter, c.source[:200])
            else:
                assert not c.outputs and c.execution_count is None
        for f in (COLAB / f"{chapter}.ipynb", ROOT / "book" / "generated" / f"{chapter}.ipynb"):
            text = f.read_text()
            assert not [p for p in paths if p in text], f"{f} holds a path of this machine"
        header = nb.cells[1].source
        assert header.startswith("**This page shows**") and "**A re-run costs:**" in header, chapter
        # the page opens with its header: the title alone above it, the page's own text (its claim) after it
        book = nbformat.read(ROOT / "book" / "generated" / f"{chapter}.ipynb", as_version=4)
        for cells, where in ((nb.cells, "notebook"), (book.cells, "book")):
            assert re.fullmatch(r"# [^\n]+", cells[0].source.strip()), f"{chapter} ({where}): title alone first"
            assert "This page shows" in cells[1].source, f"{chapter} ({where}): the header right below the title"
        install = next(c for c in nb.cells if "remove-cell" in c.metadata.get("tags", []) and "import eqlib" in c.source)
        assert re.search(r'COMMIT = "[0-9a-f]{40}"', install.source), f"{chapter}: pinned to the book's commit"


PLAIN_KERNEL = '''# a plain kernel, as on Colab: no MyST-NB, so eqlib.page.glue pastes nothing into the prose
import sys
class _NoMystNB:
    def find_spec(self, name, path=None, target=None):
        if name == "myst_nb" or name.startswith("myst_nb."):
            raise ImportError("no MyST-NB in a plain kernel")
        return None
sys.meta_path.insert(0, _NoMystNB())
'''


@pytest.mark.skipif(not os.environ.get("EQLIB_DATA"), reason="needs CIFAR-10 (EQLIB_DATA)")
def test_a_pages_notebook_shows_every_glued_value_in_a_plain_kernel(tmp_path, monkeypatch):
    """The GELU autoencoder's notebook, executed outside the book (no MyST-NB, no EQLIB_BOOK): every value that
    its page's prose names appears in the outputs, and no cell a reader sees shows a glue role."""
    built()
    import papermill as pm
    chapter = "mlp_gelu_autoencoder"
    (tmp_path / "sitecustomize.py").write_text(PLAIN_KERNEL)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.delenv("EQLIB_BOOK", raising=False)
    out = tmp_path / f"{chapter}.ipynb"
    pm.execute_notebook(str(COLAB / f"{chapter}.ipynb"), str(out), parameters={"live_widgets": False,
                        "results_path": str(tmp_path / "r.json")}, kernel_name=build.KERNEL, progress_bar=False,
                        cwd=str(tmp_path))
    ran = nbformat.read(out, as_version=4)
    shown = "\n".join(str(o.get("data", {}).get("text/markdown", "")) + str(o.get("text", "")) +
                      str(o.get("data", {}).get("text/plain", "")) for c in ran.cells if c.cell_type == "code"
                      for o in c.outputs)
    assert "{glue" not in shown and not any("{glue" in c.source for c in ran.cells if c.cell_type == "markdown")
    book = nbformat.read(EXECUTED / f"{chapter}.ipynb", as_version=4)      # the values the book glued
    record = "application/papermill.record/text/plain"           # how MyST-NB's glue stores a value
    values = {o.metadata["scrapbook"]["name"]: o.data[record] for c in book.cells for o in c.get("outputs", [])
              if o.get("metadata", {}).get("scrapbook", {}).get("name") and record in o.get("data", {})}
    from myst_nb.core.variables import format_plain_text
    named = {n for c in book.cells if c.cell_type == "markdown" for n in export.GLUE_ROLE.findall(c.source)}
    missing = [n for n in sorted(named) if format_plain_text(values[n], "") not in shown]
    assert not missing, f"values the prose names that a plain kernel does not show: {missing}"


def test_the_same_page_gives_the_same_notebook_byte_for_byte():
    """The build keys a page's execution by its notebook: two makings of it must not differ (random cell ids would
    re-execute every page at every build)."""
    for chapter in ("theory", "mlp_gelu_classifier"):
        assert nbformat.writes(build.runnable(chapter, "quick")) == nbformat.writes(build.runnable(chapter, "quick"))
