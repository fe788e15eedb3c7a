/* The formula strip: one row's numbers worked out with the current values plugged in (the
 * row looked at: hovered, focused, tapped or flipped last, view.looked, 0 by default): its
 * implicit rewards, its margin and sigma(u), the two pulls on the pair and the net pull,
 * and where the row ends (rest_text.js, with the margin it claims in data-u).
 *
 * Built once; an update changes text and a few attributes only. The same structure,
 * data-testids and words as the Panel view it replaces (app/views/formula.py).
 *
 * Reads from view: rows (after flips), cfg.prompts (the replies' texts), rec (probs,
 * rewards, pairs/margin, pairs/sigma, beta, learning_rate and the loss settings), pulls
 * ({pull_for, pull_against, net}, per row), rest (per row), looked, and refProbs (pi_ref
 * per prompt, exp of the load reply's logp_ref; without it pi_ref is read back from the
 * record: pi · exp(−r̂/β)). Texts: T.FORMULA, T.WEIGHT_NAMES, T.REST_RUN and those of
 * rest_text.js. The part a teacher can hide: "formula" (class dpo-part-formula).
 *
 * On a features model (views/features.js featuresModel) two more lines, built the first time
 * one is shown: the margin as β θ·(φ_w − φ_l) with θ now, and the row's similarity score
 * ⟨φ_w, φ_l⟩ − ‖φ_w‖² with what its sign means. */

import { el, setText } from "../dom.js";
import { fill, fixed, letter, shortText } from "../fmt.js";
import { lossInForce, lossWeight, restDataU, restText } from "../rest_text.js";
import { pyFloat, pyG } from "../pyfmt.js";
import { featuresModel, thetaNow } from "./features.js";

const dot = (a, b) => a.reduce((s, v, j) => s + v * b[j], 0);

/** numfmt.small (a probability that goes to 0), with Python's rounding of exact halves. */
function formulaSmall(v, digits = 3) {
  if (v === 0) return "0";
  if (Math.abs(v) >= Math.pow(10, -digits)) return fixed(v, digits);
  return v.toExponential(1).replace(/e([+-])(\d)$/, "e$10$2");
}

