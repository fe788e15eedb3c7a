"""The pulls chart and the formula strip of app/ui/ in a real browser: the modules loaded
as they are (ES modules over HTTP, no bundle), mounted on a bare page with the palette's
custom properties, fed the view of a page state. They draw (the canvases have ink), raise
nothing, show the worked-out row and its rest statement, name the dot under the pointer
(and a click on it asks to look at its row), keep the hidden table to one refresh a second, and redraw for the dark palette."""

from __future__ import annotations

import functools
import http.server
import json
import math
import threading
from dataclasses import asdict

import pytest
from js_ui import finite_json, page_view, ui_texts

from browser import ROOT, free_port
from dpo_sim.app.interactive import _palette_css
from dpo_sim.app.theme import DARK, LIGHT
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

pytestmark = pytest.mark.browser

HARNESS = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<style>{css}</style>
<link rel="stylesheet" href="/{page_css}">
<link rel="stylesheet" href="/app/ui/views/pulls.css">
<link rel="stylesheet" href="/app/ui/views/formula.css">
</head><body><div id="pulls" style="width: 700px"></div><div id="formula"></div>
<script src="/app/offline/engine.js"></script>
<script type="module">
import {{ mountPulls }} from "/app/ui/views/pulls.js";
import {{ mountFormula }} from "/app/ui/views/formula.js";
const D = {data};
const special = {{ __NaN__: NaN, __Inf__: Infinity, "__-Inf__": -Infinity }};
const fix = (v) => (Array.isArray(v) ? v.map(fix) : v && typeof v === "object"
  ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fix(x)]))
  : (typeof v === "string" && v in special ? special[v] : v));
const views = fix(D.views);
let theme = "light";
const ctx = {{ T: D.T, DATA: {{ font: "sans-serif" }}, pal: () => D.pal[theme],
  act(cmd) {{ window.__acts.push(cmd); }}, request() {{}} }};
window.__acts = [];
const P = mountPulls(document.getElementById("pulls"), ctx);
const F = mountFormula(document.getElementById("formula"), ctx);
window.__show = (k, why) => {{ P.update(views[k], why); F.update(views[k], why); }};
window.__theme = (t) => {{ theme = t; window.__show(1, "theme"); }};
window.__ink = () => Array.from(document.querySelectorAll("#pulls canvas")).map((c) => {{
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }});
window.__pixel = (x, y) => Array.from(document.querySelector("#pulls canvas")
  .getContext("2d").getImageData(x, y, 1, 1).data);
window.__show(0, "structure");
window.__ready = true;
</script></body></html>"""


@pytest.fixture(scope="module")
def harness():
    sim = Simulation(load_scenario("align"), keep_history=False)
    sim.advance(40)
    first = page_view(sim)
    sim.advance(1)
    second = page_view(sim)
    data = {"T": ui_texts(), "pal": {"light": asdict(LIGHT), "dark": asdict(DARK)},
            "views": finite_json([first, second])}
    page_css = "app/ui/page.css"
    page = HARNESS.format(css=_palette_css(LIGHT, ":root"), data=json.dumps(data),
                          page_css=page_css)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/harness.html":
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

        def log_message(self, *a):
            pass

    port = free_port()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(Handler, directory=str(ROOT)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/harness.html", first, second
    httpd.shutdown()


def test_the_views_draw_and_speak_in_a_browser(browser, harness):
    url, first, second = harness
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_function("window.__ready === true")
    assert errors == []
    base, dots = page.evaluate("window.__ink()")
    assert base > 2000 and dots > 200, (base, dots)
    strip = page.locator(".dpo-formula")
    assert "Row 0 worked out" in strip.inner_text()
    rest = page.locator("[data-testid=rest]")
    assert rest.get_attribute("data-kind") == "rests"
    assert float(rest.get_attribute("data-u")) == pytest.approx(0.8472978603872037, abs=1e-12)
    assert "σ(u) = 0.700" in rest.inner_text()
    # the dot of row 0 under the pointer: its numbers
    box = page.locator("#pulls canvas.dpo-pulls-dots").bounding_box()
    lo, hi, w = -5.0, 5.0, box["width"] - 80
    u0 = first["rec"]["pairs/margin"][0]
    w0 = 1 / (1 + math.exp(u0))
    top = 1.1
    x = box["x"] + 60 + (u0 - lo) / (hi - lo) * w
    y = box["y"] + 8 + (1 - (w0 + 0.12) / (top + 0.12)) * (220 - 48)
    page.mouse.move(x, y)
    tip = page.locator(".dpo-pulls-tip")
    assert tip.is_visible() and tip.inner_text().startswith("row 0 · votes 7:3 · u +")
    page.mouse.click(x, y)                      # a click looks at the dot's row
    assert page.evaluate("window.__acts") == [{"op": "look", "row": 0}]
    # a step at once: the dots move, the hidden table waits for its second (one script, so
    # no time passes between the refresh and the step)
    cell = page.locator("[data-testid=pulls-table] tbody tr").first.locator("td").nth(1)
    assert cell.inner_text() == f"{u0:+.3f}"
    was, after = page.evaluate("""() => {
        const cell = document.querySelector('[data-testid=pulls-table] tbody tr td:nth-of-type(2)');
        window.__show(0, 'structure'); const was = cell.textContent;
        window.__show(1, 'step'); return [was, cell.textContent]; }""")
    assert was == after == f"{u0:+.3f}"
    u1 = f"{second['rec']['pairs/margin'][0]:+.3f}"
    assert tip.inner_text().startswith(f"row 0 · votes 7:3 · u {u1}")    # the tip follows
    page.wait_for_timeout(1200)
    assert cell.inner_text() == u1 != was
    page.screenshot(path=str(ROOT / ".pytest_cache" / "ui_views.png"), full_page=True)
    # the dark palette: the curve is redrawn in the dark palette's colour
    def curve_colour():
        return page.evaluate("""() => { const c = document.querySelector('#pulls canvas');
            const g = c.getContext('2d'), d = g.getImageData(0, 0, c.width, c.height).data;
            const seen = {}; for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255) {
              const k = d[i] + ',' + d[i + 1] + ',' + d[i + 2]; seen[k] = (seen[k] || 0) + 1; }
            return seen; }""")
    rgb = lambda h: ",".join(str(int(h[i:i + 2], 16)) for i in (1, 3, 5))  # noqa: E731
    assert rgb(LIGHT.margin) in curve_colour() and rgb(DARK.margin) not in curve_colour()
    page.evaluate("window.__theme('dark')")
    assert rgb(DARK.margin) in curve_colour() and rgb(LIGHT.margin) not in curve_colour()
    assert errors == []
    page.close()
