"""The shared views of "Read at your level" and "Try it" (app/ui/views/learn.js, tryit.js),
their data (app/learn_texts.learn_json) and KaTeX on both hosts (app/katex_assets.py,
app/ui/katex.js).

- ``learn_json()`` holds every word and formula of the levels, the limitations and Try it,
  as data (no HTML), and gives back exactly the markup of ``learn_texts``;
- the offline inline KaTeX carries the fonts the formulas use, and its size is bounded;
- in Chromium, on a small harness page (the modules joined as app/bundle.py joins them, a
  view built from a real ``SimState``): the same headings, test ids and texts as the Panel
  views; every live number equal to a value computed here from the engine's record; only
  text changes on an update (no node is rebuilt, no formula redrawn); the tablist's keys;
  the Try-it steps tick as app/views/learn.TryIt's do; "Show me" finds its part inside
  shadow roots; KaTeX renders with its own fonts from a file:// page with the network off,
  inline, inside a shadow root, and from a served static folder.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.app import learn_texts as T
from dpo_sim.app.katex_assets import (
    FONTS_USED,
    KATEX_DIR,
    font_names,
    inline_css,
    katex_css,
    katex_inline,
    katex_js,
)
from dpo_sim.app.learn_texts import learn_json
from dpo_sim.app.state import SimState
from dpo_sim.app.views.formula import rest_text

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "app" / "ui"
#: The modules, in the order a bundle joins them.
MODULES = ["fmt.js", "dom.js", "katex.js", "views/learn.js", "views/tryit.js"]


# --- learn_json: the data ------------------------------------------------------------------
def _markup(parts: list[dict]) -> str:
    out = []
    for p in parts:
        if "text" in p:
            out.append(p["text"])
        elif "tex" in p:
            out.append(f"${p['tex']}$")
        elif "live" in p:
            out.append(f"[[{p['live']}]]")
        else:
            out.append(f"**{_markup(p['bold'])}**")
    return "".join(out)


def _block_markup(b: dict) -> str:
    if "display" in b:
        return f"$${b['display']}$$"
    if "heading" in b:
        return "### " + _markup(b["heading"])
    return _markup(b["para"])


def _strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)


def test_learn_json_gives_back_every_level_word_for_word():
    J = learn_json()
    assert json.loads(json.dumps(J, allow_nan=False)) == J
    assert [lv["id"] for lv in J["levels"]] == [lv.id for lv in T.LEVELS]
    for lj, lv in zip(J["levels"], T.LEVELS):
        assert (lj["label"], lj["title"]) == (lv.label, lv.title)
        assert [_block_markup(b) for b in lj["blocks"]] == [b.strip() for b in lv.blocks]
        assert lj["keys"] == list(dict.fromkeys(re.findall(r"\[\[(\w+)\]\]",
                                                           " ".join(lv.blocks))))
        assert lj["blocks"][-1].get("now") is True                   # the live paragraph
    assert [_markup(it) for it in J["limits"]["items"]] == list(T.LIMITATIONS)
    assert (J["heading"], J["intro"], J["levels_label"]) == (T.HEADING, T.INTRO,
                                                             T.LEVELS_LABEL)


def test_learn_json_has_no_html_and_marks_the_sentences():
    J = learn_json()
    for s in _strings(J):
        assert not re.search(r"<[A-Za-z/!]|&\w+;", s), s[:60]     # no tags, no entities
    sentences = set()
    for lv in J["levels"]:
        for b in lv["blocks"]:
            for p in b.get("para", []):
                if "live" in p and p.get("sentence"):
                    sentences.add(p["live"])
    assert sentences == set(T.SENTENCES)


def test_learn_json_try_it_and_the_figures():
    J = learn_json()["try"]
    assert [s["id"] for s in J["steps"]] == [s.id for s in T.TRY_STEPS]
    for sj, s in zip(J["steps"], T.TRY_STEPS):
        assert sj == {"id": s.id, "instruction": s.instruction, "see": s.see,
                      "target": s.target, "target_label": s.target_label}
    assert (J["heading"], J["show"], J["restart"], J["done"], J["next"], J["beta"]) == (
        T.TRY_HEADING, T.TRY_SHOW, T.TRY_RESTART, T.TRY_DONE, T.TRY_NEXT, T.TRY_BETA)
    F = learn_json()["facts"]
    assert F["steps"] == T.FACT_STEPS
    assert [f["text"] for f in F["runs"]] == [f.text for f in T.FACTS]
    assert [f["where"] for f in F["paper"]] == [f.where for f in T.PAPER]


def formulas() -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []

    def walk(parts):
        for p in parts:
            if "tex" in p:
                out.append((p["tex"], False))
            if "bold" in p:
                walk(p["bold"])

    J = learn_json()
    for lv in J["levels"]:
        for b in lv["blocks"]:
            if "display" in b:
                out.append((b["display"], True))
            else:
                walk(b.get("para") or b.get("heading"))
    for it in J["limits"]["items"]:
        walk(it)
    return out


# --- KaTeX inline: the offline file's copy -------------------------------------------------
def test_katex_inline_carries_the_used_fonts_as_data_urls():
    css = inline_css()
    assert "url(fonts/" not in css and "http" not in css
    assert set(FONTS_USED) <= set(font_names())
    assert css.count("@font-face") == len(FONTS_USED)
    assert css.count("data:font/woff2;base64,") == len(FONTS_USED)
    everything = inline_css(None)
    assert everything.count("data:font/woff2;base64,") == len(font_names()) == 20
    # the rules other than @font-face are KaTeX's own, unchanged
    strip = re.compile(r"@font-face\{[^}]*\}")
    assert strip.sub("", css) == strip.sub("", katex_css())
    html = katex_inline()
    assert html.startswith('<style id="dpo-katex-css">') and "</script" not in html[
        html.index('<script id="dpo-katex-js">') + 10:-len("</script>")]
    assert katex_js()[:200] in html


def test_katex_inline_adds_at_most_half_a_megabyte():
    used = len(katex_inline().encode())
    fonts = sum((KATEX_DIR / "fonts" / f"{f}.woff2").stat().st_size for f in FONTS_USED)
    assert used < 450_000, used
    assert used - len(katex_js().encode()) - len(katex_css().encode()) < fonts * 4 / 3 + 200


# --- the harness page ----------------------------------------------------------------------
def bundle() -> str:
    """The modules joined as app/bundle.py joins them: import lines dropped, no export."""
    out = []
    for name in MODULES:
        text = (UI / name).read_text(encoding="utf-8")
        text = re.sub(r"^import .*?;\n", "", text, flags=re.M | re.S)
        text = re.sub(r"^export ", "", text, flags=re.M)
        out.append(text)
    names = ", ".join(["mountLearn", "mountTryIt", "findPart", "ensureKatexFonts",
                       "ensureKatexStyle", "learnPyFloat",
                       "learnPyG"])
    return "(function () {\n" + "\n".join(out) + f"\nwindow.UI = {{{names}}};\n}})();\n"


def page_css(theme: str = "light") -> str:
    from dpo_sim.app.interactive import _palette_css
    from dpo_sim.app.theme import palette
    return (_palette_css(palette(theme), ":root, :host") + "\n"
            + (ROOT / "app" / "offline" / "page.css").read_text() + "\n"
            + (UI / "views" / "learn.css").read_text()
            # the host's box, as the served page's component has it
            + "\n:host { display: block; background: var(--bg); color: var(--text);"
              " font-family: var(--font); }")


PARTS = """<div class="dpo-part-picker"><select aria-label="scenario"><option>a</option>
</select></div><div style="height: 1500px"></div>
<div class="dpo-part-beta"><div role="slider" tabindex="0" aria-valuenow="1"
 aria-label="beta">β</div></div>"""

HARNESS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>learn harness</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{head}
</head><body>
<div id="page"></div>
<script>{bundle}</script>
<script>
const LEARN = {learn};
const MODE = {mode!r};
const page = document.getElementById("page");
let root = document, where = page;
if (MODE !== "inline") {{
  root = page.attachShadow({{mode: "open"}});
  const st = document.createElement("style");
  st.textContent = {css};
  root.appendChild(st);
  where = document.createElement("div");
  root.appendChild(where);
}} else {{
  const st = document.createElement("style");
  st.textContent = {css};
  document.head.appendChild(st);
}}
const tryBox = document.createElement("div"), learnBox = document.createElement("div");
const parts = document.createElement("div");
// the β part one shadow root deeper, as Panel nests its components
parts.innerHTML = {parts};
const deep = document.createElement("div");
deep.attachShadow({{mode: "open"}}).appendChild(parts.querySelector(".dpo-part-beta"));
parts.appendChild(deep);
parts.appendChild(Object.assign(document.createElement("div"), {{style: "height: 900px"}}));
where.append(tryBox, learnBox, parts);
const ctx = {{LEARN, root, pal: () => ({{focus: "#0b5fcc"}}), katexCss: {katex_css},
  katexBase: {katex_base}, restText: null}};
window.ctx = ctx;
window.T = UI.mountTryIt(tryBox, ctx);
window.L = UI.mountLearn(learnBox, ctx);
window.q = (sel) => root.querySelector(sel);
window.all = (sel) => [...root.querySelectorAll(sel)];
</script></body></html>"""


