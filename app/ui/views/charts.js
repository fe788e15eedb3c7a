/* The charts over time (loss, KL per prompt with its ceiling, the implicit rewards), drawn
 * on canvases with a dotted line at each event of the run. Each chart's text alternative is
 * a visually hidden table of its current values, refreshed at most once a second. */
import { el, term, fitCanvas, niceTicks, tickText, dashOf, setText } from "../dom.js";
import { fixed } from "../fmt.js";

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
    const card = el("section", { class: "dpo-card dpo-part-charts", "aria-label": "Charts over time" }, heading);
    V = { card: card, charts: {} };
    const mk = (key, title, testid, items, tipKey) => {
      const canvas = el("canvas", { role: "img", "data-testid": testid, "aria-label": title + " over time; the table after it gives the latest values" });
      const legend = el("div", { class: "legend" });
      for (const [name, colour, dash] of items) {
        legend.append(el("span", { style: "white-space:nowrap" }, el("span", { class: "sw", "aria-hidden": "true",
          style: "border-top:3px " + (dash === "solid" ? "solid" : dash === "dotted" ? "dotted" : "dashed") + " " + colour }), name));
      }
      legend.append(term("about this chart", T.TERMS[tipKey], true));
      const tbody = el("tbody");
      const cells = items.map(([name]) => {
        const td = el("td");
        tbody.append(el("tr", null, el("th", { scope: "row", text: name }), td));
        return td;
      });
      const caption = el("caption");
      const table = el("table", { "data-testid": testid + "-values" }, caption, tbody);
      // visually hidden in a div: a table is never narrower than its text
      card.append(el("div", { class: "dpo-chart" }, el("h3", { text: title }), canvas, legend,
                     el("div", { class: "dpo-sr" }, table)));
      V.charts[key] = { canvas: canvas, cells: cells, caption: caption, title: title };
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
    const [g, w, H] = fitCanvas(c, 180);
    const left = 60, right = 20, top = 8, bottom = 36;
    const W = w - left - right, PH = H - top - bottom;
    const x0 = n ? h.step[0] : 0, x1 = Math.max(x0 + 20, h.step[n - 1]);
    let lo = opts.lo, hi = opts.hi;
    if (lo == null || hi == null) {
      let a = Infinity, b = -Infinity;
      for (const s of series) for (let i = 0; i < n; i++) { const v = s.data[i]; if (v < a) a = v; if (v > b) b = v; }
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
  function lossLabel(h) {
    const names = new Set();
    for (let i = 0; i < h.n; i++) names.add(h.weight[i] ? T.LOSS_AXIS[LOSSES[h.lossCode[i]]] : T.LOSS_OFF);
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
  }
  return {
    get parts() { return { charts: V ? [V.card] : [] }; },
    update(view, why) {
      if (why === "scenario" || why === "theme" || !V) build(view);
      if (view.hidden.includes("charts")) return;
      const p = ctx.pal(), h = view.hist, P = view.cfg.prompts.length, ceil = view.klCeiling;
      drawSeries(V.charts.loss.canvas, [{ data: h.loss, colour: p.margin }], { ylabel: lossLabel(h) }, view);
      drawSeries(V.charts.kl.canvas, Array.from({ length: P }, (_, x) => ({ data: h.kl[x], colour: p.series[x % p.series.length],
        dash: T.DASHES[x % T.DASHES.length] })), { lo: 0, hi: 1.08 * Math.max(...ceil), ylabel: "KL (nats)",
        hlines: Array.from({ length: P }, (_, x) => ({ y: ceil[x], colour: p.muted })) }, view);
      drawSeries(V.charts.rewards.canvas, [{ data: h.chosen, colour: p.chosen }, { data: h.rejected, colour: p.rejected, dash: "dashed" },
        { data: h.margin, colour: p.margin, dash: "dotted", width: 2 }], { ylabel: "mean implicit reward r̂" }, view);
      say(view);
    },
  };
}
