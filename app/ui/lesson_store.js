/* The lessons made on this page (the editor's Apply) or opened from a link (?lesson=):
 * each is a scenario of the page (its config, checked by checkDoc, the TOML files'
 * validator) with the document it came from and its link code, so Share gives
 * `?lesson=...` for it and Download TOML writes the document as it was written. */
import { checkDoc } from "./lesson.js";

/** The scenario id a custom lesson has on the page (one at a time: a new one replaces it). */
export const LESSON_ID = "lesson";

export function makeLessons(DATA) {
  const byId = new Map();
  /** The page's config of a document (throws the validator's ScenarioError). */
  function config(doc) {
    const cfg = checkDoc(doc, DATA.limits, DATA.settings, "the page's scenario", LESSON_ID);
    cfg.scenario = LESSON_ID;
    if (typeof cfg.watch !== "string") cfg.watch = typeof doc.watch === "string" ? doc.watch : "";
    if (!Number.isInteger(cfg.steps)) {
      const s = DATA.settings.find((x) => x.name === "steps");
      cfg.steps = Number.isInteger(doc.steps) ? doc.steps : s.default;
    }
    return cfg;
  }
  return {
    config,
    add(id, doc, code) { byId.set(id, { doc: doc, code: code }); },
    get(id) { return byId.get(id) || null; },
  };
}
