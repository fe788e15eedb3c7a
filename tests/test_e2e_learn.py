""""Read at your level" and "Try it" on the real page, on both hosts (the served page with
KaTeX fetched from the package's static route; the offline file with KaTeX inline, nothing
fetched). One tab per host for the whole module (each test first brings it to a known state):

- every level's words and formulas are learn_texts', KaTeX renders every formula (MathML
  for assistive technology) with its own fonts, only fonts of FONTS_USED, from the page's
  own server or from the file itself; no request goes to any other host, none fails;
- every live number on every level is the engine's (``sim.protocol.Session``, exactly on
  the served page, to 1e-12 offline), and a step changes text only (no formula redrawn);
- the keyboard reaches and switches the levels (arrows, Home, End) without the page's →
  (step) firing; away from the tabs → steps again;
- the Try-it steps tick when the learner does them (not a script's flip, not a load's β)
  and restart; "Show me" scrolls to its part (inside the served page's shadow root), marks
  it and focuses its control; a part hidden by teacher mode has no button;
- while playing the numbers change a few times a second and the last one shows;
- axe-core finds no serious or critical violation on the page (light and dark, laptop and
  phone, each once on one host), no
  text of the views is smaller than 14 px, a wide formula on a phone scrolls in its own box;
- no console error on either host (checked when the module's tab closes).
"""

from __future__ import annotations

import json
import math
import re

import pytest
from playwright.sync_api import expect

from browser import HOSTS, DashboardPage, axe_violations, host_url, is_local
from dpo_sim.app import learn_texts as T
from dpo_sim.app.katex_assets import FONTS_USED, STATIC_ROUTE
from dpo_sim.sim.protocol import Session
from dpo_sim.sim.scenario_io import load_scenario

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module", params=HOSTS)
def d(request, browser, server):
    """One tab per host for the module (reduced motion: "Show me" scrolls at once)."""
    host = request.param
    ctx = browser.new_context(viewport={"width": 1280, "height": 800},
                              reduced_motion="reduce")
    page = DashboardPage(browser, host_url(server.url, host), context=ctx, host=host)
    page.own_context = True
    page.failed = []
    page.page.on("response", lambda r: page.failed.append(f"{r.status} {r.url}")
                 if r.status >= 400 else None)
    page.page.on("requestfailed", lambda r: page.failed.append(f"failed {r.url}"))
    open_learn(page)
    yield page
    try:
        assert page.errors == [], page.errors
        assert page.blocked == [], page.blocked
        assert page.failed == [], page.failed
    finally:
        page.close()


def open_learn(d: DashboardPage, query: str = "") -> None:
    d.open(query)
    d.wait_js("() => { const s = window.__e2e.q('section.learn[data-katex]');"
              " return !!s && s.getAttribute('data-katex') === 'ready'; }")
    d.wait_js("() => !!window.__e2e.q('[data-testid=try-flip]')")


def fresh(d: DashboardPage, level: str = "child") -> None:
    """Align at step 0, row 0 looked at, the path restarted, LEVEL shown."""
    d.act("dpoSim.pause(); dpoSim.load('align')")
    d.page.evaluate("() => window.__e2e.q('[data-testid=try-restart]').click()")
    tab(d, level).click()
    expect(tab(d, level)).to_have_attribute("aria-selected", "true")


def tab(d, level):
    return d.page.locator(f"[data-testid=learn-tab-{level}]")


def panel(d, level):
    return d.page.locator(f"[data-testid=learn-panel-{level}]")


def live(d, level, key) -> tuple[str, str | None]:
    return tuple(d.page.evaluate(
        "k => { const e = window.__e2e.q('[data-testid=' + k + ']');"
        " return [e.textContent, e.getAttribute('data-value')]; }", f"learn-{level}-{key}"))


def done(d) -> set[str]:
    return set(d.page.evaluate("() => window.__e2e.all('.learn-try li[data-done=true]')"
                               ".map(li => li.dataset.testid.slice(4))"))


