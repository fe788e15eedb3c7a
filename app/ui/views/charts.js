/* The charts over time (loss, KL per prompt with its ceiling, the implicit rewards), drawn
 * on canvases with a dotted line at each event of the run. Each chart's text alternative is
 * a visually hidden table of its current values, refreshed at most once a second. "Pin this
 * run" keeps the run's curves (app/ui/pin.js): drawn under the live ones as a faint band
 * with a thin line in the series' own dash, labelled in the legend with what differs; drawn
 * once into an offscreen canvas per scale, so a frame only copies it. */
import { el, term, fitCanvas, niceTicks, tickText, dashOf, setText } from "../dom.js";
import { fixed } from "../fmt.js";
import { rowAtStep } from "../pin.js";

/** How a pinned curve is drawn: a band (wide, faint) and a thin line in its own dash. */
export const PIN_STYLE = { band: 7, bandAlpha: 0.16, line: 1.5, lineAlpha: 0.7 };
/** While playing, a cached drawing of the pinned curves is stretched onto axes that widened
 * until they are this much wider (a drawing squeezed to 85 %), then drawn again. */
const STRETCH = 0.85;

/** A colour of the palette ("#rrggbb") at opacity a, for the legend's swatches. */
export function fade(hex, a) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return m ? "rgba(" + parseInt(m[1], 16) + "," + parseInt(m[2], 16) + "," + parseInt(m[3], 16) + "," + a + ")" : hex;
}

// a pinned series never changes: its range is found once
const ranges = new WeakMap();
function rangeOf(data, n) {
  let r = ranges.get(data);
  if (!r) {
    let a = Infinity, b = -Infinity;
    for (let i = 0; i < n; i++) { const v = data[i]; if (v < a) a = v; if (v > b) b = v; }
    r = [a, b];
    ranges.set(data, r);
  }
  return r;
}

