/* Python's number formats on the page: format(x, "g") / ".pg" and repr(float), as the CLI,
 * the links and the CSV write them. One implementation, the engine twin's (engine.js:
 * formatG, pyFloatRepr), which both hosts load (window.DPO); the page's modules use these. */

export function pyG(x, p = 6) { return globalThis.DPO.formatG(x, p); }

export function pyFloat(v) { return globalThis.DPO.pyFloatRepr(v); }
