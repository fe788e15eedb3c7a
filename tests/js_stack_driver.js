/* Runs app/offline/stack.js on a batch of jobs for tests/test_js_stack.py.
 *
 * stdin: {"table": settings.table_json(), "jobs": [job, ...]}; stdout: one JSON list with
 * one result per job: {"reply": the reply, "ms": how long it took} or {"error": message}.
 *
 * A job: {"config": the scenario's config line, "actions": [{"flip": i} | {"set": {...}}],
 * "advance": n, "cmd": {"op": "frontier" | "sweep", ...}, "via": "sim" | "snapshot"}: a
 * DPO.Simulation of the config, advanced n steps, the actions taken, then the command
 * answered from the simulation itself or from its snapshot through JSON (what a Worker is
 * sent).
 */
"use strict";

const path = require("path");
const DPO = require(path.join(__dirname, "..", "app", "offline", "engine.js"));
const STACK = require(path.join(__dirname, "..", "app", "offline", "stack.js"));

function one(job, table) {
  const sim = new DPO.Simulation(job.config, table);
  if (job.advance) sim.advance(job.advance);
  (job.actions || []).forEach(function (a) {
    if (a.flip !== undefined) sim.flip(a.flip);
    else sim.set(a.set);
  });
  const input = job.via === "snapshot" ? JSON.parse(JSON.stringify(STACK.snapshot(sim))) : sim;
  const t0 = process.hrtime.bigint();
  const fn = job.cmd.op === "sweep" ? STACK.sweepReply : STACK.frontierReply;
  try {
    const reply = fn(input, job.cmd);
    return {reply: reply, ms: Number(process.hrtime.bigint() - t0) / 1e6};
  } catch (e) {
    return {error: e.name + ": " + e.message};
  }
}

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = input.jobs.map(function (job) { return one(job, input.table); });
process.stdout.write(JSON.stringify(out));
