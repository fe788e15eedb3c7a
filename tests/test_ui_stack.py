"""The frontier and the sweep map as a learner meets them: on the real page, on both hosts
(the served page, NumPy; the offline file, the JavaScript twin in Web Workers), below the
first screen (parts ``dpo-part-frontier`` / ``dpo-part-sweep``). What they say, against
sim/frontier.py, sim/sweep.py and app/texts.py (STACK_TEXTS); what a key or a click on the
map loads; that a flip moves them and that the map waits while its part is hidden.

(The replies themselves, twin against NumPy, are held equal in tests/test_js_stack.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpo_sim.app.texts import STACK_TEXTS as T
from dpo_sim.sim import frontier as fr
from dpo_sim.sim import sweep as sw
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

pytest.importorskip("playwright.sync_api")

# -- reading the page (its parts sit in the served page's shadow root: __e2e pierces it) -----
ROWS_JS = """sel => Array.from(window.__e2e.all(sel)).map(
    r => Array.from(r.children).map(c => c.textContent))"""


def _text(d, testid: str) -> str:
    return d.page.evaluate(
        "t => { const e = window.__e2e.q('[data-testid=' + t + ']'); "
        "return e ? e.textContent.trim() : null; }", testid)


def _gap(d) -> float | None:
    g = d.page.evaluate("() => { const e = window.__e2e.q('[data-testid=frontier-readout]');"
                        " return e ? e.getAttribute('data-gap') : null; }")
    return None if g is None else float(g)


def _scroll_to(d, part: str) -> None:
    """Scroll the part into view, as a learner does: after a scenario's first reply the
    frontier and the map ask for new ones only while they are on screen (app/ui/dom.js
    onScreen)."""
    d.page.evaluate("p => window.__e2e.q('.dpo-part-' + p).scrollIntoView()", part)


def _wait_gap(d, other_than: float | None = None) -> float:
    """The readout's gap once a frontier reply is drawn (and differs from ``other_than``)."""
    _scroll_to(d, "frontier")
    d.wait_js("""old => { const e = window.__e2e.q('[data-testid=frontier-readout]');
        const g = e && e.getAttribute('data-gap');
        return g !== null && g !== undefined && (old === null || Number(g) !== old); }""",
              other_than, timeout=60_000)
    return _gap(d)


def _wait_sweep(d, contains: str = "runs") -> str:
    _scroll_to(d, "sweep")
    d.wait_js("""s => { const e = window.__e2e.q('[data-testid=sweep-status]');
        return !!e && e.textContent.includes(s); }""", contains, timeout=60_000)
    return _text(d, "sweep-status")


def _python_gap(sim, x: int = 0) -> float:
    """The gap of the run's point below the frontier of prompt x (sim/frontier.py)."""
    tr = fr.true_reward(sim.pairs, sim.scenario.true_reward)
    f = fr.frontier(sim.logp_ref[x], tr.reward[x])
    rec = sim.record
    return float(fr.gap(f, [rec.kl[x]], [rec.probs[x] @ tr.reward[x]])[0])


def _fixed3(v: float) -> str:
    """app/ui/fmt.js fixed(v, 3, sign) and small(v) for |v| >= 1e-3."""
    t = f"{v:+.3f}"
    return "+0.000" if t == "-0.000" else t


def _readout(sim, x: int = 0) -> str:
    """The readout's text for prompt x, from app/texts.py and sim/frontier.py."""
    tr = fr.true_reward(sim.pairs, sim.scenario.true_reward)
    rec = sim.record
    e = float(rec.probs[x] @ tr.reward[x])
    gap = _python_gap(sim, x)
    assert rec.kl[x] >= 1e-3 and gap >= 1e-3 or gap < 5e-3    # fmt.js small() as fixed()
    where = T["FRONTIER_ON"] if gap < 5e-3 else T["FRONTIER_BELOW"].format(
        gap=f"{gap:.3f}", best=_fixed3(e + gap))
    return T["FRONTIER_READOUT"].format(kl=f"{rec.kl[x]:.3f}", reward=_fixed3(e), where=where)


def _select_prompt(d, x: int) -> None:
    d.page.locator(".dpo-frontier-select").first.select_option(index=x)


def _sweep_rows(d) -> list[list[str]]:
    return d.page.evaluate(ROWS_JS, ".dpo-sweep-view table tr")[1:]