export function mountFormula(box, ctx) {
  const T = ctx.T, F = T.FORMULA;
  const eq = () => el("span", { class: "eq" });
  const V = {
    head: el("h2", { class: "dpo-h" }),
    chosen: eq(), rejected: eq(), margin: eq(), pullFor: eq(), pullAgainst: eq(),
    net: el("span", { class: "eq", "data-testid": "net-pull" }),
    rest: el("span", { "data-testid": "rest" }),
  };
  const marginP = el("p", null, F.chosen, V.chosen, " \u00a0 " + F.rejected, V.rejected,
    " \u00a0 " + F.margin, V.margin);
  const card = el("div", { class: "dpo-card dpo-formula" },
    V.head,
    el("p", null, F.reward, el("span", { class: "eq", text: F.reward_eq })),
    marginP,
    el("p", null, F.pull_for, V.pullFor, F.pull_against, V.pullAgainst, F.net, V.net, "."),
    el("p", null, V.rest),
    el("p", { class: "dpo-note", text: T.REST_RUN }));
  box.append(el("section", { class: "dpo-part-formula", "data-part": "formula" }, card));

  let feat = null;          // the features model's two lines, once built
  function featureLines(view, model, row, beta) {
    const FT = T.FEATURES_TEXTS;
    if (!feat) {
      feat = { margin: el("span", { class: "eq", "data-testid": "formula-u-phi" }),
               sim: el("span", { class: "eq", "data-testid": "formula-similarity" }),
               word: el("span") };
      feat.box = el("div", { class: "dpo-formula-phi" },
        el("p", null, FT.margin_line, feat.margin),
        el("p", null, FT.similarity_line, feat.sim, feat.word));
      marginP.after(feat.box);
    }
    feat.box.hidden = false;
    const phi = model.features[row.prompt], w = phi[row.chosen], l = phi[row.rejected];
    const theta = thetaNow(view, model);
    const h = dot(theta, w) - dot(theta, l);
    setText(feat.margin, pyG(beta, 3) + " × " + fixed(h, 3, true) + " = " + fixed(beta * h, 3, true));
    feat.margin.setAttribute("data-value", pyFloat(beta * h));
    const wl = dot(w, l), ww = dot(w, w);
    const sim = row.similarity != null ? row.similarity : wl - ww;
    setText(feat.sim, fixed(wl, 3) + " − " + fixed(ww, 3) + " = " + fixed(sim, 3, true));
    feat.sim.setAttribute("data-value", pyFloat(sim));
    setText(feat.word, sim > 0 ? FT.similarity_pos : sim < 0 ? FT.similarity_neg : FT.similarity_zero);
  }

  function update(view) {
    const rows = view.rows || [];
    card.hidden = rows.length === 0;
    if (!rows.length) return;
    const i = Math.min(Math.max(view.looked | 0, 0), rows.length - 1);
    const row = rows[i], rec = view.rec;
    const x = row.prompt, c = row.chosen, l = row.rejected;
    const replies = view.cfg.prompts[x].replies;
    const beta = rec.beta, pi = rec.probs[x];
    const rc = rec.rewards[x][c], rl = rec.rewards[x][l];
    const ref = view.refProbs ? view.refProbs[x]
      : pi.map((p, y) => p * Math.exp(-rec.rewards[x][y] / beta));
    const u = rec["pairs/margin"][i], s = rec["pairs/sigma"][i];
    const a = row.votes_chosen, b = row.votes_rejected;
    const loss = lossInForce(rec);
    const pulls = view.pulls;
    const pFor = pulls ? pulls.pull_for[i] : a * lossWeight(loss, beta, u);
    const pAgainst = pulls ? pulls.pull_against[i] : b * lossWeight(loss, beta, -u);
    const net = pulls ? pulls.net[i] : pFor - pAgainst;
    const on = !!rec.adaptive_weight;
    const wFor = on ? (T.WEIGHT_NAMES[loss.name] || "w(u)") : "1";
    const wAgainst = on ? (loss.name === "sigmoid" ? "σ(u)" : "w(−u)") : "1";
    const b3 = pyG(beta, 3);
    setText(V.head, fill(F.head, { i, c: letter(c), chosen: shortText(replies[c], 40),
      l: letter(l), rejected: shortText(replies[l], 40), a: pyG(a), b: pyG(b) }));
    setText(V.chosen, b3 + " × log(" + formulaSmall(pi[c]) + " / " + formulaSmall(ref[c]) +
      ") = " + fixed(rc, 3, true));
    setText(V.rejected, b3 + " × log(" + formulaSmall(pi[l]) + " / " + formulaSmall(ref[l]) +
      ") = " + fixed(rl, 3, true));
    setText(V.margin, "u = " + fixed(u, 3, true) + ", σ(u) = " + fixed(s));
    setText(V.pullFor, pyG(a) + " × " + wFor + " = " + fixed(pFor));
    setText(V.pullAgainst, pyG(b) + " × " + wAgainst + " = " + fixed(pAgainst));
    V.net.setAttribute("data-value", pyFloat(net));
    setText(V.net, fixed(net, 3, true));
    const rr = view.rest[i];
    V.rest.setAttribute("data-kind", rr.kind);
    const dataU = restDataU(rr);
    if (dataU === null) V.rest.removeAttribute("data-u");
    else V.rest.setAttribute("data-u", dataU);
    setText(V.rest, restText(rr, a, b, loss, beta, rec.learning_rate, T));
    const model = featuresModel(view);
    if (model) featureLines(view, model, row, beta);
    else if (feat) feat.box.hidden = true;
  }

  return { update };
}
