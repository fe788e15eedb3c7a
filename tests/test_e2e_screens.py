"""The page on every screen it is used on, by real geometry in Chromium, and what a learner
can reach: accessibility (axe-core), the keyboard wherever focus is, the explanations on
focus and tap, a link to a moment that shows the events before it. Every test runs on both
hosts (the served page and the offline file: the ``host`` fixture).

Geometry is measured, never taken from what the page set: element boxes
(getBoundingClientRect, through shadow roots) against the window's own size, with
mobile emulation for the phone."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from browser import axe_violations

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)

#: name -> (width, height, mobile)
SIZES = {"phone": (390, 844, True), "iframe": (760, 900, False),
         "small-laptop": (1024, 768, False), "laptop": (1280, 800, False),
         "projector": (1920, 1080, False)}


@pytest.fixture
def open_at(open_page):
    """Factory: the page of the test's host at one of SIZES (a phone emulated as one), in a
    colour scheme, opened on a query and waited on until it shows ``step``."""

    def make(size: str, query: str = "?scenario=align&step=60", theme: str = "light",
             step: int | None = None):
        w, h, mobile = SIZES[size]
        if step is None:
            step = int(query.split("step=")[1].split("&")[0]) if "step=" in query else 0
        return open_page(query, at=step, viewport=(w, h), mobile=mobile, color_scheme=theme)

    return make


GEOMETRY = r"""() => {
  const E = window.__e2e, W = window.innerWidth, H = window.innerHeight;
  const box = el => { const r = el.getBoundingClientRect();
                      return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                              width: r.width, height: r.height}; };
  const shown = el => { const r = el.getBoundingClientRect();
                        return r.width > 1 && r.height > 1 &&
                               getComputedStyle(el).visibility !== 'hidden'; };
  // the widest thing laid out on the page (through every shadow root): the visible part
  // of each element, cut by any ancestor that clips its overflow
  const up = el => el.parentElement || (el.getRootNode && el.getRootNode().host) || null;
  const clipped = el => {
    let r = el.getBoundingClientRect(), lo = r.left, hi = r.right;
    for (let a = up(el), i = 0; a && i < 60; a = up(a), i++) {
      const ov = getComputedStyle(a).overflowX;
      if (ov !== 'visible') { const q = a.getBoundingClientRect();
                              lo = Math.max(lo, q.left); hi = Math.min(hi, q.right); }
    }
    return [lo, hi];
  };
  let right = 0, left = 0, widest = '';
  for (const el of E.all('*')) {
    if (!shown(el)) continue;
    const [lo, hi] = clipped(el);
    if (hi > right) { right = hi; widest = el.tagName + '.' + el.className; }
    left = Math.min(left, lo);
  }
  const play = E.all('button').find(b => b.textContent.trim() === 'Play' ||
                                         b.textContent.trim() === 'Pause');
  const metrics = E.all('table.dpo-metrics').filter(shown);
  return {W, H, scale: window.visualViewport ? window.visualViewport.scale : 1,
          right, left, widest, scrollW: document.documentElement.scrollWidth,
          play: play ? box(play) : null,
          bars: E.all('canvas.bars').filter(shown).map(box),
          charts: E.all('.dpo-chart canvas').filter(shown).map(box),
          metrics: metrics.map(box)};
}"""


def _inside_width(b, W):
    return b["left"] >= -0.5 and b["right"] <= W + 0.5


def _in_view(b, W, H):
    return _inside_width(b, W) and b["top"] >= -0.5 and b["bottom"] <= H + 0.5


@pytest.mark.parametrize("size, query", [(s, "?scenario=align&step=60") for s in SIZES] + [
    ("laptop", "?scenario=drop-sigma&step=150"), ("laptop", "?scenario=fix-label&step=150"),
    ("phone", "?scenario=skewed-reference&step=30")])
def test_every_part_fits_the_screen(open_at, size, query):
    d = open_at(size, query=query)
    g = d.page.evaluate(GEOMETRY)
    W, H = g["W"], g["H"]
    print(size, json.dumps({k: g[k] for k in ("W", "H", "scale", "right", "widest")}))
    # laid out at the screen's own width (a phone honours the viewport tag), no sideways
    # scroll: nothing on the page reaches past the right edge
    assert SIZES[size][0] == W and g["scale"] == 1
    assert g["right"] <= W + 0.5 and g["left"] >= -0.5, g["widest"]
    assert len(g["bars"]) == 2 and len(g["charts"]) == 3 and g["metrics"]
    for b in g["bars"] + g["charts"] + g["metrics"] + [g["play"]]:
        assert _inside_width(b, W), b
    assert _in_view(g["play"], W, H)
    if size in ("laptop", "projector"):
        # the bars, the numbers and the charts over time in view together
        for b in g["bars"] + g["charts"] + g["metrics"]:
            assert _in_view(b, W, H), (size, b)
    elif size == "iframe":
        # a course page's iframe: Play and both bar charts first
        for b in g["bars"]:
            assert _in_view(b, W, H), b
    elif size == "phone":
        assert _in_view(g["bars"][0], W, H)        # the first bar chart on the first screen


@pytest.mark.parametrize("size", ["phone", "laptop"])
def test_a_run_that_diverges_says_so_on_top_and_its_huge_numbers_fit(open_at, size):
    """IPO at loose-leash's learning rate 8 stops at step 169 (tests/test_diverged.py):
    the alert is on the first screen and the numbers, now ~1e306, stay on the page."""
    d = open_at(size, query="?scenario=loose-leash&loss=ipo&step=300", step=169)
    alert = d.page.locator("[data-testid=halted]").first
    expect(alert).to_be_visible()
    assert "stopped at step 169" in alert.inner_text()
    box = alert.bounding_box()
    g = d.page.evaluate(GEOMETRY)
    W, H = g["W"], g["H"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= W + 0.5 and box["y"] < H
    # laid out at the screen's own width (a phone widens the page when something does
    # not fit), and nothing reaches past its right edge
    assert SIZES[size][0] == W and g["scale"] == 1
    assert g["right"] <= W + 0.5 and g["left"] >= -0.5, g["widest"]
    for b in g["metrics"]:
        assert _inside_width(b, W), b
    assert d.step() == 169


def test_in_a_real_iframe_of_a_course_page(browser, page_url):
    """The README's iframe: a 760 px column, height 900; Play and the bars in the frame."""
    ctx = browser.new_context(viewport={"width": 1000, "height": 1000})
    page = ctx.new_page()
    page.set_content(f'<body style="margin:0"><div style="width:760px">'
                     f'<iframe src="{page_url}?scenario=drop-sigma&step=30" width="100%" '
                     f'height="900" style="border:0" title="dpo-sim"></iframe></div></body>')
    frame = page.frame_locator("iframe")
    expect(frame.locator("[data-testid=step]").first).to_have_text("30", timeout=60_000)
    fr = page.frames[1]
    from browser import DEEP_QUERY_JS
    fr.evaluate(DEEP_QUERY_JS)
    g = fr.evaluate(GEOMETRY)
    assert g["W"] == 760 and g["right"] <= 760.5, g["widest"]
    for b in g["bars"] + [g["play"]]:
        assert _in_view(b, 760, 900), b
    ctx.close()


