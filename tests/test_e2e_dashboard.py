"""End-to-end tests of the dashboard in headless Chromium (issue 3).

Each test opens its own browser context (so its own Panel session) on the session's
`dpo-sim serve`. Every wait is on a condition in the page (step counter, labels, aria
state), never a fixed sleep; the only timed windows are the ones that check that nothing
happens (the counter stays put after Pause, shortcuts do nothing while typing).
The DOM hooks used here are listed in notes/ui-contract.md.
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

import pytest
from playwright.sync_api import expect

from browser import ROOT, DashboardPage, is_local

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)     # a loaded 2-core machine can be slow; waits end early

ALIGN = "Align to preferences"
DROP = "Drop the sigma weight"


@pytest.fixture
def open_page(browser, server):
    """Factory: a fresh tab (own context, external hosts blocked) on the dashboard."""
    pages: list[DashboardPage] = []

    def make(query: str = "", **kw) -> DashboardPage:
        d = DashboardPage(browser, server.url, **kw)
        pages.append(d)
        return d.open(query)

    yield make
    for d in pages:
        d.close()


# -- the command line, as an independent source of the expected numbers -------------------
def cli_run(scenario: str, steps: int, *extra: str) -> tuple[dict, dict[int, dict]]:
    """`dpo-sim run SCENARIO --steps N --format jsonl` -> (config, {step: record})."""
    cmd = [sys.executable, "-m", "dpo_sim", "run", scenario, "--steps", str(steps),
           "--format", "jsonl", *extra]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(s) for s in out.stdout.splitlines() if s.strip()]
    assert lines[0]["type"] == "config"
    records = {d["step"]: d for d in lines[1:] if d.get("type") == "step"}
    assert sorted(records) == list(range(steps + 1))
    return lines[0], records


def expected_readouts(rec: dict) -> dict[str, float]:
    """The page's readout testids mapped to the CLI's numbers for the same step."""
    exp = {"step": float(rec["step"]), "loss": rec["loss"],
           "margin": rec["rewards/margins"], "accuracy": rec["rewards/accuracies"]}
    for x, kl in enumerate(rec["kl"]):
        exp[f"kl-{x}"] = kl
    for x, kl in enumerate(rec["kl_to_rlhf"]):     # null (no finite optimum): not shown
        if kl is not None:
            exp[f"kl-rlhf-{x}"] = kl
    for x, row in enumerate(rec["probs"]):
        for y, p in enumerate(row):
            exp[f"prob-{x}-{y}"] = p
    return exp


READOUTS = ("step", "loss", "margin", "accuracy", "kl-", "prob-")


def readouts(page: DashboardPage) -> dict[str, float]:
    """The numeric readouts (full precision, from data-value) the tests compare."""
    return {k: v for k, v in page.numbers().items() if k.startswith(READOUTS) and v == v}


def wait_readouts(page: DashboardPage, expected: dict[str, float], rel: float = 0.0,
                  what: str = "", timeout: float = 5_000) -> None:
    """Wait until every expected readout shows its number (to `rel` relative); else fail
    with the differences. Waiting covers readouts that land a frame after the counter."""
    try:
        page.wait_js("""([exp, rel]) => { const v = window.__e2e.values();
            for (const k in exp) {
              if (!(k in v) || v[k].value === null) return false;
              const a = Number(v[k].value), b = exp[k];
              if (!(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + 1e-15))
                return false;
            }
            return true; }""", [expected, rel], timeout=timeout)
    except Exception:  # noqa: BLE001 - report the differences instead of a bare timeout
        shown = page.numbers()
        missing = sorted(set(expected) - set(shown))
        assert not missing, f"{what}: readouts missing on the page: {missing}"
        bad = {k: (shown[k], v) for k, v in expected.items()
               if not math.isclose(shown[k], v, rel_tol=rel, abs_tol=1e-15)}
        assert not bad, f"{what}: (page, expected): {bad}"
        raise


def assert_matches_cli(page: DashboardPage, rec: dict) -> None:
    exp = expected_readouts(rec)
    shown = page.values()
    for testid, key in (("rewards-chosen", "rewards/chosen"),
                        ("rewards-rejected", "rewards/rejected")):
        if testid in shown:            # optional readouts: compared when the page has them
            exp[testid] = rec[key]
    wait_readouts(page, exp, rel=1e-12,
                  what=f"page != dpo-sim run at step {rec['step']}")


def probs(page: DashboardPage) -> dict[str, float]:
    p = page.numbers("prob-")
    assert p, "no [data-testid=prob-x-y] readouts on the page"
    return p


def kls(page: DashboardPage) -> list[float]:
    k = {name: v for name, v in page.numbers("kl-").items() if name[3:].isdigit()}
    assert k, "no [data-testid=kl-x] readouts on the page"
    return [k[f"kl-{x}"] for x in range(len(k))]


# -- tests ---------------------------------------------------------------------------------
def test_page_loads_without_console_errors(open_page):
    d = open_page()
    page = d.page
    for name in ("Play", "Step", "Reset", "Download CSV"):
        expect(d.button(name)).to_be_visible()
    chosen = d.scenario_select().evaluate("s => s.options[s.selectedIndex].text")
    assert chosen.strip() == ALIGN
    assert d.log_text().strip(), "the step log should invite the user before anything happens"
    page.locator("canvas").first.wait_for(state="visible")
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
    chart = d.page.locator("canvas").first
    shot = chart.screenshot()
    d.play()
    d.wait_step(10, ">=")
    after = probs(d)
    assert after.keys() == before.keys()
    assert any(after[k] != before[k] for k in before), "bars did not change while playing"
    assert _wait_screenshot_differs(chart, shot), "the first chart looks the same after Play"
    stopped = d.pause()
    assert stopped >= 10
    seen = d.steps_seen(500)
    assert seen == [stopped], f"the counter moved after Pause: {seen}"


def test_step_advances_by_exactly_one_and_reset_returns_to_start(open_page):
    d = open_page()
    start = readouts(d)
    d.button("Step").click()
    d.wait_step(1)
    expect(d.page.locator("[data-testid=step-line]").first).to_contain_text("step 1 · loss")
    for _ in range(3):
        d.button("Step").click()
    # a flip goes to the server after the three clicks: once it shows, so have their steps
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    assert d.step() == 4, f"4 presses of Step gave step {d.step()}"
    assert readouts(d)["loss"] != start["loss"]
    d.button("Reset").click()
    d.wait_step(0)
    wait_readouts(d, start, what="Reset did not return exactly to the scenario's start")
    expect(d.flip(0)).to_have_attribute("aria-pressed", "false")   # flips undone too


def test_drop_sigma_drives_kl_above_align(open_page):
    drop = open_page()
    drop.load(DROP)
    chosen = drop.scenario_select().evaluate("s => s.options[s.selectedIndex].text")
    assert chosen.strip() == DROP
    n = drop.play_until(30)
    align = open_page()                 # align (the default) brought to the same step
    align.step_to(n)
    kl_align, kl_drop = kls(align), kls(drop)
    assert sum(kl_drop) > sum(kl_align), (n, kl_align, kl_drop)
    assert max(kl_drop) > max(kl_align), (n, kl_align, kl_drop)


def test_flip_buttons_and_enter_flip_rows_and_the_log_records_it(open_page):
    d = open_page()
    for i in (0, 1):
        expect(d.flip(i)).to_have_attribute("aria-pressed", "false")
        expect(d.flip(i)).to_have_accessible_name(f"Flip row {i}")
        expect(d.pair(i)).to_have_attribute("tabindex", "0")
    d.step_to(3)                       # off the start, so a flip changes the numbers
    before = readouts(d)
    # looking at a row (a click on it, not on its button) changes nothing in the run
    d.pair(0).click(position={"x": 5, "y": 5})
    d.page.wait_for_timeout(300)
    assert readouts(d) == before and d.flip(0).get_attribute("aria-pressed") == "false"
    expect(d.page.locator("text=Row 0 worked out").first).to_be_visible()
    log = d.log_text()
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    expect(d.page.locator("[data-testid=step-log]").first).to_contain_text(
        re.compile(r"step 3\b.*flip row 0", re.I))
    assert d.log_text() != log
    d.wait_js("v => Number(window.__e2e.values().loss.value) !== v", before["loss"])
    assert d.step() == 3, "a flip must not step"
    # Enter on a focused row flips it too
    d.pair(1).focus()
    d.page.keyboard.press("Enter")
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    assert d.step() == 3, "Enter on a row must not step"


def test_flip_back_restores_the_numbers_exactly(open_page):
    d = open_page()
    d.step_to(4)
    before = readouts(d)
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    d.wait_js("v => Number(window.__e2e.values().loss.value) !== v", before["loss"])
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "false")
    wait_readouts(d, before, what="flipping a row twice at one step changed the numbers")


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
    """A text or number field of the page; if it has none, one added to the document."""
    loc = d.page.locator("input[type=text], input[type=number], input[type=search], "
                         "input:not([type]), textarea").filter(visible=True)
    if loc.count():
        return loc.first
    d.page.evaluate("""() => { const i = document.createElement('input');
        i.type = 'text'; i.setAttribute('data-testid', 'e2e-probe');
        document.body.prepend(i); }""")
    return d.page.locator("[data-testid=e2e-probe]")


def test_shortcuts_do_not_fire_while_typing(open_page):
    d = open_page()
    d.step_to(2)
    field = _text_field(d)
    field.focus()
    for key in ("Space", "ArrowRight", "r", "Shift+R"):
        d.page.keyboard.press(key)
    # a Step click goes to the server after any shortcut would have: when its step shows,
    # every effect of the keys has shown too (messages on one websocket stay in order)
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


def test_no_request_leaves_the_server_host(open_page):
    d = open_page("?theme=dark")
    d.play_until(5)
    d.click_step()
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    d.page.evaluate("() => document.fonts.ready.then(() => true)")
    assert d.requests, "no request recorded at all"
    foreign = [u for u in d.requests + d.websockets if not is_local(u)]
    assert not foreign, f"requests to other hosts: {foreign}"
    assert not d.blocked, f"blocked requests to other hosts: {d.blocked}"
    assert d.websockets and all(is_local(u) for u in d.websockets)


def test_the_network_guard_sees_and_blocks_other_hosts(open_page):
    """Self-check of the guard the test above relies on: a request to another host is
    recorded and aborted (so a CDN link in the page could not pass unnoticed)."""
    d = open_page()
    d.page.evaluate("""() => fetch('https://cdn.example.org/x.js').then(() => 'ok', () => 'blocked')""")
    d.page.evaluate("""() => new Promise(done => { const i = new Image();
        i.onload = i.onerror = done; i.src = 'http://fonts.example.com/f.png'; })""")
    assert [u for u in d.requests if not is_local(u)] == [
        "https://cdn.example.org/x.js", "http://fonts.example.com/f.png"]
    assert d.blocked == ["https://cdn.example.org/x.js", "http://fonts.example.com/f.png"]


def test_two_tabs_do_not_share_state(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        one = DashboardPage(browser, server.url, context=context).open()
        two = DashboardPage(browser, server.url, context=context).open()
        start = readouts(two)
        # a background tab gets its timers throttled: act on the tab in front
        one.page.bring_to_front()
        one.step_to(3)
        one.flip(0).click()
        expect(one.flip(0)).to_have_attribute("aria-pressed", "true")
        one.play_until(8)
        # the other tab does one round trip of its own; before that it must be untouched
        two.page.bring_to_front()
        assert readouts(two) == start, "the other tab's numbers changed"
        expect(two.flip(0)).to_have_attribute("aria-pressed", "false")
        assert two.click_step() == 1
        assert one.step() >= 8
    finally:
        context.close()


def test_numbers_match_cli_after_steps_and_play(open_page):
    d = open_page()
    d.step_to(5)
    n = 5
    _, rec = cli_run("align", 5)
    assert_matches_cli(d, rec[5])
    n = d.play_until(30)
    _, rec = cli_run("align", n)
    assert_matches_cli(d, rec[n])
    d.button("Reset").click()
    d.wait_step(0)
    assert_matches_cli(d, rec[0])


def align_with_flip(tmp_path, step: int, row: int) -> str:
    """align.toml plus one scripted event: flip `row` at `step` (a scenario file path)."""
    toml = (ROOT / "presets" / "align.toml").read_text(encoding="utf-8")
    path = tmp_path / "align-flip.toml"
    path.write_text(toml + f"\n[[events]]\nstep = {step}\nflip = {row}\n", encoding="utf-8")
    return str(path)


def test_numbers_match_cli_after_a_flip(open_page, tmp_path):
    """A live flip at step 3 equals the CLI run with that flip as a scripted event."""
    _, rec = cli_run(align_with_flip(tmp_path, 3, 1), 9)
    d = open_page()
    d.step_to(3)
    d.flip(1).click()
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    assert_matches_cli(d, rec[3])
    d.step_to(9)
    assert_matches_cli(d, rec[9])


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
  function isChart(el) { return el.classList.contains('bk-events'); }
  window.__tab = {
    focused: {},
    record(i) {
      const el = window.__e2e.active();
      if (!el || el === document.body || el === document.documentElement) return null;
      if (isChart(el)) return 'chart';
      if (!el.hasAttribute('data-e2e-tab')) el.setAttribute('data-e2e-tab', String(i));
      const id = el.getAttribute('data-e2e-tab');
      if (!(id in this.focused)) this.focused[id] = chain(el);
      return id;
    },
    candidates() {
      const sel = 'button, select, input:not([type=hidden]), textarea, a[href], [tabindex], ' +
                  '[role=button], [role=slider], [role=switch], [role=checkbox], [role=tab]';
      // a Bokeh plot's event layer is focusable for its own key handling: a chart, not a
      // control, so it is left out of the checks
      return window.__e2e.all(sel).filter(el => el.tabIndex >= 0 && !el.disabled &&
                                                visible(el) && !isChart(el));
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
    # the charts over time (and their explanations) arrive once the rest is drawn
    expect(page.locator("button.dpo-term", has_text="about this chart")).to_have_count(3)
    page.evaluate(TAB_WALK_JS)
    _blur(d)
    reached: list[str] = []
    for i in range(200):
        page.keyboard.press("Tab")
        got = page.evaluate("i => window.__tab.record(i)", i)
        if got is None or got == "chart":
            continue
        if reached and got == reached[0]:
            break                         # went round once
        reached.append(got)
    assert d.step() == 0, "Tab must not trigger any action"
    unreachable = page.evaluate("() => window.__tab.unreachable()")
    assert not unreachable, f"controls Tab never reaches: {unreachable}"
    # the required controls are among them
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
    with open(dl.value.path(), encoding="utf-8", newline="") as f:
        page_rows = list(csv.DictReader(f))
    cmd = [sys.executable, "-m", "dpo_sim", "run", align_with_flip(tmp_path, 2, 2),
           "--steps", "5", "--format", "csv"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    cli_rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(page_rows) == len(cli_rows) == 6, (len(page_rows), len(cli_rows))
    for p_row, c_row in zip(page_rows, cli_rows):
        missing = set(c_row) - set(p_row)
        assert not missing, f"columns missing in the page's CSV: {sorted(missing)}"
        bad = {k: (p_row[k], v) for k, v in c_row.items()
               if not math.isclose(float(p_row[k]), float(v), rel_tol=1e-12, abs_tol=1e-15)}
        assert not bad, f"step {c_row['step']}: (page, cli) {bad}"


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


@pytest.mark.parametrize("scheme, query, dark", [
    ("light", "", False), ("dark", "", True), ("light", "?theme=dark", True)])
def test_theme_follows_the_system_or_the_query(browser, server, scheme, query, dark):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme=scheme)
    try:
        d = DashboardPage(browser, server.url, context=context).open(query)
        lum = d.page.evaluate(BACKGROUND_JS)
        assert (lum < 0.35) if dark else (lum > 0.65), (scheme, query, lum)
    finally:
        context.close()


def test_phone_width_has_no_sideways_scroll_and_works(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    try:
        d = DashboardPage(browser, server.url, context=context).open()
        width = d.page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1] + 1, f"page wider than the phone: {width}"
        d.button("Step").tap()
        d.wait_step(1)
        d.flip(0).tap()
        expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()