def harness(mode: str = "inline", theme: str = "light") -> str:
    """mode "inline": the offline file's way (KaTeX inline in the head, the views in the
    document); "shadow": the views in a shadow root, the stylesheet given as text; "served":
    in a shadow root, KaTeX fetched from the static folder at http://dpo.test/katex/."""
    head = katex_inline() if mode == "inline" else (
        f"<script>{katex_js()}</script>" if mode == "shadow" else "")
    return HARNESS.format(
        head=head, bundle=bundle(), learn=json.dumps(learn_json()), mode=mode,
        css=json.dumps(page_css(theme)), parts=json.dumps(PARTS),
        katex_css=json.dumps(inline_css()) if mode == "shadow" else "null",
        katex_base='"http://dpo.test/katex/"' if mode == "served" else "null")


def view_of(st: SimState, **kw) -> dict:
    """The page's view of a SimState (docs/ui.md), as the host would give it."""
    rec = st.record
    p = st.pairs
    rows = [{"prompt": int(p.prompt[i]), "chosen": int(p.chosen[i]),
             "rejected": int(p.rejected[i]), "votes_chosen": float(p.votes_chosen[i]),
             "votes_rejected": float(p.votes_rejected[i])} for i in range(len(p.prompt))]
    rest = []
    for i, rr in enumerate(st.rest):
        a, b = rows[i]["votes_chosen"], rows[i]["votes_rejected"]
        rest.append({"kind": rr.kind, "u": rr.u, "claim": rr.claim,
                     "text": rest_text(rr, a, b, st.loss, rec.beta, rec.learning_rate)})
    view = {"cfg": st.spec.config(), "rows": rows, "flipped": list(st.flipped),
            "settings": {"beta": st.beta, "learning_rate": st.learning_rate,
                         "adaptive_weight": st.adaptive_weight, "loss_type": st.loss_type,
                         "label_smoothing": st.label_smoothing},
            "rec": rec.to_dict(), "rest": rest, "focus": int(st.focus_row),
            "kl_ceiling": [float(v) for v in st.kl_ceiling], "loss0": float(
                st.history.first.loss), "playing": False, "hidden": list(st.hidden)}
    view.update(kw)
    return view


