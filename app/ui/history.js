/* The charts' history: one row per step, in typed arrays that grow by doubling, filled from
 * the engine's `series` rows [step, loss, chosen, rejected, margin, weight, loss code,
 * KL per prompt...]. A step computed again (a flip or a setting at the same step) replaces
 * its row. */
import { CHART_CAP } from "./rules.js";

const COLS = ["step", "loss", "chosen", "rejected", "margin", "weight", "lossCode"];

export function newHistory(P) {
  const cap = 1024;
  const h = { n: 0, cap: cap, P: P, kl: Array.from({ length: P }, () => new Float64Array(cap)) };
  for (const k of COLS) h[k] = new Float64Array(cap);
  return h;
}

function resize(h, cap, from) {
  for (const k of COLS) { const a = new Float64Array(cap); a.set(h[k].subarray(from, h.n)); h[k] = a; }
  h.kl = h.kl.map((old) => { const a = new Float64Array(cap); a.set(old.subarray(from, h.n)); return a; });
  h.n -= from;
  h.cap = cap;
}

export function pushSeries(h, row) {
  let i = h.n;
  if (i > 0 && h.step[i - 1] === row[0]) i -= 1;
  else if (i === h.cap) {
    if (h.cap >= CHART_CAP) resize(h, h.cap, h.cap >> 1);
    else resize(h, h.cap * 2, 0);
    i = h.n;
  }
  for (let k = 0; k < COLS.length; k++) h[COLS[k]][i] = row[k];
  for (let x = 0; x < h.P; x++) h.kl[x][i] = row[COLS.length + x];
  h.n = i + 1;
}
