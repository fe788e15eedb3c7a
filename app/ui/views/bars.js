/* One chart per prompt: a bar per reply for π(y|x), a sage-green tick at π_ref(y|x), a
 * diamond at RLHF's π*(y|x), ★ and an outline on the reply with the most net votes; beside
 * it each reply's full text and implicit reward (the chart's text alternative, with the
 * numbers). Where no finite optimum exists, a line says so and names where the policy
 * heads. A pinned run's end (app/ui/pin.js) shows as a dashed outline per reply, as wide as
 * its π(y|x). On a features model a ring marks π*φ, the RLHF optimum for a reward linear in
 * the features (view.optPhi), where it differs from π*; where the two coincide the legend
 * says so once and only the diamond is drawn. Drawn on canvas: nothing is created per
 * screen update. */
import { el, setText, term, fitCanvas } from "../dom.js";
import { fixed, pct, letter } from "../fmt.js";
import { featuresModel, withPhi } from "./features.js";

/** Where the value label goes so that it covers no marker: marks are [centre, half-width]. */
function clearOf(lx, lw, inside, marks) {
  for (let k = 0; k < 3; k++) {
    const lo = inside ? lx - lw : lx, hi = inside ? lx : lx + lw;
    const hit = marks.filter(([m, r]) => m + r > lo && m - r < hi);
    if (!hit.length) break;
    lx = inside ? Math.min(...hit.map(([m, r]) => m - r - 2)) : Math.max(...hit.map(([m, r]) => m + r + 2));
  }
  return lx;
}

function preferred(rows, P, K) {
  const net = Array.from({ length: P }, () => new Array(K).fill(0));
  for (const r of rows) {
    const d = r.votes_chosen - r.votes_rejected;
    net[r.prompt][r.chosen] += d; net[r.prompt][r.rejected] -= d;
  }
  return net.map((row) => { const top = Math.max(...row); return row.map((v) => v === top && top > 0); });
}