def _assert_sweep_table(d, res: dict, name: str, lr_now: float) -> None:
    """The map's text alternative: per beta, where the runs turn unstable (measured), the
    prediction, and the chosen quantity at the learning rate in force."""
    rows = _sweep_rows(d)
    L = len(res["learning_rate"])
    assert len(rows) == len(res["beta"]) == 64
    unstable = np.array(res["diverged"]) | np.array(res["oscillating"])
    j = int(np.argmin(np.abs(np.log(np.array(res["learning_rate"]) / lr_now))))
    for i, row in enumerate(rows):
        first = L
        while first > 0 and unstable[i * L + first - 1]:
            first -= 1
        assert float(row[0]) == pytest.approx(res["beta"][i], rel=1e-5)
        if first < L:
            assert float(row[1]) == pytest.approx(res["learning_rate"][first], rel=1e-5)
        else:
            assert row[1] == "none in the grid"
        v = res[name][i * L + j]
        if v is None or not math.isfinite(v):
            assert row[3] == (T["SWEEP_CELL"]["none"] if name == "kl_opt"
                              else T["SWEEP_CELL"]["infinite"]), (i, row)
        else:
            assert float(row[3]) == pytest.approx(v, rel=5e-3, abs=1e-12), (i, name, row)


# -- the frontier -----------------------------------------------------------------------------
def test_the_frontier_shows_the_runs_point_and_its_table(open_page):
    """mislabel: the readout is the run's KL and expected true reward, prompt by prompt, and
    its gap below the curve NumPy's; the text alternative holds the reply's numbers; at the
    end prompt 1 is on the curve and the egg prompt far below it. Then unanimous (the fit is
    not finite): no frontier, said so; and back to align: a curve again."""
    d = open_page("?scenario=mislabel&step=37", at=37)
    sim = Simulation(load_scenario("mislabel"))
    sim.advance(37)
    assert d.page.locator(".dpo-part-frontier").count() == 1
    options = d.page.locator(".dpo-frontier-select option")
    assert options.count() == 2                                # one per prompt
    for x in (1, 0):
        _select_prompt(d, x)
        want = _python_gap(sim, x)
        got = _wait_frontier_for(d, want)
        assert got == pytest.approx(want, abs=1e-9), x
        assert _text(d, "frontier-readout") == _readout(sim, x)
    # the text alternative (prompt 0): where the sweep of betas ends, and pi_ref
    reply = fr.frontier_reply(Simulation(load_scenario("mislabel")), {"op": "frontier"})
    rows = d.page.evaluate(ROWS_JS, ".dpo-frontier-view table tr")
    sweep = reply["sweep"]
    want = [[f"β = {b:g}", f"{sweep['kl'][i][0]:.3f}", _fixed3(sweep['reward'][i][0])]
            for i, b in enumerate(sweep["beta"])]
    assert [r for r in rows if r[0].startswith("β =")] == want
    p = reply["prompts"][0]
    assert ["π_ref", "0", _fixed3(p["start"])] in rows or \
        ["π_ref", "0.000", _fixed3(p["start"])] in rows
    # to the end: prompt 0 (the egg prompt, shown) far below; prompt 1 on the curve
    d.act("dpoSim.step(363)")
    sim.advance(363)
    assert d.step() == 400
    g0 = _wait_frontier_for(d, _python_gap(sim, 0))
    assert g0 == pytest.approx(_python_gap(sim, 0), abs=1e-9) and g0 > 2.0
    assert _text(d, "frontier-readout") == _readout(sim, 0)
    _select_prompt(d, 1)
    d.wait_js("() => Number(window.__e2e.q('[data-testid=frontier-readout]')"
              ".getAttribute('data-gap')) < 1e-4")
    assert _gap(d) == pytest.approx(_python_gap(sim, 1), abs=1e-9)
    assert _text(d, "frontier-readout") == _readout(sim, 1)
    # unanimous: the Bradley-Terry fit is not finite
    d.act("dpoSim.load('unanimous')")
    d.wait_js("() => !!window.__e2e.q('[data-testid=frontier-none]')", timeout=60_000)
    text = _text(d, "frontier-none")
    assert text.startswith("No frontier for this prompt") and "true_reward" in text
    assert _gap(d) is None
    d.act("dpoSim.step(5)")                                    # ticks change nothing there
    assert _gap(d) is None and _text(d, "frontier-none") == text
    # align again: a frontier, and the run's point on it
    d.act("dpoSim.load('align')")
    _wait_gap(d)
    assert _text(d, "frontier-none") is None
    # fix-label: the scripted flip at step 100 moves the curve (the fit to the votes now)
    d.act("dpoSim.load('fix-label'); dpoSim.step(99)")
    sim = Simulation(load_scenario("fix-label"))
    sim.advance(99)
    before = _wait_frontier_for(d, _python_gap(sim))
    d.act("dpoSim.step(2)")
    sim.advance(2)
    assert list(sim.flipped) and d.state()["flipped"] == list(sim.flipped)
    want = _python_gap(sim)
    assert _wait_frontier_for(d, want) == pytest.approx(want, abs=1e-9) != before


