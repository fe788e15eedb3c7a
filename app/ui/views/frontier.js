/* The reward–KL frontier of one prompt (the DPO paper's Figure 2, in miniature): x is
 * KL(π ‖ π_ref), y the expected true reward E_π[r*]. The curve is π_b = π_ref·exp(r* / b) / Z
 * over b > 0 (sim/frontier.py); on it the current run as a point with its path, and where
 * DPO ends for a sweep of betas. r* is the scenario's true_reward if it states one, else the
 * Bradley–Terry fit to the votes; where that fit is not finite the view says so.
 *
 * Data: ctx.request({op: "frontier"}) (sim/frontier.py frontier_reply on the served page,
 * app/offline/stack.js frontierReply offline), asked again only when the scenario, the rows
 * (a flip) or the loss in force change, and then (after the scenario's first curves) once the
 * view is on screen; out of view the canvas is not drawn until it is scrolled to. Per step only
 * the run's point and path move, and
 * the readout: the curve's height at the run's KL is solved for (a bisection on b, as
 * frontier.frontier_reward does: a few microseconds). */

import { el, setText, term, fitCanvas, niceTicks, tickText, onScreen } from "../dom.js";
import { fill, fixed, small, shortText } from "../fmt.js";
import { stackFillNodes, stackGrouped, stackLegendItem, stackDrawKey }
  from "./stackfmt.js";
import { pyG } from "../pyfmt.js";

/** Path points kept (older ones roll off), as the Panel view. */
const FRONTIER_ROLLOVER = 4000;
const FRONTIER_H = 260;
/** A run within this of the curve is "on the curve" (the Panel view's rule). */
const FRONTIER_ON_TOL = 5e-3;

/** log softmax(lp + r / b) of one prompt. */
function frontierTilt(lp, r, b) {
  const K = lp.length;
  const row = lp.map((v, k) => v + r[k] / b);
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let norm = 0;
  for (let k = 0; k < K; k++) norm += Math.exp(row[k] - m);
  const ln = Math.log(norm);
  return row.map((v) => (v - m) - ln);
}

/** (KL(π_b ‖ π_ref), E_{π_b}[r*]) of the tilt at b. */
function frontierPointAt(lp, r, b) {
  const logp = frontierTilt(lp, r, b);
  let kl = 0;
  let e = 0;
  for (let k = 0; k < lp.length; k++) {
    const p = Math.exp(logp[k]);
    kl += p * (logp[k] - lp[k]);
    e += p * r[k];
  }
  return [Math.max(kl, 0), e];
}

/** The curve's height at KL kl: frontier.frontier_reward (the b with KL(π_b) = kl by
 *  bisection on log b, within the range frontier._b_range gives; best from kl_end on). */
export function frontierBest(p, kl) {
  if (!(kl < p.kl_end)) return p.best;
  if (kl <= 0) return p.start;
  const r = p.r;
  const lp = p.logp_ref;
  let top = -Infinity;
  let bottom = Infinity;
  for (const v of r) { top = Math.max(top, v); bottom = Math.min(bottom, v); }
  let below = -Infinity;
  for (const v of r) if (v < top) below = Math.max(below, v);
  const gap = below > -Infinity ? top - below : top - bottom;
  let lpTop = -Infinity;
  let lpBottom = Infinity;
  for (const v of lp) { lpTop = Math.max(lpTop, v); lpBottom = Math.min(lpBottom, v); }
  let lo = Math.log(gap / (30 + (lpTop - lpBottom) + Math.log(r.length))) - 5;
  let hi = Math.log((top - bottom) * 1e5) + 5;
  for (let i = 0; i < 200 && hi - lo >= 1e-14; i++) {
    const mid = 0.5 * (lo + hi);
    if (frontierPointAt(lp, r, Math.exp(mid))[0] > kl) lo = mid;
    else hi = mid;
  }
  return frontierPointAt(lp, r, Math.exp(0.5 * (lo + hi)))[1];
}

/** What the reply depends on besides the scenario: the rows as they stand (the flips) and
 *  the loss in force. Cheap: compared at every update (a scripted flip comes with a step). */
function frontierKey(view) {
  const s = view.settings || {};
  const lt = s.loss_type;
  return JSON.stringify([view.flipped || [], s.adaptive_weight, lt,
    lt === "robust" ? s.label_smoothing : 0]);
}

function frontierHidden(view) {
  const h = view.hidden;
  return !!h && (Array.isArray(h) ? h.includes("frontier") : !!h.frontier);
}

