/* "Download this page": the offline file (app/interactive.py's page) with one scenario
 * first, made from the file's own HTML on both hosts (the offline host keeps its document
 * as it was loaded; the served host fetches the server's /offline). One splice: the data
 * script's JSON gets the scenario first (and opening on it), written so that no text in
 * it can end its <script> element or its line (as app/interactive.py's _json_safe). */

const OPEN = '<script type="application/json" id="dpo-data">';
// (written in pieces: this file is itself inside a <script> element of the offline file)
const CLOSE = "<" + "/script>";

/** JSON that cannot end the <script> element it sits in (JSON reads \/ as /, \u0021 as !)
 * and keeps U+2028/U+2029 as escapes. */
export function jsonSafe(text) {
  return text.replace(/<\//g, "<\\/").replace(/<!-{2}/g, "<\\u0021--")
    .replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function escHtml(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;"); }

/** The offline file's HTML with `cfg` (a page scenario: config, watch, steps) as its first
 * scenario and the one it opens on. */
export function withScenarioFirst(html, cfg) {
  const a = html.indexOf(OPEN);
  const b = a < 0 ? -1 : html.indexOf(CLOSE, a + OPEN.length);
  if (b < 0) throw new Error("this is not dpo-sim's offline file (no data script)");
  const data = JSON.parse(html.slice(a + OPEN.length, b));
  data.scenarios = [cfg].concat(data.scenarios.filter((c) => c.scenario !== cfg.scenario));
  data.initial = cfg.scenario;
  const head = html.slice(0, a + OPEN.length).replace(/<title>[^<]*<\/title>/,
    () => "<title>dpo-sim: " + escHtml(cfg.title) + "</title>");
  return head + jsonSafe(JSON.stringify(data)) + html.slice(b);
}
