/* The offline file's host: the page fed by the JavaScript twin of the engine (engine.js,
 * window.DPO), in this browser, with nothing fetched. */
import { startPage } from "./page.js";
import { makeLocalEngine } from "./local_engine.js";

const DATA = JSON.parse(document.getElementById("dpo-data").textContent);
const DPO = window.DPO;
const byId = {};
DATA.scenarios.forEach((c) => { byId[c.scenario] = c; });
DATA.presets = null;       // every scenario travels as its config
startPage(document.getElementById("dpo-root"), DATA, makeLocalEngine(DPO, DATA.settings, byId), {
  engineName: "javascript", formatG: DPO.formatG, pyFloatRepr: DPO.pyFloatRepr,
  shareable: true, writeAddress: true, note: null,
  setTitle: (t) => { document.title = t; },
  themed: (p) => { document.body.style.background = p.background; },
  check: (c) => new DPO.Simulation(c, DATA.settings),
});
