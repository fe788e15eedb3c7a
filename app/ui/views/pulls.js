/* The pulls, as a picture: the weight curve of the loss in force (sigma(−u) for DPO)
 * against the margin u, every row a dot at its current u, moving live, and a tick below
 * the axis where a row comes to rest (kind "rests" of the engine's rest objects, the same
 * decision the formula strip states). With the weight off the curve is flat at 1.
 *
 * Two canvases, one over the other: the curve, the axes and the ticks are redrawn only when
 * what shapes them changes (why "structure" or "theme", the span of the dots, a rest tick);
 * the dots on the top canvas every update while on screen (out of view, once it is scrolled
 * to). A visually hidden table (class dpo-sr) gives the
 * same numbers as text, refreshed at most once a second while the run plays.
 *
 * Reads from view: rows (after flips, their votes), rec (pairs/margin, beta and the loss
 * settings) and rest (per row). Texts: T.PULLS_HEADING, T.PULLS_NOTE, T.PULLS_X_LABEL,
 * T.PULLS_Y_LABEL, T.PULLS_TABLE, T.PULLS_TIP. The palette: margin (the curve), ref_tick
 * (the ticks), chosen and text (the dots), grid, text and muted (the axes). The part a
 * teacher can hide: "pulls" (class dpo-part-pulls). A click on a dot asks the page to look
 * at its row (ctx.act({op: "look", row})). */

import { el, fitCanvas, niceTicks, onScreen, setText, tickText } from "../dom.js";
import { fill, fixed } from "../fmt.js";
import { lossInForce, lossWeight, restNumber } from "../rest_text.js";
import { pyG } from "../pyfmt.js";

const PULLS_GRID = 241;
const PULLS_HEIGHT = 220;
const PULLS_PAD = { left: 60, right: 20, top: 8, bottom: 40 };
const PULLS_SR_EVERY = 1000;          // ms between refreshes of the text alternative

/** What the chart shows, from the view (no DOM): the x span, the rows' dots, the rest
 *  ticks, and with curve true the weight curve and the top of the y axis. */
export function pullsModel(view, curve) {
  const rec = view.rec, rows = view.rows || [];
  const margins = rec["pairs/margin"] || [];
  const loss = lossInForce(rec), beta = rec.beta;
  let lo = -5, hi = 5;
  for (const u of margins) {
    if (!Number.isFinite(u)) continue;
    lo = Math.min(lo, Math.floor(u) - 1);
    hi = Math.max(hi, Math.ceil(u) + 1);
  }
  const dots = margins.map((u, i) => ({ row: i, u, w: lossWeight(loss, beta, u),
    votes: rows[i] ? pyG(rows[i].votes_chosen) + ":" + pyG(rows[i].votes_rejected) : "" }));
  const ticks = [];
  (view.rest || []).forEach((rr, i) => {
    const u = restNumber(rr.u);
    if (rr.kind === "rests" && Number.isFinite(u)) ticks.push({ row: i, u });
  });
  const out = { lo, hi, dots, ticks, loss: loss.name, eps: loss.label_smoothing, beta };
  if (curve) {
    const us = [], ws = [];
    const step = (hi - lo) / (PULLS_GRID - 1);
    let top = -Infinity;
    for (let k = 0; k < PULLS_GRID; k++) {
      const u = k === PULLS_GRID - 1 ? hi : lo + k * step;
      const w = lossWeight(loss, beta, u);
      us.push(u); ws.push(w);
      if (w > top) top = w;
    }
    out.curve = { u: us, w: ws };
    out.top = Math.max(1.1, top * 1.1);
  }
  return out;
}

