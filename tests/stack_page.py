"""A test page for the frontier and the sweep map as the offline file will run them: one
HTML file, every script inline (engine.js, stack.js, and app/ui's modules joined the way
app/bundle.py will join them: import lines dropped, ``export`` removed), the heavy requests
answered by ``makeOfflineRequest`` (workers from Blobs), a small stand-in for the page's
controller. Used by tests/test_ui_stack.py and benchmarks/bench_sweep_js.py.

``window.__h`` on the page: ``advance(n)``, ``flip(i)``, ``set(changes)``, ``load(config)``,
``hide(part)``, ``show(part)``, ``theme(name)``; ``requests`` (ops asked), ``replies`` (ops
answered), ``acts`` (the views' actions), ``workers`` (Workers made), ``view()``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

from dpo_sim.app.texts import STACK_TEXTS
from dpo_sim.app.theme import DARK, LIGHT
from dpo_sim.sim.settings import table_json

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["app/ui/dom.js", "app/ui/fmt.js", "app/ui/pyfmt.js", "app/ui/views/stackfmt.js",
           "app/ui/views/frontier.js", "app/ui/views/sweep.js", "app/ui/offline_requests.js"]
STYLES = ["app/ui/page.css", "app/ui/views/frontier.css", "app/ui/views/sweep.css"]


def bundle() -> str:
    """The modules as one script: import lines dropped, the ``export`` keyword removed."""
    out = []
    for m in MODULES:
        text = (ROOT / m).read_text()
        text = re.sub(r"^import\b[\s\S]*?;[ \t]*$", "", text, flags=re.M)
        text = re.sub(r"^export\s+", "", text, flags=re.M)
        out.append(f"// {m}\n{text}")
    return "\n".join(out)


def palette(p) -> dict:
    d = asdict(p)
    d["series"] = list(d["series"])
    return d


def css_vars(p) -> str:
    return (f":root {{ --bg: {p.background}; --text: {p.text}; --muted: {p.muted}; "
            f"--surface: {p.surface}; --border: {p.border}; --focus: {p.focus}; "
            f"--rejected: {p.rejected}; --font: system-ui, sans-serif; }}")


def _script_json(v) -> str:
    return json.dumps(v).replace("</", "<\\/")


def page(config: dict, width: int = 900) -> str:
    engine = (ROOT / "app/offline/engine.js").read_text()
    stack = (ROOT / "app/offline/stack.js").read_text()
    css = "\n".join((ROOT / s).read_text() for s in STYLES)
    harness = """
const ENGINE_TEXT = JSON.parse(document.getElementById("engine-text").textContent);
const STACK_TEXT = JSON.parse(document.getElementById("stack-text").textContent);
const IN = JSON.parse(document.getElementById("harness-data").textContent);
const h = { requests: [], replies: [], acts: [], workers: 0, hidden: [], pal: IN.pal.light };
const RealWorker = window.Worker;
window.Worker = function (url) { h.workers++; return new RealWorker(url); };
let sim = new DPO.Simulation(IN.config, IN.table);
let cfg = IN.config;
const offline = makeOfflineRequest(ENGINE_TEXT, STACK_TEXT, () => sim);
function view() {
  return { cfg: cfg, rows: sim.rows, flipped: sim.flipped, rec: sim.record, hidden: h.hidden,
    settings: { beta: sim.beta, learning_rate: sim.learning_rate,
      adaptive_weight: sim.adaptive_weight, loss_type: sim.loss_type,
      label_smoothing: sim.label_smoothing } };
}
const ctx = {
  T: IN.T, DATA: {}, pal: () => h.pal,
  act: (cmd) => { h.acts.push(cmd); },
  request: (cmd, cb) => {
    h.requests.push(cmd.op);
    offline(cmd, (reply) => {
      h.replies.push(cmd.op);
      h.last = Object.assign(h.last || {}, { [cmd.op]: reply });
      cb(reply);
    });
  },
};
const views = [mountFrontier(document.getElementById("frontier"), ctx),
  mountSweep(document.getElementById("sweep"), ctx)];
function all(why) { const v = view(); for (const x of views) x.update(v, why); }
h.view = view;
h.advance = (n) => { for (let i = 0; i < n; i++) { sim.advance(); all("step"); } return sim.t; };
h.flip = (i) => { sim.flip(i); all("structure"); };
h.set = (changes) => { sim.set(changes); all("structure"); };
h.load = (config) => {
  cfg = config;
  sim = new DPO.Simulation(config, IN.table);
  all("structure");
};
h.hide = (part) => { h.hidden = h.hidden.concat([part]); all("structure"); };
h.show = (part) => { h.hidden = h.hidden.filter((p) => p !== part); all("structure"); };
h.theme = (name) => { h.pal = IN.pal[name]; all("theme"); };
window.__h = h;
all("structure");
"""
    data = {"config": config, "table": table_json(), "T": STACK_TEXTS,
            "pal": {"light": palette(LIGHT), "dark": palette(DARK)}}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stack views</title>
<style>{css_vars(LIGHT)}
{css}</style></head>
<body><main style="width:{width}px">
<div id="frontier"></div><div id="sweep"></div></main>
<script type="application/json" id="engine-text">{_script_json(engine)}</script>
<script type="application/json" id="stack-text">{_script_json(stack)}</script>
<script type="application/json" id="harness-data">{_script_json(data)}</script>
<script>{engine}</script>
<script>{stack}</script>
<script>
"use strict";
{bundle()}
{harness}
</script>
</body></html>
"""


def write_page(path: Path, config: dict, **kw) -> Path:
    path.write_text(page(config, **kw))
    return path
