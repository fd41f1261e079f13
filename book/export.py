"""Each page's own notebook: what the book executes, and what its Colab link opens.

A page is made from a template notebook (``notebooks/``) and the page's parameters (:mod:`eqlib.registry`).

* :func:`runnable` writes the page's parameters into the template's visible ``parameters`` cell (so the page
  shows the values it ran with, not the template's defaults) and, after every Markdown cell that names glued
  values, adds a cell calling :func:`eqlib.page.prose`: outside the book it shows the paragraph with the run's
  numbers; in the book's build it only checks that every value the paragraph names was computed before it.
  The build executes this notebook (papermill adds only the build's own paths, hidden).
* :func:`colab` turns a runnable into the page's published notebook: its header first (what the page shows,
  its verdict, what a run costs), its install cell pinned to the commit the book was built from, its Markdown
  readable without MyST (:func:`to_markdown`), no outputs and no path of the builder's machine.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat

PROSE_TITLE = "#@title The paragraph above, with this run's numbers"
PARAM_LINE = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?P<eq>\s*=\s*)(?P<value>.*?)(?P<comment>\s+#.*)?$")
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`]+)`")
GLUE_FIGURE = re.compile(r"```\{glue:figure\}[ \t]*(\S+)[ \t]*\n(.*?)\n?```", re.S)
DOC_ROLE = re.compile(r"\{doc\}`(?:([^`<]*?)\s*<)?([^`>]+)>?`")
MD_LINK = re.compile(r"\[([^\]]+)\]\((\.\./[\w/]+|[\w]+)\.(?:md|ipynb)\)")
CITE_ROLE = re.compile(r"\{cite(?::[tp])?\}`([^`]+)`")
COLON_FENCE = re.compile(r"^:::+\{(?P<kind>[\w:-]+)\}[ \t]*(?P<title>[^\n]*)\n(?P<options>(?::\w+:[^\n]*\n)*)"
                         r"(?P<body>.*?)^:::+[ \t]*$", re.S | re.M)
KINDS = {"prf:theorem": "Theorem", "prf:definition": "Definition", "prf:lemma": "Lemma", "prf:proof": "Proof",
         "tip": "Tip", "note": "Note", "warning": "Warning", "important": "Important"}


def parameters_cell(nb) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"a template has exactly one cell tagged 'parameters'; found {len(cells)}")
    return cells[0]


def set_parameters(source: str, params: dict) -> str:
    """The parameters cell's ``source`` with each name of ``params`` given its value (Python literal), its
    comment kept; a name the cell does not define is an error naming it and the cell's names."""
    lines, done = source.split("\n"), set()
    for k, line in enumerate(lines):
        m = PARAM_LINE.match(line)
        if m and m["name"] in params:
            value = params[m["name"]]
            literal = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
            lines[k] = f"{m['name']}{m['eq']}{literal}{m['comment'] or ''}"
            done.add(m["name"])
    missing = sorted(set(params) - done)
    if missing:
        defined = [m["name"] for m in map(PARAM_LINE.match, lines) if m]
        raise ValueError(f"parameters {missing} are not in the template's parameters cell; it defines: "
                         f"{', '.join(defined)}")
    return "\n".join(lines)


def read_parameters(nb) -> dict:
    """The values a notebook's parameters cell assigns (executed as Python, as papermill's kernel does)."""
    values: dict = {}
    exec(parameters_cell(nb).source, {}, values)
    return values


def prose_cell(markdown: str, after: str) -> nbformat.NotebookNode:
    """The cell that follows a paragraph naming glued values: hidden in the book and folded on Colab (a form). Its id
    is the paragraph's (``after``) with a suffix, so the same template gives the same notebook, byte for byte (the
    build's cache key holds it)."""
    cell = nbformat.v4.new_code_cell(f"{PROSE_TITLE}\npage.prose({markdown!r})")
    cell.id = f"{after}-prose"
    cell.metadata.update({"tags": ["remove-cell"], "cellView": "form", "jupyter": {"source_hidden": True}})
    return cell


def names_values(markdown: str) -> bool:
    return bool(GLUE_ROLE.search(markdown) or GLUE_FIGURE.search(markdown))