def js_view(view: dict) -> str:
    return json.dumps(view)          # NaN and Infinity: valid JavaScript


@pytest.fixture
def open_harness(browser, tmp_path):
    contexts = []

    def make(mode: str = "inline", reduced: bool = True, size=(1000, 800), theme="light"):
        ctx = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  is_mobile=size[0] < 500, has_touch=size[0] < 500,
                                  reduced_motion="reduce" if reduced else "no-preference")
        contexts.append(ctx)
        blocked = []
        if mode == "served":
            def serve(route):
                url = route.request.url
                if url == "http://dpo.test/harness.html":
                    route.fulfill(body=harness(mode, theme), content_type="text/html")
                    return
                rel = url.removeprefix("http://dpo.test/katex/")
                f = KATEX_DIR / rel
                if url.startswith("http://dpo.test/katex/") and f.is_file():
                    types = {".css": "text/css", ".js": "text/javascript",
                             ".woff2": "font/woff2"}
                    route.fulfill(body=f.read_bytes(), content_type=types[f.suffix])
                else:
                    blocked.append(url)
                    route.abort()
            ctx.route("**/*", serve)
        else:
            ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                      else (blocked.append(r.request.url), r.abort()))
            ctx.set_offline(True)
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.requests = []
        page.on("request", lambda r: page.requests.append(r.url))
        if mode == "served":
            page.goto("http://dpo.test/harness.html")
        else:
            f = tmp_path / f"harness-{mode}.html"
            f.write_text(harness(mode, theme), encoding="utf-8")
            page.goto(f.as_uri())
        page.wait_for_function("() => { const s = window.q('section.learn[data-katex]');"
                               " return s && s.getAttribute('data-katex') === 'ready'; }")
        page.errors, page.blocked = errors, blocked
        return page

    yield make
    for c in contexts:
        c.close()


def push(page, view: dict, why: str = "structure") -> None:
    page.evaluate(f"() => {{ const v = {js_view(view)}; L.update(v, {why!r}); "
                  f"T.update(v, {why!r}); }}")


def live(page, level: str, key: str) -> tuple[str, str | None]:
    return tuple(page.evaluate(
        f"() => {{ const e = window.q('[data-testid=learn-{level}-{key}]');"
        f" return [e.textContent, e.getAttribute('data-value')]; }}"))


def tab(page, level):
    return page.evaluate(f"() => window.q('[data-testid=learn-tab-{level}]')"
                         ".getAttribute('aria-selected')")


# --- in Chromium ---------------------------------------------------------------------------
def n(v: float, digits: int, sign: bool = False) -> str:
    """A number as the levels write it, computed here: fixed decimals, a true minus."""
    t = f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"
    return t.replace("-", "−")


