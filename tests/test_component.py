"""app/views/component.py: the page's JSComponents skip Panel's design lookup for a change
that is not to their stylesheets, and end up with exactly the model a plain JSComponent
gets (the lookup's result is only ever used for stylesheets)."""

from __future__ import annotations

import panel as pn
import param
import pytest
from bokeh.document import Document

from dpo_sim.app.views.component import Component


class Mine(Component):
    text = param.String(default="")
    _esm = "export function render({ model }) {}"


class Plain(pn.custom.JSComponent):
    text = param.String(default="")
    _esm = "export function render({ model }) {}"


def stylesheet_names(model) -> list[str]:
    return [getattr(s, "url", None) or type(s).__name__ for s in model.stylesheets]


@pytest.mark.parametrize("change", [{"text": "new"}, {"stylesheets": ["p { color: red }"]},
                                    {"text": "both", "stylesheets": [":host { margin: 0 }"]}])
def test_same_model_as_a_plain_jscomponent(change):
    models = []
    for cls in (Mine, Plain):
        c = cls(text="old", stylesheets=["div { color: blue }"])
        doc = Document()
        m = c.get_root(doc)
        c.param.update(**change)
        models.append(m)
    mine, plain = models
    assert mine.data.text == plain.data.text == change.get("text", "old")
    assert stylesheet_names(mine) == stylesheet_names(plain)
    assert len(mine.stylesheets) > len(change.get("stylesheets", [1]))   # the design's too


def test_a_text_change_skips_the_design_lookup(monkeypatch):
    calls = []
    c = Mine(text="a")
    c.get_root(Document())
    real = type(c._design).params
    monkeypatch.setattr(type(c._design), "params",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    c.text = "b"
    assert calls == []
    c.stylesheets = ["p { margin: 0 }"]
    assert len(calls) == 1


class _Context:
    """Stands for Bokeh's session context: a document that has one is a served page."""


def test_send_puts_values_on_a_served_pages_model_in_one_held_message(monkeypatch):
    ctx = _Context()
    doc = Document()
    doc._session_context = lambda: ctx
    c = Mine(text="old")
    model = c.get_root(doc)
    doc.add_root(model)
    panel_path = []
    monkeypatch.setattr(Mine, "_update_model", lambda *a, **k: panel_path.append(a))
    with pn.io.hold(doc):
        c.send(text="new")
        held = [(getattr(e, "attr", None), getattr(e, "new", None))
                for e in doc.callbacks._held_events]
        assert ("text", "new") in held          # in the update's one message, not sent yet
    assert c.text == "new" and model.data.text == "new" and panel_path == []
    with pn.io.hold(doc):
        c.send(text="new")                      # unchanged: nothing goes out
        assert doc.callbacks._held_events == []


def test_send_outside_a_served_page_is_a_plain_update():
    c = Mine(text="old")
    seen = []
    c.param.watch(lambda e: seen.append(e.new), "text")
    model = c.get_root(Document())                       # no session: a notebook-like doc
    c.send(text="new")
    assert seen == ["new"] and model.data.text == "new"
    c.send(text="new")
    assert seen == ["new"]