export function mountFrontier(box, ctx) {
  const T = ctx.T;
  const heading = el("h2", { class: "dpo-h", id: "dpo-frontier-h", text: T.FRONTIER_HEADING });
  const select = el("select", { class: "dpo-frontier-select" });
  const promptLabel = el("label", { class: "dpo-frontier-prompt" },
    el("span", { text: T.FRONTIER_PROMPT + " " }), select);
  const canvas = el("canvas", { class: "dpo-frontier", role: "img",
    "aria-label": T.FRONTIER_HEADING + ": " + T.FRONTIER_X + " against " + T.FRONTIER_Y });
  const keys = [
    stackLegendItem(T.FRONTIER_LEGEND.curve, null, "solid", 3),
    stackLegendItem(T.FRONTIER_LEGEND.run, null, "solid", 2),
    stackLegendItem(T.FRONTIER_LEGEND.sweep, null, "dotted", 4, "diamond"),
  ];
  const legend = el("div", { class: "dpo-legend dpo-stack-legend" }, ...keys);
  const readout = el("div", { class: "dpo-note dpo-frontier-readout",
    "data-testid": "frontier-readout" });
  const status = el("div", { class: "dpo-note", "data-testid": "frontier-status" });
  const note = el("div", { class: "dpo-note dpo-stack-note", text: T.FRONTIER_NOTE });
  const table = el("table", { class: "dpo-sr" });
  const root = el("section", { class: "dpo-card dpo-frontier-view",
    "aria-labelledby": "dpo-frontier-h" },
  heading, promptLabel, el("div", { class: "dpo-stack-plot" }, canvas), legend, readout,
  status, note, el("div", { class: "dpo-sr" }, table));
  box.append(root);

  let data = null;            // the reply in force
  let key = null;             // what it was asked for
  let asked = 0;              // the newest request (an older reply is dropped)
  let x = 0;                  // the prompt shown
  let path = [];              // {step, kl (P,), probs (P, K)} per step seen
  let last = null;            // the view last drawn
  let cfgSeen = null;

  let behind = false;          // a step not drawn while the view was out of view
  // scrolled to: the curves asked for if they are out of date, the canvas brought up to date
  const seen = onScreen(root, () => {
    if (!last || frontierHidden(last)) return;
    if (key !== null && frontierKey(last) !== key) ask(last);
    if (behind) { behind = false; draw(last); }
  });

  select.addEventListener("change", () => {
    x = Number(select.value) || 0;
    refreshText();
    if (last) { draw(last); writeReadout(last); }
  });

  function ask(view) {
    key = frontierKey(view);
    const id = ++asked;
    ctx.request({ op: "frontier" }, (reply) => {
      if (id !== asked || !reply || reply.error) return;
      data = reply;
      refreshText();
      if (last) { draw(last); writeReadout(last); }
    });
  }

  function prompts(view) {
    const ps = (view.cfg && view.cfg.prompts) || [];
    select.textContent = "";
    ps.forEach((p, i) => select.append(el("option", { value: String(i),
      text: (i + 1) + ": " + shortText(p.text || "", 48) })));
    x = 0;
    select.value = "0";
    promptLabel.hidden = ps.length <= 1;
  }

  /** The run's path: a point per step seen; a reset or a step back cuts it. */
  function record(view) {
    const rec = view.rec;
    if (!rec || !rec.kl) return;
    while (path.length && path[path.length - 1].step >= rec.step) path.pop();
    path.push({ step: rec.step, kl: rec.kl, probs: rec.probs });
    if (path.length > FRONTIER_ROLLOVER) path = path.slice(path.length - FRONTIER_ROLLOVER);
  }

  function rewardOf(pt, p) {
    let e = 0;
    const pr = pt.probs[x];
    for (let k = 0; k < p.r.length; k++) e += pr[k] * p.r[k];
    return e;
  }

  function writeReadout(view) {
    const p = data && data.prompts[x];
    if (!p || !p.finite || !path.length) {
      setText(readout, "");
      readout.removeAttribute("data-gap");
      return;
    }
    const now = path[path.length - 1];
    const kl = now.kl[x];
    const e = rewardOf(now, p);
    const best = frontierBest(p, kl);
    const below = best - e;
    const where = below < FRONTIER_ON_TOL ? T.FRONTIER_ON
      : fill(T.FRONTIER_BELOW, { gap: small(below), best: fixed(best, 3, true) });
    readout.setAttribute("data-gap", String(below));
    setText(readout, fill(T.FRONTIER_READOUT, { kl: small(kl),
      reward: fixed(e, 3, true), where }));
    void view;
  }

  /** The status line and the text alternative: when the data or the prompt change. */
  // rebuilt only when the reply or the prompt shown changes, not on every flip or setting
  let textKey = null;
  function refreshText() {
    if (textKey && textKey[0] === data && textKey[1] === x) return;
    textKey = [data, x];
    status.textContent = "";
    table.textContent = "";
    if (!data) return;
    const p = data.prompts[x];
    if (!p) return;
    const r = term("r*", T.FRONTIER_TIP_R);
    if (!p.finite) {
      status.className = "dpo-notice";
      status.setAttribute("data-testid", "frontier-none");
      status.append(...stackFillNodes(T.FRONTIER_NONE, { r }));
      return;
    }
    status.className = "dpo-note";
    status.setAttribute("data-testid", "frontier-status");
    const sw = data.sweep;
    let steps = stackGrouped(sw.steps);
    if (sw.steps < sw.scenario_steps) {
      steps = fill(T.FRONTIER_STEPS_OF, { steps, total: stackGrouped(sw.scenario_steps) });
    }
    status.append(...stackFillNodes(T.FRONTIER_STATUS, { r,
      source: T.FRONTIER_SOURCE[data.source] || data.source,
      extra: p.linked ? "" : T.FRONTIER_UNLINKED,
      lo: pyG(sw.beta[0]), hi: pyG(sw.beta[sw.beta.length - 1]), steps,
      lr: pyG(sw.lr_beta2) }));
    // the text alternative: the curve at a few KLs, the reference, the sweep's end points
    table.append(el("caption", { text: T.FRONTIER_HEADING + (data.prompts.length > 1
      ? " (" + T.FRONTIER_PROMPT + " " + (x + 1) + ")" : "") }));
    table.append(el("tr", null, el("th", { text: "" }), el("th", { text: T.FRONTIER_X }),
      el("th", { text: T.FRONTIER_Y })));
    const row = (name, kl, e) => table.append(el("tr", null, el("th", { text: name }),
      el("td", { text: small(kl) }), el("td", { text: fixed(e, 3, true) })));
    row("π_ref", 0, p.start);
    const n = p.kl.length;
    for (let i = 1; i <= 5; i++) {
      const j = Math.round(i * (n - 1) / 6);
      row(T.FRONTIER_LEGEND.curve, p.kl[j], p.reward[j]);
    }
    row(T.FRONTIER_LEGEND.curve + " (b → 0)", p.kl_end, p.best);
    sw.beta.forEach((b, i) => {
      if (sw.kl[i][x] !== null && sw.reward[i][x] !== null) {
        row("β = " + pyG(b), sw.kl[i][x], sw.reward[i][x]);
      }
    });
  }

  function draw(view) {
    const pal = ctx.pal();
    const [g, w, H] = fitCanvas(canvas, FRONTIER_H);
    const p = data && data.prompts[x];
    const left = 60;
    const right = 16;
    const top = 10;
    const bottom = 40;
    const W = w - left - right;
    const PH = H - top - bottom;
    const ceiling = p ? p.kl_ceiling : 1.5;
    const x0 = 0;
    const x1 = 1.04 * ceiling || 1;
    let lo = -1;
    let hi = 1;
    if (p && p.finite) {
      lo = Math.min(...p.r);
      hi = Math.max(...p.r);
      const pad = hi - lo > 1e-9 ? 0.06 * (hi - lo) : 1;
      lo -= pad;
      hi += pad;
    }
    const X = (v) => left + (v - x0) / (x1 - x0) * W;
    const Y = (v) => top + (1 - (v - lo) / (hi - lo)) * PH;
    const font = ctx.DATA ? ctx.DATA.font : "sans-serif";
    g.font = "15px " + font;
    g.lineWidth = 1;
    const yt = niceTicks(lo, hi, 4);
    const ys = yt.length > 1 ? yt[1] - yt[0] : 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const v of yt) {
      const yy = Math.round(Y(v)) + 0.5;
      g.strokeStyle = pal.grid; g.beginPath(); g.moveTo(left, yy); g.lineTo(left + W, yy); g.stroke();
      g.fillStyle = pal.text; g.fillText(tickText(v, ys), left - 5, yy);
    }
    const xt = niceTicks(x0, x1, 5);
    const xs = xt.length > 1 ? xt[1] - xt[0] : 1;
    g.textAlign = "center"; g.textBaseline = "top";
    for (const v of xt) {
      const xx = Math.round(X(v)) + 0.5;
      g.strokeStyle = pal.grid; g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, top + PH); g.stroke();
      g.fillStyle = pal.text; g.fillText(tickText(v, xs), X(v), top + PH + 4);
    }
    g.font = "13px " + font;
    g.fillStyle = pal.muted; g.fillText(T.FRONTIER_X, left + W / 2, top + PH + 22);
    g.save(); g.translate(10, top + PH / 2); g.rotate(-Math.PI / 2); g.textBaseline = "middle";
    g.fillText(T.FRONTIER_Y, 0, 0); g.restore();
    if (!p || !p.finite) return;
    g.save();
    g.beginPath(); g.rect(left, top - 8, W, PH + 16); g.clip();
    // the curve, and its flat part past kl_end
    g.strokeStyle = pal.margin; g.lineWidth = 3; g.setLineDash([]);
    g.beginPath();
    p.kl.forEach((k, i) => (i ? g.lineTo(X(k), Y(p.reward[i])) : g.moveTo(X(k), Y(p.reward[i]))));
    g.stroke();
    if (p.kl_end < ceiling) {
      g.lineWidth = 2; g.setLineDash([8, 5]);
      g.beginPath(); g.moveTo(X(p.kl_end), Y(p.best)); g.lineTo(X(ceiling), Y(p.best)); g.stroke();
      g.setLineDash([]);
    }
    // the run's path (at most about two points per pixel)
    if (path.length) {
      g.strokeStyle = pal.chosen; g.lineWidth = 2; g.globalAlpha = 0.8;
      const stride = Math.max(1, Math.floor(path.length / (2 * W)));
      g.beginPath();
      for (let i = 0; i < path.length; i += stride) {
        const xx = X(path[i].kl[x]);
        const yy = Y(rewardOf(path[i], p));
        if (i === 0) g.moveTo(xx, yy); else g.lineTo(xx, yy);
      }
      const end = path[path.length - 1];
      g.lineTo(X(end.kl[x]), Y(rewardOf(end, p)));
      g.stroke();
      g.globalAlpha = 1;
    }
    // the beta sweep's end points: diamonds, three labelled
    const sw = data.sweep;
    const n = sw.beta.length;
    const labelled = [0, Math.floor(n / 2), n - 1];
    g.font = "13px " + font;
    sw.beta.forEach((b, i) => {
      const k = sw.kl[i][x];
      const e = sw.reward[i][x];
      if (k === null || e === null) return;
      const cx = X(k);
      const cy = Y(e);
      g.beginPath(); g.moveTo(cx, cy - 6); g.lineTo(cx + 5, cy); g.lineTo(cx, cy + 6);
      g.lineTo(cx - 5, cy); g.closePath();
      g.fillStyle = pal.series[2]; g.fill();
      g.lineWidth = 1; g.strokeStyle = pal.text; g.stroke();
      if (labelled.includes(i)) {
        g.fillStyle = pal.muted; g.textBaseline = "top";
        g.textAlign = i === 0 ? "right" : "left";
        g.fillText("β=" + pyG(b), cx + (i === 0 ? -4 : 4), cy + 8);
      }
    });
    // the reference: a square at (0, E_ref[r*])
    g.fillStyle = pal.ref_tick; g.strokeStyle = pal.text; g.lineWidth = 1;
    g.fillRect(X(0) - 5, Y(p.start) - 5, 10, 10);
    g.strokeRect(X(0) - 5, Y(p.start) - 5, 10, 10);
    // the run now
    if (path.length) {
      const now = path[path.length - 1];
      g.beginPath(); g.arc(X(now.kl[x]), Y(rewardOf(now, p)), 7, 0, 2 * Math.PI);
      g.fillStyle = pal.chosen; g.fill();
      g.lineWidth = 2; g.strokeStyle = pal.text; g.stroke();
    }
    g.restore();
    void view;
  }

  function drawKeys() {
    const pal = ctx.pal();
    const colours = [pal.margin, pal.chosen, pal.series[2]];
    keys.forEach((k, i) => stackDrawKey(k.firstChild, colours[i], pal.text));
  }
  drawKeys();

  return {
    update(view, why) {
      last = view;
      if (view.cfg !== cfgSeen) {                  // a new scenario: its prompts, no path
        cfgSeen = view.cfg;
        prompts(view);
        path = [];
        data = null;
        key = null;
        refreshText();
      }
      record(view);
      if (frontierHidden(view)) return;
      if (why === "theme") drawKeys();
      // after the scenario's first curves, new ones are asked for while the view is on screen
      if (key === null || (frontierKey(view) !== key && seen.shown)) ask(view);
      if (seen.shown) draw(view);
      else behind = true;                          // drawn when scrolled to
      writeReadout(view);
    },
  };
}