@pytest.mark.browser
def test_the_levels_as_the_panel_view_shows_them(open_harness):
    page = open_harness()
    st = SimState()
    push(page, view_of(st))
    J = learn_json()
    got = page.evaluate("""() => ({
        heading: window.q('#learn-h').textContent,
        intro: window.q('section.learn:not(.learn-try) .learn-intro').textContent,
        tabs: window.all('[role=tab]').map(b => [b.dataset.testid, b.textContent,
              b.getAttribute('aria-selected'), b.tabIndex]),
        label: window.q('[role=tablist]').getAttribute('aria-label'),
        panels: window.all('[role=tabpanel]').map(p => [p.dataset.testid, p.hidden,
                p.querySelector('h3').textContent]),
        limits: window.all('.learn-limits li').length,
        limitsHeading: window.q('#learn-limits-h').textContent})""")
    assert got["heading"] == T.HEADING and got["intro"] == T.INTRO
    assert got["label"] == T.LEVELS_LABEL
    assert got["tabs"] == [[f"learn-tab-{lv.id}", lv.label, "true" if i == 0 else "false",
                            0 if i == 0 else -1] for i, lv in enumerate(T.LEVELS)]
    assert got["panels"] == [[f"learn-panel-{lv.id}", i != 0, lv.title]
                             for i, lv in enumerate(T.LEVELS)]
    assert got["limits"] == len(T.LIMITATIONS) and got["limitsHeading"] == T.LIMITS_HEADING
    # each level's words, formulas as their TeX, live values as the placeholders
    for lv in J["levels"]:
        text = page.evaluate(f"""() => {{
            const p = window.q('[data-testid=learn-panel-{lv["id"]}]');
            return [...p.children].slice(1).map(b => {{
              const c = b.cloneNode(true);
              for (const t of c.querySelectorAll('.tex')) t.replaceWith('$' + t.dataset.tex + '$');
              for (const s of c.querySelectorAll('[data-live]'))
                s.replaceWith('[[' + s.dataset.live + ']]');
              if (c.classList.contains('tex-display')) return '$' + c.dataset.tex + '$$';
              return (c.tagName === 'H4' ? '### ' : '') + c.textContent; }}); }}""")
        want = [re.sub(r"\*\*", "", b.strip()) for b in T.BY_ID[lv["id"]].blocks]
        got_blocks = [("$" + t) if t.endswith("$$") and t.startswith("$") else t
                      for t in text]
        assert got_blocks == want, lv["id"]
    # every formula rendered by KaTeX, with MathML, none left as source
    assert page.evaluate("() => window.all('.tex[data-tex]').every(t => t.querySelector("
                         "'.katex .katex-mathml math'))")
    assert page.errors == [] and page.blocked == []


@pytest.mark.browser
@pytest.mark.parametrize("level", [lv.id for lv in T.LEVELS])
def test_every_live_number_is_the_engines(open_harness, level):
    page = open_harness()
    st = SimState()
    st.advance(25)
    st.look(4)
    page.evaluate(f"() => L.level({level!r})")
    push(page, view_of(st))
    rec, i = st.record, 4
    a, b = float(st.pairs.votes_chosen[i]), float(st.pairs.votes_rejected[i])
    w = float(rec.row_weight[i])
    p0 = rec.probs[0]
    y = int(p0.argmax())
    prompt = st.spec.prompts[0]
    want = {
        "scenario": ("Align to preferences", None),
        "step": ("25", "25.0"),
        "beta": ("1", "1.0"),
        "loss": (n(rec.loss, 4), repr(float(rec.loss))),
        "loss0": (n(math.log(2), 4), repr(math.log(2))),
        "loss_name": ("−log σ(u)", None),
        "favourite": (f"Asked “{prompt.text}”, it now picks “"
                      f"{prompt.replies[y][:47].rstrip()}…” about {round(100 * p0[y])} "
                      "times in 100.", repr(float(p0[y]))),
        "row": ("4", "4.0"),
        "votes": (f"{a:g}:{b:g}", None),
        "share": (n(a / (a + b), 2), repr(a / (a + b))),
        "sigma": (n(rec.row_sigma[i], 3), repr(float(rec.row_sigma[i]))),
        "u": (n(rec.row_margin[i], 3, sign=True), repr(float(rec.row_margin[i]))),
        "weight_line": (f"its weight σ(−u) is {w:.3f}", repr(w)),
        "rest": (rest_text(st.rest[i], a, b, st.loss, rec.beta, rec.learning_rate),
                 repr(float(st.rest[i].claim))),
        "margin": (n(rec.rewards_margins, 4, sign=True), repr(float(rec.rewards_margins))),
        "accuracy": (f"{100 * rec.rewards_accuracies:.1f} %",
                     repr(float(rec.rewards_accuracies))),
        "logps_chosen": (n(rec.logps_chosen, 3), repr(float(rec.logps_chosen))),
        "logps_rejected": (n(rec.logps_rejected, 3), repr(float(rec.logps_rejected))),
        "kl": (" and ".join(n(k, 4) for k in rec.kl), repr(float(rec.kl[0]))),
        "kl0": (n(rec.kl[0], 4), repr(float(rec.kl[0]))),
        "ceil0": (n(math.log(4), 3), repr(float(st.kl_ceiling[0]))),
    }
    assert len(prompt.replies[y]) > 48            # the favourite reply is cut, as in Python
    keys = T.level_keys(T.BY_ID[level])
    for key in keys:
        assert live(page, level, key) == want[key], key
    # the Panel view's own values agree (text and number)
    from dpo_sim.app.views.learn import live_values
    for key, (text, value) in live_values(st, keys).items():
        got = live(page, level, key)
        assert got[0] == text and got[1] == (None if value is None else repr(float(value)))


