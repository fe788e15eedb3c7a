/* Speed of the offline page's engine (the JavaScript twin, app/offline/engine.js, through
 * app/ui/local_engine.js): microseconds per step of Simulation.advance and of the page's
 * {op: "advance", n: 1} reply, per scenario (CPU time, the best of BENCH_REPS runs), and
 * milliseconds for the sweep map of 200 steps (app/offline/stack.js, 4096 runs). A script, not a test: it prints numbers.
 *
 *   .venv/bin/python benchmarks/bench_twin.py      (writes the input, runs this file)
 *
 * stdin: {"table": settings.table_json(), "configs": {name: config line}}. */
import { createRequire } from "module";
import { readFileSync } from "fs";
import { makeSession } from "../app/ui/local_engine.js";

const require = createRequire(import.meta.url);
const DPO = require("../app/offline/engine.js");
const STACK = require("../app/offline/stack.js");
const input = JSON.parse(readFileSync(0, "utf8"));
const STEPS = Number(process.env.BENCH_STEPS || 20000);
const REPS = Number(process.env.BENCH_REPS || 15);

function best(fn, reps) {
  let top = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = process.cpuUsage();          // CPU time: the machine is shared
    fn();
    const t = process.cpuUsage(t0);
    top = Math.min(top, t.user + t.system);
  }
  return top;
}

const out = {};
for (const [name, cfg] of Object.entries(input.configs)) {
  const advance = best(() => {
    const sim = new DPO.Simulation(cfg, input.table);
    sim.advance(STEPS);
  }, REPS) / STEPS;
  const replies = best(() => {
    const s = makeSession(DPO, input.table, {});
    s.handle({op: "load", config: cfg});
    for (let i = 0; i < STEPS / 10; i++) s.handle({op: "advance", n: 1});
  }, REPS) / (STEPS / 10);
  const sweep = best(() => {
    STACK.sweepReply(new DPO.Simulation(cfg, input.table), {op: "sweep", steps: 200});
  }, 3) / 1e3;
  out[name] = {advance_us: advance, reply_us: replies, sweep200_ms: sweep};
}
process.stdout.write(JSON.stringify(out));
