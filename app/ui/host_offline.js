/* The offline file's host: the page fed by the JavaScript twin of the engine (engine.js,
 * window.DPO), in this browser, with nothing fetched. */
import { startPage } from "./page.js";
import { makeLocalEngine } from "./local_engine.js";
import { makeOfflineRequest } from "./offline_requests.js";

// the file as it was loaded, before the page is drawn in it: "Download this page" splices
// a scenario into a copy of it (app/ui/offline_file.js)
const PRISTINE = "<!DOCTYPE html>\n" + document.documentElement.outerHTML;
const DATA = JSON.parse(document.getElementById("dpo-data").textContent);
const DPO = window.DPO;
const byId = {};
DATA.scenarios.forEach((c) => { byId[c.scenario] = c; });
DATA.presets = null;       // every scenario travels as its config
// the frontier and the sweep map: the twin's stacks of runs in Web Workers made from the
// page's own scripts (nothing fetched)
const text = (id) => document.getElementById(id).textContent;
let stack = null;
const engine = makeLocalEngine(DPO, DATA.settings, byId, (cmd, cb) => {
  if (cmd.op !== "frontier" && cmd.op !== "sweep") return false;
  if (!stack) stack = makeOfflineRequest(text("dpo-engine"), text("dpo-stack"), () => engine.session.sim());
  stack(cmd, cb);
  return true;
});
startPage(document.getElementById("dpo-root"), DATA, engine, {
  engineName: "javascript", checkLive: DPO.checkLive,
  shareable: true, writeAddress: true, note: null,
  setTitle: (t) => { document.title = t; },
  themed: (p) => { document.body.style.background = p.background; },
  check: (c) => new DPO.Simulation(c, DATA.settings),
  offlineHtml: () => Promise.resolve(PRISTINE),
});