# --- words, formulas, KaTeX --------------------------------------------------------------
def test_the_levels_words_and_formulas_rendered_by_katex_with_its_own_fonts(d):
    fresh(d)
    got = d.page.evaluate("""() => { const E = window.__e2e; return {
        heading: E.q('#learn-h').textContent,
        intro: E.q('section.learn:not(.learn-try) .learn-intro').textContent,
        tabs: E.all('section.learn [role=tab]').map(b => [b.dataset.testid, b.textContent,
              b.getAttribute('aria-selected'), b.tabIndex]),
        label: E.q('section.learn [role=tablist]').getAttribute('aria-label'),
        panels: E.all('section.learn [role=tabpanel]').map(p => [p.dataset.testid, p.hidden,
                p.querySelector('h3').textContent]),
        limits: E.all('.learn-limits li').length,
        limitsHeading: E.q('#learn-limits-h').textContent}; }""")
    assert got["heading"] == T.HEADING and got["intro"] == T.INTRO
    assert got["label"] == T.LEVELS_LABEL
    assert got["tabs"] == [[f"learn-tab-{lv.id}", lv.label, "true" if i == 0 else "false",
                            0 if i == 0 else -1] for i, lv in enumerate(T.LEVELS)]
    assert got["panels"] == [[f"learn-panel-{lv.id}", i != 0, lv.title]
                             for i, lv in enumerate(T.LEVELS)]
    assert got["limits"] == len(T.LIMITATIONS) and got["limitsHeading"] == T.LIMITS_HEADING
    # each level's words, formulas as their TeX, live values as the placeholders
    for lv in T.LEVELS:
        text = d.page.evaluate("""id => {
            const p = window.__e2e.q('[data-testid=learn-panel-' + id + ']');
            return [...p.children].slice(1).map(b => {
              const c = b.cloneNode(true);
              for (const t of c.querySelectorAll('.tex')) t.replaceWith('$' + t.dataset.tex + '$');
              for (const s of c.querySelectorAll('[data-live]'))
                s.replaceWith('[[' + s.dataset.live + ']]');
              if (c.classList.contains('tex-display')) return '$$' + c.dataset.tex + '$$';
              return (c.tagName === 'H4' ? '### ' : '') + c.textContent; }); }""", lv.id)
        assert text == [re.sub(r"\*\*", "", b.strip()) for b in lv.blocks], lv.id
    # every formula rendered by KaTeX, with MathML, the HTML hidden from screen readers
    assert d.page.evaluate("() => window.__e2e.all('.tex[data-tex]').every(t => "
                           "t.querySelector('.katex .katex-mathml math'))")
    tab(d, "college").click()
    shown = panel(d, "college").locator(".katex-display").first
    expect(shown).to_be_visible()
    expect(shown.locator(".katex-html").first).to_have_attribute("aria-hidden", "true")
    for lv in T.LEVELS:                  # every level drawn once: every font it needs
        tab(d, lv.id).click()
        d.page.evaluate("() => document.fonts.ready.then(() => true)")
    tab(d, "college").click()
    fonts = d.page.evaluate("""async () => {
        await document.fonts.ready;
        const k = window.__e2e.q('[data-testid=learn-panel-college] .katex');
        const r = k.getBoundingClientRect();
        return {check: document.fonts.check('20px KaTeX_Main'),
                loaded: [...document.fonts].filter(f => f.status === 'loaded'
                          && f.family.includes('KaTeX')).map(f => f.family.replace(/"/g, '')),
                family: getComputedStyle(k).fontFamily, width: r.width}; }""")
    assert fonts["check"] and fonts["loaded"], fonts
    assert fonts["family"].startswith("KaTeX_Main") and fonts["width"] > 100, fonts
    families = {"KaTeX_" + f.split("_")[1].split("-")[0] for f in FONTS_USED}
    assert set(fonts["loaded"]) <= families, fonts["loaded"]
    foreign = [u for u in d.requests + d.websockets if not is_local(u)]
    assert foreign == [] and d.blocked == []
    katex = [u for u in d.requests if "/katex/" in u]
    if d.host == "served":               # from the package's static route, only used fonts
        assert any(u.endswith(f"/{STATIC_ROUTE}/katex/katex.min.js") for u in katex), katex
        assert any(u.endswith(f"/{STATIC_ROUTE}/katex/katex.min.css") for u in katex), katex
        woff = {u.rsplit("/", 1)[1].removesuffix(".woff2") for u in katex
                if u.endswith(".woff2")}
        assert woff and woff <= set(FONTS_USED), woff - set(FONTS_USED)
    else:                                # inline: nothing fetched for KaTeX
        assert katex == []