@pytest.mark.browser
def test_other_losses_and_no_row_and_the_loss_at_step_0(open_harness):
    page = open_harness()
    page.evaluate("() => L.level('phd')")
    st = SimState()
    st.adaptive_weight = False
    st.advance(3)
    push(page, view_of(st))
    assert live(page, "phd", "weight_line")[0] == \
        "the weight is switched off, so it pulls with weight 1"
    page.evaluate("() => L.level('school')")
    assert live(page, "school", "loss_name") == ("the bare margin −u", None)
    st.adaptive_weight = True
    st.loss_type = "ipo"
    push(page, view_of(st))
    assert live(page, "school", "loss_name") == ("the ipo loss", None)
    page.evaluate("() => L.level('phd')")
    w = float(st.record.row_weight[0])
    assert live(page, "phd", "weight_line")[0] == f"its weight under the ipo loss is {w:.3f}"
    # without the host's loss0, the loss of the last step-0 record seen
    st2 = SimState()
    v0 = view_of(st2)
    del v0["loss0"]
    page.evaluate("() => L.level('school')")
    push(page, v0)
    st2.advance(5)
    v5 = view_of(st2)
    del v5["loss0"]
    push(page, v5, "step")
    assert live(page, "school", "loss0")[0] == n(math.log(2), 4)
    assert live(page, "school", "step")[0] == "5"
    # the rest statement from the host's restText when the engine's rest has no text
    page.evaluate("() => { window.ctx.restText = (v, i) => 'row ' + i + ' at step '"
                  " + v.rec.step; L.level('phd'); }")
    bare = dict(v5, rest=[{k: r[k] for k in ("kind", "u")} for r in v5["rest"]])
    push(page, bare)
    assert live(page, "phd", "rest") == ("row 0 at step 5", repr(v5["rest"][0]["claim"]))
    page.evaluate("() => L.level('school')")
    # no rows: dashes, no weight
    empty = dict(v5, rows=[], rest=[])
    push(page, empty)
    assert live(page, "school", "row") == ("–", None)
    assert page.errors == []


@pytest.mark.browser
def test_an_update_changes_text_only_and_never_redraws_a_formula(open_harness):
    page = open_harness()
    st = SimState()
    page.evaluate("() => L.level('college')")
    push(page, view_of(st))
    page.evaluate("""() => {
        window.marks = window.all('section *');
        window.katexNodes = window.all('.katex');
        window.changed = [];
        const obs = new MutationObserver(ms => { for (const m of ms) window.changed.push(
            [m.type, m.target.nodeType === 3 ? '#text' : m.target.getAttribute('data-live')
              || m.target.tagName, m.attributeName]); });
        for (const sec of window.all('section'))
          obs.observe(sec, {subtree: true, childList: true, characterData: true,
                            attributes: true});
    }""")
    for _ in range(5):
        st.advance(1)
        push(page, view_of(st), "step")
    same = page.evaluate("""() => {
        const now = window.all('section *');
        return now.length === window.marks.length && now.every((e, i) => e === window.marks[i])
          && window.all('.katex').every((e, i) => e === window.katexNodes[i]); }""")
    assert same
    changed = page.evaluate("() => window.changed")
    assert changed and all(c[0] in ("characterData", "attributes") for c in changed), changed
    assert {c[2] for c in changed if c[0] == "attributes"} <= {"data-value"}


@pytest.mark.browser
def test_the_keyboard_moves_between_the_levels(open_harness):
    page = open_harness()
    push(page, view_of(SimState()))
    page.evaluate("() => window.q('[data-testid=learn-tab-child]').focus()")
    seen = page.evaluate("""() => { window.docKeys = 0;
        document.addEventListener('keydown', () => window.docKeys++); }""")
    assert seen is None
    kb = page.keyboard
    kb.press("ArrowRight")
    assert tab(page, "school") == "true" and tab(page, "child") == "false"
    assert page.evaluate("() => window.q('[data-testid=learn-panel-child]').hidden")
    kb.press("End")
    assert tab(page, "researcher") == "true"
    kb.press("Home")
    assert tab(page, "child") == "true"
    kb.press("ArrowLeft")
    assert tab(page, "researcher") == "true"
    assert page.evaluate("() => (document.activeElement.shadowRoot ? document.activeElement"
                         ".shadowRoot.activeElement : document.activeElement).dataset.testid"
                         ) == "learn-tab-researcher"
    assert page.evaluate("() => window.docKeys") == 0          # the page's keys saw none
    page.evaluate("() => window.q('[data-testid=learn-tab-college]').click()")
    assert tab(page, "college") == "true"
    # switching shows the new level's numbers at once
    assert live(page, "college", "step")[0] == "0"


