"""The "Read at your level" view and the Try-it path in Chromium, on a small Panel page of
their own (a SimState, Step and Flip buttons, the page's keyboard shortcuts, LearnPanel and
TryIt), served with the package's static folder as ``dpo-sim serve`` serves it:

- KaTeX renders the formulas (``.katex`` elements with MathML), its files and fonts come
  from the page's own server, and no request goes to any other host (other hosts are
  blocked and recorded);
- the keyboard reaches the levels and switches them (arrows, Home, End) without the page's
  own → (step) firing;
- the live numbers follow the run; a Try-it step ticks in the page and restarts;
- axe-core finds no serious or critical violation, light and dark, desktop and phone;
- no text of the view is smaller than 14 px.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from playwright.sync_api import expect

from browser import DashboardPage, Server, axe_violations, is_local
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)

APP = textwrap.dedent("""
    import sys

    import panel as pn

    from dpo_sim.app.state import SimState
    from dpo_sim.app.theme import body_css, palette, widget_css
    from dpo_sim.app.views.keys import KeyboardShortcuts
    from dpo_sim.app.views.learn import STATIC_DIR, STATIC_ROUTE, LearnPanel, TryIt

    port = int(sys.argv[sys.argv.index("--port") + 1])


    def page():
        args = pn.state.session_args or {}
        theme = args.get("theme", [b"light"])[0].decode()
        pal = palette(theme)
        st = SimState()
        keys = KeyboardShortcuts(actions={"toggle": st.toggle, "step": st.step,
                                          "reset": st.reset, "hello": lambda msg: None})
        css = [widget_css(pal)]
        step = pn.widgets.Button(label="Step", stylesheets=css)
        step.on_click(lambda e: st.step())
        flip = pn.widgets.Button(label="Flip row 0", stylesheets=css)
        flip.on_click(lambda e: st.flip(0))
        return pn.Column(pn.Row(step, flip), LearnPanel(st, pal), TryIt(st, pal), keys,
                         sizing_mode="stretch_width", stylesheets=[body_css(pal)],
                         styles={"background": pal.background, "min-height": "100vh"})


    pn.serve({"learn": page}, port=port, address="127.0.0.1", show=False, title="learn",
             websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"],
             static_dirs={STATIC_ROUTE: str(STATIC_DIR)})
