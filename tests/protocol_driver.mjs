/* Runs the offline file's engine protocol (app/ui/local_engine.js's makeSession over the
 * JavaScript twin, app/offline/engine.js) on sequences of commands, for
 * tests/test_protocol.py, which sends the same commands to sim/protocol.py's Session.
 *
 * stdin: {"table": settings.table_json(), "scenarios": {id: config}, "sequences": [[cmd,
 * ...], ...]}; stdout: one JSON list, per sequence the list of replies (a fresh session per
 * sequence), non-finite numbers written as NaN / Infinity / -Infinity (Python's json
 * module reads them back). */
import { createRequire } from "module";
import { readFileSync } from "fs";
import { makeSession } from "../app/ui/local_engine.js";

const require = createRequire(import.meta.url);
const DPO = require("../app/offline/engine.js");

const input = JSON.parse(readFileSync(0, "utf8"));
const out = input.sequences.map((cmds) => {
  const session = makeSession(DPO, input.table, input.scenarios);
  return cmds.map((cmd) => {
    try {
      return session.handle(cmd);
    } catch (e) {          // a throw out of the session is itself a finding
      return { thrown: { name: e.name, message: e.message } };
    }
  });
});
const text = JSON.stringify(out, (key, value) => {
  if (typeof value === "number" && !Number.isFinite(value)) {
    return value !== value ? "__NaN__" : (value > 0 ? "__Inf__" : "__-Inf__");
  }
  return value;
});
process.stdout.write(text.replace(/"__NaN__"/g, "NaN").replace(/"__Inf__"/g, "Infinity")
  .replace(/"__-Inf__"/g, "-Infinity"));