# --- the live numbers --------------------------------------------------------------------
def n(v: float, digits: int, sign: bool = False) -> str:
    """A number as the levels write it, computed here: fixed decimals, a true minus."""
    t = f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"
    return t.replace("-", "−")


def engine_at(sid: str, steps: int) -> dict:
    s = Session({sid: load_scenario(sid)})
    first = s.handle({"op": "load", "scenario": sid})
    r = s.handle({"op": "advance", "n": steps}) if steps else first
    return {"rec": r["record"], "rest": r["rest"], "kl_ceiling": first["kl_ceiling"],
            "loss0": first["record"]["loss"], "state": first["state"]}


def close(got: str | None, want, tol: float) -> bool:
    if want is None:
        return got is None
    return got is not None and math.isclose(float(got), float(want), rel_tol=tol, abs_tol=tol)


def test_every_live_number_on_every_level_is_the_engines(d):
    fresh(d)
    d.act("dpoSim.step(25)")
    d.pair(4).focus()                              # the row looked at: row 4
    d.idle()
    E = engine_at("align", 25)
    rec, i = E["rec"], 4
    row = E["state"]["rows"][i]
    a, b = float(row["votes_chosen"]), float(row["votes_rejected"])
    w = rec["pairs/weight"][i]
    p0 = rec["probs"][0]
    y = max(range(len(p0)), key=p0.__getitem__)
    prompt = load_scenario("align").prompts[0]
    assert len(prompt.replies[y]) > 48            # the favourite reply is cut, as in Python
    rest_text = d.text("rest")                     # the formula strip's sentence, same row
    assert rest_text
    want = {
        "scenario": ("Align to preferences", None),
        "step": ("25", 25),
        "beta": ("1", 1.0),
        "loss": (n(rec["loss"], 4), rec["loss"]),
        "loss0": (n(math.log(2), 4), E["loss0"]),
        "loss_name": ("−log σ(u)", None),
        "favourite": (f"Asked “{prompt.text}”, it now picks “"
                      f"{prompt.replies[y][:47].rstrip()}…” about {round(100 * p0[y])} "
                      "times in 100.", p0[y]),
        "row": ("4", 4),
        "votes": (f"{a:g}:{b:g}", None),
        "share": (n(a / (a + b), 2), a / (a + b)),
        "sigma": (n(rec["pairs/sigma"][i], 3), rec["pairs/sigma"][i]),
        "u": (n(rec["pairs/margin"][i], 3, sign=True), rec["pairs/margin"][i]),
        "weight_line": (f"its weight σ(−u) is {w:.3f}", w),
        "rest": (rest_text, E["rest"][i]["u"] if E["rest"][i]["kind"] == "rests" else None),
        "margin": (n(rec["rewards/margins"], 4, sign=True), rec["rewards/margins"]),
        "accuracy": (f"{100 * rec['rewards/accuracies']:.1f} %", rec["rewards/accuracies"]),
        "logps_chosen": (n(rec["logps/chosen"], 3), rec["logps/chosen"]),
        "logps_rejected": (n(rec["logps/rejected"], 3), rec["logps/rejected"]),
        "kl": (" and ".join(n(k, 4) for k in rec["kl"]), rec["kl"][0]),
        "kl0": (n(rec["kl"][0], 4), rec["kl"][0]),
        "ceil0": (n(math.log(4), 3), E["kl_ceiling"][0]),
    }
    assert f"{E['kl_ceiling'][0]:.12f}" == f"{math.log(4):.12f}"
    seen = set()
    for lv in T.LEVELS:
        tab(d, lv.id).click()
        for key in T.level_keys(lv):
            text, value = live(d, lv.id, key)
            assert text == want[key][0], (d.host, lv.id, key, text, want[key][0])
            assert close(value, want[key][1], d.tol), (d.host, lv.id, key, value, want[key][1])
            seen.add(key)
    assert seen == set(want)
    # a step changes only text and data-value: no node rebuilt, no formula redrawn
    tab(d, "college").click()
    d.page.evaluate("""() => {
        const sec = window.__e2e.q('section.learn:not(.learn-try)');
        window.__m = {sec, marks: [...sec.querySelectorAll('*')],
                      katex: [...sec.querySelectorAll('.katex')], changed: []};
        window.__m.obs = new MutationObserver(ms => { for (const m of ms) window.__m.changed.push(
            [m.type, m.attributeName]); });
        window.__m.obs.observe(sec, {subtree: true, childList: true, characterData: true,
                                     attributes: true}); }""")
    for _ in range(5):
        d.act("dpoSim.step(1)")
    same, changed = d.page.evaluate("""() => { const M = window.__m; M.obs.disconnect();
        const now = [...M.sec.querySelectorAll('*')];
        return [now.length === M.marks.length && now.every((e, i) => e === M.marks[i])
                && [...M.sec.querySelectorAll('.katex')].every((e, i) => e === M.katex[i]),
                M.changed]; }""")
    assert same
    assert changed and all(c[0] in ("characterData", "attributes", "childList")
                           for c in changed), changed
    assert {c[1] for c in changed if c[0] == "attributes"} <= {"data-value"}, changed
    assert live(d, "college", "step")[0] == "30"
    E30 = engine_at("align", 30)
    assert close(live(d, "college", "loss")[1], E30["rec"]["loss"], d.tol)


