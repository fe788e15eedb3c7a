/* Runs app/offline/engine.js on a batch of jobs for tests/test_js_engine.py.
 *
 * stdin: {"table": settings.table_json(), "jobs": [job, ...]} (a non-finite number written
 * as the string "__NaN__", "__Inf__" or "__-Inf__"); stdout: one JSON list with one result
 * per job, non-finite numbers written as NaN / Infinity / -Infinity, which Python's json
 * module reads back.
 *
 * Jobs:
 * - {"kind": "run", "config", "steps", "actions": {"t": [{"flip": i} | {"set": {...}}]},
 *    "optimum_at": [t, ...], "every_grad": bool}: reset, then for t = 0..steps advance
 *    (t > 0) and take the live actions of step t; every step's record, its stored-row
 *    metrics, the optimum at the asked steps, the gradient in the parameters (of every
 *    step with every_grad, else of the last); a Diverged ends the run (its step and
 *    message are returned); on a features model the rows' similarity at the end.
 * - {"kind": "calls", "config", "calls": [{"op": "flip"|"set"|"advance", "arg"}]}: each
 *    call's outcome (the error's name and message, or ok) and the state after it.
 * - {"kind": "construct", "config"}: the error a Simulation's construction raises, if any.
 * - {"kind": "rest", "config", "steps", "actions"}: as "run" without the records: where
 *    each row ends (Simulation.rest) after the steps and actions.
 * - {"kind": "fsum", "lists": [[...], ...]}, {"kind": "formatG", "values": [...]},
 *   {"kind": "repr", "values": [...]}.
 * - {"kind": "script", "config"}: engine.js run as a page's <script> would run it (no
 *   module, `self` the window): what it defines, and step 1 of the config's run.
 */
"use strict";

const path = require("path");
const DPO = require(path.join(__dirname, "..", "app", "offline", "engine.js"));

function state(sim) {
  return {t: sim.t, flipped: sim.flipped, beta: sim.beta, learning_rate: sim.learning_rate,
    adaptive_weight: sim.adaptive_weight, loss_type: sim.loss_type,
    label_smoothing: sim.label_smoothing, actions: JSON.parse(JSON.stringify(sim.actions)),
    rows: sim.rows};
}

function outcome(fn) {
  try {
    fn();
    return {ok: true};
  } catch (e) {
    return {ok: false, name: e.name, message: e.message,
      step: e.step === undefined ? null : e.step,
      is_diverged: e instanceof DPO.Diverged, is_setting: e instanceof DPO.SettingError};
  }
}

function run(job, table) {
  const sim = new DPO.Simulation(job.config, table);
  const out = {records: [], stored: [], optima: {}, error: null, grads: [],
    kl_ceiling: DPO.klCeiling(sim.logp_ref)};
  const optimumAt = new Set(job.optimum_at || []);
  for (let t = 0; t <= job.steps; t++) {
    if (t > 0) {
      try {
        sim.advance();
      } catch (e) {
        if (!(e instanceof DPO.Diverged)) throw e;
        out.error = {name: e.name, step: e.step, message: e.message, state: state(sim),
          record: sim.record};
        break;
      }
    }
    (job.actions[String(t)] || []).forEach(function (a) {
      if (a.flip !== undefined) sim.flip(a.flip);
      else sim.set(a.set);
    });
    out.records.push(sim.record);
    if (job.every_grad) out.grads.push(sim.record.grad);
    out.stored.push(DPO.storedRowMetrics(sim.record, sim.rows, sim));
    if (optimumAt.has(t)) {
      out.optima[String(t)] = Object.assign({}, sim.optimum());
      const phi = sim.optimumPhi();
      if (phi !== null) {
        out.optima[String(t)].phi = {finite: phi.finite, probs: phi.probs,
          log_probs: phi.log_probs, theta: phi.theta, reward: phi.reward,
          beta_log_z: phi.beta_log_z, heading: phi.heading, params: phi.params,
          coincide: phi.coincide};
      }
    }
  }
  if (!job.every_grad) out.grads.push(sim.record.grad);
  out.state = state(sim);
  if (sim.similarity) out.state.similarity = sim.similarity;
  return out;
}

function rest(job, table) {
  const sim = new DPO.Simulation(job.config, table);
  for (let t = 0; t <= job.steps; t++) {
    if (t > 0) sim.advance();
    (job.actions[String(t)] || []).forEach(function (a) {
      if (a.flip !== undefined) sim.flip(a.flip);
      else sim.set(a.set);
    });
  }
  return sim.rest().map(function (rr) {
    return Object.assign({claim: DPO.restClaim(rr)}, rr);
  });
}

function calls(job, table) {
  const sim = new DPO.Simulation(job.config, table);
  return job.calls.map(function (c) {
    const o = outcome(function () {
      if (c.op === "flip") sim.flip(c.arg);
      else if (c.op === "set") sim.set(c.arg);
      else sim.advance(c.arg);
    });
    o.state = state(sim);
    o.record = sim.record;
    return o;
  });
}

function main() {
  // non-finite numbers come as "__NaN__", "__Inf__", "__-Inf__" (JSON has none)
  const special = {__NaN__: NaN, __Inf__: Infinity, "__-Inf__": -Infinity};
  const input = JSON.parse(require("fs").readFileSync(0, "utf8"), function (key, value) {
    return typeof value === "string" && special.hasOwnProperty(value) ? special[value] : value;
  });
  const results = input.jobs.map(function (job) {
    if (job.kind === "run") return run(job, input.table);
    if (job.kind === "calls") return calls(job, input.table);
    if (job.kind === "rest") return rest(job, input.table);
    if (job.kind === "construct") {
      return outcome(function () { return new DPO.Simulation(job.config, input.table); });
    }
    if (job.kind === "fsum") {
      return job.lists.map(function (l) {
        const o = outcome(function () { return DPO.fsum(l); });
        if (o.ok) o.value = DPO.fsum(l);
        return o;
      });
    }
    if (job.kind === "formatG") return job.values.map((v) => DPO.formatG(v, job.precision));
    if (job.kind === "repr") return job.values.map(DPO.pyRepr);
    if (job.kind === "script") {
      const vm = require("vm");
      const code = require("fs").readFileSync(
        path.join(__dirname, "..", "app", "offline", "engine.js"), "utf8");
      const win = {};
      win.self = win;
      vm.createContext(win);
      vm.runInContext(code, win);
      const sim = new win.DPO.Simulation(job.config, input.table);
      return {globals: Object.keys(win).sort(), exports: Object.keys(win.DPO).sort(),
        record: sim.advance()};
    }
    throw new Error("unknown job kind " + job.kind);
  });
  const text = JSON.stringify(results, function (key, value) {
    if (typeof value === "number" && !Number.isFinite(value)) {
      return value !== value ? "__NaN__" : (value > 0 ? "__Inf__" : "__-Inf__");
    }
    return value;
  });
  process.stdout.write(text.replace(/"__NaN__"/g, "NaN").replace(/"__Inf__"/g, "Infinity")
    .replace(/"__-Inf__"/g, "-Infinity"));
}

main();