export function mountCharts(box, ctx) {
  const { T, rules } = ctx;
  const LOSSES = rules.BY_NAME.loss_type.options;
  const font = ctx.DATA.font, FONT15 = "15px " + font;
  let V = null;
  function build(view) {
    box.textContent = "";
    const p = ctx.pal();
    const P = view.cfg.prompts.length;
    const heading = el("h2", { class: "dpo-h", text: "Over time" });
    const pinButton = el("button", { type: "button", class: "dpo-btn", "data-testid": "pin" }, T.PIN_BUTTON);
    pinButton.addEventListener("click", () => { if (ctx.ctl.app.pin) ctx.ctl.unpin(); else ctx.ctl.pin(); });
    const pinStatus = el("span", { class: "dpo-pin-status", role: "status", "data-testid": "pin-status" });
    // the heading and the pin's control on one line (the charts stay on a laptop's first screen)
    const pinBox = el("div", { class: "dpo-pin" }, heading, pinButton, term("?", T.PIN_HELP), pinStatus);
    const card = el("section", { class: "dpo-card dpo-part-charts", "aria-label": "Charts over time" }, pinBox);
    V = { card: card, charts: {}, pinButton: pinButton, pinStatus: pinStatus, pinKey: null };
    const mk = (key, title, testid, items, tipKey) => {
      const canvas = el("canvas", { role: "img", "data-testid": testid, "aria-label": title + " over time; the table after it gives the latest values" });
      const legend = el("div", { class: "legend" });
      for (const [name, colour, dash] of items) {
        legend.append(el("span", { style: "white-space:nowrap" }, el("span", { class: "sw", "aria-hidden": "true",
          style: "border-top:3px " + (dash === "solid" ? "solid" : dash === "dotted" ? "dotted" : "dashed") + " " + colour }), name));
      }
      // the pinned run's entry: a faint band with a thin line, and what differs
      const pinSw = el("span", { class: "sw-pin", "aria-hidden": "true", style: "background:" + fade(items[0][1], PIN_STYLE.bandAlpha) },
        el("span", { style: "border-top:" + PIN_STYLE.line + "px solid " + fade(items[0][1], PIN_STYLE.lineAlpha) }));
      const pinName = el("span", { "data-testid": testid + "-pin-label" });
      const pinLegend = el("span", { style: "white-space:nowrap" }, pinSw, pinName);
      pinLegend.hidden = true;
      legend.append(pinLegend);
      legend.append(term("about this chart", T.TERMS[tipKey], true));
      const tbody = el("tbody");
      const cells = items.map(([name]) => {
        const td = el("td");
        tbody.append(el("tr", null, el("th", { scope: "row", text: name }), td));
        return td;
      });
      const pinRows = items.map(([name]) => {
        const th = el("th", { scope: "row" }), td = el("td");
        const tr = el("tr", { "data-testid": testid + "-pin-row" }, th, td);
        tr.hidden = true;
        tbody.append(tr);
        return { tr: tr, th: th, td: td, name: name };
      });
      const caption = el("caption");
      const table = el("table", { "data-testid": testid + "-values" }, caption, tbody);
      // visually hidden in a div: a table is never narrower than its text
      card.append(el("div", { class: "dpo-chart" }, el("h3", { text: title }), canvas, legend,
                     el("div", { class: "dpo-sr" }, table)));
      V.charts[key] = { canvas: canvas, cells: cells, caption: caption, title: title,
                        pinRows: pinRows, pinLegend: pinLegend, pinName: pinName };
    };
    mk("loss", "Loss", "chart-loss", [["mean over all judgements", p.margin, "solid"]], "chart_loss");
    mk("kl", "KL(π ‖ π_ref) per prompt", "chart-kl",
       Array.from({ length: P }, (_, x) => ["prompt " + (x + 1), p.series[x % p.series.length], T.DASHES[x % T.DASHES.length]]), "chart_kl");
    mk("rewards", "Implicit rewards", "chart-rewards", [["chosen", p.chosen, "solid"], ["rejected", p.rejected, "dashed"],
       ["margin", p.margin, "dotted"]], "chart_rewards");
    box.append(card);
    V.said = -1e9;
  }
  function drawSeries(c, series, opts, view) {
    const p = ctx.pal(), h = view.hist, n = h.n;
    const pin = view.pin, ph = pin ? pin.hist : null, pn = ph ? ph.n : 0;
    const [g, w, H] = fitCanvas(c, 180);
    const left = 60, right = 20, top = 8, bottom = 36;
    const W = w - left - right, PH = H - top - bottom;
    const x0 = Math.min(n ? h.step[0] : 0, pn ? ph.step[0] : Infinity);
    const x1 = Math.max(x0 + 20, n ? h.step[n - 1] : 0, pn ? ph.step[pn - 1] : 0);
    let lo = opts.lo, hi = opts.hi;
    if (lo == null || hi == null) {
      let a = Infinity, b = -Infinity;
      for (const s of series) for (let i = 0; i < n; i++) { const v = s.data[i]; if (v < a) a = v; if (v > b) b = v; }
      for (const s of series) {
        if (!pn) continue;
        const [pa, pb] = rangeOf(s.pinned, pn);
        if (pa < a) a = pa;
        if (pb > b) b = pb;
      }
      if (!Number.isFinite(a) || !Number.isFinite(b)) { a = 0; b = 1; }
      if (b - a < 1e-9) { a -= 0.5; b += 0.5; }
      const padY = 0.06 * (b - a);
      lo = lo == null ? a - padY : lo; hi = hi == null ? b + padY : hi;
    }
    const X = (v) => left + (v - x0) / (x1 - x0) * W;
    const Y = (v) => top + (1 - (v - lo) / (hi - lo)) * PH;
    g.font = FONT15; g.lineWidth = 1;
    const yt = niceTicks(lo, hi, 4), ys = yt.length > 1 ? yt[1] - yt[0] : 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const v of yt) {
      const yy = Math.round(Y(v)) + 0.5;
      g.strokeStyle = p.grid; g.beginPath(); g.moveTo(left, yy); g.lineTo(left + W, yy); g.stroke();
      g.fillStyle = p.text; g.fillText(tickText(v, ys), left - 5, yy);
    }
    const xt = niceTicks(x0, x1, 5), xs = xt.length > 1 ? xt[1] - xt[0] : 1;
    g.textAlign = "center"; g.textBaseline = "top";
    for (const v of xt) { g.fillStyle = p.text; g.fillText(tickText(v, xs), X(v), top + PH + 4); }
    g.fillStyle = p.muted; g.fillText("step", left + W / 2, top + PH + 20);
    g.save(); g.translate(9, top + PH / 2); g.rotate(-Math.PI / 2); g.textBaseline = "middle";
    g.font = "13px " + font; g.fillText(opts.ylabel, 0, 0); g.restore();
    g.strokeStyle = p.muted; g.setLineDash([2, 3]);          // the run's events
    for (const e of view.events) {
      if (e.step > x0 && (e.kind === "flip" || e.kind === "set" || e.kind === "script")) {
        const xx = Math.round(X(e.step)) + 0.5;
        g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, top + PH); g.stroke();
      }
    }
    for (const hl of opts.hlines || []) {
      g.strokeStyle = hl.colour; g.setLineDash([6, 4]); g.lineWidth = 1.5;
      const yy = Y(hl.y); g.beginPath(); g.moveTo(left, yy); g.lineTo(left + W, yy); g.stroke();
    }
    g.save();
    g.beginPath(); g.rect(left, top - 2, W, PH + 4); g.clip();
    const stride = Math.max(1, Math.floor(n / (2 * W)));   // about two points per pixel
    const clampY = (v) => Y(Math.max(lo - 1e3, Math.min(hi + 1e3, v)));
    if (pn) drawPinned(c, g, series, ph, [x0, x1, lo, hi, w, H, left, top, W, PH, p], X, clampY, !view.playing);
    for (const s of series) {
      g.strokeStyle = s.colour; g.lineWidth = s.width || 3; g.setLineDash(dashOf(s.dash));
      g.beginPath();
      for (let i = 0; i < n; i += stride) {
        if (i === 0) g.moveTo(X(h.step[i]), clampY(s.data[i])); else g.lineTo(X(h.step[i]), clampY(s.data[i]));
      }
      if (n && (n - 1) % stride) g.lineTo(X(h.step[n - 1]), clampY(s.data[n - 1]));
      g.stroke();
    }
    g.restore();
    g.setLineDash([]);
  }
  /** The pinned curves, from an offscreen canvas drawn once per scale (the axes, the
   * canvas's size and pixel ratio, the palette, the pin): a frame copies it. While the run
   * plays and its axes only widen a little, the copy is stretched onto the new axes (the
   * map from data to pixels is affine on each axis), and drawn again once they widened by
   * more than STRETCH or whenever the page is paused. */
  function drawPinned(c, g, series, ph, scale, X, clampY, exact) {
    const dpr = window.devicePixelRatio || 1;
    const [x0, x1, lo, hi, w, H, left, top, W, PH, pal] = scale;
    const same = (k) => k && k.w === w && k.H === H && k.dpr === dpr && k.ph === ph && k.pal === pal && k.n === series.length;
    let k = c._pinned;
    let a = 1, b = 0, cy = 1, d = 0;
    if (same(k) && !(k.x0 === x0 && k.x1 === x1 && k.lo === lo && k.hi === hi)) {
      // the old axes inside the new ones: old pixel p lands at a·p + b (x), cy·p + d (y)
      a = (k.x1 - k.x0) / (x1 - x0); cy = (k.hi - k.lo) / (hi - lo);
      b = left + (k.x0 - x0) / (x1 - x0) * W - a * left;
      d = top + (1 - (k.hi - lo) / (hi - lo)) * PH - cy * top;
      const inside = x0 <= k.x0 && x1 >= k.x1 && lo <= k.lo && hi >= k.hi;
      if (exact || !inside || a < STRETCH || cy < STRETCH) k = null;
    } else if (!same(k)) k = null;
    if (!k) {
      a = 1; b = 0; cy = 1; d = 0;
      const old = c._pinned;
      const off = old ? old.canvas : document.createElement("canvas");
      const pw = Math.round(w * dpr), pH = Math.round(H * dpr);
      if (off.width !== pw || off.height !== pH) { off.width = pw; off.height = pH; }   // (a resize reallocates)
      const o = off.getContext("2d");
      o.setTransform(dpr, 0, 0, dpr, 0, 0);
      o.clearRect(0, 0, w, H);
      o.save(); o.beginPath(); o.rect(left, top - 2, W, PH + 4); o.clip();
      const pn = ph.n, stride = Math.max(1, Math.floor(pn / (2 * W)));
      o.lineJoin = "round"; o.lineCap = "round";
      for (const s of series) {
        const trace = () => {
          o.beginPath();
          for (let i = 0; i < pn; i += stride) {
            if (i === 0) o.moveTo(X(ph.step[i]), clampY(s.pinned[i])); else o.lineTo(X(ph.step[i]), clampY(s.pinned[i]));
          }
          if ((pn - 1) % stride) o.lineTo(X(ph.step[pn - 1]), clampY(s.pinned[pn - 1]));
        };
        o.strokeStyle = s.colour;
        o.globalAlpha = PIN_STYLE.bandAlpha; o.lineWidth = PIN_STYLE.band; o.setLineDash([]);
        trace(); o.stroke();
        o.globalAlpha = PIN_STYLE.lineAlpha; o.lineWidth = PIN_STYLE.line; o.setLineDash(dashOf(s.dash));
        trace(); o.stroke();
      }
      o.restore();
      k = c._pinned = { canvas: off, x0: x0, x1: x1, lo: lo, hi: hi, w: w, H: H, dpr: dpr, ph: ph, pal: pal,
                        n: series.length, draws: (old ? old.draws : 0) + 1 };
    }
    g.drawImage(k.canvas, 0, 0, k.canvas.width, k.canvas.height, b, d, a * w, cy * H);
  }
  function lossLabel(h, ph) {
    const names = new Set();
    for (const x of ph ? [h, ph] : [h]) {
      for (let i = 0; i < x.n; i++) names.add(x.weight[i] ? T.LOSS_AXIS[LOSSES[x.lossCode[i]]] : T.LOSS_OFF);
    }
    const orderL = Object.values(T.LOSS_AXIS).concat([T.LOSS_OFF]);
    const list = Array.from(names).sort((a, b) => orderL.indexOf(a) - orderL.indexOf(b));
    return "mean " + (list.length ? list : [T.LOSS_AXIS.sigmoid]).join(" or ");
  }
  function say(view) {            // the text alternatives: the latest values, once a second
    const now = performance.now();
    if (view.playing && now - V.said < 1000) return;
    V.said = now;
    const h = view.hist, i = h.n - 1;
    if (i < 0) return;
    const at = "at step " + h.step[i];
    const put = (key, values) => {
      const c = V.charts[key];
      setText(c.caption, c.title + ", " + at);
      values.forEach((v, k) => setText(c.cells[k], fixed(v, 4)));
    };
    put("loss", [h.loss[i]]);
    put("kl", h.kl.map((a) => a[i]));
    put("rewards", [h.chosen[i], h.rejected[i], h.margin[i]]);
    // the pinned run's values at the same step (or at its end, if it stopped before)
    const pin = view.pin, label = view.pin ? ctx.pinLabel() : "";
    const ph = pin ? pin.hist : null, j = ph ? rowAtStep(ph, h.step[i]) : -1;
    const ended = ph && h.step[i] > ph.step[ph.n - 1];
    const putPin = (key, values) => {
      V.charts[key].pinRows.forEach((r, k) => {
        r.tr.hidden = !pin || j < 0;
        if (r.tr.hidden) return;
        setText(r.th, (ended ? T.PIN_ROW_END : T.PIN_ROW).replace("{name}", r.name).replace("{label}", label)
          .replace("{step}", ph.step[j]));
        setText(r.td, fixed(values[k], 4));
      });
    };
    putPin("loss", ph ? [ph.loss[j]] : []);
    putPin("kl", ph ? ph.kl.map((a) => a[j]) : []);
    putPin("rewards", ph ? [ph.chosen[j], ph.rejected[j], ph.margin[j]] : []);
  }
  /** The pin's button, its status line and each chart's legend entry. */
  function showPin(view) {
    const pin = view.pin, label = pin ? ctx.pinLabel() : "";
    const key = pin ? pin.step + "|" + label + "|" + ctx.ctl.pinWords(pin) : "";
    if (key === V.pinKey) return;
    V.pinKey = key;
    setText(V.pinButton, pin ? T.PIN_UNPIN : T.PIN_BUTTON);
    setText(V.pinStatus, pin ? T.PIN_STATUS.replace("{step}", pin.step).replace("{settings}", ctx.ctl.pinWords(pin)) : "");
    for (const k in V.charts) {
      const c = V.charts[k];
      c.pinLegend.hidden = !pin;
      setText(c.pinName, label);
    }
  }
  return {
    get parts() { return { charts: V ? [V.card] : [] }; },
    update(view, why) {
      if (why === "scenario" || why === "theme" || !V) build(view);
      if (view.hidden.includes("charts")) return;
      if (why !== "step") showPin(view);
      const p = ctx.pal(), h = view.hist, P = view.cfg.prompts.length, ceil = view.klCeiling;
      const ph = view.pin ? view.pin.hist : null;
      const pinned = (k) => (ph ? ph[k] : null);
      drawSeries(V.charts.loss.canvas, [{ data: h.loss, pinned: pinned("loss"), colour: p.margin }], { ylabel: lossLabel(h, ph) }, view);
      drawSeries(V.charts.kl.canvas, Array.from({ length: P }, (_, x) => ({ data: h.kl[x], pinned: ph ? ph.kl[x] : null,
        colour: p.series[x % p.series.length], dash: T.DASHES[x % T.DASHES.length] })),
      { lo: 0, hi: 1.08 * Math.max(...ceil), ylabel: "KL (nats)",
        hlines: Array.from({ length: P }, (_, x) => ({ y: ceil[x], colour: p.muted })) }, view);
      drawSeries(V.charts.rewards.canvas, [{ data: h.chosen, pinned: pinned("chosen"), colour: p.chosen },
        { data: h.rejected, pinned: pinned("rejected"), colour: p.rejected, dash: "dashed" },
        { data: h.margin, pinned: pinned("margin"), colour: p.margin, dash: "dotted", width: 2 }], { ylabel: "mean implicit reward r̂" }, view);
      say(view);
    },
  };
}
