"""Published text speaks of the project only: what was measured, where and when, never of how the work on it
was organised. This scans every published text (the README, the book's own pages, the notebooks' markdown
cells, the strings the page modules put on pages, the workflows' comments) for words that narrate the work
(sessions, briefs, issue numbers, who ran what), with a negative control on planted files of each kind."""
import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = [
    re.compile(r"\bsessions?\b", re.I),
    re.compile(r"\bbriefs?\b", re.I),
    re.compile(r"\bissue\s*#?\d+", re.I),
    # an issue number (#22), not a heading ("# A"), an HTML entity (&#39;), a URL's anchor, nor a colour (#1b9e77)
    re.compile(r"(?<![\w&/])#\d{1,3}\b(?![0-9a-fA-F])"),
    re.compile(r"\b(this|last|previous|the same|next) (session|sitting)\b", re.I),
    re.compile(r"\bwho ran\b", re.I),
]


def offending(text: str) -> bool:
    return any(p.search(text) for p in FORBIDDEN)


def text_lines(path: Path):
    """(where, line) of a markdown file: every line."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        yield str(i), line


def notebook_lines(path: Path):
    """(where, line) of a notebook's markdown cells: the cell's index and the line within it."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for c, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for i, line in enumerate(source.splitlines(), 1):
            yield f"cell {c} line {i}", line


def python_string_lines(path: Path):
    """(where, line) of a module's string literals, the constant parts of f-strings included: each line of
    each string, numbered from the line the literal starts on. A literal that is nothing but a colour ("#888")
    is a colour, not an issue number."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    strings = sorted((node.lineno, node.col_offset, node.value) for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and not re.fullmatch(r"#[0-9a-fA-F]{3,8}", node.value))
    for lineno, _, value in strings:
        for i, line in enumerate(value.splitlines()):
            yield str(lineno + i), line


def yaml_comment_lines(path: Path):
    """(where, line) of a workflow's comments: from a ``#`` at the start of a line or after a blank to its end."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = re.search(r"(?:^|\s)(#.*)$", line)
        if m:
            yield str(i), m.group(1)


def published(root: Path):
    """Every published file under ``root`` with the reader of its text."""
    files = [(root / "README.md", text_lines)]
    files += [(p, text_lines) for p in sorted((root / "book").glob("*.md"))]
    files += [(p, notebook_lines) for p in sorted((root / "notebooks").glob("*.ipynb"))]
    files += [(p, python_string_lines) for p in sorted((root / "eqlib" / "pages").glob("*.py"))]
    files += [(p, yaml_comment_lines) for p in sorted((root / ".github" / "workflows").glob("*.yml"))]
    return [(p, reader) for p, reader in files if p.exists()]


def scan(root: Path) -> list:
    """``file:line: the text`` for every published line that narrates the work."""
    return [f"{path.relative_to(root)}:{where}: {line.strip()}"
            for path, reader in published(root) for where, line in reader(path) if offending(line)]


def test_published_text_speaks_of_the_project_only():
    assert len(published(ROOT)) > 10, "the scan reads the README, the book, the notebooks, the pages and workflows"
    hits = scan(ROOT)
    assert not hits, "published text narrates the work instead of the project:\n" + "\n".join(hits)


LEGITIMATE = ["the linear assignment of neurons", "# A heading", "colour #1b9e77 and #d95f02", "seed 2 of 3",
              "step 1. Set the URL", "see https://example.org/page#12", "it&#39;s", "a 3x3 #include"]
PLANTED = ["measured in the previous session's CI run", "as the project's brief names them",
           "fixed in issue #22", "see #22 for why", "the same session measured it", "who ran it twice",
           "this project's sessions get an Intel"]


def test_the_scan_finds_planted_lines_of_every_kind_and_spares_legitimate_text(tmp_path):
    for text in LEGITIMATE:
        assert not offending(text), text
    for text in PLANTED:
        assert offending(text), text
    (tmp_path / "book").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "eqlib" / "pages").mkdir(parents=True)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "README.md").write_text("# Title\n\n" + "\n".join(LEGITIMATE) + "\nfixed in issue #22\n")
    (tmp_path / "book" / "page.md").write_text("# A page\n\nthe linear assignment\nas its brief allows\n")
    cells = [{"cell_type": "markdown", "source": ["# A heading\n", "seed 2\n", "in this session\n"]},
             {"cell_type": "code", "source": ["# this session's code is not published text\n"]},
             {"cell_type": "markdown", "source": "colour #1b9e77\nsee #7\n"}]
    (tmp_path / "notebooks" / "page.ipynb").write_text(json.dumps({"cells": cells}))
    (tmp_path / "eqlib" / "pages" / "page.py").write_text(
        '# a comment of the last session is not a string\n'
        'COLOURS = ("#1b9e77", "#888")\n'
        'def text(n):\n'
        '    return f"{n} seeds, measured in the last session"\n'
        'NOTE = ("the linear assignment "\n'
        '        "as the brief says")\n')
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(
        "# CI: the quick build (#1b9e77 is no issue)\n"
        "on: push  # who ran it\n"
        "env:\n"
        "  SESSION: a key, not a comment\n")
    assert scan(tmp_path) == [
        "README.md:11: fixed in issue #22",
        "book/page.md:4: as its brief allows",
        "notebooks/page.ipynb:cell 0 line 3: in this session",
        "notebooks/page.ipynb:cell 2 line 2: see #7",
        "eqlib/pages/page.py:4: seeds, measured in the last session",
        "eqlib/pages/page.py:5: the linear assignment as the brief says",
        ".github/workflows/ci.yml:2: # who ran it",
    ]