def test_the_loss_names_follow_the_settings(d):
    fresh(d, "school")
    d.act("dpoSim.set({adaptive_weight: false}); dpoSim.step(3)")
    assert live(d, "school", "loss_name") == ("the bare margin −u", None)
    tab(d, "phd").click()
    assert live(d, "phd", "weight_line")[0] == \
        "the weight is switched off, so it pulls with weight 1"
    if "ipo" in d.page.evaluate("() => window.__e2e.all('option').map(o => o.value)"):
        d.act("dpoSim.set({adaptive_weight: true, loss_type: 'ipo'})")
        sess = Session({"align": load_scenario("align")})     # the same commands, NumPy
        sess.handle({"op": "load", "scenario": "align"})
        sess.handle({"op": "set", "changes": {"adaptive_weight": False}})
        sess.handle({"op": "advance", "n": 3})
        r = sess.handle({"op": "set", "changes": {"adaptive_weight": True, "loss_type": "ipo"}})
        w = r["record"]["pairs/weight"][0]
        assert live(d, "phd", "weight_line")[0] == f"its weight under the ipo loss is {w:.3f}"
        assert close(live(d, "phd", "weight_line")[1], w, d.tol)
        tab(d, "school").click()
        assert live(d, "school", "loss_name") == ("the ipo loss", None)
    d.act("dpoSim.reset()")


# --- the keyboard --------------------------------------------------------------------------
def test_the_keyboard_reaches_and_switches_the_levels(d):
    fresh(d)
    kb = d.page.keyboard
    tab(d, "child").focus()
    kb.press("ArrowRight")
    expect(tab(d, "school")).to_have_attribute("aria-selected", "true")
    expect(panel(d, "school")).to_be_visible()
    expect(panel(d, "child")).to_be_hidden()
    kb.press("End")
    expect(tab(d, "researcher")).to_have_attribute("aria-selected", "true")
    kb.press("Home")
    expect(tab(d, "child")).to_have_attribute("aria-selected", "true")
    kb.press("ArrowLeft")
    expect(tab(d, "researcher")).to_have_attribute("aria-selected", "true")
    assert d.page.evaluate("() => window.__e2e.active().getAttribute('data-testid')") == \
        "learn-tab-researcher"
    kb.press("ArrowLeft")
    kb.press("Enter")
    expect(tab(d, "phd")).to_have_attribute("aria-selected", "true")
    d.idle()
    assert d.step() == 0                      # the page's → (step) did not fire
    expect(d.page.locator("[data-testid=learn-phd-step]")).to_have_text("0")
    # away from the tabs, → is the page's step again
    d.page.evaluate("() => { const a = window.__e2e.active(); if (a) a.blur(); }")
    kb.press("ArrowRight")
    d.wait_step(1)
    expect(d.page.locator("[data-testid=learn-phd-step]")).to_have_text("1")


