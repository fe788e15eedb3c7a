/* The preference rows, in full: votes, margin u, σ(u), the two pulls on the pair and the net
 * pull that moves it, and a Flip button. Hovering, focusing or tapping a row makes it the
 * row the formula strip works out. On a features model each row also shows its similarity
 * score (state.rows[i].similarity: ⟨φ_w, φ_l⟩ − ‖φ_w‖², flips applied). */
import { el, setText, term } from "../dom.js";
import { fill, fixed, letter } from "../fmt.js";
import { featuresModel } from "./features.js";

export function mountRows(box, ctx) {
  const { T, ctl, fmt4g } = ctx;
  let V = null;
  function build(view) {
    box.textContent = "";
    const model = featuresModel(view), F = T.FEATURES_TEXTS;
    box.append(el("div", { class: "dpo-card dpo-note", text: model ? fill(F.not_lm, { d: model.init_theta.length }) : T.TABLE_NOT_LM }));
    const list = el("ul", { class: "dpo-pairs", "aria-labelledby": "dpo-rows-h" });
    V = { rows: [] };
    view.cfg.pairs.forEach((r, i) => {
      const li = el("li", { class: "row", tabindex: "0", "data-testid": "pair-" + i, "aria-labelledby": "who-" + i + " pair-" + i });
      const who = el("span", { class: "who", id: "who-" + i, text: "row " + i + " · prompt " + (r.prompt + 1) });
      const pair = el("span", { class: "pair", id: "pair-" + i });
      const btn = el("button", { type: "button", class: "flip", "data-testid": "flip-" + i, "aria-pressed": "false" }, "Flip", el("span", { class: "dpo-sr", text: " row " + i }));
      btn.addEventListener("click", (e) => { e.stopPropagation(); ctl.flip(i); });
      li.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === li) { e.preventDefault(); ctl.flip(i); } });
      for (const ev of ["mouseenter", "focusin", "click"]) li.addEventListener(ev, () => ctl.look(i));
      const nums = el("div", { class: "nums" });
      const cells = {};
      for (const k of T.ROW_KEYS) {
        const v = el("span", { class: "v" });
        nums.append(el("span", { class: "n " + k }, el("span", { class: "k", text: T.ROW_LABELS[k] + " " }), v));
        cells[k] = v;
      }
      if (model) {
        const v = el("span", { class: "v", "data-testid": "similarity-" + i });
        nums.append(el("span", { class: "n similarity" }, el("span", { class: "k", text: F.similarity + " " }), v));
        cells.similarity = v;
      }
      li.append(el("div", { class: "top" }, who, pair, btn), nums);
      list.append(li);
      V.rows.push({ li: li, pair: pair, btn: btn, cells: cells, key: null });
    });
    const key = el("p", { class: "dpo-note" }, T.ROWS_KEY[0]);
    T.ROW_KEYS.forEach((k, i) => {
      if (i) key.append(" · ");
      key.append(term(T.ROW_LABELS[k], T.TERMS[k], i >= 4));
    });
    if (model) key.append(" · ", term(F.similarity, F.similarity_term, true));
    key.append(T.ROWS_KEY[1]);
    // a challenge that does not let the learner flip: the buttons disabled, and why
    V.lock = el("p", { class: "dpo-note dpo-lock", "data-testid": "lock-flip" });
    V.lock.hidden = true;
    V.box = el("section", { class: "dpo-card dpo-part-pairs", "data-part": "pairs" },
               el("h2", { class: "dpo-h", id: "dpo-rows-h", text: "Preference rows" }), key, V.lock, list);
    V.looked = -1;
    box.append(V.box);
  }
  return {
    get parts() { return { pairs: V ? [V.box] : [] }; },
    update(view, why) {
      if (why === "scenario" || !V) build(view);
      const rec = view.rec;
      if (why !== "step") {
        const locked = !!(view.guard && view.guard({ flip: 0 }));
        V.lock.hidden = !locked;
        setText(V.lock, locked ? view.lockReason : "");
        for (const rv of V.rows) if (rv.btn.disabled !== locked) rv.btn.disabled = locked;
        view.rows.forEach((r, i) => {
          const rv = V.rows[i];
          const isF = view.flipped.includes(i);
          const replies = view.cfg.prompts[r.prompt].replies;
          const key = r.chosen + ":" + isF;
          if (rv.key !== key) {
            rv.key = key;
            rv.pair.textContent = "“" + letter(r.chosen) + ": " + replies[r.chosen] + "” > “" + letter(r.rejected) + ": " + replies[r.rejected] + "”";
            if (isF) rv.pair.append(el("span", { class: "badge", text: "⇄ flipped" }));
            rv.li.classList.toggle("flipped", isF);
            rv.btn.setAttribute("aria-pressed", String(isF));
          }
          if (rv.cells.similarity) {             // a flip swaps phi_w and phi_l: on structure only
            const sim = r.similarity;
            setText(rv.cells.similarity, sim == null ? "—" : fixed(sim, 3, true));
            rv.cells.similarity.dataset.value = String(sim == null ? NaN : sim);
          }
        });
      }
      if (V.looked !== view.looked) {          // the row the formula strip works out
        if (V.rows[V.looked]) V.rows[V.looked].li.classList.remove("looked");
        V.looked = view.looked;
        if (V.rows[V.looked]) V.rows[V.looked].li.classList.add("looked");
      }
      const pulls = view.pulls;
      view.rows.forEach((r, i) => {
        const c = V.rows[i].cells;
        setText(c.votes, fmt4g(r.votes_chosen) + ":" + fmt4g(r.votes_rejected));
        setText(c.u, fixed(rec["pairs/margin"][i], 3, true));
        setText(c.sigma, fixed(rec["pairs/sigma"][i]));
        setText(c.pull_for, fixed(pulls.pull_for[i]));
        setText(c.pull_against, fixed(pulls.pull_against[i]));
        setText(c.net, fixed(pulls.net[i], 3, true));
      });
    },
  };
}