@pytest.mark.parametrize("size, theme", [("laptop", "light"), ("laptop", "dark"),
                                         ("phone", "light"), ("phone", "dark")])
def test_no_serious_or_critical_accessibility_violation(open_at, size, theme):
    d = open_at(size, theme=theme)
    # the states a learner reaches: a flipped row, the weight off, a term explained
    d.flip(1).click()
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    d.page.get_by_role("button", name="Adaptive sigma weight: on").click()
    d.page.get_by_role("button", name="Adaptive sigma weight: off").wait_for()
    d.page.locator("button.dpo-term", has_text="per judgement").first.focus()
    found = axe_violations(d.page)
    assert found == [], json.dumps(found, indent=1)


def test_space_and_r_work_wherever_focus_is_and_arrows_stay_with_sliders(open_at):
    """Space plays or pauses and R resets wherever focus is, but a focused control keeps
    its own keys: Space on a button presses only that button, a slider keeps its arrows, a
    select its Space and R."""
    d = open_at("laptop", query="?scenario=align&step=2")
    kb = d.page.keyboard
    # focus on a row's Flip button (after a click): Space presses it again, nothing else
    d.flip(0).click()
    expect(d.flip(0)).to_have_attribute("aria-pressed", "true")
    kb.press("Space")
    expect(d.flip(0)).to_have_attribute("aria-pressed", "false")
    assert d.steps_seen(300) == [2] and not d.state()["playing"]
    # a focused row: Enter flips it, Space plays
    d.pair(1).focus()
    kb.press("Enter")
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    kb.press("Space")
    d.button("Pause").wait_for()
    kb.press("Space")
    s = d.paused()
    # a slider in focus keeps its arrows: → moves beta, it does not step
    handle = d.page.get_by_role("slider", name="beta")
    handle.focus()
    kb.press("ArrowRight")
    kb.press("ArrowRight")
    kb.press("ArrowRight")
    expect(d.page.locator("[data-testid=step-log]").first).to_contain_text(
        f"step {s} · beta 1 -> 1.15")
    assert d.settle() == s
    log = d.log_text()
    assert log.count("beta 1 ->") == 1, log          # one line per settled value
    kb.press("r")                                    # R resets from the slider too
    d.wait_step(0)
    # a select in focus keeps its Space (it opens the list; R would pick by letter)
    d.scenario_select().select_option(label="Drop the sigma weight")
    d.wait_js("() => window.__e2e.stepValue() === 0")
    d.click_step()
    d.scenario_select().focus()
    kb.press("Space")
    kb.press("Escape")
    assert d.steps_seen(300) == [1] and not d.state()["playing"]
    assert d.state()["scenario"] == "drop-sigma"
    # and the page-wide keys work again once focus leaves it
    d.page.evaluate("() => window.__e2e.active().blur()")
    kb.press("Space")
    d.button("Pause").wait_for()
    kb.press("Space")
    d.paused()


