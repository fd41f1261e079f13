"""The registry of pages: every page is one row, the build, the table of contents and the Colab notebooks read it,
and a planted page (a notebook and one row) is built like the others."""
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from eqlib import registry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import build  # noqa: E402  (book/build.py)


def test_every_page_is_one_row_and_the_build_reads_them():
    names = [p.name for p in registry.PAGES]
    assert len(names) == len(set(names)) and list(build.CHAPTERS) == names, "one row each, in build order"
    assert names[-1] == "report" and set(registry.inputs("report")) == set(names[:-1])
    for p in registry.PAGES:
        assert (ROOT / "notebooks" / p.notebook).exists() and (ROOT / "eqlib" / "pages" / f"{p.module}.py").exists()
        assert p.part in registry.PARTS and all(names.index(i) < names.index(p.name) for i in p.inputs), \
            f"{p.name}: a known part, executed after the pages it reads"
    assert sorted(c for p in registry.PAGES for c in p.claims) == sorted(registry.claim_pages())
    from eqlib.pages import report
    assert [(p, c.key) for p, c in report.collect()] == [(p.name, k) for p in registry.PAGES for k in p.claims], \
        "each claim owned by the module of the page that decides it, collected in the rows' order"
    import ast
    imports = [n.module for n in ast.walk(ast.parse((ROOT / "eqlib" / "pages" / "report.py").read_text()))
               if isinstance(n, ast.ImportFrom) and n.module]
    assert not [m for m in imports if m.startswith("eqlib.pages")], "the report imports no page module"
    with pytest.raises(ValueError, match="unknown page 'nope'; allowed: theory, "):
        registry.page("nope")


PLANTED = [
    ("markdown", "# A planted page\n\nIt counts."),
    ("code", None),           # the install cell, the theory page's
    ("code", 'profile = "full"    # "full" or "quick"\nstep = 1            # what it counts by\nresults_path = "planted.json"'),
    ("code", "from eqlib import page, results"),
    ("code", 'run = results.Run(results_path, profile)\npage.glue("n", 3 * step)'),
    ("markdown", "Counted: {glue:text}`n`."),
    ("code", 'run.results.update({"n": 3 * step})\npage.provenance_note(run.save()["provenance"])'),
]


def test_a_planted_page_is_a_notebook_and_one_row(tmp_path, monkeypatch):
    """Register a page that is not in the book (a notebook and one row, its module the pages' common one), and build
    it as the book builds its pages: executed with its parameters visible, its header and its Colab notebook."""
    root = tmp_path / "checkout"
    for d in ("eqlib", "notebooks", "book"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__", "generated", "_static"))
    for f in ("_config.yml", "requirements.lock"):
        shutil.copy(ROOT / f, root / f)
    install = next(c for c in nbformat.read(ROOT / "notebooks" / "theory.ipynb", as_version=4).cells
                   if "remove-cell" in c.metadata.get("tags", []))
    cells = []
    for kind, src in PLANTED:
        if src is None:
            cells.append(install)
            continue
        cell = nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
        if src.startswith('profile = "full"'):
            cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
                   root / "notebooks" / "planted.ipynb")
    row = registry.Page("planted", "planted.ipynb", "a page planted by a test", "Theory", "common", {"step": 2},
                        "A planted page")
    monkeypatch.setattr(registry, "PAGES", registry.PAGES[:1] + (row,))
    monkeypatch.setattr(registry, "PAGES_BY_NAME", {p.name: p for p in registry.PAGES})
    monkeypatch.setattr(build, "ROOT", root)
    monkeypatch.setattr(build, "GENERATED", root / "book" / "generated")
    monkeypatch.setattr(build, "STATIC", root / "book" / "_static")
    monkeypatch.setattr(build, "CHAPTERS", {"planted": ("planted.ipynb", {"step": 2}, "A planted page")})
    monkeypatch.setattr(build, "SUMMARIES", {})
    monkeypatch.setattr(build, "PROFILES", {"full": {}, "quick": {"planted": {"profile": "quick"}}})
    build.GENERATED.mkdir(parents=True)
    out, _, cached = build.execute("planted", "quick", force=True)
    assert not cached and json.loads((root / ".cache" / "book" / "quick" / "planted.json").read_text())["n"] == 6
    colab = build.assemble("quick")
    page = nbformat.read(build.GENERATED / "planted.ipynb", as_version=4)
    assert page.cells[0].source.startswith("# A planted page") and "a page planted by a test" in page.cells[1].source
    assert "step = 2" in "".join(c.source for c in page.cells if "parameters" in c.metadata.get("tags", [])), \
        "the page shows the parameters it was built with"
    published = nbformat.read(colab / "planted.ipynb", as_version=4)
    assert published.cells[1].source.startswith("**This page shows** a page planted by a test")
    counted = next(c.source for c in published.cells if c.cell_type == "markdown" and "Counted" in c.source)
    assert counted == "Counted: ⟨n⟩." and "page.prose" in published.cells[published.cells.index(
        next(c for c in published.cells if c.source == counted)) + 1].source, "the paragraph, then its numbers' cell"
    toc = registry.toc()
    theory = next(p for p in toc["parts"] if p["caption"] == "Theory")
    assert theory["chapters"] == [{"file": "book/generated/theory"}, {"file": "book/generated/planted"}], \
        "in the table of contents, in its part, after the page before it"


def test_every_activation_has_its_group_its_prediction_and_a_page():
    """An activation is a function (eqlib.models), the scalings its hidden-symmetry group lets a filter carry
    (eqlib.symmetry), the latent action the theorem predicts (eqlib.beyond) and, beyond the paper's two, a page (one
    registry row, which the activation pages' module reads): a new activation missing from one of them fails here."""
    from eqlib import beyond, models, symmetry
    from eqlib.pages import activation
    acts = set(models.ACTIVATIONS)
    assert set(symmetry.SCALINGS) == acts and set(beyond.PREDICTED_GROUP) == acts
    pages = {row.params["activation"] for row in registry.PAGES if row.module == "activation"}
    assert pages == acts - {"tanh", "gelu"} and set(activation.ACTIVATION_PAGES) == pages
