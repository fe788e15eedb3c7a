/* Runs the page's controller and address (app/ui/controller.js, address.js, pin.js) over the
 * offline file's engine (app/ui/local_engine.js and the JavaScript twin), with no DOM, for
 * tests/test_pin.py; and the bars view (views/bars.js) in the small stand-in DOM.
 *
 * stdin: {"DATA": the page's data (app/interactive.py page_data), "jobs": [job, ...]};
 * stdout: one JSON list, one result per job.
 *
 * Jobs:
 * - {"kind": "page", "query": [[key, value], ...], "do": [[op, arg], ...]}: the link opened
 *   (applyQuery), then each op in turn: "pin", "unpin", "step" (n), "reset", "set"
 *   ({name: value}), "flip" (row), "load" (scenario id); after each op (and after the
 *   open) {pin, label, link, events, step, state}; pin: the pin's settings, flipped, step,
 *   probs, its link text and its charts' history as lists (null without a pin).
 * - {"kind": "pace", "speed": n, "gaps": [ms, ...]}: align loaded and played at `speed` with
 *   animation frames `gaps` ms apart (a stand-in requestAnimationFrame); the steps each frame
 *   took.
 * - {"kind": "bars", "view": view, "pin": {probs, step}, "label"}: views/bars.js mounted and
 *   updated once; per prompt the canvas's strokeRect calls [x, y, w, h, dashed] and its
 *   text calls [text, x, y].
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { installFakeDom } from "./js_fake_dom.mjs";
import { makeRules } from "../app/ui/rules.js";
import { createController } from "../app/ui/controller.js";
import { makeAddress } from "../app/ui/address.js";
import { makeLocalEngine } from "../app/ui/local_engine.js";
import { pinLabel } from "../app/ui/pin.js";
import { pyG } from "../app/ui/pyfmt.js";

const DPO = createRequire(import.meta.url)("../app/offline/engine.js");
globalThis.DPO = DPO;
const input = JSON.parse(readFileSync(0, "utf8"));
const fmt4g = (v) => (typeof v === "boolean" ? (v ? "on" : "off") : typeof v === "string" ? v : pyG(v, 4));

async function page(job) {
  const DATA = Object.assign({}, input.DATA, { presets: null });
  const byId = {};
  DATA.scenarios.forEach((c) => { byId[c.scenario] = c; });
  const rules = makeRules(DATA.settings);
  const engine = makeLocalEngine(DPO, DATA.settings, byId);
  const ctl = createController(DATA, engine, rules, fmt4g, DPO.checkLive);
  const app = ctl.app;
  const address = makeAddress(DATA, ctl, rules);
  const seen = () => {
    const p = app.pin, a = (x) => Array.from(x);
    return {
      step: app.state.t, state: Object.assign({}, app.state, { rows: undefined }),
      link: address.queryString(address.toQuery()),
      events: app.events.map((e) => "step " + e.step + " · " + e.text),
      label: p ? pinLabel(p, app.state, rules.LIVE, DATA.texts, fmt4g) : null,
      pin: p ? { step: p.step, settings: p.settings, flipped: p.flipped, probs: p.probs, halted: p.halted,
                 text: address.pinText(p), hist: { step: a(p.hist.step), loss: a(p.hist.loss), chosen: a(p.hist.chosen),
                   rejected: a(p.hist.rejected), margin: a(p.hist.margin), kl: p.hist.kl.map(a) } } : null,
      live: { step: a(app.hist.step.subarray(0, app.hist.n)), loss: a(app.hist.loss.subarray(0, app.hist.n)) },
    };
  };
  const notices = await new Promise((resolve) => address.applyQuery(job.query || [], resolve));
  const out = [Object.assign(seen(), { notices: notices })];
  for (const [op, arg] of job.do || []) {
    if (op === "pin") ctl.pin();
    else if (op === "unpin") ctl.unpin();
    else if (op === "step") ctl.stepOnce(arg);
    else if (op === "reset") ctl.reset();
    else if (op === "set") ctl.setSettings(arg);
    else if (op === "flip") ctl.flip(arg);
    else if (op === "load") ctl.load(arg);
    else throw new Error("unknown op " + op);
    await ctl.idle();
    out.push(seen());
  }
  return out;
}

async function pace(job) {
  const DATA = Object.assign({}, input.DATA, { presets: null });
  const byId = {};
  DATA.scenarios.forEach((c) => { byId[c.scenario] = c; });
  const rules = makeRules(DATA.settings);
  const ctl = createController(DATA, makeLocalEngine(DPO, DATA.settings, byId), rules, fmt4g, DPO.checkLive);
  await new Promise((resolve) => makeAddress(DATA, ctl, rules).applyQuery([["scenario", "align"]], resolve));
  const frames = [];
  globalThis.requestAnimationFrame = (f) => frames.push(f);
  globalThis.cancelAnimationFrame = () => {};
  ctl.app.speed = job.speed;
  ctl.play();
  const steps = [];
  let t = 1000;
  for (const gap of job.gaps) {
    const before = ctl.app.state.t;
    frames.shift()(t);
    await ctl.idle();
    steps.push(ctl.app.state.t - before);
    t += gap;
  }
  ctl.pause();
  return steps;
}

async function bars(job) {
  installFakeDom();
  const { mountBars } = await import("../app/ui/views/bars.js");
  const box = globalThis.document.createElement("div");
  const pal = input.DATA.palettes.light;
  const ctx = { T: input.DATA.texts, DATA: input.DATA, pal: () => pal, pinLabel: () => job.label };
  const v = mountBars(box, ctx);
  const view = Object.assign({}, job.view, { pin: job.pin });
  v.update(view, "scenario");
  return box.querySelectorAll("canvas").map((c) => ({
    rects: c._g.ops.filter((o) => o[0] === "strokeRect").map((o) => o.slice(1)),
    texts: c._g.ops.filter((o) => o[0] === "text").map((o) => o.slice(1)),
    attr: c.getAttribute("data-pin-outlines"),
  }));
}

const out = [];
for (const job of input.jobs) {
  if (job.kind === "page") out.push(await page(job));
  else if (job.kind === "bars") out.push(await bars(job));
  else if (job.kind === "pace") out.push(await pace(job));
  else throw new Error("unknown job kind " + job.kind);
}
process.stdout.write(JSON.stringify(out));
