"""What a page shows outside the book: glued values rendered into the prose as MyST-NB would paste them."""
import numpy as np
import pytest

from eqlib import page


def test_render_pastes_each_value_as_myst_nb_does():
    from IPython.lib.pretty import pretty
    from myst_nb.core.variables import format_plain_text       # the oracle: MyST-NB's own formatting
    values = {"n": 3, "x": 0.25, "s": "3 of 3 seeds", "f": np.float64(0.5), "l": [1, 2], "q": "it's"}
    text = " ".join(f"{k}={{glue:text}}`{k}`" for k in values)
    expected = " ".join(f"{k}={format_plain_text(pretty(v), '')}" for k, v in values.items())
    assert page.render(text, values) == expected
    assert "{glue" not in page.render(text, values)


def test_render_names_every_value_not_glued_yet():
    with pytest.raises(KeyError, match="not glued yet: a, c"):
        page.render("{glue:text}`a` and {glue:text}`b` and {glue:text}`c` and {glue:text}`a`", {"b": 1})


def test_a_figure_block_becomes_its_caption():
    md = "Before.\n\n```{glue:figure} fig_x\n\nThe caption, over {glue:text}`n` seeds.\n```\n\nAfter."
    assert page.render(md, {"n": 5}) == "Before.\n\n*Figure.* The caption, over 5 seeds.\n\nAfter."


def test_prose_shows_the_rendered_paragraph_outside_the_book_and_only_checks_inside(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    monkeypatch.setattr(page, "GLUED", {})
    page.glue("k", 7)
    monkeypatch.delenv("EQLIB_BOOK", raising=False)
    page.prose("k is {glue:text}`k`.")
    assert shown == ["k is 7."]
    monkeypatch.setenv("EQLIB_BOOK", "1")
    assert page.prose("k is {glue:text}`k`.") is None and shown == ["k is 7."], "the book renders it itself"
    with pytest.raises(KeyError, match="not glued yet: later"):
        page.prose("{glue:text}`later`")