def done(page) -> set[str]:
    return set(page.evaluate("() => T.done()"))


@pytest.mark.browser
def test_try_it_ticks_as_the_panel_view_does(open_harness):
    """tests/test_learn.py's Try-it checks, on the JS view fed by a SimState."""
    page = open_harness()
    st = SimState()
    push(page, view_of(st))                          # the first state: the path starts
    assert done(page) == set()
    status = "() => window.q('[data-testid=try-status]').textContent"
    st.advance(99)
    push(page, view_of(st), "step")
    assert done(page) == set()
    assert page.evaluate("() => window.q('[data-testid=try-play-align]').className") == "next"
    st.advance(1)
    push(page, view_of(st), "step")
    assert done(page) == {"play-align"}
    assert page.evaluate("() => window.q('[data-testid=try-play-align]').dataset.done") == \
        "true"
    assert page.evaluate(status).startswith("Done: Load “Align to preferences”")
    st.flip(2)
    push(page, view_of(st, cause="flip"))
    assert done(page) == {"play-align", "flip"}
    assert page.evaluate("() => window.q('[data-testid=try-flip] .check').textContent") == "✓"
    st.beta = 3.0
    push(page, view_of(st, cause="set"))
    assert "beta" not in done(page)
    st.beta = 4.0
    push(page, view_of(st, cause="set"))
    assert "beta" in done(page)
    st.load("drop-sigma")
    push(page, view_of(st, cause="load"))
    assert "drop-sigma" not in done(page)
    st.advance(1)
    push(page, view_of(st), "step")
    assert "drop-sigma" in done(page)
    st.load("unanimous")
    push(page, view_of(st, cause="load"))
    st.advance(399)
    push(page, view_of(st), "step")
    assert "unanimous" not in done(page)
    st.advance(1)
    push(page, view_of(st), "step")
    assert "unanimous" in done(page)
    st.loss_type = "ipo"
    push(page, view_of(st, cause="set"))
    assert done(page) == {s.id for s in T.TRY_STEPS}
    assert page.evaluate(status).endswith(T.TRY_ALL_DONE)
    # restart: unticked, and only a change seen from now on ticks again
    page.evaluate("() => window.q('[data-testid=try-restart]').click()")
    assert done(page) == set() and page.evaluate(status) == ""
    assert page.evaluate("() => window.all('[data-done=true]').length") == 0
    push(page, view_of(st), "step")
    assert done(page) == {"ipo", "unanimous"}
    assert page.errors == []


@pytest.mark.browser
def test_scripted_flips_loads_and_resets_are_not_the_learners(open_harness):
    page = open_harness()
    st = SimState(scenario="fix-label")            # the script flips row 1 at step 100
    push(page, view_of(st))
    for _ in range(12):
        st.advance(10)
        push(page, view_of(st), "step")
    assert st.flipped == [1] and "flip" not in done(page)
    st.load("tight-leash")                          # beta 4, by loading (no cause given:
    v = view_of(st)                                 # a new scenario is a load)
    push(page, v)
    assert st.beta == 4.0 and "beta" not in done(page)
    st.beta = 1.0
    push(page, view_of(st, cause="set"))
    assert "beta" not in done(page)
    st.flip(0)
    push(page, view_of(st))                         # no cause: a flip mid-scenario
    assert "flip" in done(page)
    st.advance(5)
    push(page, view_of(st), "step")
    st.reset()                                      # flips undone by a reset: not a flip
    page.evaluate("() => T.restart()")
    push(page, view_of(st))
    assert done(page) == set()
    st.beta = 4.5
    push(page, view_of(st, cause="set"))
    assert done(page) == {"beta"}


@pytest.mark.browser
def test_try_it_without_a_loss_type_setting_leaves_out_ipo(open_harness):
    page = open_harness()
    v = view_of(SimState())
    del v["settings"]["loss_type"]
    del v["rec"]["loss_type"]
    push(page, v)
    shown = page.evaluate("() => window.all('.learn-try li').filter(li => !li.hidden)"
                          ".map(li => li.dataset.testid)")
    assert shown == [f"try-{s.id}" for s in T.TRY_STEPS if s.id != "ipo"]


