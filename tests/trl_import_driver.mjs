/* Runs app/ui/trl_import.js (the page's import of TRL preference data) on a batch of cases,
 * for tests/test_trl_import.py, which runs sim/trl_import.py on the same cases. Each
 * document is then checked and written as TOML by app/ui/lesson.js, as the page does.
 *
 * stdin: {"settings": table_json(), "limits": LIMITS, "cases": [{"text": str} or
 * {"bytes": base64}, with "options": {file, title, prompts, replies}], "modelKinds": true to
 * add each lesson's model kind as "model_kind"}; stdout:
 * {"constants": the module's limits and settings, "results": per case {"doc", "notes",
 * "dropped", "toml"} or {"error": message, "field", "rule"} (a TrlImportError), or
 * {"thrown": ...} (anything else: itself a finding)}. */
import { createRequire } from "module";
import { readFileSync } from "fs";
import { checkDoc, toToml } from "../app/ui/lesson.js";
import {
  decodeTrl, IMPORT_SETTINGS, MAX_DEPTH, MAX_FILE_BYTES, readTrl, TRL_LIMITS, TrlImportError,
} from "../app/ui/trl_import.js";

const require = createRequire(import.meta.url);
globalThis.DPO = require("../app/offline/engine.js");

const input = JSON.parse(readFileSync(0, "utf8"));
const out = input.cases.map((c) => {
  try {
    const text = c.bytes !== undefined
      ? decodeTrl(new Uint8Array(Buffer.from(c.bytes, "base64")), c.options.file) : c.text;
    const r = readTrl(text, c.options, input.limits);
    // what the page does next: check the document and offer it as TOML
    const config = checkDoc(r.doc, input.limits, input.settings, "import", "import");
    const res = { doc: r.doc, notes: r.notes, dropped: r.dropped,
      toml: toToml(r.doc, input.settings) };
    if (input.modelKinds) res.model_kind = config.model.kind;    // (issue 19: import makes tables)
    return res;
  } catch (e) {
    if (e instanceof TrlImportError) return { error: e.message, field: e.field, rule: e.rule };
    return { thrown: { name: e.name, message: e.message } };
  }
});
process.stdout.write(JSON.stringify({
  results: out, constants: { ...TRL_LIMITS, MAX_DEPTH, MAX_FILE_BYTES, SETTINGS: IMPORT_SETTINGS },
}));
