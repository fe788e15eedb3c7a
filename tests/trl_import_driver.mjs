/* Runs app/ui/trl_import.js (the page's import of TRL preference data) on a batch of cases,
 * for tests/test_trl_import.py, which runs sim/trl_import.py on the same cases.
 *
 * stdin: {"cases": [{"text": str} or {"bytes": base64, "file": str}, with "options":
 * {file, title, prompts, replies}]}; stdout: {"constants": the module's limits and settings, "results": per case {"doc", "notes"} or
 * {"error": message, "field", "rule"} (a TrlImportError), or {"thrown": ...} (anything
 * else: itself a finding). */
import { readFileSync } from "fs";
import {
  decodeTrl, IMPORT_SETTINGS, MAX_DEPTH, MAX_FILE_BYTES, readTrl, TRL_LIMITS, TrlImportError,
} from "../app/ui/trl_import.js";

const input = JSON.parse(readFileSync(0, "utf8"));
const out = input.cases.map((c) => {
  try {
    const text = c.bytes !== undefined
      ? decodeTrl(new Uint8Array(Buffer.from(c.bytes, "base64")), c.options.file) : c.text;
    const r = readTrl(text, c.options);
    return { doc: r.doc, notes: r.notes, dropped: r.dropped };
  } catch (e) {
    if (e instanceof TrlImportError) return { error: e.message, field: e.field, rule: e.rule };
    return { thrown: { name: e.name, message: e.message } };
  }
});
process.stdout.write(JSON.stringify({
  results: out, constants: { ...TRL_LIMITS, MAX_DEPTH, MAX_FILE_BYTES, SETTINGS: IMPORT_SETTINGS },
}));
