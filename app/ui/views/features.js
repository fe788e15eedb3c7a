/* The features model beside the bars (issue 19): each reply's feature vector φ(x, y) as a
 * small heat grid (replies × coordinates, the numbers written in every cell, a real table for
 * screen readers), the shared θ now, and θ·φ per reply (what θ adds to the reply's logit).
 * On a table model the view is absent: nothing is built.
 *
 * Built once per scenario; a step changes only the text and data-value of the θ and θ·φ
 * cells (no node is created per screen update). The shading is set once, from CSS
 * variables, so the theme changes it without a rebuild. */
import { el, setText, term } from "../dom.js";
import { fill, fixed, letter } from "../fmt.js";

/** The scenario's features model ({kind, features (P,K,d), init_theta (d)}), or null on a
 * table model: the load reply's model, else the scenario's config line. */
export function featuresModel(view) {
  const m = view.model || (view.cfg && view.cfg.model) || null;
  return m && m.kind === "features" && Array.isArray(m.features) ? m : null;
}

/** θ on screen: the record's (the engine sends it on a features model), else the start. */
export function thetaNow(view, model) {
  const t = view.rec && view.rec.theta;
  return Array.isArray(t) ? t : model.init_theta;
}

/** φ as a subscript: "π*φ" in HTML. */
export function piStarPhi() {
  return el("span", { class: "dpo-pistarphi" }, "π*", el("sub", null, "φ"));
}

/** A text with every "π*φ" written with φ as a subscript (built on structure updates only). */
export function withPhi(text) {
  const out = el("span");
  text.split("π*φ").forEach((part, i) => { if (i) out.append(piStarPhi()); if (part) out.append(part); });
  return out;
}

export function mountFeatures(box, ctx) {
  const F = ctx.T.FEATURES_TEXTS;
  let V;                      // undefined: not built yet; null: a table model, nothing shown
  function build(view) {
    box.textContent = "";
    V = null;
    const model = featuresModel(view);
    if (!model) return;
    const phi = model.features, P = phi.length, d = model.init_theta.length;
    let big = 0;
    for (const row of phi) for (const v of row) for (const c of v) big = Math.max(big, Math.abs(c));
    V = { theta: [], score: [], model: model };
    const head = el("tr", null, el("th", { scope: "col", text: F.reply }));
    for (let j = 0; j < d; j++) head.append(el("th", { scope: "col" }, "φ", el("sub", null, String(j + 1))));
    head.append(el("th", { scope: "col", class: "score" }, term(F.score, F.score_term, true)));
    const table = el("table", { class: "dpo-feat", "data-testid": "features", "aria-label": F.table },
      el("thead", null, head));
    for (let x = 0; x < P; x++) {
      const body = el("tbody");
      if (P > 1) body.append(el("tr", { class: "p" }, el("th", { scope: "rowgroup", colspan: String(d + 2), text: fill(F.prompt, { x: x + 1 }) })));
      const replies = view.cfg.prompts[x].replies;
      const sc = [];
      phi[x].forEach((vec, y) => {
        const tr = el("tr", null, el("th", { scope: "row" }, letter(y), el("span", { class: "dpo-sr", text: ": " + replies[y] })));
        vec.forEach((v, j) => {
          const td = el("td", { "data-testid": "phi-" + x + "-" + y + "-" + j, "data-value": String(v), text: fixed(v, 2) });
          const a = big > 0 ? Math.round(38 * Math.abs(v) / big) : 0;
          if (a > 0) td.style.backgroundColor = "color-mix(in srgb, var(" + (v > 0 ? "--primary" : "--rejected") + ") " + a + "%, var(--bg))";
          tr.append(td);
        });
        const s = el("td", { class: "score", "data-testid": "score-" + x + "-" + y });
        tr.append(s);
        sc.push(s);
        body.append(tr);
      });
      V.score.push(sc);
      table.append(body);
    }
    const foot = el("tr", null, el("th", { scope: "row", text: F.theta }));
    for (let j = 0; j < d; j++) {
      const td = el("td", { "data-testid": "theta-" + j });
      foot.append(td);
      V.theta.push(td);
    }
    foot.append(el("td"));
    table.append(el("tfoot", null, foot));
    box.append(el("section", { class: "dpo-card dpo-features", "aria-labelledby": "dpo-features-h", "data-testid": "features-view" },
      el("h2", { class: "dpo-h", id: "dpo-features-h", text: F.heading }),
      el("p", { class: "dpo-note", text: F.note }),
      el("div", { class: "dpo-feat-scroll", tabindex: "0", role: "region", "aria-label": F.table }, table)));
  }
  return {
    update(view, why) {
      if (why === "scenario" || V === undefined) build(view);
      if (!V) return;
      const theta = thetaNow(view, V.model), phi = V.model.features;
      theta.forEach((t, j) => { setText(V.theta[j], fixed(t, 3, true)); V.theta[j].setAttribute("data-value", String(t)); });
      V.score.forEach((sc, x) => sc.forEach((td, y) => {
        let s = 0;
        const f = phi[x][y];
        for (let j = 0; j < f.length; j++) s += theta[j] * f[j];
        setText(td, fixed(s, 3, true));
        td.setAttribute("data-value", String(s));
      }));
    },
  };
}
