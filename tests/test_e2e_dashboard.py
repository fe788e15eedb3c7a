"""The page in headless Chromium, on both of its hosts: the served page (`dpo-sim serve`,
numbers from NumPy) and the offline file (numbers from the JavaScript twin, served by the
test server at /offline). Every test takes the ``host`` fixture (tests/conftest.py), so
each runs once per host with the same function: what a learner sees and does is the same.

Each tab has its own browser context (its own Panel session on the served page). Every
wait is on a condition in the page (step counter, labels, aria state, ``dpoSim.idle()``),
never a fixed sleep; the only timed windows are the ones that check that nothing happens
(the counter stays put after Pause, shortcuts do nothing while typing).

Numbers are compared with `dpo-sim run` (tests/browser.py's cli_records) or the engine
(sim.simulation.Simulation): exactly on the served page, to 1e-12 in the offline file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from playwright.sync_api import expect

from browser import (
    ROOT,
    DashboardPage,
    assert_readouts,
    assert_state_is,
    cli_records,
    host_url,
    is_local,
    shown_readouts,
)
from dpo_sim.sim.scenario_io import MAX_TEXT, load_scenario, preset_ids
from dpo_sim.sim.simulation import Simulation

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)     # a loaded 2-core machine can be slow; waits end early

ALIGN = "Align to preferences"
DROP = "Drop the sigma weight"


def probs(d: DashboardPage) -> dict[str, float]:
    p = d.numbers("prob-")
    assert p, "no [data-testid=prob-x-y] readouts on the page"
    return p


def kls(d: DashboardPage) -> list[float]:
    k = {name: v for name, v in d.numbers("kl-").items() if name[3:].isdigit()}
    assert k, "no [data-testid=kl-x] readouts on the page"
    return [k[f"kl-{x}"] for x in range(len(k))]


def align_with_flip(tmp_path, step: int, row: int) -> str:
    """align.toml plus one scripted event: flip `row` at `step` (a scenario file path)."""
    toml = (ROOT / "presets" / "align.toml").read_text(encoding="utf-8")
    path = tmp_path / "align-flip.toml"
    path.write_text(toml + f"\n[[events]]\nstep = {step}\nflip = {row}\n", encoding="utf-8")
    return str(path)


# -- loading, playing, stepping ----------------------------------------------------------
def test_page_loads_and_runs_without_console_errors(open_page):
    d = open_page()
    for name in ("Play", "Step", "Reset", "Download CSV"):
        expect(d.button(name)).to_be_visible()
    chosen = d.scenario_select().evaluate("s => s.options[s.selectedIndex].text")
    assert chosen.strip() == ALIGN
    assert d.log_text().strip(), "the step log should invite the user before anything happens"
    assert ALIGN in d.page.locator("header").first.inner_text()
    d.page.locator("canvas").first.wait_for(state="visible")
    assert d.state()["engine"] == ("numpy" if d.host == "served" else "javascript")
    # exercise the live paths too: a step, a flip, a short play
    d.click_step()
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    d.play_until(d.step() + 5)
    assert d.errors == [], "\n".join(d.errors)


def _wait_screenshot_differs(locator, before: bytes, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if locator.screenshot() != before:
            return True
    return False


def test_play_advances_and_changes_bars_pause_stops(open_page):
    d = open_page()
    before = probs(d)
    chart = d.page.locator("[data-testid=bars-0]").first
    shot = chart.screenshot()
    d.play()
    d.wait_step(10, ">=")
    after = probs(d)
    assert after.keys() == before.keys()
    assert any(after[k] != before[k] for k in before), "bars did not change while playing"
    assert _wait_screenshot_differs(chart, shot), "the first chart looks the same after Play"
    stopped = d.pause()
    assert stopped >= 10 and not d.state()["playing"]
    seen = d.steps_seen(500)
    assert seen == [stopped], f"the counter moved after Pause: {seen}"


def test_step_advances_by_exactly_one_and_reset_returns_to_start(open_page):
    d = open_page()
    start = shown_readouts(d)
    d.button("Step").click()
    d.wait_step(1)
    expect(d.page.locator("[data-testid=step-line]").first).to_contain_text("step 1 · loss")
    for _ in range(3):
        d.button("Step").click()
    # a flip goes to the engine after the three clicks: once it shows, so have their steps
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    assert d.step() == 4, f"4 presses of Step gave step {d.step()}"
    assert shown_readouts(d)["loss"] != start["loss"]
    d.button("Reset").click()
    d.wait_step(0)
    d.idle()
    assert shown_readouts(d) == start, "Reset did not return exactly to the scenario's start"
    expect(d.flip(0)).to_have_attribute("aria-pressed", "false")   # flips undone too
    assert "reset to the start of align" in d.log_text()


def test_speed_and_play_pause_reset_by_the_api(open_page):
    d = open_page()
    d.page.fill("[data-testid=ctl-speed]", "60")
    d.page.dispatch_event("[data-testid=ctl-speed]", "change")
    assert d.state()["speed"] == 60
    assert d.page.evaluate("() => dpoSim.play().playing") is True
    expect(d.button("Pause")).to_be_visible()
    d.wait_step(5, ">=")
    st = d.act("dpoSim.pause()")
    assert not st["playing"] and st["step"] >= 5
    assert d.settle() == st["step"]                   # paused means paused
    assert d.act("dpoSim.reset()")["step"] == 0
    d.wait_step(0)


def test_drop_sigma_drives_kl_above_align(open_page):
    d = open_page("?speed=120")
    d.load(DROP)
    chosen = d.scenario_select().evaluate("s => s.options[s.selectedIndex].text")
    assert chosen.strip() == DROP
    n = d.play_until(30)
    kl_drop = kls(d)
    d.load(ALIGN)                       # align (the default) brought to the same step
    d.act("dpoSim.step(arg)", n)
    kl_align = kls(d)
    assert sum(kl_drop) > sum(kl_align), (n, kl_align, kl_drop)
    assert max(kl_drop) > max(kl_align), (n, kl_align, kl_drop)


# -- rows ------------------------------------------------------------------------------------
def test_flip_buttons_and_enter_flip_rows_and_the_log_records_it(open_page):
    d = open_page()
    for i in (0, 1):
        expect(d.flip(i)).to_have_attribute("aria-pressed", "false")
        expect(d.flip(i)).to_have_accessible_name(f"Flip row {i}")
        expect(d.pair(i)).to_have_attribute("tabindex", "0")
    d.step_to(3)                       # off the start, so a flip changes the numbers
    before = shown_readouts(d)
    # looking at a row (a click on it, not on its button) changes nothing in the run
    d.pair(0).click(position={"x": 5, "y": 5})
    d.idle()
    assert shown_readouts(d) == before and d.flip(0).get_attribute("aria-pressed") == "false"
    log = d.log_text()
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    expect(d.pair(0)).to_contain_text("flipped")
    expect(d.page.locator("[data-testid=step-log]").first).to_contain_text(
        re.compile(r"step 3\b.*flip row 0 \(flipped\)", re.I))
    assert d.log_text() != log
    d.idle()
    assert shown_readouts(d)["loss"] != before["loss"]
    assert d.step() == 3, "a flip must not step"
    # Enter on a focused row flips it too, and again flips it back
    d.pair(2).focus()
    d.page.keyboard.press("Enter")
    expect(d.flip(2)).to_have_attribute("aria-pressed", "true")
    assert d.state()["flipped"] == [0, 2]
    d.page.keyboard.press("Enter")
    expect(d.flip(2)).to_have_attribute("aria-pressed", "false")
    assert d.state()["flipped"] == [0]
    assert "flip row 2 (back to the data)" in d.log_text()
    assert d.step() == 3, "Enter on a row must not step"


def test_flip_back_restores_the_numbers_exactly(open_page):
    d = open_page()
    d.step_to(4)
    before = shown_readouts(d)
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    d.idle()
    assert shown_readouts(d)["loss"] != before["loss"]
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "false")
    d.idle()
    assert shown_readouts(d) == before, "flipping a row twice at one step changed the numbers"


# -- the keyboard ------------------------------------------------------------------------------
def _blur(d: DashboardPage) -> None:
    d.page.evaluate("() => { const a = window.__e2e.active(); if (a && a.blur) a.blur(); }")


def test_keyboard_shortcuts(open_page):
    d = open_page()
    _blur(d)
    kb = d.page.keyboard
    kb.press("Space")                                    # play
    d.button("Pause").wait_for(state="visible")
    d.wait_step(3, ">=")
    kb.press("Space")                                    # pause
    d.button("Play").wait_for(state="visible")
    s = d.settle()
    kb.press("ArrowRight")                               # exactly one step
    d.wait_step(s + 1)
    assert d.steps_seen(250) == [s + 1]
    kb.press("r")                                        # reset
    d.wait_step(0)
    kb.press("ArrowRight")
    kb.press("ArrowRight")
    d.wait_step(2)
    kb.press("Shift+R")                                  # R resets too
    d.wait_step(0)


def _text_field(d: DashboardPage):
    """A text field of the page (the Share panel's link, once opened)."""
    d.page.locator("[data-testid=share]").first.click()
    field = d.page.locator("[data-testid=share-link]").first
    expect(field).to_be_visible()
    return field


def test_shortcuts_do_not_fire_while_typing(open_page):
    d = open_page()
    d.step_to(2)
    field = _text_field(d)
    field.focus()
    for key in ("Space", "ArrowRight", "r", "Shift+R"):
        d.page.keyboard.press(key)
    # a Step click goes to the engine after any shortcut would have: when its step shows,
    # every effect of the keys has shown too (commands are answered in order)
    d.button("Step").click()
    d.wait_step(2, "!==")
    assert d.settle() == 3, "a shortcut fired while typing in a field"
    expect(d.button("Play")).to_be_visible()


def test_space_after_clicking_play_toggles_once(open_page):
    """A mouse click leaves focus on the Play button; Space must then pause, not toggle
    twice (the button's own activation plus the page-wide shortcut)."""
    d = open_page()
    d.button("Play").click()
    d.button("Pause").wait_for(state="visible")
    d.wait_step(2, ">=")
    d.page.keyboard.press("Space")
    d.button("Play").wait_for(state="visible")
    s = d.settle()
    assert d.steps_seen(500) == [s], "still playing after Space"
    expect(d.button("Play")).to_be_visible()


# -- the network, tabs --------------------------------------------------------------------------
def test_no_request_leaves_the_host(open_page):
    """The served page talks to its own server only; the offline file makes no request
    but for itself (not even to the server that handed it out)."""
    d = open_page("?theme=dark")
    d.play_until(5)
    d.click_step()
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    d.page.evaluate("() => document.fonts.ready.then(() => true)")
    with d.page.expect_download():
        d.button("Download CSV").click()
    assert d.requests, "no request recorded at all"
    foreign = [u for u in d.requests + d.websockets if not is_local(u)]
    assert not foreign, f"requests to other hosts: {foreign}"
    assert not d.blocked, f"blocked requests to other hosts: {d.blocked}"
    if d.host == "served":
        assert d.websockets and all(is_local(u) for u in d.websockets)
    else:
        # (a Web Worker made from the page's own script is a blob: URL: it goes nowhere)
        fetched = [u for u in d.requests if not u.startswith("blob:")]
        assert fetched == [d.url + "?theme=dark"] and d.websockets == []


def test_the_network_guard_sees_and_blocks_other_hosts(browser, server):
    """Self-check of the guard the test above relies on (host-independent, run once): a
    request to another host is recorded and aborted."""
    d = DashboardPage(browser, host_url(server.url, "offline"))
    try:
        d.open()
        d.page.evaluate("() => fetch('https://cdn.example.org/x.js').then(() => 'ok', () => 'no')")
        d.page.evaluate("""() => new Promise(done => { const i = new Image();
            i.onload = i.onerror = done; i.src = 'http://fonts.example.com/f.png'; })""")
        assert [u for u in d.requests if not is_local(u)] == [
            "https://cdn.example.org/x.js", "http://fonts.example.com/f.png"]
        assert d.blocked == ["https://cdn.example.org/x.js", "http://fonts.example.com/f.png"]
    finally:
        d.close()


def test_two_tabs_do_not_share_state(browser, page_url):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        one = DashboardPage(browser, page_url, context=context).open()
        two = DashboardPage(browser, page_url, context=context).open()
        start = shown_readouts(two)
        # a background tab gets its timers throttled: act on the tab in front
        one.page.bring_to_front()
        one.step_to(3)
        one.flip(0).click()
        expect(one.flip(0)).to_have_attribute("aria-pressed", "true")
        one.play_until(8)
        # the other tab does one round trip of its own; before that it must be untouched
        two.page.bring_to_front()
        assert shown_readouts(two) == start, "the other tab's numbers changed"
        expect(two.flip(0)).to_have_attribute("aria-pressed", "false")
        assert two.click_step() == 1
        assert one.step() >= 8 and one.state()["flipped"] == [0]
        assert two.state()["flipped"] == []
    finally:
        context.close()


# -- the numbers are the engine's ----------------------------------------------------------------
def test_numbers_match_cli_after_steps_and_play(open_page):
    d = open_page()
    assert_readouts(d, cli_records("align", 0)[0], "at the start")
    d.step_to(5)
    n = d.play_until(30)
    rec = cli_records("align", n)
    assert_readouts(d, rec[n], "after Step and Play")
    d.button("Reset").click()
    d.wait_step(0)
    assert_readouts(d, rec[0], "after Reset")


def test_numbers_match_cli_after_a_flip(open_page, tmp_path):
    """A live flip at step 3 equals the CLI run with that flip as a scripted event."""
    rec = cli_records(align_with_flip(tmp_path, 3, 1), 9)
    d = open_page()
    d.step_to(3)
    d.flip(1).click()
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    assert_readouts(d, rec[3], "after the flip")
    d.step_to(9)
    assert_readouts(d, rec[9], "after the flip and 6 steps")


def test_numbers_match_the_engine_after_steps_flips_and_settings(open_page):
    d = open_page()
    sim = Simulation(load_scenario("align"))
    d.act("dpoSim.step(37)")
    sim.advance(37)
    d.flip(1).click()
    sim.flip(1)
    d.act("dpoSim.set({beta: 0.3, loss_type: 'robust', label_smoothing: 0.1})")
    sim.set(beta=0.3, loss_type="robust", label_smoothing=0.1)
    st = d.act("dpoSim.step(150)")
    sim.advance(150)
    assert_state_is(st, sim, d.tol)
    # what the page shows is what the state holds (the readouts' full-precision values)
    for x in range(2):
        assert d.value(f"kl-{x}") == st["kl"][x]
        for y in range(4):
            assert d.value(f"prob-{x}-{y}") == st["probs"][x][y]
    assert d.value("loss") == st["metrics"]["loss"]
    assert d.text("loss") == f"{sim.record.loss:.4f}"
    assert d.text("accuracy") == f"{sim.record.rewards_accuracies:.0%}"
    assert "loss (robust)" in d.page.locator("table.dpo-metrics.wide").first.inner_text()


_PRESET_RUNS: dict[str, Simulation] = {}


def _preset_run(sid: str) -> Simulation:
    """The engine's run of a preset to step 300 (computed once for both hosts)."""
    if sid not in _PRESET_RUNS:
        sim = Simulation(load_scenario(sid), keep_history=False)
        sim.advance(300)
        _PRESET_RUNS[sid] = sim
    return _PRESET_RUNS[sid]


def test_every_preset_matches_the_engine(open_page):
    """Each preset, 300 steps with its scripted events."""
    d = open_page()
    for sid in preset_ids():
        sim = _preset_run(sid)
        st = d.act("dpoSim.load(arg); dpoSim.step(300)", sid)
        assert st["scenario"] == sid
        assert_state_is(st, sim, d.tol)


def test_kl_to_the_rlhf_optimum_matches_the_cli(open_page):
    d = open_page()
    rec = cli_records("dpo-is-rlhf", 120)
    st = d.act("dpoSim.load('dpo-is-rlhf'); dpoSim.step(120)")
    np.testing.assert_allclose(st["rlhf_probs"], rec["config"]["rlhf_probs"], rtol=0, atol=d.tol)
    np.testing.assert_allclose(st["kl_to_rlhf"], rec[120]["kl_to_rlhf"], rtol=d.tol * 1000,
                               atol=d.tol * 10)
    assert d.value("kl-rlhf-0") == st["kl_to_rlhf"][0]
    assert_readouts(d, rec[120], "dpo-is-rlhf at step 120")


# -- the controls ---------------------------------------------------------------------------
def test_the_sliders_the_toggle_and_the_loss_menu_change_the_run(open_page):
    d = open_page()
    sim = Simulation(load_scenario("align"))
    d.act("dpoSim.step(10)")
    sim.advance(10)
    for testid, value in (("ctl-beta", "0.5"), ("ctl-lr", "2")):
        d.page.fill(f"[data-testid={testid}]", value)
        d.page.dispatch_event(f"[data-testid={testid}]", "change")
    sim.set(beta=0.5, learning_rate=2.0)
    d.page.click("[data-testid=ctl-weight]")
    sim.set(adaptive_weight=False)
    expect(d.page.locator("[data-testid=ctl-weight]")).to_have_attribute("aria-pressed", "false")
    expect(d.page.locator("[data-testid=ctl-weight]")).to_contain_text("off")
    d.click_step()
    sim.advance(1)
    d.page.click("[data-testid=ctl-weight]")
    sim.set(adaptive_weight=True)
    d.page.select_option("[data-testid=ctl-loss]", "ipo")
    sim.set(loss_type="ipo")
    d.click_step()
    sim.advance(1)
    d.page.select_option("[data-testid=ctl-loss]", "robust")
    d.idle()            # the served page redraws the sliders when the loss's reply comes
    d.page.fill("[data-testid=ctl-eps]", "0.1")
    d.page.dispatch_event("[data-testid=ctl-eps]", "change")
    sim.set(loss_type="robust", label_smoothing=0.1)
    d.click_step()
    sim.advance(1)
    st = d.state()
    log = d.log_text()
    for line in ("step 10 · beta 1 -> 0.5", "step 10 · learning_rate 0.5 -> 2",
                 "step 10 · sigma weight on -> off", "step 11 · sigma weight off -> on",
                 "step 11 · loss_type sigmoid -> ipo", "step 12 · loss_type ipo -> robust",
                 "step 12 · label_smoothing 0 -> 0.1"):
        assert line in log, (line, log)
    assert st["link"] == ("?scenario=align&events=10:beta:0.5,10:lr:2.0,10:weight:off,"
                          "11:weight:on,11:loss:ipo,12:loss:robust,12:eps:0.1&step=13"), st
    assert_state_is(st, sim, d.tol)
    assert "loss (robust)" in d.page.locator("table.dpo-metrics.wide").first.inner_text()


def test_the_picker_loads_a_scenario_with_its_own_settings(open_page):
    d = open_page()
    d.page.select_option("[data-testid=picker]", "drop-sigma")
    st = d.state()
    sc = load_scenario("drop-sigma")
    assert st["scenario"] == "drop-sigma" and st["step"] == 0
    assert st["adaptive_weight"] is sc.adaptive_weight and st["beta"] == sc.beta
    expect(d.page.locator("header").first).to_contain_text(sc.title)
    assert sc.watch[:40] in d.text("watch")
    assert "load scenario drop-sigma" in d.log_text()


TAB_WALK_JS = r"""
(() => {
  const KEYS = ['outlineStyle', 'outlineWidth', 'outlineColor', 'boxShadow', 'borderColor',
                'backgroundColor', 'color', 'textDecorationLine'];
  function parentOf(el) { return el.parentElement || (el.getRootNode() || {}).host || null; }
  function chain(el) {            // the element and three ancestors (a focus ring may sit there)
    const out = [];
    for (let e = el, i = 0; e && i < 4; e = parentOf(e), i++) {
      const cs = getComputedStyle(e);
      out.push(KEYS.map(k => cs[k]).join('|'));
    }
    return out.join(' / ');
  }
  function visible(el) {
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none';
  }
  window.__tab = {
    focused: {},
    record(i) {
      const el = window.__e2e.active();
      if (!el || el === document.body || el === document.documentElement) return null;
      if (!el.hasAttribute('data-e2e-tab')) el.setAttribute('data-e2e-tab', String(i));
      const id = el.getAttribute('data-e2e-tab');
      if (!(id in this.focused)) this.focused[id] = chain(el);
      return id;
    },
    candidates() {
      const sel = 'button, select, input:not([type=hidden]), textarea, a[href], [tabindex], ' +
                  '[role=button], [role=slider], [role=switch], [role=checkbox], [role=tab]';
      return window.__e2e.all(sel).filter(el => el.tabIndex >= 0 && !el.disabled && visible(el));
    },
    describe(el) {
      return `<${el.tagName.toLowerCase()} class="${el.className}" ` +
             `testid="${el.getAttribute('data-testid') || ''}" ` +
             `role="${el.getAttribute('role') || ''}" text="${(el.textContent || '').trim().slice(0, 40)}">`;
    },
    unreachable() {
      return this.candidates().filter(el => !el.hasAttribute('data-e2e-tab'))
                              .map(el => this.describe(el));
    },
    noVisibleFocus() {            // compare each reached element focused vs not focused
      const a = window.__e2e.active(); if (a && a.blur) a.blur();
      const bad = [];
      for (const el of window.__e2e.all('[data-e2e-tab]')) {
        const id = el.getAttribute('data-e2e-tab');
        if (id in this.focused && chain(el) === this.focused[id]) bad.push(this.describe(el));
      }
      return bad;
    },
  };
})()
"""


def test_tab_reaches_every_control_with_visible_focus_and_a_name(open_page):
    d = open_page()
    page = d.page
    expect(page.locator("button.dpo-term", has_text="about this chart")).to_have_count(3)
    page.evaluate(TAB_WALK_JS)
    _blur(d)
    reached: list[str] = []
    for i in range(300):
        page.keyboard.press("Tab")
        got = page.evaluate("i => window.__tab.record(i)", i)
        if got is None:
            continue
        if reached and got == reached[0]:
            break                         # went round once
        reached.append(got)
    assert d.step() == 0, "Tab must not trigger any action"
    unreachable = page.evaluate("() => window.__tab.unreachable()")
    assert not unreachable, f"controls Tab never reaches: {unreachable}"
    for name in ("Play", "Step", "Reset", "Download CSV"):
        assert d.button(name).get_attribute("data-e2e-tab") is not None, name
    assert d.scenario_select().get_attribute("data-e2e-tab") is not None
    assert d.pair(0).get_attribute("data-e2e-tab") is not None
    unnamed = []
    for id_ in dict.fromkeys(reached):
        loc = page.locator(f'[data-e2e-tab="{id_}"]').first
        try:
            expect(loc).to_have_accessible_name(re.compile(r"\S"), timeout=1_000)
        except AssertionError:
            unnamed.append(loc.evaluate("el => window.__tab.describe(el)"))
    invisible = page.evaluate("() => window.__tab.noVisibleFocus()")
    problems = []
    if unnamed:
        problems.append(f"controls without an accessible name: {unnamed}")
    if invisible:
        problems.append(f"controls whose focus is not visible: {invisible}")
    assert not problems, "\n".join(problems)


def test_downloaded_csv_matches_cli(open_page, tmp_path):
    """The page's CSV of a run with a flip equals `dpo-sim run --format csv` of the same run."""
    d = open_page()
    d.step_to(2)
    d.flip(2).click()
    expect(d.flip(2)).to_have_attribute("aria-pressed", "true")
    d.step_to(5)
    with d.page.expect_download() as dl:
        d.button("Download CSV").click()
    assert dl.value.suggested_filename == "dpo-sim-align.csv"
    with open(dl.value.path(), encoding="utf-8", newline="") as f:
        page_rows = list(csv.DictReader(f))
    cmd = [sys.executable, "-m", "dpo_sim", "run", align_with_flip(tmp_path, 2, 2),
           "--steps", "5", "--format", "csv"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    cli_rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(page_rows) == len(cli_rows) == 6, (len(page_rows), len(cli_rows))
    assert list(page_rows[0]) == list(cli_rows[0])           # the same columns, in order
    for p_row, c_row in zip(page_rows, cli_rows):
        bad = {k: (p_row[k], v) for k, v in c_row.items()
               if not math.isclose(float(p_row[k]), float(v), rel_tol=d.tol, abs_tol=d.tol)}
        assert not bad, f"step {c_row['step']}: (page, cli) {bad}"


# -- the course author's API -------------------------------------------------------------------
def test_the_api_runs_a_config_line_from_dpo_sim_run(open_page, tmp_path):
    toml = (ROOT / "presets" / "mass-flow.toml").read_text()
    mine = tmp_path / "my-lesson.toml"
    mine.write_text(toml.replace('title = "', 'title = "Mine: ', 1))
    lines = subprocess.run([sys.executable, "-m", "dpo_sim", "run", str(mine), "--steps",
                            "250", "--set", "beta=0.7", "--format", "jsonl"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120).stdout.splitlines()
    cfg, last = json.loads(lines[0]), json.loads(lines[-1])
    d = open_page()
    st = d.act("dpoSim.loadConfig(arg); dpoSim.step(250)", cfg)
    assert st["scenario"] == cfg["scenario"] and st["beta"] == 0.7 and st["step"] == 250
    np.testing.assert_allclose(st["probs"], last["probs"], rtol=0, atol=d.tol)
    assert math.isclose(st["loss"], last["loss"], rel_tol=d.tol, abs_tol=d.tol)
    ids = [s["id"] for s in d.page.evaluate("() => dpoSim.scenarios()")]
    assert cfg["scenario"] in ids and "align" in ids
    expect(d.page.locator("header").first).to_contain_text(cfg["title"])


API_ERROR = """async arg => {
    try { dpoSim[arg[0]](arg[1]); await dpoSim.idle(); return null; }
    catch (e) { await dpoSim.idle(); return e.message; } }"""


def test_the_api_s_errors_name_the_setting_and_the_rule(open_page):
    d = open_page()

    def err(fn, arg):
        return d.page.evaluate(API_ERROR, [fn, arg])

    assert err("set", {"steps": 3}).startswith(
        "steps: cannot be set during a run; settable: beta, learning_rate")
    assert err("set", {"speed": 0}).startswith("speed: must be ")
    assert err("flip", 9) == "no row 9; rows are 0..5"
    assert err("load", "nope").startswith('unknown scenario "nope"; known: align, both-fall')
    assert err("step", 0).startswith("step(n): n must be a whole number >= 1")
    st = d.state()
    assert st["step"] == 0 and st["beta"] == 1.0 and st["flipped"] == []   # nothing changed


def test_the_api_refuses_a_bad_value_with_the_table_s_rule(open_page):
    """Refused at once on both hosts (the served page's engine answers a message later,
    so the page checks the table's rule before sending)."""
    d = open_page()
    assert d.page.evaluate(API_ERROR, ["set", {"beta": 0}]) == \
        "beta: must be a number > 0 and <= 100, got 0"
    assert d.errors == []
    assert d.state()["beta"] == 1.0                                     # nothing changed


def test_api_calls_in_a_row_act_in_order(open_page):
    """set() then reset() in one go: Reset keeps the setting just made, as it does when a
    learner moves the slider and then presses Reset (on the served page too, where the
    engine has not answered the set() yet when reset() is called)."""
    d = open_page()
    st = d.act("dpoSim.step(5); dpoSim.set({learning_rate: 1}); dpoSim.reset()")
    assert st["step"] == 0 and st["learning_rate"] == 1.0


# -- themes, a phone ------------------------------------------------------------------------------
BACKGROUND_JS = r"""
() => {   // luminance (0..1) of the first opaque background behind the step readout
  let el = window.__e2e.q('[data-testid=step]');
  while (el) {
    const m = getComputedStyle(el).backgroundColor.match(/[\d.]+/g);
    if (m && (m.length < 4 || Number(m[3]) > 0.5)) {
      const [r, g, b] = m.slice(0, 3).map(v => Number(v) / 255);
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    }
    el = el.parentElement || (el.getRootNode() || {}).host || null;
  }
  const m = getComputedStyle(document.body).backgroundColor.match(/[\d.]+/g);
  return m && (m.length < 4 || Number(m[3]) > 0) ? m.slice(0, 3).reduce((a, v) => a + Number(v), 0) / 765 : 1;
}
"""


def _rgb(h: str) -> str:
    return "rgb(" + ", ".join(str(int(h[i:i + 2], 16)) for i in (1, 3, 5)) + ")"


@pytest.mark.parametrize("scheme, query, dark", [
    ("light", "", False), ("dark", "", True), ("light", "?theme=dark", True),
    ("dark", "?theme=light", False)])
def test_theme_follows_the_system_or_the_query(open_page, scheme, query, dark):
    from dpo_sim.app.theme import DARK, LIGHT

    d = open_page(query, color_scheme=scheme)
    lum = d.page.evaluate(BACKGROUND_JS)
    assert (lum < 0.35) if dark else (lum > 0.65), (scheme, query, lum)
    bg = d.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert bg == _rgb((DARK if dark else LIGHT).background)
    theme = d.page.evaluate("() => window.__e2e.q('.dpo-page').dataset.theme")
    assert theme == ("dark" if dark else "light")
    # a theme asked for by the link stays in the link; the system's is not written
    assert d.state()["link"].endswith(query.replace("?", "") if query else "scenario=align")


def test_phone_width_has_no_sideways_scroll_and_works(open_page):
    d = open_page(viewport=(390, 844), mobile=True)
    width = d.page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1] + 1, f"page wider than the phone: {width}"
    d.button("Step").tap()
    d.wait_step(1)
    d.flip(0).tap()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")


# -- what the retired Python page's tests checked, now on the page ------------------------------
def test_playing_survives_a_flip_and_a_load_and_reset_keeps_the_sliders(open_page):
    d = open_page()
    st = d.state()
    assert st["speed"] == 20 and st["scenario"] == "align"          # the default speed
    d.play()
    d.wait_step(3, ">=")
    d.flip(0).click()                                                # a flip keeps playing
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    assert d.state()["playing"]
    d.scenario_select().select_option(label=DROP)                    # so does a load
    st = d.state()
    assert st["playing"] and st["scenario"] == "drop-sigma" and "load scenario drop-sigma" \
        in d.log_text()
    d.pause()
    # Reset starts again with the settings now on the sliders, and says which it kept
    d.page.fill("[data-testid=ctl-beta]", "0.5")
    d.page.dispatch_event("[data-testid=ctl-beta]", "change")
    d.button("Reset").click()
    d.wait_step(0)
    st = d.state()
    assert st["beta"] == 0.5 and st["flipped"] == [] and st["step"] == 0
    assert "reset to the start of drop-sigma, keeping beta 0.5 from the sliders" in d.log_text()
    assert st["link"] == "?scenario=drop-sigma&beta=0.5"
    # a value off the slider's grid by a rounding error is put on it
    assert d.act("dpoSim.set({beta: 0.1 + 0.2})")["beta"] == 0.3


def test_the_preferred_reply_is_marked_without_colour_and_follows_flips(open_page):
    """★ before the reply with the most net votes (in the table beside each bar chart, the
    charts' text alternative); a flip that changes which reply wins moves it."""
    d = open_page("?scenario=dpo-is-rlhf")

    def stars():
        return d.page.evaluate("""() => window.__e2e.all('table.replies tbody th b')
            .map(b => b.textContent.startsWith('★'))""")

    before = stars()
    assert sum(before) == 1, before
    rows = d.state()["record"]["pairs/margin"]
    for i in range(len(rows)):
        d.act("dpoSim.flip(arg)", i)
    after = stars()
    assert sum(after) == 1 and after != before, (before, after)


def test_no_finite_optimum_says_where_the_policy_heads_and_prompts_change_the_charts(open_page):
    d = open_page("?scenario=unanimous")
    for x in (0, 1):
        note = d.page.locator(f"[data-testid=no-optimum-{x}]").first
        expect(note).to_be_visible()
        assert "heads" in note.inner_text() or "no finite" in note.inner_text().lower()
        assert d.text(f"kl-rlhf-{x}") == "none"
    assert d.page.locator("canvas.bars").count() == 2
    d.load("Chosen and rejected both fall")
    expect(d.page.locator("canvas.bars")).to_have_count(1)           # one prompt now
    expect(d.page.locator("[data-testid=bars-0]")).to_be_visible()
    assert d.page.evaluate("() => window.__e2e.all('[data-testid^=kl-]').filter(e => "
                           "/^kl-\\d$/.test(e.dataset.testid)).length") == 1


# -- hostile text through the page's paths --------------------------------------------------
HOSTILE = ("<img src=x onerror=\"window.__pwned=1\"></script><script>window.__pwned=2"
           "</script><!-- \u202e\u2028\u2029 <b>bold</b>")


def test_hostile_text_is_text_on_both_hosts(open_page):
    """Markup, a script end, a comment start, a right-to-left override, U+2028/U+2029 and a
    reply at the 400-character limit in a scenario sent whole (dpoSim.loadConfig: the page's data,
    the engine's reply, every view that writes a title, a prompt or a reply), and markup in
    a link's parameters (the notice): nothing runs, every text shows as written, the page
    still steps."""
    cfg = json.loads(subprocess.run(
        [sys.executable, "-m", "dpo_sim", "run", "tie", "--steps", "0", "--format", "jsonl"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()[0])
    title = "T <img src=x onerror=\"window.__pwned=1\"></script><!-- \u202e\u2028"
    long_reply = "R " + HOSTILE
    long_reply += "x" * (MAX_TEXT - len(long_reply))         # at the page's limit
    cfg.update(scenario="hostile", title=title)
    cfg["prompts"][0]["text"] = "Q " + HOSTILE
    cfg["prompts"][0]["replies"][0] = long_reply
    d = open_page("?scenario=align&" + "%3Cimg%20src%3Dx%20onerror%3D__pwned%3D3%3E=1",
                  errors_ok=False)
    notices = d.page.locator("[data-testid=notices]").first
    expect(notices).to_contain_text("<img src=x onerror=__pwned=3>")
    st = d.act("dpoSim.loadConfig(arg); dpoSim.step(5)", cfg)
    assert st["scenario"] == "hostile" and st["step"] == 5
    page_text = d.page.evaluate("() => window.__e2e.q('.dpo-page').textContent")
    for text in (title, "Q " + HOSTILE, long_reply):
        assert text in page_text, text[:40]
    assert d.page.evaluate("() => window.__pwned === undefined")
    assert d.page.evaluate("() => window.__e2e.all('.dpo-page img').length") == 0
    assert d.page.evaluate(
        "() => window.__e2e.all('.dpo-page b').filter(b => b.textContent === 'bold').length") == 0
    assert d.page.evaluate("() => document.title").startswith("dpo-sim: T <img")
