"""Sphinx extension: drop duplicated <script> entries from each page.

sphinx-thebe's inline configuration script (``const THEBE_JS_URL = ...``) ends up twice
in the page head under Jupyter Book 1.0.4, and the second ``const`` declaration is a
JavaScript SyntaxError in every browser console.
"""


def _dedup(app, pagename, templatename, context, doctree):
    scripts, seen = [], set()
    for s in context.get("script_files", []):
        key = (getattr(s, "filename", None) or "", repr(sorted(getattr(s, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            scripts.append(s)
    if "script_files" in context:
        context["script_files"][:] = scripts


def setup(app):
    app.connect("html-page-context", _dedup, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
