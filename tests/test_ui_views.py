"""The formula strip and the pulls chart as the page's shared views (app/ui/views/), run in
Node on a small stand-in DOM (tests/js_fake_dom.mjs): the strip builds the same HTML, word
for word and attribute for attribute, as the Panel view it replaces, for every row of every
preset under every loss; the chart draws the weight curve of the loss in force (NumPy's
weights, to 1e-12), every row as a dot at its margin, and a tick where, and only where, a
row comes to rest."""

from __future__ import annotations

import numpy as np
import pytest
from js_ui import NODE, html_tree, node_ui, page_view

from dpo_sim.app import texts
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
    got = [g["tree"] for g in node_ui([{"kind": "view", "mount": "formula",
                                        "views": views}])[0]]
    assert len(got) == len(expected) > 300
    for n, (box, want) in enumerate(zip(got, expected)):
        assert box[0] == "div" and box[2:] == want, (n, box, want)
    kinds = {_find(box, "rest")[1]["data-kind"] for box in got}
    assert kinds >= {"rests", "approaches", "drifts", "swings", "stops"}, kinds


def test_the_formula_strip_hides_itself_without_rows():
    st = _state("align", {}, 0)
    view = dict(page_view(st, 0), rows=[], rest=[])
    (got,) = node_ui([{"kind": "view", "mount": "formula", "views": [view]}])
    assert got[0]["tree"][2][1].get("hidden") == ""


def _table(tree):
    """The pulls chart's text alternative: its body rows as lists of cell texts."""
    table = _find(tree, "pulls-table")
    body = [k for k in table[2:] if k[0] == "tbody"][0]
    return [[cell[2] if len(cell) > 2 else "" for cell in tr[2:]] for tr in body[2:]]


def _canvases(tree, out=None):
    out = [] if out is None else out
    if isinstance(tree, list):
        if tree[0] == "canvas":
            out.append(tree[-1])
        for kid in tree[2:]:
            _canvases(kid, out)
    return out


@pytest.mark.parametrize("pid, settings", [
    ("align", {}), ("dpo-is-rlhf", {}), ("unanimous", {}), ("align", {"loss_type": "ipo"}),
    ("align", {"loss_type": "hinge"}), ("align", {"loss_type": "robust",
                                                  "label_smoothing": 0.3}),
    ("align", {"adaptive_weight": False}), ("rock-paper-scissors", {})])
def test_the_pulls_chart_draws_the_panel_views_curve_dots_and_ticks(pid, settings):
    """The model the chart draws is the Panel chart's (its Bokeh sources and ranges):
    the curve's weights are NumPy's to 1e-12, the dots sit at the record's margins, the
    ticks at the rest margins of the rows that rest, and only there."""
    from dpo_sim.app.views.pulls import PullsChart

    st = _state(pid, settings, 40)
    chart = PullsChart(st, palette("light"))
    (out,) = node_ui([{"kind": "view", "mount": "pulls", "views": [page_view(st)]}])
    m = out[0]["model"]
    assert (m["lo"], m["hi"]) == (chart.figure.x_range.start, chart.figure.x_range.end)
    assert m["top"] == pytest.approx(chart.figure.y_range.end, rel=1e-12)
    np.testing.assert_allclose(m["curve"]["u"], chart.curve.data["u"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(m["curve"]["w"], chart.curve.data["w"], rtol=1e-12,
                               atol=1e-15)
    assert [d["u"] for d in m["dots"]] == st.record.row_margin.tolist()
    np.testing.assert_allclose([d["w"] for d in m["dots"]], chart.dots.data["w"],
                               rtol=1e-12, atol=1e-15)
    assert [d["votes"] for d in m["dots"]] == list(chart.dots.data["votes"])
    assert [str(t["row"]) for t in m["ticks"]] == list(chart.ticks.data["label"])
    assert [t["u"] for t in m["ticks"]] == list(chart.ticks.data["u"])
    rests = [i for i, r in enumerate(st.rest) if r.kind == "rests"]
    assert [t["row"] for t in m["ticks"]] == rests
    # the text alternative says the same numbers, under the heads of texts.PULLS_TABLE
    head = [k for k in _find(out[0]["tree"], "pulls-table")[2:] if k[0] == "thead"][0]
    assert [th[2] for th in head[2][2:]] == list(texts.PULLS_TABLE)
    rows = _table(out[0]["tree"])
    assert [r[2] for r in rows] == [f"{u:+.3f}".replace("+0.000", "0.000").replace(
        "-0.000", "0.000") for u in st.record.row_margin]
    assert [r[4] != "—" for r in rows] == [r.kind == "rests" for r in st.rest]


def test_a_step_redraws_only_the_dots_and_the_table_at_most_once_a_second():
    """A step that leaves the span and the ticks alone clears only the dots' canvas; the
    hidden table keeps the numbers of the last refresh until a second has passed; a
    change of the structure (the weight off) redraws the curve and refreshes the table."""
    st = _state("align", {}, 5)
    first = page_view(st)
    st.advance(1)
    second = dict(page_view(st), why="step")
    st.adaptive_weight = False
    third = dict(page_view(st), why="structure")
    (out,) = node_ui([{"kind": "view", "mount": "pulls", "views": [first, second, third]}])
    base = [_canvases(o["tree"])[0]["clears"] for o in out]
    dots = [_canvases(o["tree"])[1]["clears"] for o in out]
    assert base == [1, 1, 2] and dots == [1, 2, 3]
    u1 = f"{first['rec']['pairs/margin'][0]:+.3f}"
    u2 = f"{second['rec']['pairs/margin'][0]:+.3f}"
    assert u1 != u2
    assert _table(out[0]["tree"])[0][2] == u1 and _table(out[1]["tree"])[0][2] == u1
    assert _table(out[2]["tree"])[0][3] == "1.000"           # weight off: 1 everywhere
    assert set(out[2]["model"]["curve"]["w"]) == {1.0} and out[2]["model"]["ticks"] == []


def test_the_views_read_only_texts_the_page_json_carries():
    """Every T.NAME that rest_text.js and the two views read is in js_ui.UI_TEXT_NAMES
    (the names the page's JSON of the texts must carry), and each is in app/texts.py."""
    import re
    from pathlib import Path

    from js_ui import UI_TEXT_NAMES

    ui = Path(__file__).resolve().parents[1] / "app" / "ui"
    read = set()
    for name in ("rest_text.js", "views/formula.js", "views/pulls.js"):
        read |= set(re.findall(r"\bT\.([A-Z_]+)", (ui / name).read_text()))
    assert read == set(UI_TEXT_NAMES)
    assert all(hasattr(texts, k) for k in UI_TEXT_NAMES)
