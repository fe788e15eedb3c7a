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
