/* The numbers: KL per prompt with its ceiling, KL to RLHF's π* and β·log Z, and the metrics
 * TRL logs, per judgement and per stored row (a wide table, and a narrow one for phones).
 * Every term explains itself on hover, focus or tap. */
import { el, setText, term } from "../dom.js";
import { fixed, small, pct } from "../fmt.js";
import { featuresModel, withPhi } from "./features.js";

export function mountReadouts(main, ctx) {
  const { T } = ctx;
  let V = null;
  function build(view) {
    const P = view.cfg.prompts.length;
    V = { kl: [], klr: [], blz: [], klphi: [], metrics: [] };
    const features = !!featuresModel(view), F = T.FEATURES_TEXTS;
    const readouts = el("div", { class: "dpo-readouts" });
    for (let x = 0; x < P; x++) {
      const v = el("span", { class: "v", "data-testid": "kl-" + x });
      readouts.append(el("span", { class: "dpo-readout" }, el("span", { class: "k" }, term("KL prompt " + (x + 1), T.TERMS.kl)),
                         v, el("span", { class: "ceil", text: " / " + view.klCeiling[x].toFixed(3) })));
      V.kl.push(v);
    }
    const star = el("div", { class: "dpo-note dpo-star" }, term("KL to RLHF’s π*", features ? F.kl_star_term : T.TERMS.kl_rlhf), ": ");
    for (let x = 0; x < P; x++) {
      const s = el("span", { "data-testid": "kl-rlhf-" + x });
      V.klr.push(s); star.append(s);
      if (x < P - 1) star.append(" · ");
    }
    star.append("\u00a0 ", term("β·log Z", T.TERMS.beta_log_z), ": ");
    for (let x = 0; x < P; x++) {
      const s = el("span", { "data-testid": "blz-" + x });
      V.blz.push(s); star.append(s);
      if (x < P - 1) star.append(" · ");
    }
    // a features model: KL to pi*_phi, the optimum inside the family (where DPO ends)
    let starPhi = null;
    if (features) {
      starPhi = el("div", { class: "dpo-note dpo-star", "data-testid": "kl-rlhf-phi" }, term(withPhi(F.kl_phi), withPhi(F.kl_phi_term)), ": ");
      for (let x = 0; x < P; x++) {
        const s = el("span", { "data-testid": "kl-rlhf-phi-" + x });
        V.klphi.push(s); starPhi.append(s);
        if (x < P - 1) starPhi.append(" · ");
      }
    }
    const label = "the metrics TRL logs, per judgement and per stored row";
    const wide = el("table", { class: "dpo-metrics wide", "aria-label": label });
    const narrow = el("table", { class: "dpo-metrics narrow", "aria-label": label });
    const head = el("tr", null, el("td"));
    const judge = el("tr", { class: "judge" }, el("th", { scope: "row" }, term("per judgement", T.TERMS.per_judgement)));
    const rows = el("tr", { class: "rows" }, el("th", { scope: "row" }, term("per row (TRL)", T.TERMS.per_row)));
    const nbody = el("tbody");
    T.COLUMNS.forEach(([name, testid, lab], i) => {
      const th = el("th", { scope: "col" });
      head.append(th);
      const a = el("td", { "data-testid": testid }), b = el("td", { "data-testid": "rows-" + testid });
      judge.append(a); rows.append(b);
      const nth = el("th", { scope: "row" });
      const na = el("td"), nb = el("td", { class: "r" });
      nbody.append(el("tr", null, nth, na, nb));
      V.metrics.push({ name: name, label: lab, th: th, nth: nth, a: a, b: b, na: na, nb: nb, i: i, key: null });
    });
    wide.append(el("thead", null, head), el("tbody", null, judge, rows));
    narrow.append(el("thead", null, el("tr", null, el("td"), el("th", { scope: "col" }, term("per judgement", T.TERMS.per_judgement, true)),
      el("th", { scope: "col" }, term("per row (TRL)", T.TERMS.per_row, true)))), nbody);
    V.box = el("section", { class: "dpo-card dpo-part-readouts", "aria-label": "current numbers", "data-part": "readouts" },
               el("h2", { class: "dpo-h", text: "The numbers" }), readouts, star, starPhi, wide, narrow);
    main.textContent = "";
    main.append(V.box);
  }
  return {
    get parts() { return { readouts: V ? [V.box] : [] }; },
    update(view, why) {
      if (why === "scenario" || !V) build(view);
      const rec = view.rec, s = view.state;
      if (why !== "step") {
        const weightOff = !s.adaptive_weight;
        for (const m of V.metrics) {       // the loss's name follows the loss in force
          let label = m.label, tip = T.TERMS[T.COLUMN_TERMS[m.name]];
          if (m.name === "loss" && weightOff) { label = "loss (−u)"; tip = T.TERMS.loss_off; }
          else if (m.name === "loss" && s.loss_type !== "sigmoid") { label = "loss (" + s.loss_type + ")"; tip = T.LOSS_TERMS[s.loss_type]; }
          if (m.key !== label + tip) {
            m.key = label + tip;
            m.th.textContent = ""; m.th.append(term(label, tip, m.i >= 3));
            m.nth.textContent = ""; m.nth.append(term(label.replace("\u200b", ""), tip));
          }
        }
      }
      rec.kl.forEach((k, x) => { setText(V.kl[x], k.toFixed(3)); V.kl[x].dataset.value = String(k); });
      const klr = rec.kl_to_rlhf;
      for (let x = 0; x < V.klr.length; x++) {
        if (klr[x] == null) { setText(V.klr[x], "none"); V.klr[x].dataset.value = "nan"; }
        else { setText(V.klr[x], small(klr[x])); V.klr[x].dataset.value = String(klr[x]); }
        const b = view.opt.beta_log_z[x];
        setText(V.blz[x], b == null ? "none" : fixed(b, 3, true));
      }
      const klp = rec.kl_to_rlhf_phi;
      for (let x = 0; x < V.klphi.length; x++) {
        const v = klp ? klp[x] : undefined;
        if (v === undefined) { setText(V.klphi[x], "—"); V.klphi[x].dataset.value = "nan"; }
        else if (v === null) { setText(V.klphi[x], "none"); V.klphi[x].dataset.value = "nan"; }
        else { setText(V.klphi[x], small(v)); V.klphi[x].dataset.value = String(v); }
      }
      const rows = view.stored;
      let big = false;
      for (const m of V.metrics) {
        const spec = T.COLUMN_SPECS[m.name];
        const f = (v) => (spec === "pct" ? pct(v) : fixed(v, spec === "loss" ? 4 : 3, spec === "signed"));
        const a = f(rec[m.name]), b = f(rows[m.name]);
        if (/e/.test(a) || /e/.test(b)) big = true;
        setText(m.a, a); m.a.dataset.value = String(rec[m.name]);
        setText(m.b, b); m.b.dataset.value = String(rows[m.name]);
        setText(m.na, a); setText(m.nb, b);
      }
      V.box.classList.toggle("dpo-big", big);
    },
  };
}
