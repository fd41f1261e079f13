"""What a page shows: the numbers glued into its prose, those numbers outside the book, its tables and its boxes.

In the book, MyST-NB pastes each glued value into the prose (``{glue:text}`name```). A notebook run outside the
book (Colab, a plain Jupyter kernel) has no MyST-NB: there each paragraph that names glued values is followed by
a cell calling :func:`prose`, which shows the paragraph with this run's numbers. The values glued in this kernel
are kept here (:data:`GLUED`), so :func:`prose` can render them, and the book's build checks that every paragraph's
values are computed before it (a paragraph never waits for a later cell).
"""
from __future__ import annotations

import re

from eqlib.results import in_book

GLUED: dict = {}        # name -> value, everything glued in this kernel
ROLE = re.compile(r"\{glue:text\}`([^`]+)`")
FIGURE = re.compile(r"```\{glue:figure\}[ \t]*(\S+)[ \t]*\n(.*?)\n?```", re.S)


def glue(name, value):
    """Glue ``value`` under ``name``: MyST-NB's ``glue`` where it is installed (the book pastes the value into
    prose with ``{glue:text}`name```), and kept in :data:`GLUED` for :func:`prose` everywhere."""
    GLUED[name] = value
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=False)


def plain_text(value) -> str:
    """``value`` as ``{glue:text}`` pastes it: its IPython text representation, a string without its quotes
    (MyST-NB's ``format_plain_text``)."""
    import ast
    from IPython.lib.pretty import pretty
    text = pretty(value)
    try:
        return str(ast.literal_eval(text))
    except (SyntaxError, ValueError):
        return text


def glued_names(markdown: str) -> list:
    """The names a Markdown text pastes with ``{glue:text}``, in order, each once."""
    return list(dict.fromkeys(ROLE.findall(markdown)))


def render(markdown: str, values=None) -> str:
    """``markdown`` as a reader outside the book should see it: each ``{glue:text}`name``` replaced by the value
    (:func:`plain_text`) and each ``{glue:figure}`` block by its caption (the figure is the output above it).
    ``values`` defaults to :data:`GLUED`; a name without a value raises a ``KeyError`` naming every one missing."""
    values = GLUED if values is None else values
    missing = [n for n in glued_names(markdown) if n not in values]
    if missing:
        raise KeyError(f"not glued yet: {', '.join(missing)} (glue a value before the paragraph that names it)")
    text = FIGURE.sub(lambda m: f"*Figure.* {m.group(2).strip()}", markdown)
    return ROLE.sub(lambda m: plain_text(values[m.group(1)]), text)


def prose(markdown: str):
    """Show the paragraph above this cell with this run's numbers: outside the book, where nothing renders
    ``{glue:text}``, the paragraph rendered (:func:`render`); in the book, nothing (MyST-NB pastes the values),
    but every name must be glued by now, so the build fails where a paragraph names a value computed later."""
    text = render(markdown)
    if in_book():
        return None
    from IPython.display import Markdown, display
    display(Markdown(text))


def md_table(header, rows):
    """A Markdown table (displayed by notebooks, rendered by the book)."""
    from IPython.display import Markdown
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return Markdown("\n".join(lines))


def box(title: str, body: str, kind: str = "note") -> str:
    """A titled box: a MyST admonition in the book, a quoted block elsewhere (no MyST outside the book)."""
    if in_book():
        return f":::{{admonition}} {title}\n:class: {kind}\n{body}\n:::"
    return "\n".join([f"> **{title}.**", ">"] + [f"> {line}" if line else ">" for line in body.split("\n")])


def show_quick_banner(profile):
    """Display a warning box on quick builds; nothing otherwise."""
    from IPython.display import Markdown, display
    if profile == "quick":
        display(Markdown(box("Quick build", "This page was built with the **quick** profile: small settings (a few "
                                            "epochs on a subset of CIFAR-10 where data is used), to check that the "
                                            "pipeline works. Its numbers are not the paper's; build the full profile "
                                            "(`make book`) for those.", "warning")))


def provenance_note(provenance: dict):
    from IPython.display import Markdown
    v = ", ".join(f"{k} {val}" for k, val in provenance["versions"].items())
    data = provenance.get("data", {}).get("description", "no data set (synthetic networks only)")
    lock, pinned = provenance.get("lock"), ""
    if lock:
        state = (f"{len(lock['differ'])} installed at other versions: {', '.join(lock['differ'][:3])}"
                 if lock["differ"] else "all installed as locked")
        pinned = f"- dependency lock: `{lock['file']}` (sha256 {lock['sha256']}), {lock['packages']} packages, {state}\n"
    return Markdown(box(
        "How this page was made",
        f"- profile: **{provenance['profile']}**; seed: {provenance['seed']}\n"
        f"- data: {data}\n- machine: {provenance['machine']}; device: {provenance['device']}; training precision: "
        f"{provenance.get('precision', 'float32')}\n"
        f"- packages: {v}\n{pinned}{_protocol_line(provenance.get('protocol'))}"
        f"- run time of this page: {provenance['run_seconds']} s"))


def _protocol_line(protocol) -> str:
    if not protocol:
        return ""
    return "- protocol (`eqlib.protocol`, resolved): " + ", ".join(f"{k} {v}" for k, v in protocol.items()) + "\n"
