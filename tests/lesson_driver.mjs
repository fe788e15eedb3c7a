/* Runs app/ui/lesson.js (the page's scenario document) on jobs from tests/test_lesson_js.py.
 *
 * stdin: {"settings": table_json(), "limits": LIMITS, "jobs": [{"kind": "check" | "toml" |
 * "encode" | "decode", "doc" | "text": ...} or {"kind": "edit", "doc", "ops": [[name of
 * an app/ui/editor_doc.js function, ...its arguments after the doc], ...]}, ...]}; stdout:
 * one JSON list of results, each {"ok": value} or {"error": message, "field", "rule"}. */
import { createRequire } from "module";
import { readFileSync } from "fs";
import { checkDoc, toToml, encodeLesson, decodeLesson, configToDoc } from "../app/ui/lesson.js";
import * as edit from "../app/ui/editor_doc.js";

const require = createRequire(import.meta.url);
globalThis.DPO = require("../app/offline/engine.js");

// NaN and the infinities travel as {"$float": "nan" | "inf" | "-inf"} (JSON has none)
const NONFINITE = { nan: NaN, inf: Infinity, "-inf": -Infinity };
const input = JSON.parse(readFileSync(0, "utf8"), (k, v) =>
  (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 &&
   typeof v.$float === "string" ? NONFINITE[v.$float] : v));
const { settings, limits } = input;
const out = [];
for (const job of input.jobs) {
  try {
    let ok;
    if (job.kind === "check") ok = checkDoc(job.doc, limits, settings, "t", "t");
    else if (job.kind === "toml") ok = toToml(job.doc, settings);
    else if (job.kind === "configToDoc") ok = configToDoc(job.config, settings);
    else if (job.kind === "encode") ok = await encodeLesson(job.doc);
    else if (job.kind === "decode") ok = await decodeLesson(job.text, limits, settings);
    else if (job.kind === "edit") {
      // the editor's edits (app/ui/editor_doc.js), [name, ...args] each, then the check
      for (const [name, ...args] of job.ops) edit[name](job.doc, ...args);
      let check;
      try { check = { ok: checkDoc(job.doc, limits, settings, "t", "t") }; } catch (e) {
        check = { error: e.message, field: e.field, rule: e.rule };
      }
      ok = { doc: job.doc, check, d: edit.featuresD(job.doc), kind: edit.modelKind(job.doc) };
    }
    else throw new Error("unknown job " + job.kind);
    out.push({ ok });
  } catch (e) {
    out.push({ error: e.message, field: e.field, rule: e.rule, name: e.name });
  }
}
process.stdout.write(JSON.stringify(out));