@pytest.mark.browser
@pytest.mark.parametrize("mode", ["inline", "shadow"])
def test_show_me_finds_its_part_in_shadow_roots_marks_it_and_focuses_it(open_harness, mode):
    page = open_harness(mode)
    st = SimState()
    push(page, view_of(st))
    buttons = page.evaluate("() => window.all('.dpo-point').map(b => [b.dataset.testid,"
                            " b.getAttribute('aria-label'), b.dataset.point, b.hidden])")
    assert buttons == [[f"try-show-{s.id}", f"{T.TRY_SHOW}: {s.target_label}", s.target, False]
                       for s in T.TRY_STEPS]
    page.evaluate("() => window.scrollTo(0, 0)")
    page.evaluate("() => window.q('[data-testid=try-show-beta]').click()")
    box = page.evaluate("""() => { const el = UI.findPart(window.ctx, 'beta');
        const r = el.getBoundingClientRect();
        let a = document.activeElement;
        while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
        return {top: r.top, bottom: r.bottom, H: window.innerHeight,
                pointed: el.getAttribute('data-pointed'), outline: el.style.outlineStyle,
                role: a && a.getAttribute('role'), inShadow: el.getRootNode() !== document}; }""")
    assert box["pointed"] == "true" and box["outline"] == "solid" and box["inShadow"]
    assert box["top"] >= 0 and box["bottom"] <= box["H"], box
    assert box["role"] == "slider"
    page.wait_for_function("() => UI.findPart(window.ctx, 'beta')"
                           ".getAttribute('data-pointed') === null", timeout=8000)
    # a part hidden in teacher mode has no button; it comes back with the part
    push(page, view_of(st, hidden=["beta", "picker"]))
    hidden = page.evaluate("() => window.all('.dpo-point').filter(b => b.hidden)"
                           ".map(b => b.dataset.point)")
    assert sorted(hidden) == ["beta", "picker", "picker", "picker"]
    push(page, view_of(st, hidden=[]))
    assert page.evaluate("() => window.all('.dpo-point').every(b => !b.hidden)")


FONT_CHECK = """async () => {
    await document.fonts.ready;
    const k = window.q('[data-testid=learn-panel-college] .katex');
    const base = window.q('[data-testid=learn-panel-college] .katex .mord');
    const r = k.getBoundingClientRect();
    return {check: document.fonts.check('20px KaTeX_Main'),
            loaded: [...document.fonts].filter(f => f.status === 'loaded')
                    .map(f => f.family.replace(/"/g, '') + ' ' + f.style + ' ' + f.weight),
            family: getComputedStyle(k).fontFamily, width: r.width, height: r.height,
            mordFamily: getComputedStyle(base).fontFamily,
            fontsInHead: !!document.querySelector('head style#dpo-katex-fonts, '
                                                  + 'head style#dpo-katex-css')}; }"""


@pytest.mark.browser
@pytest.mark.parametrize("mode", ["inline", "shadow", "served"])
def test_katex_renders_with_its_own_fonts_network_off(open_harness, mode):
    """inline: the offline file's way, from file:// with the network off; shadow: the views
    in a shadow root, the font faces moved to the document's head; served: KaTeX fetched
    from a static folder (every other request aborted)."""
    page = open_harness(mode)
    page.evaluate("() => L.level('college')")
    got = page.evaluate(FONT_CHECK)
    assert got["check"] and got["fontsInHead"], got
    assert got["family"].startswith("KaTeX_Main") and got["width"] > 100, got
    assert got["loaded"], got
    assert {f.split()[0] for f in got["loaded"]} <= {"KaTeX_" + f.split("_")[1].split("-")[0]
                                                   for f in FONTS_USED}
    assert page.errors == [] and page.blocked == [], (page.errors, page.blocked)
    if mode == "shadow":
        # the rules other than @font-face are in the shadow root, once
        page.evaluate("() => { UI.ensureKatexStyle(window.ctx.root, 'x'); }")  # again: no-op
        assert page.evaluate("() => [...window.ctx.root.children].filter(c => c.matches("
                             "'style[data-dpo-katex]')).length") == 1
        assert page.evaluate("() => document.querySelectorAll('#dpo-katex-fonts').length") == 1
    if mode == "served":
        assert any(u.endswith("/katex/katex.min.css") for u in page.requests)
        assert any(u.endswith(".woff2") for u in page.requests)


@pytest.mark.browser
def test_every_formula_loads_only_the_fonts_listed(open_harness):
    """FONTS_USED is what the formulas need: with every font on offer (the served page),
    showing every level loads only fonts of that list."""
    page = open_harness("served")
    for lv in T.LEVELS:
        page.evaluate(f"() => L.level({lv.id!r})")
        page.evaluate("() => document.fonts.ready")
    fonts = {u.rsplit("/", 1)[1].removesuffix(".woff2") for u in page.requests
             if u.endswith(".woff2")}
    assert fonts == set(FONTS_USED), fonts ^ set(FONTS_USED)
    assert len(formulas()) > 30


