/* Pin a run: what is on screen kept while the next run plays. A pin is the run's scenario,
 * its settings at its end, its actions (app.actions) and its last step, with a copy of its
 * charts' history and its last probabilities (the bars' outlines). Its label says what
 * differs from the run now on screen ("pinned: IPO", "pinned: β = 1"). The link carries a
 * pin as its settings, actions and step (app/ui/address.js); runs are deterministic, so
 * replaying them gives the same numbers. */

const HIST_COLS = ["step", "loss", "chosen", "rejected", "margin", "weight", "lossCode"];

/** A copy of the charts' history (app/ui/history.js) as it stands: its own arrays, exactly
 * as long as the run. */
export function copyHistory(h) {
  const c = { n: h.n, cap: h.n, P: h.P, kl: h.kl.map((a) => a.slice(0, h.n)) };
  for (const k of HIST_COLS) c[k] = h[k].slice(0, h.n);
  return c;
}

/** The index of the last row of history h at or before `step` (-1 if none). */
export function rowAtStep(h, step) {
  let lo = 0, hi = h.n - 1, at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (h.step[mid] <= step) { at = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return at;
}

/** The pin of the run in `app` now (the controller's state). */
export function makePin(app, live) {
  const settings = {};
  for (const k of live) settings[k] = app.state[k];
  return {
    id: app.id, cfg: app.cfg, step: app.state.t, settings: settings,
    flipped: app.state.flipped.slice().sort((a, b) => a - b),
    actions: app.actions.map((a) => Object.assign({}, a, a.set ? { set: Object.assign({}, a.set) } : {})),
    hist: copyHistory(app.hist), probs: app.rec.probs.map((row) => row.slice()),
    halted: !!app.halted,
  };
}

function words(T, fmt4g, name, v) {
  if (name === "loss_type") return T.PIN_LOSS[v] || String(v);
  if (name === "beta") return T.PIN_BETA.replace("{v}", fmt4g(v));
  if (name === "learning_rate") return T.PIN_LR.replace("{v}", fmt4g(v));
  if (name === "adaptive_weight") return T.PIN_WEIGHT[v ? 1 : 0];
  if (name === "label_smoothing") return T.PIN_EPS.replace("{v}", fmt4g(v));
  return name + " " + fmt4g(v);
}
function flipsWords(T, flipped) {
  if (!flipped.length) return T.PIN_NO_FLIPS;
  return T.PIN_FLIPS[flipped.length === 1 ? 0 : 1].replace("{rows}", flipped.join(", "));
}
/** ε only counts where one of the two runs uses the robust loss. */
function counts(name, a, b) {
  return name !== "label_smoothing" || a.loss_type === "robust" || b.loss_type === "robust";
}

/** What differs between the pinned run and the live one, as the pinned run has it:
 * "pinned: IPO, β = 1"; "pinned run" where their settings and flips are the same. `live`:
 * the run on screen ({settings..., flipped}); `names`: the live settings, in the table's
 * order. */
export function pinLabel(pin, live, names, T, fmt4g) {
  const out = [];
  for (const k of names) {
    if (pin.settings[k] !== live[k] && counts(k, pin.settings, live)) out.push(words(T, fmt4g, k, pin.settings[k]));
  }
  const mine = pin.flipped.join(","), theirs = live.flipped.slice().sort((a, b) => a - b).join(",");
  if (mine !== theirs) out.push(flipsWords(T, pin.flipped));
  return out.length ? T.PIN_LABEL.replace("{what}", out.join(", ")) : T.PIN_SAME;
}

/** The pinned run's settings in full, for its status line and the log. */
export function pinSettings(pin, names, T, fmt4g) {
  const out = [];
  for (const k of names) {
    if (k === "label_smoothing" && pin.settings.loss_type !== "robust") continue;
    out.push(words(T, fmt4g, k, pin.settings[k]));
  }
  if (pin.flipped.length) out.push(flipsWords(T, pin.flipped));
  return out.join(", ");
}