export function mountBars(main, ctx) {
  const { T } = ctx;
  const FONT15 = "15px " + ctx.DATA.font;
  const F = T.FEATURES_TEXTS;
  let V = null, pinNote = null, rlhfNote = null, rlhfKey = null;
  function build(view) {
    main.textContent = "";
    pinNote = el("span", { "data-testid": "bars-pin-note" });
    pinNote.hidden = true;
    rlhfNote = el("span", { "data-testid": "bars-rlhf-note" }, T.LEGEND_RLHF);
    rlhfKey = null;
    main.append(el("div", { class: "dpo-card dpo-note dpo-legend" }, T.LEGEND + " ", rlhfNote, " ", pinNote));
    const features = !!featuresModel(view);
    V = [];
    view.cfg.prompts.forEach((p, x) => {
      const K = p.replies.length;
      const canvas = el("canvas", { class: "bars", role: "img", "data-testid": "bars-" + x,
        "aria-label": "bar chart of π(y|x) for prompt " + (x + 1) + ", with π_ref and π* marked" + (features ? " (and π*φ where it differs)" : "") + "; the table beside it gives the numbers" });
      const note = el("div", { class: "dpo-nooptimum", "data-testid": "no-optimum-" + x });
      note.hidden = true;
      const tbody = el("tbody");
      const cells = [];
      for (let y = 0; y < K; y++) {
        const b = el("b");
        const sr = el("span", { class: "dpo-sr", "data-testid": "prob-" + x + "-" + y });
        const r = el("td", { class: "r", "data-testid": "rhat-" + x + "-" + y });
        tbody.append(el("tr", null, el("th", { scope: "row" }, b, " " + p.replies[y], sr), r));
        cells.push({ b: b, sr: sr, r: r });
      }
      const table = el("table", { class: "replies", "aria-label": "the replies of prompt " + (x + 1) + ", their probabilities and implicit rewards" },
        el("thead", null, el("tr", null, el("th", { scope: "col" }, "reply"), el("th", { scope: "col", class: "r" }, term("r̂", T.TERMS.rhat, true)))), tbody);
      const block = el("section", { class: "dpo-prompt", "aria-label": "Prompt " + (x + 1) },
        el("h2", null, el("span", { class: "n" }, "Prompt " + (x + 1)), p.text), note,
        el("div", { class: "grid" }, canvas, table));
      main.append(block);
      V.push({ canvas: canvas, note: note, cells: cells, K: K, pref: null });
    });
  }
  function draw(x, view) {
    const V1 = V[x];
    const p = ctx.pal(), rec = view.rec, opt = view.opt;
    const K = V1.K, rowH = 29, top = 6, bottom = 42, left = 38, right = 14;
    const [g, w] = fitCanvas(V1.canvas, top + K * rowH + bottom);
    const W = w - left - right;
    const X = (v) => left + v * W;
    g.font = FONT15; g.textBaseline = "middle";
    g.strokeStyle = p.grid; g.lineWidth = 1;
    for (let i = 0; i <= 5; i++) {
      const xx = Math.round(X(i / 5)) + 0.5;
      g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, top + K * rowH); g.stroke();
      g.fillStyle = p.text; g.textAlign = "center";
      g.fillText(i === 0 ? "0" : i === 5 ? "1" : (i / 5).toFixed(1), xx, top + K * rowH + 12);
    }
    g.fillStyle = p.muted; g.textAlign = "center";
    g.fillText("probability π(y|x)", left + W / 2, top + K * rowH + 32);
    const pi = rec.probs[x], ref = view.refProbs[x];
    const star = opt && opt.finite[x] ? opt.probs[x] : null;
    const pinned = view.pin ? view.pin.probs[x] : null;
    const phi = view.optPhi;
    // pi*_phi where it differs from pi* on this prompt (else the diamond marks both)
    const same = phi && star && phi.finite[x] && star.every((v, y) => Math.abs(v - phi.probs[x][y]) <= 1e-9);
    const ring = phi && !phi.coincide && phi.finite[x] && !same ? phi.probs[x] : null;
    const outlines = [], rings = [];
    for (let y = 0; y < K; y++) {
      const cy = top + y * rowH + rowH / 2;
      const pref = V1.pref[y];
      g.fillStyle = p.text; g.textAlign = "right";
      g.font = pref ? "bold " + FONT15 : FONT15;
      g.fillText((pref ? "★ " : "") + letter(y), left - 6, cy);
      g.font = FONT15;
      const bw = Math.max(0, pi[y] * W);
      g.fillStyle = pref ? p.bar_preferred : p.bar;
      g.fillRect(left, cy - 10, bw, 20);
      if (pref) { g.strokeStyle = p.text; g.lineWidth = 2; g.strokeRect(left + 1, cy - 9, Math.max(0, bw - 2), 18); }
      if (pinned) {            // the pinned run's end: a dashed outline on a halo (seen on a bar too)
        const pw = Math.max(0, pinned[y] * W);
        g.strokeStyle = p.background; g.lineWidth = 3.5;
        g.strokeRect(left, cy - 12.5, pw, 25);
        g.strokeStyle = p.text; g.lineWidth = 1.5; g.setLineDash([4, 3]);
        g.strokeRect(left, cy - 12.5, pw, 25);
        g.setLineDash([]);
        outlines.push([left, pw]);
      }
      g.fillStyle = p.ref_tick;                         // the reference: a sage-green tick
      g.fillRect(X(ref[y]) - 2.5, cy - 13, 5, 26);
      let dx = null;
      if (star) {                                       // pi*: a diamond
        dx = X(star[y]);
        g.fillStyle = p.rlhf_tick; g.strokeStyle = p.background; g.lineWidth = 1.5;
        g.beginPath(); g.moveTo(dx, cy - 8); g.lineTo(dx + 6, cy); g.lineTo(dx, cy + 8); g.lineTo(dx - 6, cy); g.closePath();
        g.fill(); g.stroke();
      }
      let rx = null;
      if (ring) {                                       // pi*_phi: a ring, on a halo
        rx = X(ring[y]);
        g.strokeStyle = p.background; g.lineWidth = 5.5;
        g.beginPath(); g.arc(rx, cy, 7, 0, 2 * Math.PI); g.stroke();
        g.strokeStyle = p.rlhf_tick; g.lineWidth = 2.5;
        g.beginPath(); g.arc(rx, cy, 7, 0, 2 * Math.PI); g.stroke();
        rings.push(rx);
      }
      const marks = [];
      if (dx != null) marks.push([dx, 8]);
      if (rx != null) marks.push([rx, 10]);
      // the value label, past the bar (or inside a long one), never on the diamond
      const label = pct(pi[y], 1);
      g.font = "bold " + FONT15;
      const lw = g.measureText(label).width;
      let inside = pi[y] > 0.75;
      let lx = clearOf(inside ? left + bw - 6 : left + bw + 6, lw, inside, marks);
      if (!inside && lx + lw > w - 2) {
        inside = true;
        lx = clearOf(left + bw - 6, lw, true, marks);
      }
      g.fillStyle = inside ? (pref ? p.background : p.text) : p.text;
      g.textAlign = inside ? "right" : "left";
      if (pinned) {              // a halo: an outline's edge may cross the label
        g.strokeStyle = inside ? (pref ? p.bar_preferred : p.bar) : p.background;
        g.lineWidth = 4; g.lineJoin = "round";
        g.strokeText(label, lx, cy);
      }
      g.fillText(label, lx, cy);
      g.font = FONT15;
    }
    // what was drawn, for the tests: each outline's left edge and width, the axis' scale
    const drawn = pinned ? JSON.stringify({ left: left, scale: W, outlines: outlines }) : "";
    if (V1.drawn !== drawn) { V1.drawn = drawn; V1.canvas.setAttribute("data-pin-outlines", drawn); }
    // and each ring's centre (pi*_phi), on the same axis
    const drawnPhi = ring ? JSON.stringify({ left: left, scale: W, centres: rings }) : "";
    if (V1.drawnPhi !== drawnPhi) { V1.drawnPhi = drawnPhi; V1.canvas.setAttribute("data-phi-markers", drawnPhi); }
  }
  return {
    update(view, why) {
      if (why === "scenario" || !V) build(view);
      const s = view.state;
      if (why !== "step") {
        const P = view.cfg.prompts.length;
        const pref = preferred(view.rows, P, view.cfg.prompts[0].replies.length);
        V.forEach((pv, x) => {
          pv.pref = pref[x];
          pv.cells.forEach((c, y) => { c.b.textContent = (pref[x][y] ? "★ " : "") + letter(y); });
          const finite = view.opt.finite[x];
          const phi = featuresModel(view) ? view.optPhi : null;
          pv.note.hidden = finite;
          if (!finite && phi && phi.finite[x]) { pv.note.textContent = ""; pv.note.append(withPhi(F.no_optimum_phi)); }
          else if (!finite && featuresModel(view) && !phi) pv.note.textContent = T.NO_OPTIMUM.replace(" {then}", "");
          else if (!finite) {              // (on a features model: where pi*_phi heads)
            const heads = (phi || view.opt).heading[x].map((b, y) => (b ? letter(y) : null)).filter(Boolean);
            const then = s.loss_type === "sigmoid" && s.adaptive_weight ? T.NO_OPTIMUM_DPO : T.NO_OPTIMUM_OTHER;
            pv.note.textContent = T.NO_OPTIMUM.replace("{then}", then.replace("{heading}", heads.join(", ") || "no single reply"));
          }
        });
      }
      const rec = view.rec, pin = view.pin;
      if (why !== "step") {
        const features = !!featuresModel(view), phi = features ? view.optPhi : null;
        const key = !features ? "table" : !phi ? "features" : phi.coincide ? "coincide" : "ring";
        if (key !== rlhfKey) {
          rlhfKey = key;
          rlhfNote.textContent = "";
          rlhfNote.dataset.state = key;
          rlhfNote.append(key === "table" ? T.LEGEND_RLHF : key === "features" ? F.legend_rlhf
            : withPhi(F.legend_rlhf + " " + (key === "coincide" ? F.coincide : F.legend_ring)));
        }
        pinNote.hidden = !pin;
        setText(pinNote, pin ? T.PIN_BARS.replace("{step}", pin.step).replace("{label}", ctx.pinLabel()) : "");
      }
      V.forEach((pv, x) => {
        draw(x, view);
        pv.cells.forEach((c, y) => {
          const pi = rec.probs[x][y];
          setText(c.sr, ": π " + pi.toFixed(3) + ", π_ref " + view.refProbs[x][y].toFixed(3)
            + (pin ? ", pinned " + pin.probs[x][y].toFixed(3) : ""));
          c.sr.dataset.value = String(pi);
          setText(c.r, fixed(rec.rewards[x][y], 3, true));
        });
      });
    },
  };
}
