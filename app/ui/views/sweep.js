/* A map of β × learning rate: one run per cell (64 × 64 runs, sim/sweep.py), coloured by
 * what the run reached after the scenario's steps: the final KL, the final loss or the
 * distance to π*. Hatched cells are where plain gradient descent did not settle (measured
 * from the runs), and a dashed line is where the loss's curvature says that starts. A click
 * (or Enter on the focused map, after the arrow keys) loads a cell's β and learning rate and
 * restarts the run; a ring marks the settings in force.
 *
 * Data: ctx.request({op: "sweep"}) (sim/sweep.py sweep_reply on the served page, a Worker
 * running app/offline/stack.js offline), asked again only when the scenario, the rows (a
 * flip) or the loss in force change, and not while the part is hidden (then when it is
 * shown) or, after the scenario's first map, scrolled out of view (then when it is scrolled
 * to). Nothing changes per step: β and the learning rate move only the ring. */

import { el, setText, widthOf, onScreen } from "../dom.js";
import { fill } from "../fmt.js";
import { stackGrouped, STACK_CIVIDIS } from "./stackfmt.js";
import { pyG } from "../pyfmt.js";

const SWEEP_H = 340;
/** The text alternative's column names (new texts, not in the Panel view). */
const SWEEP_SR = {
  beta: "β",
  from: "unstable from learning rate (measured)",
  predicted: "predicted",
  at: "at the learning rate in force",
  none: "none in the grid",
};

/** sweep.cell_edges: edges centred geometrically on the values, outer ones as far out. */
export function sweepEdges(values) {
  const v = values.map(Math.log);
  const n = v.length;
  const out = [v[0] - (0.5 * (v[1] + v[0]) - v[0])];
  for (let i = 1; i < n; i++) out.push(0.5 * (v[i] + v[i - 1]));
  out.push(v[n - 1] + (v[n - 1] - 0.5 * (v[n - 1] + v[n - 2])));
  return out.map(Math.exp);
}

/** app/views/sweep.py scale: [low, high, log] of the colour scale of a quantity. */
export function sweepScale(name, values, stable, ceiling) {
  if (name === "kl") return [0, ceiling, false];
  let pick = values.filter((v, i) => v !== null && stable[i]);
  if (!pick.length) pick = values.filter((v) => v !== null);
  if (!pick.length) return [0, 1, name === "kl_opt"];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of pick) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (name === "kl_opt") {
    let pos = Infinity;
    for (const v of pick) if (v > 0) pos = Math.min(pos, v);
    const low = Math.max(pos < Infinity ? pos : 1e-16, 1e-16);
    return [low, Math.max(hi, low * 10), true];
  }
  return [lo, hi > lo ? hi : lo + 1, false];
}

/** The colour of a value on the scale (app/views/sweep.py colours); null: not finite. */
export function sweepColour(v, low, high, log, nan) {
  if (v === null || !Number.isFinite(v)) return nan;
  let t;
  if (log) t = (Math.log(Math.max(v, low)) - Math.log(low)) / (Math.log(high) - Math.log(low));
  else t = high > low ? (v - low) / (high - low) : 0;
  const n = STACK_CIVIDIS.length - 1;
  return STACK_CIVIDIS[Math.min(n, Math.max(0, Math.round(t * n)))];
}