def test_every_explanation_is_reachable_by_focus_and_by_tap(open_at):
    d = open_at("laptop")
    terms = d.page.locator("button.dpo-term:visible")
    assert terms.count() >= 12
    for i in range(terms.count()):
        t = terms.nth(i)
        t.focus()
        tip = t.locator("xpath=following-sibling::*[@role='tooltip']")
        expect(tip).to_be_visible()
        assert len(tip.inner_text()) > 20
    phone = open_at("phone")
    term = phone.page.locator("button.dpo-term:visible", has_text="loss").first
    term.tap()
    expect(term.locator("xpath=following-sibling::*[@role='tooltip']")).to_be_visible()


def test_a_link_to_a_moment_shows_the_events_before_it(open_at):
    d = open_at("laptop", query="?scenario=fix-label&step=150")
    expect(d.page.locator("[data-testid=step-log]").first).to_contain_text(
        "step 100 · scenario flips row 1")
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    # the charts' text alternatives say where the run is
    expect(d.page.locator("[data-testid=chart-loss-values] caption").first).to_contain_text(
        "at step 150")


def test_the_weight_toggle_differs_by_more_than_its_words(open_at):
    d = open_at("laptop", theme="dark")
    on = d.page.get_by_role("button", name="Adaptive sigma weight: on")
    bg_on = on.evaluate("b => getComputedStyle(b).backgroundColor")
    on.click()
    off = d.page.get_by_role("button", name="Adaptive sigma weight: off")
    off.wait_for()
    bg_off = off.evaluate("b => getComputedStyle(b).backgroundColor")
    assert bg_on != bg_off


def test_hiding_every_side_part_gives_its_width_to_the_rest(open_at):
    d = open_at("laptop", query="?scenario=align&step=5&hide=sliders,picker,watch,download,"
                                "share")
    g = d.page.evaluate(GEOMETRY)
    assert min(b["left"] for b in g["metrics"] + g["bars"]) < 60    # no empty column
    for b in g["bars"] + g["charts"]:
        assert _in_view(b, g["W"], g["H"]), b
    assert d.page.get_by_role("button", name="Download CSV").count() == 0
    expect(d.page.locator("[data-testid=step]").first).to_be_visible()


def test_maths_labels_keep_their_case_and_zero_has_no_sign(open_at):
    d = open_at("laptop", query="?scenario=align", theme="dark")
    bad = d.page.evaluate("""() => window.__e2e.all('*').filter(el =>
        getComputedStyle(el).textTransform === 'uppercase'
        && /[σπβ]|sigma/i.test(el.textContent)).map(el => el.textContent.slice(0, 40))""")
    assert bad == []
    # at the start every margin is 0: written 0.000 and +0.000, never -0.000
    text = d.page.locator("[data-testid=pair-0]").first.inner_text()
    assert "0.000" in text and "-0.000" not in text and "−0.000" not in text, text
