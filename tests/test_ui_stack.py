"""The shared views of the frontier and the sweep map (app/ui/views/frontier.js, sweep.js)
on a one-file page fed by the JavaScript twin in workers (tests/stack_page.py): what they
say against the Panel views and NumPy, when they ask for data (structure changes only, not
while hidden, a newer request superseding an older one), and what a click or a key loads.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from stack_page import write_page

from dpo_sim.app.texts import STACK_TEXTS
from dpo_sim.sim import frontier as fr
from dpo_sim.sim import sweep as sw
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

NODE = shutil.which("node")
ROOT = Path(__file__).resolve().parents[1]


def config(sid: str) -> dict:
    s = load_scenario(sid)
    return {**s.config(), "steps": s.steps}


# -- texts: the shared view says what the Panel view says ----------------------------------
@pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")
@pytest.mark.parametrize("sid,changes", [
    ("align", {}), ("align", {"loss_type": "ipo"}), ("align", {"adaptive_weight": False}),
    ("align", {"loss_type": "hinge"}), ("rock-paper-scissors", {}), ("tie", {}),
    ("drop-sigma", {}),
])
def test_the_sweep_status_is_the_panel_views(sid, changes):
    from dpo_sim.app.state import SimState
    from dpo_sim.app.theme import LIGHT
    from dpo_sim.app.views.sweep import SweepMap

    st = SimState(scenario=sid)
    for k, v in changes.items():
        setattr(st, k, v)
    panel = SweepMap(st, LIGHT)
    panel.ensure()
    want = html.unescape(re.sub(r"<[^>]+>", "", panel.status.html))
    sim = Simulation(load_scenario(sid))
    if changes:
        sim.set(**changes)
    reply = sw.sweep_reply(sim, {"op": "sweep"})
    script = ("import { sweepStatusText } from './app/ui/views/sweep.js';\n"
              "let s = ''; process.stdin.on('data', (d) => { s += d; });\n"
              "process.stdin.on('end', () => { const i = JSON.parse(s);\n"
              "  process.stdout.write(sweepStatusText(i.reply, i.T)); });\n")
    p = subprocess.run([NODE, "--input-type=module", "-e", script], cwd=ROOT, text=True,
                       input=json.dumps({"reply": reply, "T": STACK_TEXTS}),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == want


# -- the page ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    pw_api = pytest.importorskip("playwright.sync_api")
    from browser import launch

    with pw_api.sync_playwright() as pw:
        try:
            b = launch(pw)
        except Exception as e:                          # no Chromium here
            pytest.skip(f"no Chromium: {e}")
        yield b
        b.close()


@pytest.fixture
def open_page(browser, tmp_path):
    pages = []

    def go(sid: str):
        path = write_page(tmp_path / f"{sid}.html", config(sid))
        pg = browser.new_page(viewport={"width": 1000, "height": 1200})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.goto(path.as_uri())                          # file://: the workers come from Blobs
        pg.wait_for_function("() => window.__h && __h.replies.length >= 2", timeout=60_000)
        pages.append((pg, errors))
        return pg, errors

    yield go
    for pg, errors in pages:
        assert errors == []
        pg.close()


def _gap(pg) -> float:
    return float(pg.get_attribute("[data-testid=frontier-readout]", "data-gap"))


def _python_gap(sim) -> float:
    """The gap of the run's point below the frontier, by sim/frontier.py's bisection."""
    tr = fr.true_reward(sim.pairs, sim.scenario.true_reward)
    f = fr.frontier(sim.logp_ref[0], tr.reward[0])
    rec = sim.record
    return float(fr.gap(f, [rec.kl[0]], [rec.probs[0] @ tr.reward[0]])[0])


def _wait_replies(pg, n: int) -> None:
    pg.wait_for_function(f"() => __h.replies.length >= {n}", timeout=60_000)


def test_the_run_on_the_frontier_and_after_a_flip(open_page):
    pg, _ = open_page("align")
    assert pg.evaluate("() => [__h.requests, __h.workers]") == [["frontier", "sweep"], 2]
    pg.evaluate("() => __h.advance(300)")
    assert pg.evaluate("() => __h.requests.length") == 2      # steps ask for nothing
    sim = Simulation(load_scenario("align"))
    sim.advance(300)
    want = _python_gap(sim)
    assert abs(want) < 1e-3 and _gap(pg) == pytest.approx(want, abs=1e-9)
    text = pg.inner_text("[data-testid=frontier-readout]")
    assert text == (f"Now: KL {sim.record.kl[0]:.3f}, E[r*] "
                    f"{sim.record.probs[0] @ fr.true_reward(sim.pairs).reward[0]:+.3f}: "
                    f"on the curve.")
    status = pg.inner_text("[data-testid=frontier-status]")
    assert ("the Bradley–Terry fit to the votes as they stand. Diamonds: where runs with "
            "β = 0.1 … 10 end after 400 steps, each with learning rate 0.5/β²") in status
    # beta and the learning rate move neither the frontier nor the map
    pg.evaluate("() => __h.set({beta: 2.0, learning_rate: 0.125})")
    assert pg.evaluate("() => __h.requests.length") == 2
    sim.set(beta=2.0, learning_rate=0.125)
    # a flip: both asked again; then the curve (r* the fit to the votes now) moves away
    pg.evaluate("() => __h.flip(0)")
    sim.flip(0)
    assert pg.evaluate("() => __h.requests") == ["frontier", "sweep", "frontier", "sweep"]
    _wait_replies(pg, 4)
    want = _python_gap(sim)
    assert want > 0.01 and _gap(pg) == pytest.approx(want, abs=1e-9)


def test_the_text_alternative_holds_the_replies_numbers(open_page):
    pg, _ = open_page("mislabel")
    reply = fr.frontier_reply(Simulation(load_scenario("mislabel")), {"op": "frontier"})
    rows = pg.evaluate("""() => Array.from(document.querySelectorAll(
        '.dpo-frontier-view table tr')).map(r => Array.from(r.children).map(c => c.textContent))""")
    sweep = reply["sweep"]
    want = [[f"β = {b:g}", f"{sweep['kl'][i][0]:.3f}", f"{sweep['reward'][i][0]:+.3f}"]
            for i, b in enumerate(sweep["beta"])]
    assert [r for r in rows if r[0].startswith("β =")] == want
    p = reply["prompts"][0]
    assert ["π_ref", "0", f"{p['start']:+.3f}"] in rows or \
        ["π_ref", "0.000", f"{p['start']:+.3f}"] in rows
    # the map's table: per beta, where the runs turn unstable, measured
    res = sw.sweep_reply(Simulation(load_scenario("mislabel")), {"op": "sweep"})
    srows = pg.evaluate("""() => Array.from(document.querySelectorAll(
        '.dpo-sweep-view table tr')).slice(1)
        .map(r => Array.from(r.children).map(c => c.textContent))""")
    assert len(srows) == 64
    L = len(res["learning_rate"])
    unstable = np.array(res["diverged"]) | np.array(res["oscillating"])
    for i, row in enumerate(srows):
        j = L
        while j > 0 and unstable[i * L + j - 1]:
            j -= 1
        assert row[0] == f"{res['beta'][i]:g}"
        assert row[1] == (f"{res['learning_rate'][j]:g}" if j < L else "none in the grid")


def test_a_key_or_a_click_loads_a_cell(open_page):
    pg, _ = open_page("align")
    betas = sw.grid_values(*sw.BETA_RANGE, sw.N_BETA)
    lrs = sw.grid_values(*sw.LR_RANGE, sw.N_LR)
    i = int(np.abs(np.log(betas)).argmin())            # the cell of beta 1, lr 0.5 (in force)
    j = int(np.abs(np.log(lrs / 0.5)).argmin())
    pg.focus("canvas.dpo-sweep")
    pg.keyboard.press("ArrowUp")
    pg.keyboard.press("ArrowRight")
    pg.keyboard.press("ArrowRight")
    tip = pg.inner_text(".dpo-sweep-tip")
    assert tip.startswith(f"β {betas[i + 2]:g}, learning rate {lrs[j + 1]:g}: ")
    pg.keyboard.press("Enter")
    act = pg.evaluate("() => __h.acts[__h.acts.length - 1]")
    assert act == {"op": "set", "changes": {"beta": betas[i + 2], "learning_rate": lrs[j + 1]},
                   "restart": True}
    box = pg.locator("canvas.dpo-sweep").bounding_box()
    pg.mouse.click(box["x"] + 62, box["y"] + box["height"] - 44)    # the bottom-left cell
    act = pg.evaluate("() => __h.acts[__h.acts.length - 1]")
    assert act["changes"] == {"beta": betas[0], "learning_rate": lrs[0]}


def test_the_map_waits_while_hidden_and_a_newer_request_wins(open_page):
    pg, _ = open_page("align")
    pg.evaluate("() => __h.hide('sweep')")
    pg.evaluate("() => __h.flip(2)")
    pg.evaluate("() => __h.set({loss_type: 'ipo'})")
    assert pg.evaluate("() => __h.requests") == ["frontier", "sweep", "frontier", "frontier"]
    pg.evaluate("() => __h.show('sweep')")              # shown: asked once, for the data now
    assert pg.evaluate("() => __h.requests.filter(r => r === 'sweep').length") == 2
    # the frontier asked for the flip was superseded by the one for IPO (unless it was done
    # first): wait for IPO's
    pg.wait_for_function("() => __h.last.frontier.settings.loss_type === 'ipo' && "
                         "__h.replies.filter(r => r === 'sweep').length === 2", timeout=60_000)
    status = pg.inner_text("[data-testid=sweep-status]")
    assert "learning rate ≈" in status and "whatever β" in status   # IPO's horizontal edge
    # two flips in a row: the first map is never delivered, the second is
    before = pg.evaluate("() => __h.workers")
    pg.evaluate("() => { __h.flip(0); __h.flip(0); }")
    pg.wait_for_function("() => __h.replies.filter(r => r === 'sweep').length === 3",
                         timeout=60_000)
    pg.wait_for_timeout(1500)
    assert pg.evaluate("() => __h.replies.filter(r => r === 'sweep').length") == 3
    assert pg.evaluate("() => __h.requests.filter(r => r === 'sweep').length") == 4
    assert pg.evaluate("() => __h.workers") > before    # the busy worker was stopped
    sim = Simulation(load_scenario("align"))
    sim.flip(2)
    sim.set(loss_type="ipo")
    want = sw.sweep_reply(sim, {"op": "sweep"})
    got = pg.evaluate("() => __h.last.sweep")
    assert got["settings"] == want["settings"] and got["limit"]["kind"] == "lr"
    assert got["kl"][:64] == pytest.approx(want["kl"][:64], abs=1e-12)


def test_no_frontier_where_the_fit_is_not_finite(open_page):
    pg, _ = open_page("unanimous")
    text = pg.inner_text("[data-testid=frontier-none]")
    assert text.startswith("No frontier for this prompt") and "true_reward" in text
    assert pg.get_attribute("[data-testid=frontier-readout]", "data-gap") is None
    pg.evaluate("() => __h.theme('dark')")              # a theme change redraws, no error
    pg.evaluate("() => __h.advance(5)")
    assert pg.evaluate("() => __h.requests.length") == 2


def test_without_workers_the_page_thread_answers(open_page):
    """Where a Worker cannot be made the requests run on the page's thread, after the
    current task; a newer one still supersedes an older one."""
    pg, _ = open_page("tie")
    got = pg.evaluate("""() => new Promise((res) => {
        window.Worker = function () { throw new Error("no workers here"); };
        const req = makeOfflineRequest(ENGINE_TEXT, STACK_TEXT, () => sim);
        const seen = [];
        req({op: "sweep", steps: 10, n_beta: 3, n_lr: 3}, (r) => seen.push(["first", r.steps]));
        req({op: "sweep", steps: 20, n_beta: 3, n_lr: 3}, (r) => seen.push(["second", r.steps]));
        req({op: "frontier", points: 5}, (r) => seen.push(
            ["frontier", Math.max(...r.prompts.map((p) => p.kl.length))]));
        setTimeout(() => res(seen), 300);
    })""")
    assert got == [["second", 20], ["frontier", 7]]
