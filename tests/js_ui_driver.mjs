/* Runs the page's view modules (app/ui/) on a batch of jobs, for tests/js_ui.py.
 *
 * stdin: {"T": the texts, "jobs": [job, ...]} (a non-finite number written as the string
 * "__NaN__", "__Inf__" or "__-Inf__"); stdout: one JSON list, one result per job, with
 * non-finite numbers written back the same way.
 *
 * Jobs:
 * - {"kind": "statements", "rests", "rows", "settings"}: rest_text.restStatements, each
 *   row's {kind, u (data-u or null), text};
 * - {"kind": "weights", "settings", "us"}: [w(u), net pull a·w(u) − b·w(−u) for a:b = 7:3]
 *   per u under the loss in force (rest_text.lossWeight, netPullAt);
 * - {"kind": "g", "values", "p"}, {"kind": "repr", "values"},
 *   {"kind": "fixed", "values", "digits", "sign"}: pyfmt.js's pyG and pyFloat, fmt.js's fixed;
 * - {"kind": "view", "mount": "formula" | "pulls" | "features" | "bars" | "rows" | "readouts"
 *   | "side" (with "settings": the settings table, and "intended": the controller's
 *   intended() settings, if any),
 *   "views": [view, ...], "T" (optional: the page's texts, for the views that read more of
 *   them than js_ui.UI_TEXT_NAMES)}: the view mounted
 *   in a small stand-in DOM (tests/js_fake_dom.mjs), updated with each view in turn (with
 *   its "why", "structure" by default); after each update {tree, model}: the box's tree
 *   ([tag, {attrs}, ...children], text as strings, a canvas's drawing as {drawn, clears})
 *   and what the view says it shows (its model(), if it has one), and how many elements
 *   the update created (made).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { installFakeDom, tree } from "./js_fake_dom.mjs";
import * as R from "../app/ui/rest_text.js";
import { fixed as fmtFixed } from "../app/ui/fmt.js";
import { pyFloat, pyG } from "../app/ui/pyfmt.js";
import { makeRules } from "../app/ui/rules.js";

// the page's Python number formats are the twin's (app/ui/pyfmt.js): loaded as both hosts do
globalThis.DPO = createRequire(import.meta.url)("../app/offline/engine.js");

const special = { __NaN__: NaN, __Inf__: Infinity, "__-Inf__": -Infinity };
const input = JSON.parse(readFileSync(0, "utf8"), (k, v) =>
  (typeof v === "string" && Object.prototype.hasOwnProperty.call(special, v) ? special[v] : v));
const T = input.T;

const MOUNTS = { formula: "mountFormula", pulls: "mountPulls", features: "mountFeatures",
                 bars: "mountBars", rows: "mountRows", readouts: "mountReadouts", side: "mountSide" };

async function view(job) {
  installFakeDom();
  const mod = await import("../app/ui/views/" + job.mount + ".js");
  const mount = mod[MOUNTS[job.mount]];
  const box = globalThis.document.createElement("div");
  const pal = job.pal || {};
  const ctx = { T: job.T || T, DATA: { font: "sans-serif" }, pal: () => pal, act() {}, request() {},
                ctl: { flip() {}, look() {}, order: [], scenarios: {}, app: {},
                       // the side view's controls show the run as it will be (job.intended)
                       ...(job.intended ? { intended: () => job.intended } : {}) },
                fmt4g: (v) => pyG(v, 4), pinLabel: () => null,
                rules: job.settings ? makeRules(job.settings) : null };
  const v = mount(box, ctx);
  return job.views.map((vw) => {
    const before = globalThis.document.made;
    v.update(vw, vw.why || "structure");
    return { tree: tree(box), model: v.model ? v.model() : null, made: globalThis.document.made - before };
  });
}

const out = [];
for (const job of input.jobs) {
  if (job.kind === "statements") out.push(R.restStatements(job.rests, job.rows, job.settings, T));
  else if (job.kind === "weights") {
    const loss = R.lossInForce(job.settings), beta = job.settings.beta;
    out.push(job.us.map((u) => [R.lossWeight(loss, beta, u), R.netPullAt(loss, beta, 7, 3, u)]));
  } else if (job.kind === "g") out.push(job.values.map((v) => pyG(v, job.p)));
  else if (job.kind === "fixed") out.push(job.values.map((v) => fmtFixed(v, job.digits, job.sign)));
  else if (job.kind === "repr") out.push(job.values.map(pyFloat));
  else if (job.kind === "view") out.push(await view(job));
  else throw new Error("unknown job kind " + job.kind);
}
process.stdout.write(JSON.stringify(out, (k, v) => (typeof v === "number" && !Number.isFinite(v)
  ? (v !== v ? "__NaN__" : v > 0 ? "__Inf__" : "__-Inf__") : v)));