# --- Try it --------------------------------------------------------------------------------
def test_try_it_ticks_each_step_when_done_and_restarts(d):
    fresh(d)
    status = d.page.locator("[data-testid=try-status]")
    assert done(d) == set()
    d.act("dpoSim.step(99)")
    assert done(d) == set()
    assert d.page.evaluate("() => window.__e2e.q('[data-testid=try-play-align]').className") \
        == "next"
    d.act("dpoSim.step(1)")
    assert done(d) == {"play-align"}
    expect(status).to_contain_text("Done: Load “Align to preferences”")
    d.flip(2).click()                                   # the learner's flip, by the button
    d.idle()
    expect(d.page.locator("[data-testid=try-flip] .check")).to_have_text("✓")
    assert done(d) == {"play-align", "flip"}
    d.act("dpoSim.set({beta: 3})")
    assert "beta" not in done(d)
    d.act("dpoSim.set({beta: 4})")
    assert "beta" in done(d)
    d.act("dpoSim.load('drop-sigma')")
    assert "drop-sigma" not in done(d)                  # loaded, loss 0 at step 0
    d.act("dpoSim.step(1)")
    assert "drop-sigma" in done(d)
    d.act("dpoSim.load('unanimous'); dpoSim.step(399)")
    assert "unanimous" not in done(d)
    d.act("dpoSim.step(1)")
    assert "unanimous" in done(d)
    ipo = d.page.evaluate("() => { const li = window.__e2e.q('[data-testid=try-ipo]');"
                          " return !!li && !li.hidden; }")
    if ipo:
        d.act("dpoSim.set({loss_type: 'ipo'})")
        assert done(d) == {s.id for s in T.TRY_STEPS}
        expect(status).to_contain_text(T.TRY_ALL_DONE)
    # restart: unticked; only a change seen from now on ticks again
    d.page.get_by_role("button", name=T.TRY_RESTART).click()
    assert done(d) == set()
    expect(status).to_have_text("")
    d.act("dpoSim.step(1)")
    assert done(d) == ({"unanimous", "ipo"} if ipo else {"unanimous"})
    d.act("dpoSim.reset()")


def test_scripted_flips_and_loaded_settings_are_not_the_learners(d):
    fresh(d)
    st = d.act("dpoSim.load('fix-label'); dpoSim.step(120)")   # its script flips row 1
    assert st["flipped"] == [1] and "flip" not in done(d)
    st = d.act("dpoSim.load('tight-leash')")                   # β 4, by loading
    assert st["beta"] == 4.0 and "beta" not in done(d)
    d.act("dpoSim.set({beta: 1})")
    assert "beta" not in done(d)
    d.act("dpoSim.flip(0); dpoSim.step(5); dpoSim.reset()")     # a reset undoes the flip
    assert done(d) == {"flip"}
    d.act("dpoSim.set({beta: 4.5})")
    assert done(d) == {"flip", "beta"}


def test_show_me_scrolls_to_its_part_marks_it_and_focuses_it(d):
    fresh(d)
    buttons = d.page.evaluate("() => window.__e2e.all('.dpo-point').map(b => "
                              "[b.dataset.testid, b.getAttribute('aria-label'), b.dataset.point,"
                              " b.hidden])")
    assert buttons == [[f"try-show-{s.id}", f"{T.TRY_SHOW}: {s.target_label}", s.target, False]
                       for s in T.TRY_STEPS if s.id != "ipo" or any(
                           b[0] == "try-show-ipo" for b in buttons)]
    for sid, part in (("beta", "beta"), ("flip", "pairs")):
        d.page.evaluate("() => window.scrollTo(0, 0)")
        d.page.locator(f"[data-testid=try-show-{sid}]").click()
        box = d.page.evaluate("""name => {
            const el = window.__e2e.q('.dpo-part-' + name);
            const r = el.getBoundingClientRect(), a = window.__e2e.active();
            return {top: r.top, bottom: r.bottom, H: window.innerHeight,
                    pointed: el.getAttribute('data-pointed'), outline: el.style.outlineStyle,
                    focusIn: !!a && el.contains(a) || (a && a.getRootNode().host
                             && el.contains(a.getRootNode().host)),
                    inShadow: el.getRootNode() !== document}; }""", part)
        assert box["pointed"] == "true" and box["outline"] == "solid", box
        assert box["top"] < box["H"] and box["bottom"] > 0, box      # scrolled into view
        assert box["focusIn"], box
        assert box["inShadow"] == (d.host == "served"), box
    d.wait_js("() => window.__e2e.q('.dpo-part-beta').getAttribute('data-pointed') === null",
              timeout=8000)


