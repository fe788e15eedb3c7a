/* Runs the page's goals (app/ui/goals.js) and challenges on a batch of jobs, for
 * tests/test_goals.py.
 *
 * stdin: {"T": the page's CHALLENGE texts, "table": sim.settings.table_json(), "jobs": [...]};
 * stdout: one JSON list, one result per job (non-finite numbers as "__NaN__" etc. both ways).
 *
 * Jobs:
 * - {"kind": "holds", "cases": [{goal, view}]}: goalHolds(goal, goalFacts(view)) each;
 * - {"kind": "text", "goals": [...]}: goalText each;
 * - {"kind": "refusal", "challenge", "actions": [...]}: refusal(challenge, action) each, and
 *   lockReason(challenge);
 * - {"kind": "track", "challenge", "views": [view + {"run": k}]}: a challenge's tracker
 *   checked on each view in turn (views with the same run share one actions array, as one
 *   run of the page does; a new run is a load or a reset): the status after each;
 * - {"kind": "play", "config", "query": [[k, v], ...] (a link's parameters, optional),
 *   "take": false (the challenge not taken first; by default it is, as its button does),
 *   "script": [["take", on] | ["step", n] | ["each", n] (n single steps) | ["flip", i] | ["set", {...}] | ["reset"] | ["reset", {...}]]}:
 *   the page's controller (app/ui/controller.js) over the offline engine (local_engine.js,
 *   the twin), the page's challenge wiring (goals.js watchChallenges) and the challenge
 *   view (views/challenge.js) in a stand-in DOM, rendered after each action as page.js
 *   does; after each action {t, flipped, status, refusal, said, texts (the view's lines),
 *   goals [[mark, screen-reader word, data-holds, text]], actions}.
 * - {"kind": "speed", "config", "steps": n}: the time of one observe() (the evaluation of
 *   every goal) per step, over n steps: [mean, median, 99th percentile] in ms.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { installFakeDom } from "./js_fake_dom.mjs";
import * as G from "../app/ui/goals.js";
import { mountChallenge } from "../app/ui/views/challenge.js";
import { createController } from "../app/ui/controller.js";
import { makeLocalEngine } from "../app/ui/local_engine.js";
import { makeRules } from "../app/ui/rules.js";
import { makeAddress } from "../app/ui/address.js";

globalThis.DPO = createRequire(import.meta.url)("../app/offline/engine.js");
const DPO = globalThis.DPO;

const special = { __NaN__: NaN, __Inf__: Infinity, "__-Inf__": -Infinity };
const input = JSON.parse(readFileSync(0, "utf8"), (k, v) =>
  (typeof v === "string" && Object.prototype.hasOwnProperty.call(special, v) ? special[v] : v));
const W = input.T;

function track(job) {
  const tracker = G.makeChallenge(job.challenge, W);
  const runs = {};
  return job.views.map((v) => {
    const acts = runs[v.run] || (runs[v.run] = []);
    acts.length = 0;
    acts.push(...(v.actions || []));
    return tracker.check(Object.assign({}, v, { actions: acts }));
  });
}

function texts(node, out) {
  if (node.nodeType === 3) return out;
  if (node.tagName === "P" && !node.hidden) out.push([node.getAttribute("data-testid"), node.textContent]);
  for (const c of node.childNodes) texts(c, out);
  return out;
}

function makePage(config, query) {
  installFakeDom();
  const table = input.table;
  const DATA = { texts: { DIVERGED: "diverged", CHALLENGE: W }, scenarios: [config], presets: null,
                 settings: table, max_url_step: 100000, max_url_events: 500, hideable: [], initial: config.scenario };
  const rules = makeRules(table);
  const byId = { [config.scenario]: config };
  const engine = makeLocalEngine(DPO, table, byId);
  const fmt4g = (v) => (typeof v === "boolean" ? (v ? "on" : "off") : typeof v === "string" ? v : DPO.formatG(v, 4));
  const ctl = createController(DATA, engine, rules, fmt4g, DPO.checkLive);
  const app = ctl.app;
  G.watchChallenges(app, W);
  const box = globalThis.document.createElement("div");
  const view = mountChallenge(box, { T: DATA.texts });
  app.render = (why) => { app.observe(); view.update(app, why || "structure"); };
  const address = makeAddress(DATA, ctl, rules);
  let notices = null;
  address.applyQuery(query || [], (n) => {
    for (const a of app.actions) a.link = true;      // as page.js marks a link's actions
    notices = n;
    app.render("scenario");
  });
  return { ctl, app, box, notices: () => notices };
}

function shot(p) {
  const { app, box } = p;
  const s = app.challenge ? app.challenge.status : null;
  const lis = [];
  const walk = (n) => {
    if (n.nodeType !== 1) return;
    if (n.tagName === "LI") lis.push([n.childNodes[0].textContent, n.childNodes[1].textContent, n.getAttribute("data-holds"), n.childNodes[2].textContent]);
    n.childNodes.forEach(walk);
  };
  walk(box);
  const said = [];
  const findSaid = (n) => {
    if (n.nodeType !== 1) return;
    if (n.getAttribute("data-testid") === "challenge-said") said.push(n.textContent);
    n.childNodes.forEach(findSaid);
  };
  findSaid(box);
  return { t: app.state.t, flipped: app.state.flipped.slice(), status: s, refusal: app.refusal,
           said: said[0], texts: texts(box, []), goals: lis,
           hidden: box.hidden || box.classList.contains("dpo-empty"),
           actions: app.actions.map((a) => Object.assign({}, a)), notices: p.notices() };
}

async function play(job) {
  const p = makePage(job.config, job.query);
  await p.ctl.idle();
  await null;                  // the link's replay finishes a promise later
  // the challenge taken first (as the card's button does), unless the job says not
  if (job.take !== false && p.app.challenge) { G.takeChallenge(p.app, p.ctl, true); await p.ctl.idle(); }
  const out = [shot(p)];
  for (const [what, arg] of job.script) {
    if (what === "each") {             // n single steps, one screen update each; one shot
      for (let k = 0; k < arg; k++) p.ctl.stepOnce(1);
    } else if (what === "step") p.ctl.stepOnce(arg);
    else if (what === "flip") p.ctl.flip(arg);
    else if (what === "set") p.ctl.setSettings(arg);
    else if (what === "reset") p.ctl.reset(arg);
    else if (what === "take") G.takeChallenge(p.app, p.ctl, arg !== false);
    else throw new Error("unknown script action " + what);
    out.push(shot(p));
  }
  return out;
}

async function speed(job) {
  const p = makePage(job.config, []);
  await p.ctl.idle();
  await null;
  const times = [];
  for (let k = 0; k < job.steps; k++) {
    p.ctl.stepOnce(1);
    const t0 = process.hrtime.bigint();
    p.app.observe();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return [times.reduce((a, b) => a + b, 0) / times.length, times[Math.floor(times.length / 2)],
    times[Math.floor(times.length * 0.99)]];
}

const out = [];
for (const job of input.jobs) {
  if (job.kind === "holds") out.push(job.cases.map((c) => G.goalHolds(c.goal, G.goalFacts(c.view, null))));
  else if (job.kind === "text") out.push(job.goals.map((g) => G.goalText(g, W)));
  else if (job.kind === "refusal") {
    out.push({ reasons: job.actions.map((a) => G.refusal(job.challenge, a, W)), lock: G.lockReason(job.challenge, W) });
  } else if (job.kind === "track") out.push(track(job));
  else if (job.kind === "play") out.push(await play(job));
  else if (job.kind === "speed") out.push(await speed(job));
  else throw new Error("unknown job kind " + job.kind);
}
process.stdout.write(JSON.stringify(out, (k, v) => (typeof v === "number" && !Number.isFinite(v)
  ? (v !== v ? "__NaN__" : v > 0 ? "__Inf__" : "__-Inf__") : v)));
