"""The shared views of "Read at your level" and "Try it" (app/ui/views/learn.js, tryit.js),
their data (app/learn_texts.learn_json) and KaTeX on both hosts (app/katex_assets.py,
app/ui/katex.js).

- ``learn_json()`` holds every word and formula of the levels, the limitations and Try it,
  as data (no HTML), and gives back exactly the markup of ``learn_texts``;
- the offline inline KaTeX carries the fonts the formulas use, and its size is bounded;
- in Chromium, on a small harness page (the modules joined as app/bundle.py joins them, a
  view built from ``sim.protocol.Session``'s replies): what only a host other than this
  package's could give, each live value's fallbacks (no loss at step 0, the host's own
  rest sentence, no rows) and a view without a loss type setting (no IPO step); a Try-it
  step is not ticked by a load.

Everything a learner sees on the page (the words, every live number against the engine,
KaTeX and its fonts on both hosts, the keyboard, Try it, "Show me", axe) is checked on the
real page, both hosts, in tests/test_e2e_learn.py.
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
from dpo_sim.sim.protocol import Session
from dpo_sim.sim.scenario_io import load_scenario

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "app" / "ui"
#: The modules, in the order a bundle joins them.
#: the twin, whose Python number formats the page's modules use (app/ui/pyfmt.js)
ENGINE = UI.parent / "offline" / "engine.js"
MODULES = ["fmt.js", "pyfmt.js", "dom.js", "katex.js", "goals.js", "views/learn.js",
           "views/tryit.js"]


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
                      "target": s.target, "target_label": s.target_label,
                      "goal": s.goal}
    assert (J["heading"], J["show"], J["restart"], J["done"], J["next"], J["beta"]) == (
        T.TRY_HEADING, T.TRY_SHOW, T.TRY_RESTART, T.TRY_DONE, T.TRY_NEXT, T.TRY_BETA)
    F = learn_json()["facts"]
    assert F["steps"] == T.FACT_STEPS
    assert [f["text"] for f in F["runs"]] == [f.text for f in T.FACTS]
    assert [f["where"] for f in F["paper"]] == [f.where for f in T.PAPER]


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
    # two inert scripts (run by app/ui/katex.js when a formula is first drawn), whose text
    # cannot close its element early
    html = katex_inline()
    head = '<script type="text/plain" id="dpo-katex-css">'
    mid = '</script>\n<script type="text/plain" id="dpo-katex-js">'
    assert html.startswith(head) and html.endswith("</script>") and html.count(mid) == 1
    css_text, js_text = html[len(head):-len("</script>")].split(mid)
    assert "</script" not in css_text.lower() and "</script" not in js_text.lower()
    assert "@font-face" in css_text
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
                       "ensureKatexStyle"])
    return "(function () {\n" + "\n".join(out) + f"\nwindow.UI = {{{names}}};\n}})();\n"


def page_css(theme: str = "light") -> str:
    from dpo_sim.app.interactive import _palette_css
    from dpo_sim.app.theme import palette
    return (_palette_css(palette(theme), ":root, :host") + "\n"
            + (UI / "page.css").read_text() + "\n"
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
<script>{engine}</script>
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
        head=head, bundle=bundle(),
        engine=ENGINE.read_text(encoding="utf-8"), learn=json.dumps(learn_json()), mode=mode,
        css=json.dumps(page_css(theme)), parts=json.dumps(PARTS),
        katex_css=json.dumps(inline_css()) if mode == "shadow" else "null",
        katex_base='"http://dpo.test/katex/"' if mode == "served" else "null")


class Run:
    """A run of one scenario through ``sim.protocol.Session`` (the served page's engine),
    and the page's view of it (docs/ui.md), as the host would give it."""

    def __init__(self, sid: str = "align"):
        self.spec = load_scenario(sid)
        self.session = Session({sid: self.spec})
        first = self.session.handle({"op": "load", "scenario": sid})
        self.kl_ceiling, self.loss0 = first["kl_ceiling"], first["record"]["loss"]
        self.reply = first
        self.state = first["state"]

    def send(self, cmd: dict) -> Run:
        r = self.session.handle(cmd)
        assert "error" not in r, r
        self.reply = r
        self.state = r.get("state", self.state)
        return self

    def advance(self, n: int) -> Run:
        return self.send({"op": "advance", "n": n})

    def set(self, **changes) -> Run:
        return self.send({"op": "set", "changes": changes})

    def view(self, **kw) -> dict:
        st, r = self.state, self.reply
        view = {"cfg": self.spec.config(), "rows": st["rows"], "flipped": st["flipped"],
                "settings": {k: st[k] for k in ("beta", "learning_rate", "adaptive_weight",
                                                "loss_type", "label_smoothing")},
                "rec": r["record"], "rest": r["rest"], "focus": 0,
                "kl_ceiling": self.kl_ceiling, "loss0": self.loss0, "playing": False,
                "hidden": []}
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


# --- in Chromium ---------------------------------------------------------------------------
def n(v: float, digits: int, sign: bool = False) -> str:
    """A number as the levels write it, computed here: fixed decimals, a true minus."""
    t = f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"
    return t.replace("-", "−")


@pytest.mark.browser
def test_the_live_values_fallbacks_and_a_view_without_a_loss_type(open_harness):
    page = open_harness()
    # a host without a loss type setting (the first view decides): no IPO step
    v = Run().view()
    del v["settings"]["loss_type"]
    del v["rec"]["loss_type"]
    push(page, v)
    shown = page.evaluate("() => window.all('.learn-try li').filter(li => !li.hidden)"
                          ".map(li => li.dataset.testid)")
    assert shown == [f"try-{s.id}" for s in T.TRY_STEPS if s.id != "ipo"]
    page.evaluate("() => L.level('phd')")
    run = Run().set(adaptive_weight=False).advance(3)
    push(page, run.view())
    assert live(page, "phd", "weight_line")[0] == \
        "the weight is switched off, so it pulls with weight 1"
    # without the host's loss0, the loss of the last step-0 record seen
    page.evaluate("() => L.level('school')")
    run = Run()
    v0 = run.view()
    del v0["loss0"]
    push(page, v0)
    v5 = run.advance(5).view()
    del v5["loss0"]
    push(page, v5, "step")
    assert live(page, "school", "loss0")[0] == n(math.log(2), 4)
    assert live(page, "school", "step")[0] == "5"
    # the rest sentence from the host's restText when the engine's rest has no text
    page.evaluate("() => { window.ctx.restText = (v, i) => 'row ' + i + ' at step '"
                  " + v.rec.step; L.level('phd'); }")
    push(page, v5)
    rr = v5["rest"][0]
    assert live(page, "phd", "rest")[0] == "row 0 at step 5"
    assert float(live(page, "phd", "rest")[1]) == rr["u"] and rr["kind"] == "rests"
    # no rows: dashes, no weight
    page.evaluate("() => L.level('school')")
    push(page, dict(v5, rows=[], rest=[]))
    assert live(page, "school", "row") == ("–", None)
    assert page.errors == [] and page.blocked == []


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_numbers_are_written_as_python_writes_them():
    """The page's pyG and pyFloat (app/ui/pyfmt.js: the twin's formatG and pyFloatRepr,
    which learn.js writes with) are Python's format(v, "g") and repr(v), on awkward values
    and random ones."""
    rng = np.random.default_rng(3)
    values = [0.0, -0.0, 1.0, 25.0, 0.25, 4.0, 0.1 + 0.2, 1e-5, 1.5e-5, 0.0001, 123456.0,
              999999.5, 1234567.0, 1e16, 1.5e16, 123456789.0, -2.5, math.log(2), 1 / 3,
              2.0 ** -30, 7.0, 1e300, 5e-324]
    values += [float(v) for v in rng.normal(size=200) * 10.0 ** rng.integers(-8, 18, 200)]
    script = ("globalThis.DPO = require(process.argv[2]);"
              " import(process.argv[1]).then(m => { const vs = JSON.parse(require('fs')"
              ".readFileSync(0, 'utf8')).map(v => v === '-0' ? -0 : v);"
              " console.log(JSON.stringify(vs.map(v => [m.pyG(v), m.pyFloat(v)]))); });")
    payload = json.dumps(["-0" if (v == 0 and math.copysign(1, v) < 0) else v
                          for v in values])
    out = subprocess.run([NODE, "-e", script, (UI / "pyfmt.js").as_uri(),
                          str(ENGINE)],
                         input=payload, capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout)
    for v, (g, r) in zip(values, got):
        assert (g, r) == (f"{v:g}", repr(v)), v