def test_the_readout_follows_the_prompt_select(open_page):
    d = open_page("?scenario=mislabel&step=37", at=37)
    sim = Simulation(load_scenario("mislabel"))
    sim.advance(37)
    assert _wait_gap(d) == pytest.approx(_python_gap(sim, 0), abs=1e-9)
    _select_prompt(d, 1)
    d.page.wait_for_timeout(200)
    assert _gap(d) == pytest.approx(_python_gap(sim, 1), abs=1e-9)
    assert _text(d, "frontier-readout") == _readout(sim, 1)


def _wait_frontier_for(d, want: float) -> float:
    _scroll_to(d, "frontier")
    d.wait_js("w => { const e = window.__e2e.q('[data-testid=frontier-readout]');"
              " const g = e && e.getAttribute('data-gap');"
              " return g !== null && Math.abs(Number(g) - w) < 1e-6; }", want, timeout=60_000)
    return _gap(d)


# -- align: the frontier, then the map on the same page ---------------------------------------
def test_align_frontier_and_map(open_page):
    d = open_page("?scenario=align&step=300", at=300)
    sim = Simulation(load_scenario("align"))
    sim.advance(300)
    # the frontier: the run ends on the curve at b = beta
    want = _python_gap(sim)
    assert abs(want) < 1e-3
    assert _wait_frontier_for(d, want) == pytest.approx(want, abs=1e-9)
    assert _text(d, "frontier-readout") == _readout(sim)
    status = _text(d, "frontier-status")
    assert ("the Bradley–Terry fit to the votes as they stand. Diamonds: where runs with "
            "β = 0.1 … 10 end after 400 steps, each with learning rate 0.5/β²") in status

    # the map: its status, as sim/sweep.py measures and predicts
    res = sw.sweep_reply(Simulation(load_scenario("align")), {"op": "sweep"})
    status = _wait_sweep(d)
    assert "64 × 64 = 4,096 runs, after 400 steps" in status
    assert "above lr·β² ≈ 18.3" in status and "predicts lr·β² = 18.6" in status
    assert status.endswith("The ring marks the settings in force.")
    # every quantity: the text alternative shows it at the learning rate in force
    select = d.page.locator(".dpo-sweep-view select").first
    for name in ("kl", "loss", "kl_opt"):
        select.select_option(name)
        caption = d.page.evaluate(
            "() => window.__e2e.q('.dpo-sweep-view table caption').textContent")
        assert caption.startswith(T["SWEEP_HEADING"] + ": " + T["SWEEP_TITLES"][name])
        _assert_sweep_table(d, res, name, lr_now=0.5)
    select.select_option("kl")

    # a key: the cursor starts on the cell in force, the tip says the cell, Enter loads it
    betas = np.array(res["beta"])
    lrs = np.array(res["learning_rate"])
    i = int(np.abs(np.log(betas)).argmin())                    # beta 1, lr 0.5 in force
    j = int(np.abs(np.log(lrs / 0.5)).argmin())
    canvas = d.page.locator("canvas.dpo-sweep").first
    canvas.focus()
    for k in ("ArrowUp", "ArrowRight", "ArrowRight"):
        d.page.keyboard.press(k)
    tip = d.page.locator(".dpo-sweep-tip").first.inner_text()
    assert tip.startswith(f"β {betas[i + 2]:g}, learning rate {lrs[j + 1]:g}: "), tip
    d.page.keyboard.press("Enter")
    s = d.state()
    assert (s["beta"], s["learning_rate"]) == (betas[i + 2], lrs[j + 1])
    assert s["step"] == 0                                       # restarted
    assert f"beta {betas[i + 2]:g}" in s["events"][-1], s["events"][-1]

    # a click: the cell under the pointer (its tip) is loaded, the run restarts, and run to
    # the end it is the cell
    d.act("dpoSim.step(25)")
    box = canvas.bounding_box()
    x, y = box["x"] + 0.2 * box["width"], box["y"] + 0.7 * box["height"]
    d.page.mouse.move(x, y)
    tip = d.page.locator(".dpo-sweep-tip").first.inner_text()
    b_txt, lr_txt = tip.split(":")[0].removeprefix("β ").split(", learning rate ")
    ci = int(np.abs(np.log(betas / float(b_txt))).argmin())
    cj = int(np.abs(np.log(lrs / float(lr_txt))).argmin())
    d.page.mouse.click(x, y)
    s = d.state()
    assert (s["beta"], s["learning_rate"]) == (betas[ci], lrs[cj]) and s["step"] == 0
    d.act("dpoSim.step(400)")
    s = d.state()
    cell = ci * len(lrs) + cj
    assert s["step"] == 400
    assert s["loss"] == pytest.approx(res["loss"][cell], abs=1e-12)

    # beta and the learning rate move neither the frontier nor the map; a flip moves both
    res_before = _sweep_rows(d)
    d.act("dpoSim.set({beta: 1.0, learning_rate: 0.5})")
    assert [r[:3] for r in _sweep_rows(d)] == [r[:3] for r in res_before]
    # ... but only once the map is on screen: scrolled away, it waits (no runs for a part
    # nobody sees, while the learner flips rows)
    d.page.evaluate("() => window.scrollTo(0, 0)")
    d.page.wait_for_timeout(100)
    d.act("dpoSim.flip(2); dpoSim.set({loss_type: 'ipo'})")
    d.page.wait_for_timeout(2500)
    assert "whatever β" not in _text(d, "sweep-status")
    status = _wait_sweep(d, "whatever β")                       # IPO's horizontal edge
    assert "learning rate ≈" in status
    sim = Simulation(load_scenario("align"))
    sim.set(beta=1.0, learning_rate=0.5)
    sim.flip(2)
    sim.set(loss_type="ipo")
    _assert_sweep_table(d, sw.sweep_reply(sim, {"op": "sweep"}), "kl", lr_now=0.5)


