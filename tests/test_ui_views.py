"""The formula strip and the pulls chart as the page's shared views (app/ui/views/), run in
Node on a small stand-in DOM (tests/js_fake_dom.mjs), fed what the engine sends (built from a
Simulation by js_ui.page_view): the strip works out the row looked at (its rewards, margin,
sigma and pulls recomputed here by hand) and says where it ends; the chart draws the weight
curve of the loss in force (NumPy's weights, to 1e-12), every row as a dot at its margin,
and a tick where, and only where, a row comes to rest. While the Panel views exist, the
strip's HTML is also held to theirs, word for word, on every row of every preset under
every loss."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from js_ui import NODE, find_testid, node_ui, page_view, sim_rest, tree_text

from dpo_sim.app import texts
from dpo_sim.sim.losses import objective
from dpo_sim.sim.scenario_io import list_presets, load_scenario
from dpo_sim.sim.simulation import Simulation

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")

PRESETS = [pid for pid, _, err in list_presets() if err is None]
LOSSES = ({}, {"loss_type": "ipo"}, {"loss_type": "hinge"},
          {"loss_type": "robust", "label_smoothing": 0.1}, {"adaptive_weight": False})






def _sim(pid, settings, steps):
    sim = Simulation(load_scenario(pid).with_settings(**settings), keep_history=False)
    if steps:
        sim.advance(steps)
    return sim


def test_the_formula_strip_works_out_the_row_looked_at_with_both_pulls():
    """align at step 6, row 0 ("good" over "meh", 7:3): the implicit rewards, sigma and the
    two pulls recomputed by hand from the record's probabilities; it comes to rest at its
    vote share, data-u log(7/3). Looking at row 3 works out row 3. With the weight off
    every judgement pulls with weight 1, the row never rests and u moves by the pace the
    strip states."""
    sim = _sim("align", {}, 6)
    rec = sim.record
    views = [page_view(sim, 0), dict(page_view(sim, 3), why="look")]
    sim.set(adaptive_weight=False)
    u0 = sim.record.row_margin[0]
    views.append(page_view(sim, 0))
    pace = sim.advance().row_margin[0] - u0
    (out,) = node_ui([{"kind": "view", "mount": "formula", "views": views}])
    text = tree_text(out[0]["tree"])
    pi, ref = rec.probs[0], np.exp(sim.logp_ref[0])
    rc, rr = np.log(pi[0] / ref[0]), np.log(pi[1] / ref[1])      # beta 1
    s = 1 / (1 + np.exp(-(rc - rr)))
    assert text.startswith("Row 0 worked out: “A: ")
    assert f"1 × log({pi[0]:.3f} / 0.250) = {rc:+.3f}" in text
    assert f"1 × log({pi[1]:.3f} / 0.250) = {rr:+.3f}" in text
    assert f"u = {rc - rr:+.3f}, σ(u) = {s:.3f}" in text
    assert f"7 × σ(−u) = {7 * (1 - s):.3f}" in text and f"3 × σ(u) = {3 * s:.3f}" in text
    net = find_testid(out[0]["tree"], "net-pull")
    assert float(net[1]["data-value"]) == pytest.approx(7 * (1 - s) - 3 * s, abs=1e-12)
    assert net[2] == f"{7 * (1 - s) - 3 * s:+.3f}"
    rest = find_testid(out[0]["tree"], "rest")
    assert "σ(u) = 0.700, its share of the votes" in rest[2]
    assert float(rest[1]["data-u"]) == pytest.approx(math.log(7 / 3), abs=1e-12)
    assert tree_text(out[1]["tree"]).startswith("Row 3 worked out: “A: ")
    off = tree_text(out[2]["tree"])
    assert "7 × 1 = 7.000" in off and "3 × 1 = 3.000" in off
    rest = find_testid(out[2]["tree"], "rest")
    assert rest[1]["data-u"] == "none" and f"{pace:+.4f} per step" in rest[2]


def test_the_formula_strip_hides_itself_without_rows():
    sim = _sim("align", {}, 0)
    view = dict(page_view(sim, 0), rows=[], rest=[])
    (got,) = node_ui([{"kind": "view", "mount": "formula", "views": [view]}])
    card = got[0]["tree"][2][2]
    assert card[1]["class"] == "dpo-card dpo-formula" and card[1].get("hidden") == ""


def _table(tree):
    """The pulls chart's text alternative: its body rows as lists of cell texts."""
    table = find_testid(tree, "pulls-table")
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
def test_the_pulls_chart_draws_the_weight_curve_the_dots_and_the_rest_ticks(pid, settings):
    """The chart spans the margins with a unit to spare (at least −5 to 5), draws the
    weight of the loss in force (NumPy's, to 1e-12) on 241 points, puts each row's dot at
    its margin on that curve, and a tick at the rest margin of each row that rests, and
    only there."""
    sim = _sim(pid, settings, 40)
    (out,) = node_ui([{"kind": "view", "mount": "pulls", "views": [page_view(sim)]}])
    m = out[0]["model"]
    u = sim.record.row_margin
    assert (m["lo"], m["hi"]) == (min(-5.0, math.floor(u.min()) - 1.0),
                                  max(5.0, math.ceil(u.max()) + 1.0))
    loss = objective(sim.loss_type, sim.adaptive_weight, sim.label_smoothing)
    grid = np.linspace(m["lo"], m["hi"], 241)
    w = np.asarray(loss.weight(grid, sim.beta), dtype=float)
    np.testing.assert_allclose(m["curve"]["u"], grid, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m["curve"]["w"], w, rtol=1e-12, atol=1e-15)
    assert m["top"] == pytest.approx(max(1.1, w.max() * 1.1), rel=1e-12)
    assert [d["u"] for d in m["dots"]] == u.tolist()
    np.testing.assert_allclose([d["w"] for d in m["dots"]], loss.weight(u, sim.beta),
                               rtol=1e-12, atol=1e-15)
    votes = zip(sim.pairs.votes_chosen, sim.pairs.votes_rejected)
    assert [d["votes"] for d in m["dots"]] == [f"{a:g}:{b:g}" for a, b in votes]
    rests = sim_rest(sim)
    assert {t["row"]: t["u"] for t in m["ticks"]} == {
        i: r.u for i, r in enumerate(rests) if r.kind == "rests"}
    # the text alternative says the same numbers, under the heads of texts.PULLS_TABLE
    head = [k for k in find_testid(out[0]["tree"], "pulls-table")[2:] if k[0] == "thead"][0]
    assert [th[2] for th in head[2][2:]] == list(texts.PULLS_TABLE)
    rows = _table(out[0]["tree"])
    assert [r[2] for r in rows] == [f"{v:+.3f}".replace("+0.000", "0.000").replace(
        "-0.000", "0.000") for v in u]
    assert [r[4] != "—" for r in rows] == [r.kind == "rests" for r in rests]


def test_a_step_redraws_only_the_dots_and_the_table_at_most_once_a_second():
    """A step that leaves the span and the ticks alone clears only the dots' canvas; the
    hidden table keeps the numbers of the last refresh until a second has passed; a
    change of the structure (the weight off) redraws the curve and refreshes the table."""
    sim = _sim("align", {}, 5)
    first = page_view(sim)
    sim.advance(1)
    second = dict(page_view(sim), why="step")
    sim.set(adaptive_weight=False)
    third = dict(page_view(sim), why="structure")
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
    from pathlib import Path

    from js_ui import UI_TEXT_NAMES

    ui = Path(__file__).resolve().parents[1] / "app" / "ui"
    read = set()
    for name in ("rest_text.js", "views/formula.js", "views/pulls.js"):
        read |= set(re.findall(r"\bT\.([A-Z_]+)", (ui / name).read_text()))
    assert read == set(UI_TEXT_NAMES)
    assert all(hasattr(texts, k) for k in UI_TEXT_NAMES)
