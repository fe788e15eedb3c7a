/* The page's rules, decided once for both hosts: the settings table's checks (sim/settings.py
 * as JSON), which controls the page shows and in what order, the keyboard, and how much of
 * a run the log and the charts keep. */
import { pyFloat } from "./pyfmt.js";

/** The step log keeps the newest LOG_CAP events (the CSV and the link keep everything). */
export const LOG_CAP = 1000;
/** The charts over time keep every step of the run (thinned to about two points per pixel
 * when drawn), up to CHART_CAP steps; past it the oldest half is dropped. */
export const CHART_CAP = 200000;

export function makeRules(table) {
  const BY_NAME = {};
  table.forEach((s) => { BY_NAME[s.name] = s; });
  const controls = table.filter((s) => s.live || s.scope === "page");
  // the page's own settings (the speed) first, then the run's, in the table's order
  const CONTROLS = controls.filter((s) => s.scope === "page").concat(controls.filter((s) => s.scope !== "page"));
  const LIVE = CONTROLS.filter((s) => s.scope === "run").map((s) => s.name);
  const PAGE = CONTROLS.filter((s) => s.scope === "page").map((s) => s.name);
  const EVENT_SETTINGS = {};
  table.forEach((s) => { if (s.event) EVENT_SETTINGS[s.event] = s; });
  const EVENT_KINDS = Object.keys(EVENT_SETTINGS).concat(["flip"]);

  function parseSetting(s, text) {
    const t = String(text).trim();
    let v;
    const bad = () => new Error("must be " + s.rule + ", got '" + t.slice(0, 40) + "'");
    if (s.kind === "number") {
      v = t === "" ? NaN : Number(t);
      if (!Number.isFinite(v) || !(s.lo_open ? v > s.lo : v >= s.lo)
          || !(s.hi_open ? v < s.hi : v <= s.hi)) throw bad();
    } else if (s.kind === "whole") {
      if (!/^[+-]?\d+$/.test(t) || +t < s.lo || +t > s.hi) throw bad();
      v = parseInt(t, 10);
    } else if (s.kind === "flag") {
      const l = t.toLowerCase();
      if (["on", "true", "yes", "1"].includes(l)) v = true;
      else if (["off", "false", "no", "0"].includes(l)) v = false;
      else throw new Error("must be on or off (or true/false, yes/no, 1/0), got '" + t.slice(0, 40) + "'");
    } else {
      if (!s.options.includes(t)) throw bad();
      v = t;
    }
    return v;
  }
  /** A slider's value on its grid, written shortest. */
  function snap(name, value) {
    const s = BY_NAME[name];
    if (!s || s.kind !== "number" || !s.slider || typeof value === "boolean") return value;
    const step = s.slider[2];
    const k = Math.round(value / step);
    if (k && Math.abs(value - k * step) <= 1e-9 * step) return parseFloat((k * step).toPrecision(12));
    return value;
  }
  return { BY_NAME, CONTROLS, LIVE, PAGE, EVENT_SETTINGS, EVENT_KINDS, parseSetting, snap };
}

/** Python's repr of a setting's value, as links and the CLI write it. */
export function writeSetting(s, v) {
  if (s.kind === "number") return pyFloat(v);
  if (s.kind === "whole") return String(Math.trunc(v));
  if (s.kind === "flag") return v ? "on" : "off";
  return String(v);
}

/** The keyboard: Space plays or pauses, R resets, → steps; what a focused control does with
 * a key stays its own (Space on a button presses it, keys in a text field type). Returns
 * "toggle", "reset", "step" or null. */
export function keyAction(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  const t = e.composedPath ? e.composedPath()[0] : e.target;
  const tag = (t && t.tagName) || "";
  const type = (t && t.type) || "";
  if (tag === "TEXTAREA" || (tag === "INPUT" && type !== "range") || (t && t.isContentEditable)) return null;
  if (e.key === " " || e.key === "Spacebar") {
    if (tag === "BUTTON" || tag === "SELECT" || tag === "SUMMARY") return null;
    return "toggle";
  }
  if (e.key === "r" || e.key === "R") return tag === "SELECT" ? null : "reset";
  if (e.key === "ArrowRight") {
    return tag === "SELECT" || (tag === "INPUT" && type === "range") ? null : "step";
  }
  return null;
}