# --- playing -------------------------------------------------------------------------------
def test_while_playing_the_numbers_change_a_few_times_a_second(d):
    fresh(d, "school")
    d.page.evaluate("() => dpoSim.play()")
    expect(d.page.locator("[data-testid=learn-school-step]")).not_to_have_text("0")
    seen = d.page.evaluate("""ms => new Promise(done => {
        const el = window.__e2e.q('[data-testid=learn-school-step]');
        const seen = [], t0 = performance.now();
        (function tick() {
          const v = el.textContent;
          if (!seen.length || seen[seen.length - 1] !== v) seen.push(v);
          if (performance.now() - t0 < ms) requestAnimationFrame(tick); else done(seen);
        })(); })""", 2000)
    st = d.act("dpoSim.pause()")
    steps = [int(s) for s in seen]
    assert steps == sorted(steps) and steps[-1] - steps[0] >= 10, steps
    assert 2 <= len(steps) <= 2 * 4 + 2, steps          # at most ~4 updates a second
    d.settle()
    last = d.step()
    expect(d.page.locator("[data-testid=learn-school-step]")).to_have_text(str(last))
    assert last >= st["step"]


# --- accessibility, sizes, teacher mode (these reload the tab) ----------------------------
MIN_FONT = r"""() => {
  const E = window.__e2e, out = [];
  for (const el of E.all('section.learn *')) {
    if (el.closest('.katex') || el.closest('.dpo-sr')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.nodeValue.trim());
    if (!own || el.offsetParent === null) continue;
    out.push([parseFloat(getComputedStyle(el).fontSize), el.tagName + '.' + el.className]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out.slice(0, 3);
}"""


#: light and dark, laptop and phone: each pair once, split between the hosts
LOOKS = {"served": (((1280, 800), "light"), ((390, 844), "dark")),
         "offline": (((1280, 800), "dark"), ((390, 844), "light"))}


def test_no_serious_or_critical_accessibility_violation(d):
    for (w, h), theme in LOOKS[d.host]:
        d.page.set_viewport_size({"width": w, "height": h})
        open_learn(d, f"?theme={theme}")
        d.flip(0).click()                      # a ticked step and its announcement
        expect(d.page.locator("[data-testid=try-flip]")).to_have_attribute("data-done", "true")
        # every level's kinds of block on the first look; the formulas on the second
        for level in ("child", "college", "researcher") if w > 500 else ("college",):
            tab(d, level).click()
            expect(panel(d, level)).to_be_visible()
            found = axe_violations(d.page)
            assert found == [], (w, theme, json.dumps(found, indent=1))
            smallest = d.page.evaluate(MIN_FONT)
            assert smallest and smallest[0][0] >= 14, (w, theme, smallest)
        if w < 500:                             # a wide formula scrolls in its own box
            tab(d, "college").click()
            d.page.evaluate("() => document.fonts.ready.then(() => true)")
            d.wait_js("() => window.__e2e.all('[data-testid=learn-panel-college] .tex-display')"
                      ".some(x => x.getAttribute('tabindex') === '0')")
            wide = d.page.evaluate("""() => window.__e2e.all(
                '[data-testid=learn-panel-college] .tex-display')
                .map(x => [x.scrollWidth > x.clientWidth + 1, x.getAttribute('tabindex')])""")
            assert all((t == "0") == s for s, t in wide), wide
            sec = d.page.evaluate("() => { const r = window.__e2e.q('section.learn:not("
                                  ".learn-try)').getBoundingClientRect(); return r.right; }")
            assert sec <= w + 1, sec


def test_a_part_hidden_by_teacher_mode_has_no_show_me_button(d):
    open_learn(d, "?hide=beta,picker")
    hidden = d.page.evaluate("() => window.__e2e.all('.dpo-point').filter(b => b.hidden)"
                             ".map(b => b.dataset.point)")
    assert sorted(hidden) == ["beta", "picker", "picker", "picker"], hidden
    shown = d.page.evaluate("() => window.__e2e.all('.dpo-point').filter(b => !b.hidden)"
                            ".map(b => b.dataset.point)")
    assert "pairs" in shown and "beta" not in shown
    open_learn(d)
    assert d.page.evaluate("() => window.__e2e.all('.dpo-point').every(b => !b.hidden)")