# -- a flip moves the frontier; the hidden map waits -------------------------------------------
def test_a_flip_moves_the_frontier_and_the_hidden_map_waits(open_page):
    """After a flip the curve is the fit to the votes now, and the run (beta 2) is below it;
    meanwhile the map, its part hidden, is never asked for."""
    d = open_page("?scenario=align&step=300&hide=sweep", at=300)
    assert d.page.evaluate("() => window.__e2e.all('.dpo-part-sweep').every(e => e.hidden)")
    sim = Simulation(load_scenario("align"))
    sim.advance(300)
    before = _wait_frontier_for(d, _python_gap(sim))
    d.act("dpoSim.set({beta: 2.0, learning_rate: 0.125}); dpoSim.flip(0)")
    sim.set(beta=2.0, learning_rate=0.125)
    sim.flip(0)
    want = _python_gap(sim)
    assert want > 0.01
    assert _wait_frontier_for(d, want) == pytest.approx(want, abs=1e-9) != before
    d.act("dpoSim.set({loss_type: 'hinge'}); dpoSim.step(3)")
    d.page.wait_for_timeout(300)
    assert _text(d, "sweep-status") == T["SWEEP_WAITING"]      # the hidden map: no reply


# -- without workers (offline only): the page's thread answers ------------------------------
def test_without_workers_the_page_thread_answers(browser, server):
    """Where a Worker cannot be made, the offline file's frontier and map still arrive
    (computed on the page's thread, after the current task)."""
    from browser import DashboardPage, host_url

    d = DashboardPage(browser, host_url(server.url, "offline"), host="offline")
    try:
        d.context.add_init_script(
            "window.Worker = function () { throw new Error('no workers here'); };")
        d.open("?scenario=tie")
        _wait_sweep(d)
        sim = Simulation(load_scenario("tie"))
        assert _wait_gap(d) == pytest.approx(_python_gap(sim), abs=1e-9)
        assert d.errors == [] and not d.blocked
    finally:
        d.close()