def runnable(template: Path, params: dict) -> nbformat.NotebookNode:
    """The page's notebook as the book executes it (see the module's docstring)."""
    nb = nbformat.read(template, as_version=4)
    cell = parameters_cell(nb)
    cell.source = set_parameters(cell.source, params)
    cells = []
    for c in nb.cells:
        cells.append(c)
        if c.cell_type == "markdown" and names_values(c.source):
            cells.append(prose_cell(c.source, c.get("id", f"cell{len(cells)}")))
    nb.cells = cells
    if not any("from eqlib import" in c.source and re.search(r"\bpage\b", c.source) for c in nb.cells
               if c.cell_type == "code"):
        raise ValueError(f"{template.name} names glued values but never imports eqlib.page")
    return nb


# --------------------------------------------------------------------------- MyST to plain Markdown (Colab)
ACCENTS = {'\\"o': "ö", '\\"a': "ä", '\\"u': "ü", "\\'e": "é", "\\'a": "á", "\\'i": "í", "\\v{c}": "č",
           "\\v{s}": "š", "\\v{z}": "ž", "\\'c": "ć", "\\'o": "ó", "\\'u": "ú"}


def _latex_name(s: str) -> str:
    for k, v in ACCENTS.items():
        s = s.replace("{" + k + "}", v).replace(k, v)
    return re.sub(r"[{}]", "", s).strip()


def bib_labels(bib: Path) -> dict:
    """``{key: "Author et al. (year)"}`` from a BibTeX file, for citations outside the book."""
    labels = {}
    for entry in re.split(r"\n(?=@)", bib.read_text()):
        key = re.match(r"@\w+\{([^,]+),", entry.strip())
        author = re.search(r"author\s*=\s*\{(.+?)\},?\s*\n", entry)
        year = re.search(r"year\s*=\s*\{(\d{4})\}", entry)
        if key and author and year:
            last = [_latex_name(a.split(",")[0]) for a in author.group(1).split(" and ")]
            who = last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2 else f"{last[0]} et al."
            labels[key.group(1)] = f"{who} ({year.group(1)})"
    return labels


def to_markdown(text: str, doc_url=None, cites: dict | None = None) -> str:
    """MyST as plain Markdown, for a notebook opened outside the book: each glued value as ``⟨name⟩`` (the cell
    below shows the paragraph with its numbers), a glued figure as its caption, ``{doc}`` as a link to the
    book's page (``doc_url(target)``, else the target's name), ``{cite}`` as author and year, and colon-fenced
    directives (theorems, admonitions) as quoted blocks."""
    cites = cites or {}
    text = GLUE_FIGURE.sub(lambda m: f"*Figure.* {m.group(2).strip()}", text)
    text = GLUE_ROLE.sub(lambda m: f"⟨{m.group(1)}⟩", text)

    def doc(m):
        label, target = m.group(1), m.group(2).strip()
        label = label or target.split("/")[-1].replace("_", " ")
        url = doc_url(target) if doc_url else None
        return f"[{label}]({url})" if url else f"*{label}*"
    text = DOC_ROLE.sub(doc, text)
    # a relative link to another page of the book ([the MLP overview](../mlp_overview.md)): to the book's page
    text = MD_LINK.sub(lambda m: f"[{m.group(1)}]({doc_url(m.group(2))})" if doc_url else m.group(1), text)
    text = CITE_ROLE.sub(lambda m: "; ".join(cites.get(k.strip(), k.strip()) for k in m.group(1).split(",")), text)

    def fence(m):
        title = m["title"].strip() or KINDS.get(m["kind"], m["kind"].split(":")[-1].title())
        body = "\n".join(f"> {line}" if line else ">" for line in m["body"].rstrip("\n").split("\n"))
        return f"> **{title}.**\n>\n{body}"
    return COLON_FENCE.sub(fence, text)