""")


@pytest.fixture(scope="module")
def learn_server(tmp_path_factory):
    script = tmp_path_factory.mktemp("learn") / "learn_app.py"
    script.write_text(APP)
    s = Server(command=[sys.executable, str(script)], path="learn")
    yield s
    s.stop()


SIZES = {"laptop": (1280, 800, False), "phone": (390, 844, True)}


@pytest.fixture
def open_learn(browser, learn_server):
    pages = []

    def make(size="laptop", theme="light"):
        w, h, mobile = SIZES[size]
        ctx = browser.new_context(viewport={"width": w, "height": h}, is_mobile=mobile,
                                  has_touch=mobile, color_scheme=theme)
        d = DashboardPage(browser, learn_server.url, context=ctx)
        d.own_context = True
        d.failed = []
        d.page.on("response", lambda r: d.failed.append(f"{r.status} {r.url}")
                  if r.status >= 400 else None)
        d.page.on("requestfailed", lambda r: d.failed.append(f"failed {r.url}"))
        pages.append(d)
        d.page.goto(learn_server.url + f"?theme={theme}")
        d.wait_js("() => { const r = window.__e2e.q('section.learn[data-katex]');"
                  " return r && r.getAttribute('data-katex') === 'ready'; }")
        d.wait_js("() => !!window.__e2e.q('[data-testid=try-flip]')")
        return d

    yield make
    for d in pages:
        assert d.errors == [], d.errors
        assert not d.blocked, d.blocked
        assert d.failed == [], d.failed
        d.close()


def tab(d, level):
    return d.page.locator(f"[data-testid=learn-tab-{level}]")


def panel(d, level):
    return d.page.locator(f"[data-testid=learn-panel-{level}]")


def live(d, level, key):
    return d.page.locator(f"[data-testid=learn-{level}-{key}]")


def test_formulas_render_with_katex_from_the_own_server_and_nothing_else(open_learn,
                                                                         learn_server):
    d = open_learn()
    tab(d, "college").click()
    expect(tab(d, "college")).to_have_attribute("aria-selected", "true")
    expect(panel(d, "college")).to_be_visible()
    formulas = panel(d, "college").locator(".katex")
    expect(formulas.first).to_be_visible()
    assert formulas.count() >= 10
    # KaTeX output: MathML for assistive technology, HTML for the eye
    shown = panel(d, "college").locator(".katex-display").first
    expect(shown.locator(".katex-mathml math")).to_have_count(1)
    expect(shown.locator(".katex-html")).to_have_attribute("aria-hidden", "true")
    # no TeX source left as text: every formula was rendered
    assert d.page.evaluate("""() => window.__e2e.all('.tex[data-tex]')
        .every(t => t.querySelector('.katex'))""")
    # KaTeX's own fonts are in use (not a fallback): the document loaded them
    d.page.evaluate("() => document.fonts.ready.then(() => true)")
    assert d.page.evaluate("() => document.fonts.check('20px KaTeX_Main')")
    assert d.page.evaluate("""() => [...document.fonts].some(f => f.family.includes('KaTeX')
        && f.status === 'loaded')""")
    base = learn_server.url.rsplit("/learn", 1)[0]
    got = set(d.requests)
    assert f"{base}/dpo-sim-static/katex/katex.min.js" in got
    assert f"{base}/dpo-sim-static/katex/katex.min.css" in got
    assert any(u.startswith(f"{base}/dpo-sim-static/katex/fonts/") and u.endswith(".woff2")
               for u in got)
    foreign = [u for u in d.requests + d.websockets if not is_local(u)]
    assert foreign == [] and d.blocked == []


def test_the_keyboard_reaches_and_switches_the_levels(open_learn):
    d = open_learn()
    kb = d.page.keyboard
    expect(tab(d, "child")).to_have_attribute("aria-selected", "true")
    # Tab from the top of the page reaches the selected level's tab
    d.page.locator("body").click(position={"x": 5, "y": 5})
    for _ in range(12):
        kb.press("Tab")
        if d.page.evaluate("() => { const a = window.__e2e.active();"
                           " return !!a && a.getAttribute('data-testid') === "
                           "'learn-tab-child'; }"):
            break
    else:
        pytest.fail("Tab never reached the levels")
    kb.press("ArrowRight")
    expect(tab(d, "school")).to_have_attribute("aria-selected", "true")
    expect(panel(d, "school")).to_be_visible()
    expect(panel(d, "child")).to_be_hidden()
    # the page's → (step) did not fire: still step 0, now quoted by the school level
    expect(live(d, "school", "step")).to_have_text("0")
    kb.press("End")
    expect(tab(d, "researcher")).to_have_attribute("aria-selected", "true")
    kb.press("Home")
    expect(tab(d, "child")).to_have_attribute("aria-selected", "true")
    kb.press("ArrowLeft")
    expect(tab(d, "researcher")).to_have_attribute("aria-selected", "true")
    assert d.page.evaluate("() => window.__e2e.active().getAttribute('data-testid')") == \
        "learn-tab-researcher"
    # Enter on another tab (after Tab-free navigation with arrows) keeps it selected
    kb.press("ArrowLeft")
    kb.press("Enter")
    expect(tab(d, "phd")).to_have_attribute("aria-selected", "true")
    expect(live(d, "phd", "step")).to_have_text("0")
    # away from the tabs, → is the page's step again
    d.page.locator("body").click(position={"x": 5, "y": 5})
    kb.press("ArrowRight")
    expect(live(d, "phd", "step")).to_have_text("1")


def test_the_live_numbers_follow_the_run(open_learn):
    d = open_learn()
    tab(d, "college").click()
    expect(live(d, "college", "step")).to_have_text("0")
    for n in (1, 2, 3):
        d.button("Step").click()
        expect(live(d, "college", "step")).to_have_text(str(n))
    sim = Simulation(load_scenario("align"))
    rec = sim.advance(3)
    expect(live(d, "college", "loss")).to_have_attribute("data-value", repr(rec.loss))
    expect(live(d, "college", "sigma")).to_have_attribute("data-value",
                                                          repr(float(rec.row_sigma[0])))
    expect(live(d, "college", "scenario")).to_have_text("Align to preferences")


def test_a_try_it_step_ticks_in_the_page_and_the_path_restarts(open_learn):
    d = open_learn()
    step = d.page.locator("[data-testid=try-flip]")
    expect(step).to_have_attribute("data-done", "false")
    d.button("Flip row 0").click()
    expect(step).to_have_attribute("data-done", "true")
    status = d.page.locator("[data-testid=try-status]")
    expect(status).to_contain_text("Done: Flip a preference row")
    expect(step.locator(".check")).to_have_text("✓")
    d.button("Start the path again").click()
    expect(step).to_have_attribute("data-done", "false")
    expect(status).to_have_text("")


#: the text of the view: every element with its own text, outside KaTeX's output (whose
#: sub- and superscripts are sized relative to the text around them)
MIN_FONT = r"""() => {
  const E = window.__e2e, out = [];
  for (const el of E.all('section.learn *')) {
    if (el.closest('.katex')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.nodeValue.trim());
    if (!own || el.offsetParent === null) continue;
    out.push([parseFloat(getComputedStyle(el).fontSize), el.tagName + '.' + el.className]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out.slice(0, 3);
}"""


@pytest.mark.parametrize("size, theme", [("laptop", "light"), ("laptop", "dark"),
                                         ("phone", "light"), ("phone", "dark")])
def test_no_serious_or_critical_accessibility_violation(open_learn, size, theme):
    d = open_learn(size, theme)
    d.button("Flip row 0").click()          # a ticked step and its announcement
    expect(d.page.locator("[data-testid=try-flip]")).to_have_attribute("data-done", "true")
    for level in ("child", "college", "researcher"):
        tab(d, level).click()
        expect(panel(d, level).locator(".katex").first if level != "child"
               else panel(d, level)).to_be_visible()
        found = axe_violations(d.page)
        assert found == [], json.dumps(found, indent=1)
        smallest = d.page.evaluate(MIN_FONT)
        assert smallest and smallest[0][0] >= 14, smallest


def test_while_playing_the_numbers_change_a_few_times_a_second(open_learn):
    d = open_learn()
    tab(d, "school").click()
    expect(live(d, "school", "step")).to_have_text("0")
    d.page.locator("body").click(position={"x": 5, "y": 5})
    d.page.keyboard.press("Space")                          # the page's play
    expect(live(d, "school", "step")).not_to_have_text("0")
    seen = d.page.evaluate("""ms => new Promise(done => {
        const el = window.__e2e.q('[data-testid=learn-school-step]');
        const seen = [], t0 = performance.now();
        (function tick() {
          const v = el.textContent;
          if (!seen.length || seen[seen.length - 1] !== v) seen.push(v);
          if (performance.now() - t0 < ms) requestAnimationFrame(tick); else done(seen);
        })(); })""", 2000)
    d.page.keyboard.press("Space")                          # pause
    steps = [int(s) for s in seen]
    assert steps == sorted(steps) and steps[-1] - steps[0] >= 20, steps   # 20 steps/s
    assert 2 <= len(steps) <= 2 * 4 + 2, steps              # at most ~4 updates a second
    d.page.wait_for_timeout(600)                            # the pause's last numbers
    last = int(live(d, "school", "step").text_content())
    d.page.wait_for_timeout(600)
    assert int(live(d, "school", "step").text_content()) == last    # paused: settled