@pytest.mark.browser
def test_while_playing_the_numbers_change_a_few_times_a_second_and_the_last_shows(
        open_harness):
    page = open_harness()
    page.evaluate("() => L.level('school')")
    st = SimState()
    push(page, view_of(st))
    views = []
    for _ in range(40):
        st.advance(1)
        views.append(view_of(st, playing=True))
    # 40 steps over 1 s, as a playing page sends them; count what the text went through
    seen = page.evaluate("""views => new Promise(done => {
        const el = window.q('[data-testid=learn-school-step]'), seen = [el.textContent];
        new MutationObserver(() => { if (seen[seen.length - 1] !== el.textContent)
                                       seen.push(el.textContent); })
          .observe(el, {subtree: true, characterData: true, childList: true});
        let i = 0;
        const timer = setInterval(() => {
          L.update(views[i], 'step');
          if (++i === views.length) { clearInterval(timer); setTimeout(() => done(seen), 400); }
        }, 25); })""", views)
    steps = [int(s) for s in seen]
    assert steps == sorted(steps) and steps[-1] == 40, steps        # the last one shows
    assert 2 <= len(steps) <= 2 * 4 + 2, steps
    assert live(page, "school", "sigma")[0] == n(st.record.row_sigma[0], 3)


MIN_FONT = r"""() => {
  const out = [];
  for (const el of window.all('section *')) {
    if (el.closest('.katex') || el.closest('.dpo-sr')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.nodeValue.trim());
    if (!own || el.offsetParent === null) continue;
    out.push([parseFloat(getComputedStyle(el).fontSize), el.tagName + '.' + el.className]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out.slice(0, 3);
}"""


@pytest.mark.browser
@pytest.mark.parametrize("mode, size, theme", [
    ("inline", (1280, 800), "light"), ("inline", (390, 844), "dark"),
    ("shadow", (1280, 800), "dark"), ("shadow", (390, 844), "light")])
def test_no_serious_or_critical_accessibility_violation(open_harness, mode, size, theme):
    from browser import axe_violations

    page = open_harness(mode, size=size, theme=theme)
    st = SimState()
    push(page, view_of(st))
    st.flip(0)
    push(page, view_of(st, cause="flip"))            # a ticked step and its announcement
    for level in ("child", "college", "researcher"):
        page.evaluate(f"() => L.level({level!r})")
        found = axe_violations(page)
        assert found == [], json.dumps(found, indent=1)
        smallest = page.evaluate(MIN_FONT)
        assert smallest and smallest[0][0] >= 14, smallest


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_numbers_are_written_as_python_writes_them():
    """learn.js's learnPyG and learnPyFloat are Python's format(v, "g") and repr(v) (the
    Panel view's texts and data-value), on awkward values and random ones."""
    rng = np.random.default_rng(3)
    values = [0.0, -0.0, 1.0, 25.0, 0.25, 4.0, 0.1 + 0.2, 1e-5, 1.5e-5, 0.0001, 123456.0,
              999999.5, 1234567.0, 1e16, 1.5e16, 123456789.0, -2.5, math.log(2), 1 / 3,
              2.0 ** -30, 7.0, 1e300, 5e-324]
    values += [float(v) for v in rng.normal(size=200) * 10.0 ** rng.integers(-8, 18, 200)]
    script = ("import(process.argv[1]).then(m => { const vs = JSON.parse(require('fs')"
              ".readFileSync(0, 'utf8')).map(v => v === '-0' ? -0 : v);"
              " console.log(JSON.stringify(vs.map(v => [m.learnPyG(v), m.learnPyFloat(v)]))); });")
    payload = json.dumps(["-0" if (v == 0 and math.copysign(1, v) < 0) else v
                          for v in values])
    out = subprocess.run([NODE, "-e", script, (UI / "views" / "learn.js").as_uri()],
                         input=payload, capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout)
    for v, (g, r) in zip(values, got):
        assert (g, r) == (f"{v:g}", repr(v)), v


@pytest.mark.browser
def test_on_a_phone_a_wide_formula_scrolls_in_its_own_box_and_takes_the_focus(open_harness):
    page = open_harness(size=(390, 844))
    push(page, view_of(SimState()))
    page.evaluate("() => L.level('college')")
    page.evaluate("() => document.fonts.ready")
    page.wait_for_function("() => window.all('[data-testid=learn-panel-college] .tex-display')"
                           ".some(d => d.getAttribute('tabindex') === '0')")
    wide = page.evaluate("""() => window.all('[data-testid=learn-panel-college] .tex-display')
        .map(d => [d.scrollWidth > d.clientWidth + 1, d.getAttribute('tabindex')])""")
    assert all((t == "0") == w for w, t in wide), wide
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