def colab(nb, header: str, install: str, doc_url=None, cites=None) -> nbformat.NotebookNode:
    """The page's published notebook from its runnable ``nb``: ``header`` (Markdown) after the title, the install
    cell's source replaced by ``install``, Markdown without MyST, no outputs, no execution counts, no
    papermill or build metadata."""
    nb = copy.deepcopy(nb)
    install_cells = [c for c in nb.cells if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
                     and "import eqlib" in c.source]
    if len(install_cells) != 1:
        raise ValueError(f"a template has exactly one install cell (tagged remove-cell); found {len(install_cells)}")
    install_cells[0].source = install
    for c in nb.cells:
        if c.cell_type == "markdown":
            c.source = to_markdown(c.source, doc_url, cites)
        else:
            c.outputs, c.execution_count = [], None
        c.metadata.pop("papermill", None)
        c.metadata.pop("execution", None)
    insert_header(nb, nbformat.v4.new_markdown_cell(header))
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["colab"] = {"provenance": []}
    return nb


def split_title(nb) -> int:
    """The index of the notebook's title cell, its first Markdown cell made to hold the title line alone: what
    followed the title there (the page's claim) moves into a cell of its own right after it (its id derived from
    the title cell's, so the notebook stays the same at every making). The page's header goes after the title."""
    i = next(k for k, c in enumerate(nb.cells) if c.cell_type == "markdown")
    lines = nb.cells[i].source.split("\n")
    at = next((k for k, line in enumerate(lines) if line.startswith("# ")), None)
    if at is None:
        raise ValueError(f"a page's first Markdown cell starts with its title ('# ...'); found {lines[0][:80]!r}")
    rest = "\n".join(lines[at + 1:]).strip("\n")
    if rest:
        nb.cells[i].source = "\n".join(lines[:at + 1])
        cell = nbformat.v4.new_markdown_cell(rest)
        cell.id = f"{nb.cells[i].get('id', 'title')}-after-title"
        nb.cells.insert(i + 1, cell)
    return i


def insert_header(nb, cell):
    """``cell`` (the page's header) right below the notebook's title (:func:`split_title`), its id derived from
    the title's."""
    i = split_title(nb)
    cell.id = f"{nb.cells[i].get('id', 'title')}-header"
    nb.cells.insert(i + 1, cell)


# --------------------------------------------------------------------------- the header every page opens with
def clock(seconds: float) -> str:
    """``"4 min"``, ``"1 h 07 min"``, ``"40 s"``: a re-run's cost for a reader."""
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def cost_line(costs: dict) -> str:
    """What a re-run costs, from the reference timings: ``costs[profile] = {"seconds", "train", "cpu", "date"}``
    (absent where never measured), and ``costs["gpu"]`` likewise where a GPU run was measured."""
    parts = []
    for profile in ("quick", "full"):
        c = costs.get(profile)
        if c is None:
            parts.append(f"{profile} profile: not measured yet")
            continue
        loaded = f"; with the book's trained networks (`EQLIB_NETWORKS`) about {clock(c['seconds'] - c['train'])}" \
            if c["train"] >= 1 else ""
        parts.append(f"{profile} profile about **{clock(c['seconds'])}** ({clock(c['train'])} of it training{loaded}) "
                     f"on {c['cpu']}, 2 cores, measured {c['date']}")
    gpu = costs.get("gpu")
    parts.append(f"on a GPU about {clock(gpu['seconds'])} ({gpu['device']}, measured {gpu['date']})" if gpu
                 else "on a GPU: not measured yet")
    return "; ".join(parts)


def header(shows: str, verdicts: list, costs: dict, colab: str, report_doc: str = "report") -> str:
    """The page's header, the same in the book and in its Colab notebook: what it shows, its verdicts from the
    reproduction report (``verdicts``: the report's rows whose page this is), what a re-run costs, and where to
    run it (``colab``: a Markdown link, or the sentence saying why there is none)."""
    if verdicts is None:           # the report itself
        verdict = "**Verdict:** this page computes the verdict of every claim, below, from the other pages' results."
    elif verdicts:
        verdict = "; ".join(f"claim {r['number']}, {r['short']}: **{r['verdict']}**" + (f" ({r['margin']})" if r.get("margin") else "")
                            for r in verdicts)
        verdict = f"**Verdict** (from the [reproduction report]({report_doc})): {verdict}."
    else:
        verdict = (f"**Verdict:** no claim of the [reproduction report]({report_doc}) is decided on this page; "
                   "what it finds is stated and asserted at its end.")
    return "\n\n".join([f"**This page shows** {shows}.", verdict, f"**A re-run costs:** {cost_line(costs)}.",
                        f"**Run it yourself:** {colab}"])