export function mountPulls(box, ctx) {
  const T = ctx.T;
  const font = (px) => px + "px " + ((ctx.DATA && ctx.DATA.font) || "sans-serif");
  const base = el("canvas", { class: "dpo-pulls-base", role: "img",
    "aria-label": T.PULLS_HEADING });
  const top = el("canvas", { class: "dpo-pulls-dots", "aria-hidden": "true" });
  const tip = el("div", { class: "dpo-pulls-tip", role: "status" });
  tip.hidden = true;
  const srBody = el("tbody");
  const sr = el("table", { "data-testid": "pulls-table" },
    el("caption", { text: T.PULLS_HEADING }),
    el("thead", null, el("tr", null,
      ...T.PULLS_TABLE.map((h) => el("th", { scope: "col", text: h })))),
    srBody);
  box.append(el("div", { class: "dpo-card dpo-pulls dpo-part-pulls", "data-part": "pulls",
    "data-testid": "pulls" },
    el("h2", { class: "dpo-h", text: T.PULLS_HEADING }),
    el("div", { class: "dpo-pulls-plot" }, base, top, tip),
    el("div", { class: "dpo-sr" }, sr),      // a table is never narrower than its text: in a div
    el("div", { class: "dpo-note", text: T.PULLS_NOTE })));

  let last = null;          // the latest view
  let drawn = null;         // the model the base canvas shows (span, ticks, curve, y range)
  let srAt = -Infinity, srTimer = null;
  let hovered = null;       // the row of the dot under the pointer
  let behind = false;       // a step not drawn while the view was out of view
  const seen = onScreen(box, () => { if (behind && last) update(last, "step"); });
  const srCells = [];

  const geometry = (m, w) => {
    const W = w - PULLS_PAD.left - PULLS_PAD.right;
    const PH = PULLS_HEIGHT - PULLS_PAD.top - PULLS_PAD.bottom;
    const ylo = -0.12, yhi = m.top;
    return {
      X: (u) => PULLS_PAD.left + (u - m.lo) / (m.hi - m.lo) * W,
      Y: (v) => PULLS_PAD.top + (1 - (v - ylo) / (yhi - ylo)) * PH,
      dotY: (v) => PULLS_PAD.top + (1 - (Math.max(ylo, Math.min(yhi, v)) - ylo) / (yhi - ylo)) * PH,
      W, PH, ylo, yhi,
    };
  };

  function drawBase(m) {
    const p = ctx.pal();
    const [g, w] = fitCanvas(base, PULLS_HEIGHT);
    const G = geometry(m, w);
    g.lineWidth = 1; g.setLineDash([]);
    g.font = font(15);
    const yt = niceTicks(G.ylo, G.yhi, 4), ys = yt.length > 1 ? yt[1] - yt[0] : 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const v of yt) {
      const yy = Math.round(G.Y(v)) + 0.5;
      g.strokeStyle = p.grid; g.beginPath();
      g.moveTo(PULLS_PAD.left, yy); g.lineTo(PULLS_PAD.left + G.W, yy); g.stroke();
      g.fillStyle = p.text; g.fillText(tickText(v, ys), PULLS_PAD.left - 5, yy);
    }
    const xt = niceTicks(m.lo, m.hi, 6), xs = xt.length > 1 ? xt[1] - xt[0] : 1;
    g.textAlign = "center"; g.textBaseline = "top";
    for (const v of xt) {
      const xx = Math.round(G.X(v)) + 0.5;
      g.strokeStyle = p.grid; g.beginPath();
      g.moveTo(xx, PULLS_PAD.top); g.lineTo(xx, PULLS_PAD.top + G.PH); g.stroke();
      g.fillStyle = p.text; g.fillText(tickText(v, xs), xx, PULLS_PAD.top + G.PH + 4);
    }
    g.fillStyle = p.muted;
    g.fillText(T.PULLS_X_LABEL, PULLS_PAD.left + G.W / 2, PULLS_PAD.top + G.PH + 22);
    g.save(); g.translate(12, PULLS_PAD.top + G.PH / 2); g.rotate(-Math.PI / 2);
    g.textAlign = "center"; g.textBaseline = "middle"; g.font = font(13);
    g.fillText(T.PULLS_Y_LABEL, 0, 0); g.restore();
    g.save();
    g.beginPath(); g.rect(PULLS_PAD.left, PULLS_PAD.top - 2, G.W, G.PH + 4); g.clip();
    // the weight curve of the loss in force
    g.strokeStyle = p.margin; g.lineWidth = 3; g.beginPath();
    m.curve.u.forEach((u, k) => {
      const yy = G.Y(Math.max(G.ylo - 1, Math.min(G.yhi + 1, m.curve.w[k])));
      if (k === 0) g.moveTo(G.X(u), yy); else g.lineTo(G.X(u), yy);
    });
    g.stroke();
    // a tick (a triangle) below the axis where a row comes to rest
    g.fillStyle = p.ref_tick; g.strokeStyle = p.ref_tick; g.lineWidth = 1;
    for (const t of m.ticks) {
      const xx = G.X(t.u), yy = G.Y(-0.05);
      g.beginPath(); g.moveTo(xx, yy - 5); g.lineTo(xx + 5.5, yy + 4.5);
      g.lineTo(xx - 5.5, yy + 4.5); g.closePath(); g.fill(); g.stroke();
    }
    g.restore();
    drawn = m;
  }

  function drawDots(m) {
    const p = ctx.pal();
    const [g, w] = fitCanvas(top, PULLS_HEIGHT);
    const G = geometry(drawn, w);
    g.font = font(13); g.textAlign = "left"; g.textBaseline = "top";
    g.lineWidth = 1.5;
    for (const d of m.dots) {
      if (!Number.isFinite(d.u)) continue;
      const xx = G.X(d.u), yy = G.dotY(d.w);
      g.fillStyle = p.chosen; g.strokeStyle = p.text;
      g.beginPath(); g.arc(xx, yy, 6.5, 0, 2 * Math.PI); g.fill(); g.stroke();
      g.fillStyle = p.text; g.fillText(String(d.row), xx + 9, yy + 4);
    }
  }

  function refreshTable(m) {
    srAt = Date.now();
    if (srCells.length !== m.dots.length) {
      srBody.textContent = "";
      srCells.length = 0;
      for (let i = 0; i < m.dots.length; i++) {
        const cells = [el("th", { scope: "row" }), el("td"), el("td"), el("td"), el("td")];
        srBody.append(el("tr", null, ...cells));
        srCells.push(cells);
      }
    }
    const rests = new Map(m.ticks.map((t) => [t.row, t.u]));
    m.dots.forEach((d, i) => {
      const c = srCells[i];
      setText(c[0], String(d.row));
      setText(c[1], d.votes);
      setText(c[2], fixed(d.u, 3, true));
      setText(c[3], fixed(d.w, 3));
      setText(c[4], rests.has(i) ? fixed(rests.get(i), 3, true) : "—");
    });
  }

  function update(view, why) {
    last = view;
    let m = pullsModel(view, false);
    const ticksOf = (mm) => mm.ticks.map((t) => t.row + ":" + t.u).join(",");
    const reshaped = why === "structure" || why === "scenario" || why === "theme";
    if (!seen.shown && drawn) behind = true;          // drawn when scrolled to
    else {
      if (behind || reshaped || !drawn || m.lo !== drawn.lo || m.hi !== drawn.hi || m.loss !== drawn.loss ||
          m.eps !== drawn.eps || m.beta !== drawn.beta || ticksOf(m) !== ticksOf(drawn)) {
        m = pullsModel(view, true);
        drawBase(m);
      }
      behind = false;
      drawDots(m);
    }
    if (hovered !== null) showTip(m);
    if (why !== "step" || Date.now() - srAt >= PULLS_SR_EVERY) {
      if (srTimer !== null) { clearTimeout(srTimer); srTimer = null; }
      refreshTable(m);
    } else if (srTimer === null) {   // the last numbers of a burst are shown too
      srTimer = setTimeout(() => { srTimer = null; refreshTable(pullsModel(last, false)); },
        PULLS_SR_EVERY - (Date.now() - srAt));
    }
  }

  // the numbers of the dot under the pointer, kept current while the run moves it
  function showTip(m) {
    const d = hovered === null ? null : m.dots[hovered];
    tip.hidden = !d || !drawn;
    if (tip.hidden) return;
    const G = geometry(drawn, top.getBoundingClientRect().width);
    setText(tip, fill(T.PULLS_TIP, { row: d.row, votes: d.votes, u: fixed(d.u, 3, true),
      w: fixed(d.w, 3) }));
    tip.style.left = Math.max(0, G.X(d.u) + 12) + "px";
    tip.style.top = Math.max(0, G.dotY(d.w) - 34) + "px";
  }
  /** The row of the dot within 12 px of the pointer (the nearest), or null. */
  function dotAt(ev) {
    if (!last || !drawn) return null;
    const r = top.getBoundingClientRect();
    const G = geometry(drawn, r.width);
    let best = null, bestD = 144;
    for (const d of pullsModel(last, false).dots) {
      const dx = G.X(d.u) - (ev.clientX - r.left), dy = G.dotY(d.w) - (ev.clientY - r.top);
      if (dx * dx + dy * dy < bestD) { bestD = dx * dx + dy * dy; best = d.row; }
    }
    return best;
  }
  top.addEventListener("mousemove", (ev) => {
    hovered = dotAt(ev);
    if (last) showTip(pullsModel(last, false));
  });
  top.addEventListener("mouseleave", () => { hovered = null; tip.hidden = true; });
  // a tap or click on a dot makes its row the one the formula strip works out
  top.addEventListener("click", (ev) => {
    const row = dotAt(ev);
    if (row !== null) ctx.act({ op: "look", row });
  });
  if (typeof ResizeObserver !== "undefined") {
    new ResizeObserver(() => {
      if (last) { drawBase(pullsModel(last, true)); drawDots(pullsModel(last, false)); }
    }).observe(base);
  }

  return { update, model: () => (last ? pullsModel(last, true) : null) };
}