function sweepMedian(a) {
  const s = a.slice().sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

/** app/views/sweep.py boundary_text: the measured edge and the curvature's prediction. */
export function sweepBoundaryText(d, T) {
  const total = d.diverged.length;
  let n = 0;
  for (let c = 0; c < total; c++) if (d.diverged[c] || d.oscillating[c]) n++;
  const lim = d.limit;
  if (lim.kind === null) {
    return n ? fill(T.SWEEP_NO_LIMIT_SOME, { n: stackGrouped(n), total: stackGrouped(total),
      why: lim.why }) : fill(T.SWEEP_NO_LIMIT_NONE, { why: lim.why });
  }
  if (lim.value === null) {
    const end = n ? fill(T.SWEEP_NO_REST_SOME, { n: stackGrouped(n) }) : T.SWEEP_NO_REST_NONE;
    return fill(T.SWEEP_NO_REST, { end });
  }
  const pred = fill(T.SWEEP_PRED[lim.kind], { v: pyG(lim.value, 3) });
  const seen = [];
  d.boundary.forEach((b, i) => {
    if (b !== null) seen.push(lim.kind === "lr*beta^2" ? b * d.beta[i] ** 2 : b);
  });
  const why = T.SWEEP_WHY[lim.kind];
  if (!seen.length) {
    return fill(T.SWEEP_ALL_OR_NONE, { where: n === total ? T.SWEEP_WHERE.all
      : T.SWEEP_WHERE.none, pred, still: d.moved ? "" : T.SWEEP_STILL, why });
  }
  return fill(T.SWEEP_BOUNDARY, {
    seen: fill(T.SWEEP_SEEN[lim.kind], { v: pyG(sweepMedian(seen), 3) }), pred, why });
}

/** The status line: the grid's size, its steps, the boundary. */
export function sweepStatusText(d, T) {
  const size = fill(T.SWEEP_SIZE, { b: d.beta.length, l: d.learning_rate.length,
    n: stackGrouped(d.beta.length * d.learning_rate.length) });
  const steps = d.steps < d.scenario_steps
    ? fill(T.SWEEP_STEPS_OF, { steps: stackGrouped(d.steps),
      total: stackGrouped(d.scenario_steps), max: stackGrouped(d.max_steps) })
    : fill(T.SWEEP_STEPS, { steps: stackGrouped(d.steps) });
  return fill(T.SWEEP_STATUS, { size, steps, boundary: sweepBoundaryText(d, T) });
}

function sweepKey(view) {
  const s = view.settings || {};
  const lt = s.loss_type;
  return JSON.stringify([view.flipped || [], s.adaptive_weight, lt,
    lt === "robust" ? s.label_smoothing : 0]);
}

function sweepHidden(view) {
  const h = view.hidden;
  return !!h && (Array.isArray(h) ? h.includes("sweep") : !!h.sweep);
}

/** The 1-2-5 values within [lo, hi] (log-axis ticks). */
function sweepLogTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * Math.pow(10, e);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

/** Powers of ten within [lo, hi], every k-th so that at most about n are left. */
function sweepDecades(lo, hi, n) {
  const a = Math.ceil(Math.log10(lo) - 1e-9);
  const b = Math.floor(Math.log10(hi) + 1e-9);
  const k = Math.max(1, Math.ceil((b - a + 1) / n));
  const out = [];
  for (let e = b; e >= a; e -= k) out.push(Math.pow(10, e));
  return out;
}

export function mountSweep(box, ctx) {
  const T = ctx.T;
  const heading = el("h2", { class: "dpo-h", id: "dpo-sweep-h", text: T.SWEEP_HEADING });
  const select = el("select", { class: "dpo-sweep-select" });
  for (const k of ["kl", "loss", "kl_opt"]) {
    select.append(el("option", { value: k, text: T.SWEEP_OPTIONS[k] }));
  }
  const label = el("label", { class: "dpo-sweep-quantity" },
    el("span", { text: T.SWEEP_COLOUR_BY + " " }), select);
  const canvas = el("canvas", { class: "dpo-sweep", tabindex: "0", role: "img",
    "aria-label": T.SWEEP_HEADING });
  const tip = el("div", { class: "dpo-sweep-tip", role: "status", hidden: "" });
  const status = el("div", { class: "dpo-note", "data-testid": "sweep-status",
    text: T.SWEEP_WAITING });
  const note = el("div", { class: "dpo-note dpo-stack-note", text: T.SWEEP_NOTE });
  const table = el("table", { class: "dpo-sr" });
  const root = el("section", { class: "dpo-card dpo-sweep-view", "aria-labelledby": "dpo-sweep-h" },
    heading, label, el("div", { class: "dpo-stack-plot" }, canvas, tip), status, note,
    el("div", { class: "dpo-sr" }, table));
  box.append(root);

  let data = null;
  let key = null;
  let asked = 0;
  let wanted = false;          // the data is out of date: asked for once the part is shown
  let last = null;
  let cfgSeen = null;
  let cursor = null;           // [i, j]: the keyboard's cell
  let geom = null;             // the layout last drawn

  function ask(view) {
    key = sweepKey(view);
    wanted = false;
    const id = ++asked;
    ctx.request({ op: "sweep" }, (reply) => {
      if (id !== asked || !reply || reply.error) return;
      data = reply;
      paint();
      refreshText();
    });
  }

  function settings() {
    const s = (last && last.settings) || {};
    const rec = (last && last.rec) || {};
    return [s.beta !== undefined ? s.beta : rec.beta,
      s.learning_rate !== undefined ? s.learning_rate : rec.learning_rate];
  }

  function nearest(values, v) {
    let best = 0;
    for (let i = 1; i < values.length; i++) {
      if (Math.abs(Math.log(values[i] / v)) < Math.abs(Math.log(values[best] / v))) best = i;
    }
    return best;
  }

  /** The status and the text alternative: when the data, the quantity or a setting change. */
  // the text alternative is rebuilt only when what it says changes: the reply, the colouring
  // or the learning rate's column (a flip or a step leaves its 260 cells alone)
  let textKey = null;
  function refreshText() {
    const name = select.value;
    const [, lrNow] = settings();
    const j = data && lrNow ? nearest(data.learning_rate, lrNow) : 0;
    const keyNow = [data, name, j];
    if (textKey && keyNow.every((v, k) => v === textKey[k])) return;
    textKey = keyNow;
    table.textContent = "";
    if (!data) { setText(status, T.SWEEP_WAITING); return; }
    setText(status, sweepStatusText(data, T));
    const L = data.learning_rate.length;
    table.append(el("caption", { text: T.SWEEP_HEADING + ": " + T.SWEEP_TITLES[name] + ", " +
      SWEEP_SR.at + " (" + pyG(data.learning_rate[j]) + ")" }));
    table.append(el("tr", null, el("th", { text: SWEEP_SR.beta }),
      el("th", { text: SWEEP_SR.from }), el("th", { text: SWEEP_SR.predicted }),
      el("th", { text: T.SWEEP_TITLES[name] })));
    const lim = data.limit;
    data.beta.forEach((b, i) => {
      let first = L;
      while (first > 0 && (data.diverged[i * L + first - 1] || data.oscillating[i * L + first - 1])) first--;
      const from = first < L ? pyG(data.learning_rate[first]) : SWEEP_SR.none;
      const pred = lim.kind === null || lim.value === null ? "–"
        : pyG(lim.kind === "lr*beta^2" ? lim.value / (b * b) : lim.value, 3);
      const v = data[name][i * L + j];
      table.append(el("tr", null, el("th", { text: pyG(b) }), el("td", { text: from }),
        el("td", { text: pred }),
        el("td", { text: v === null ? (name === "kl_opt" ? T.SWEEP_CELL.none
          : T.SWEEP_CELL.infinite) : pyG(v, 4) })));
    });
  }

  function hatch(pal) {
    const c = document.createElement("canvas");
    c.width = 9; c.height = 9;
    const g = c.getContext("2d");
    for (const [colour, width] of [[pal.background, 3], [pal.text, 1.2]]) {
      g.strokeStyle = colour; g.lineWidth = width;
      g.beginPath(); g.moveTo(0, 0); g.lineTo(9, 9); g.moveTo(9, 0); g.lineTo(0, 9); g.stroke();
    }
    return c;
  }

  let baseCanvas = null;
  let baseKey = null;
  let font = null;
  function paint() {
    const pal = ctx.pal();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, widthOf(canvas) || 400);
    if (canvas._w !== w || canvas._dpr !== dpr) {
      canvas._w = w; canvas._dpr = dpr;
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(SWEEP_H * dpr);
      canvas.style.height = SWEEP_H + "px";
    }
    const out = canvas.getContext("2d");
    out.setTransform(dpr, 0, 0, dpr, 0, 0);
    out.clearRect(0, 0, w, SWEEP_H);
    if (!font) font = ctx.DATA ? ctx.DATA.font : "sans-serif";
    const left = 60;
    const right = 92;
    const top = 8;
    const bottom = 42;
    const W = w - left - right;
    const PH = SWEEP_H - top - bottom;
    const betas = data ? data.beta : [0.05, 5];
    const lrs = data ? data.learning_rate : [0.01, 10];
    const be = sweepEdges(betas);
    const le = sweepEdges(lrs);
    const bx0 = Math.log(be[0]);
    const bx1 = Math.log(be[be.length - 1]);
    const ly0 = Math.log(le[0]);
    const ly1 = Math.log(le[le.length - 1]);
    const X = (v) => left + (Math.log(v) - bx0) / (bx1 - bx0) * W;
    const Y = (v) => top + (1 - (Math.log(v) - ly0) / (ly1 - ly0)) * PH;
    geom = { X, Y, left, top, W, PH, be, le };
    // the map itself (4,096 cells, the hatch, the colour bar, the axes) is drawn once per
    // reply, colouring, palette and size, into a canvas of its own; each paint copies it
    // and draws the ring and the keyboard's cell on top (a flip repaints in 1 ms, not 30)
    const baseNow = [data, select.value, pal, w, dpr];
    const fresh = !baseKey || baseNow.some((v, k) => v !== baseKey[k]);
    if (fresh) {
      if (!baseCanvas) baseCanvas = document.createElement("canvas");
      baseCanvas.width = canvas.width; baseCanvas.height = canvas.height;
      baseKey = baseNow;
    }
    const g = baseCanvas.getContext("2d");
    if (fresh) {
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, SWEEP_H);
      g.fillStyle = pal.grid;
      g.fillRect(left, top, W, PH);
      const L = lrs.length;
      if (data) {
        const name = select.value;
        const values = data[name];
        const stable = data.diverged.map((dv, c) => !dv && !data.oscillating[c]);
        const ceiling = data.kl_ceiling;
        const [low, high, log] = sweepScale(name, values, stable, ceiling);
        for (let i = 0; i < betas.length; i++) {
          const x0 = Math.floor(X(be[i]));
          const x1 = Math.ceil(X(be[i + 1]));
          for (let j = 0; j < L; j++) {
            const y0 = Math.floor(Y(le[j + 1]));
            const y1 = Math.ceil(Y(le[j]));
            g.fillStyle = sweepColour(values[i * L + j], low, high, log, pal.grid);
            g.fillRect(x0, y0, x1 - x0, y1 - y0);
          }
        }
        const pattern = g.createPattern(hatch(pal), "repeat");
        g.fillStyle = pattern;
        for (let i = 0; i < betas.length; i++) {
          for (let j = 0; j < L; j++) {
            if (stable[i * L + j]) continue;
            const x0 = X(be[i]);
            const y0 = Y(le[j + 1]);
            g.fillRect(x0, y0, X(be[i + 1]) - x0, Y(le[j]) - y0);
          }
        }
        // the curvature's prediction, drawn wide enough to be seen over the hatch
        const lim = data.limit;
        if (lim.kind !== null && lim.value !== null) {
          const pts = [];
          betas.forEach((b) => {
            const lr = lim.kind === "lr*beta^2" ? lim.value / (b * b) : lim.value;
            if (lr >= lrs[0] / 2 && lr <= lrs[L - 1] * 2) pts.push([X(b), Y(lr)]);
          });
          g.save(); g.beginPath(); g.rect(left, top, W, PH); g.clip();
          for (const [colour, width, dash] of [[pal.background, 6, []], [pal.text, 2.5, [9, 5]]]) {
            g.strokeStyle = colour; g.lineWidth = width; g.setLineDash(dash);
            g.beginPath();
            pts.forEach(([px, py], k) => (k ? g.lineTo(px, py) : g.moveTo(px, py)));
            g.stroke();
          }
          g.restore();
          g.setLineDash([]);
        }
        // the colour bar
        const cbx = left + W + 12;
        for (let k = 0; k < PH; k++) {
          const t = 1 - k / (PH - 1);
          const v = log ? Math.exp(Math.log(low) + t * (Math.log(high) - Math.log(low)))
            : low + t * (high - low);
          g.fillStyle = sweepColour(v, low, high, log, pal.grid);
          g.fillRect(cbx, top + k, 14, 1);
        }
        g.font = "13px " + font; g.fillStyle = pal.text; g.textAlign = "left"; g.textBaseline = "middle";
        const ticks = log ? sweepDecades(low, high, 5)
          : [0, 1, 2, 3, 4].map((k) => low + k * (high - low) / 4);
        for (const v of ticks) {
          const t = log ? (Math.log(v) - Math.log(low)) / (Math.log(high) - Math.log(low))
            : (v - low) / (high - low);
          g.fillText(pyG(v, 3), cbx + 18, top + (1 - t) * (PH - 1));
        }
        g.save(); g.translate(w - 6, top + PH / 2); g.rotate(-Math.PI / 2);
        g.textAlign = "center"; g.textBaseline = "bottom"; g.fillStyle = pal.muted;
        g.fillText(T.SWEEP_TITLES[name], 0, 0); g.restore();
      }
      // the axes: 1-2-5 ticks on log scales
      g.font = "15px " + font; g.fillStyle = pal.text;
      g.textAlign = "center"; g.textBaseline = "top";
      let edge = -Infinity;                 // labels that would touch the one before are left out
      for (const v of sweepLogTicks(be[0], be[be.length - 1])) {
        const text = pyG(v);
        const half = g.measureText(text).width / 2;
        if (X(v) - half < edge + 6) continue;
        g.fillText(text, X(v), top + PH + 4);
        edge = X(v) + half;
      }
      g.textAlign = "right"; g.textBaseline = "middle";
      edge = Infinity;
      for (const v of sweepLogTicks(le[0], le[le.length - 1])) {
        if (Y(v) + 8 > edge - 2) continue;
        g.fillText(pyG(v), left - 5, Y(v));
        edge = Y(v) - 8;
      }
      g.font = "13px " + font; g.fillStyle = pal.muted; g.textAlign = "center"; g.textBaseline = "top";
      g.fillText(T.SWEEP_X, left + W / 2, top + PH + 22);
      g.save(); g.translate(10, top + PH / 2); g.rotate(-Math.PI / 2); g.textBaseline = "middle";
      g.fillText(T.SWEEP_Y, 0, 0); g.restore();
    }
    out.drawImage(baseCanvas, 0, 0, w, SWEEP_H);
    // the settings in force: a ring in two colours, visible on any cell
    const [b, lr] = settings();
    if (b > 0 && lr > 0) {
      for (const [colour, width] of [[pal.background, 5], [pal.text, 2.5]]) {
        out.strokeStyle = colour; out.lineWidth = width;
        out.beginPath(); out.arc(X(b), Y(lr), 9, 0, 2 * Math.PI); out.stroke();
      }
    }
    // the keyboard's cell
    if (cursor && data && document.activeElement === canvas) {
      const [i, j] = cursor;
      out.strokeStyle = pal.focus; out.lineWidth = 2;
      out.strokeRect(X(be[i]), Y(le[j + 1]), X(be[i + 1]) - X(be[i]), Y(le[j]) - Y(le[j + 1]));
    }
  }

  function cellAt(px, py) {
    if (!geom || !data) return null;
    const { X, Y, be, le } = geom;
    let i = -1;
    let j = -1;
    for (let k = 0; k < be.length - 1; k++) if (px >= X(be[k]) && px < X(be[k + 1])) i = k;
    for (let k = 0; k < le.length - 1; k++) if (py <= Y(le[k]) && py > Y(le[k + 1])) j = k;
    return i < 0 || j < 0 ? null : [i, j];
  }

  function describe(cell) {
    const [i, j] = cell;
    const L = data.learning_rate.length;
    const c = i * L + j;
    const name = select.value;
    const v = data[name][c];
    const text = v === null ? (name === "kl_opt" ? T.SWEEP_CELL.none : T.SWEEP_CELL.infinite)
      : pyG(v, 4);
    const state = data.diverged[c] ? T.SWEEP_CELL.diverged
      : data.oscillating[c] ? T.SWEEP_CELL.oscillating : T.SWEEP_CELL.settled;
    return "β " + pyG(data.beta[i]) + ", " + T.SWEEP_Y + " " + pyG(data.learning_rate[j]) +
      ": " + text + " (" + state + ")";
  }

  function load(cell) {
    const [i, j] = cell;
    ctx.act({ op: "set", changes: { beta: data.beta[i], learning_rate: data.learning_rate[j] },
      restart: true });
  }

  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    const cell = cellAt(ev.clientX - r.left, ev.clientY - r.top);
    if (!cell) { tip.hidden = true; return; }
    tip.textContent = describe(cell);
    tip.style.left = Math.min(ev.clientX - r.left + 12, r.width - 220) + "px";
    tip.style.top = (ev.clientY - r.top + 14) + "px";
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const cell = cellAt(ev.clientX - r.left, ev.clientY - r.top);
    if (cell) load(cell);
  });
  canvas.addEventListener("keydown", (ev) => {
    if (!data) return;
    const B = data.beta.length;
    const L = data.learning_rate.length;
    if (!cursor) {
      const [b, lr] = settings();
      cursor = [b ? nearest(data.beta, b) : 0, lr ? nearest(data.learning_rate, lr) : 0];
    }
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    if (moves[ev.key]) {
      cursor = [Math.max(0, Math.min(B - 1, cursor[0] + moves[ev.key][0])),
        Math.max(0, Math.min(L - 1, cursor[1] + moves[ev.key][1]))];
      tip.textContent = describe(cursor);
      tip.style.left = "70px"; tip.style.top = "10px";
      tip.hidden = false;
      paint();
      ev.preventDefault();
    } else if (ev.key === "Enter" || ev.key === " ") {
      load(cursor);
      ev.preventDefault();
    }
  });
  // a map out of date and out of view is asked for when it is scrolled to
  const seen = onScreen(root, () => {
    if (!wanted || !last || sweepHidden(last)) return;
    ask(last);
    paint();
    refreshText();
  });
  canvas.addEventListener("focus", () => paint());
  canvas.addEventListener("blur", () => { tip.hidden = true; paint(); });
  select.addEventListener("change", () => { paint(); refreshText(); });

  return {
    update(view, why) {
      last = view;
      if (view.cfg !== cfgSeen) {
        cfgSeen = view.cfg;
        data = null;
        key = null;
        cursor = null;
      }
      if (why === "step" && !wanted && key === sweepKey(view)) return;   // nothing moved here
      const stale = key === null || sweepKey(view) !== key;
      if (stale) wanted = true;
      if (sweepHidden(view)) return;
      if (wanted && key !== null && !seen.shown) return;   // asked for once scrolled to
      if (wanted) ask(view);
      paint();
      if (why !== "step") refreshText();
    },
  };
}
