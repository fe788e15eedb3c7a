/* "Read at your level": the DPO paper at six levels (tabs: a WAI-ARIA tablist, arrows,
 * Home and End move between them), formulas drawn by KaTeX, and a last paragraph per level
 * quoting the run on the page; then the simulator's limitations.
 *
 * ctx.LEARN is app/learn_texts.learn_json(): every word, the TeX of every formula, and
 * where each level quotes a live value ({"live": key}). The DOM is built once; an update
 * changes the visible level's live values as text, and only those that changed. While
 * playing, the numbers change at most LEARN_MAX_PER_SECOND times a second (the last ones
 * always show). */

import { el, setText } from "../dom.js";
import { minus, shortText } from "../fmt.js";
import { katexFor, renderTex, texNode } from "../katex.js";
import { pyFloat, pyG } from "../pyfmt.js";

const LEARN_MAX_PER_SECOND = 4;

/** Python's round(): halves to even. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

/** The loss in force: "dpo", "bare" (the weight off) or another loss type's name. */
export function lossKind(view) {
  const rec = view.rec;
  if (!rec.adaptive_weight) return "bare";
  const lt = (view.settings && view.settings.loss_type) || rec.loss_type || "sigmoid";
  return lt === "sigmoid" ? "dpo" : String(lt);
}

/** The row looked at last (view.focus), within the rows; -1 with no rows. */
function focusRow(view) {
  const n = (view.rows || []).length;
  if (!n) return -1;
  const f = Number.isInteger(view.focus) ? view.focus : 0;
  return Math.min(Math.max(f, 0), n - 1);
}

const REST_NEVER_KINDS = ["approaches", "drifts", "swings", "overshoots"];

/** The margin a rest statement claims: u where it says the row rests, NaN where it says
 *  it never rests, null otherwise (sim.rest RowRest.claim). */
function learnRestClaim(rr) {
  if (rr.claim !== undefined) return rr.claim;
  if (rr.kind === "rests") return typeof rr.u === "number" ? rr.u : Number(rr.u);
  return REST_NEVER_KINDS.indexOf(rr.kind) >= 0 ? NaN : null;
}

/** Every live value a level can quote: key -> view -> [text, number or null]. The words
 *  are learn_json's live_text; the numbers are written as app/views/learn.py writes them. */
export function learnLive(W, ctx) {
  const none = [W.none, null];
  const rowNumber = (field, sign) => (view) => {
    const i = focusRow(view);
    if (i < 0) return none;
    const v = view.rec[field][i];
    return [minus(v, 3, sign), v];
  };
  const scalar = (field, digits, sign) => (view) => {
    const v = view.rec[field];
    return [minus(v, digits, sign), v];
  };
  const kl0 = (view) => view.rec.kl[0];
  return {
    scenario: (view) => [view.cfg.title, null],
    step: (view) => [String(view.rec.step), view.rec.step],
    beta: (view) => [pyG(view.rec.beta), view.rec.beta],
    loss: scalar("loss", 4, false),
    loss0: (view) => {
      const v = typeof view.loss0 === "number" ? view.loss0 : view.rec.loss;
      return [minus(v, 4), v];
    },
    loss_name: (view) => {
      const kind = lossKind(view);
      if (kind === "dpo") return [W.loss_dpo, null];
      if (kind === "bare") return [W.loss_bare, null];
      return [W.loss_other.replace("{kind}", kind), null];
    },
    favourite: (view) => {
      const prompts = view.cfg.prompts || [];
      if (!prompts.length) return ["", null];
      const p0 = view.rec.probs[0];
      let y = 0;
      for (let k = 1; k < p0.length; k++) if (p0[k] > p0[y]) y = k;
      const p = p0[y];
      return [W.favourite.replace("{prompt}", shortText(prompts[0].text, 48))
        .replace("{reply}", shortText(prompts[0].replies[y], 48))
        .replace("{n}", String(roundHalfEven(100 * p))), p];
    },
    row: (view) => {
      const i = focusRow(view);
      return i < 0 ? none : [String(i), i];
    },
    votes: (view) => {
      const i = focusRow(view);
      if (i < 0) return none;
      const r = view.rows[i];
      return [pyG(r.votes_chosen) + ":" + pyG(r.votes_rejected), null];
    },
    share: (view) => {
      const i = focusRow(view);
      if (i < 0) return none;
      const r = view.rows[i];
      const n = r.votes_chosen + r.votes_rejected;
      const s = n ? r.votes_chosen / n : NaN;
      return [minus(s, 2), s];
    },
    sigma: rowNumber("pairs/sigma", false),
    u: rowNumber("pairs/margin", true),
    weight_line: (view) => {
      const i = focusRow(view);
      if (i < 0) return [W.weight_none, null];
      const w = view.rec["pairs/weight"][i];
      const kind = lossKind(view);
      if (kind === "dpo") return [W.weight_dpo.replace("{w}", minus(w, 3)), w];
      if (kind === "bare") return [W.weight_bare, w];
      return [W.weight_other.replace("{kind}", kind).replace("{w}", minus(w, 3)), w];
    },
    rest: (view) => {
      const i = focusRow(view);
      const rr = i >= 0 && view.rest ? view.rest[i] : null;
      if (!rr) return ["", null];
      let text = typeof rr.text === "string" ? rr.text : "";
      if (!text && ctx && typeof ctx.restText === "function") text = ctx.restText(view, i) || "";
      return [text, learnRestClaim(rr)];
    },
    margin: scalar("rewards/margins", 4, true),
    accuracy: (view) => {
      const v = view.rec["rewards/accuracies"];
      return [(100 * v).toFixed(1) + " %", v];
    },
    logps_chosen: scalar("logps/chosen", 3, false),
    logps_rejected: scalar("logps/rejected", 3, false),
    kl: (view) => {
      const kl = view.rec.kl;
      return [kl.map((k) => minus(k, 4)).join(kl.length <= 2 ? " and " : ", "),
        kl.length ? kl[0] : null];
    },
    kl0: (view) => [minus(kl0(view), 4), kl0(view)],
    ceil0: (view) => {
      let v;
      if (view.kl_ceiling) v = view.kl_ceiling[0];
      else {                             // log(1 / min_y pi_ref(y | x0)), from the config
        const ref = view.cfg.ref_logits[0];
        const top = Math.max(...ref);
        const lse = top + Math.log(ref.reduce((s, r) => s + Math.exp(r - top), 0));
        v = lse - Math.min(...ref);
      }
      return [minus(v, 3), v];
    },
  };
}

function learnParts(parts, levelId, lives) {
  const out = [];
  for (const p of parts) {
    if (p.text !== undefined) out.push(document.createTextNode(p.text));
    else if (p.tex !== undefined) out.push(texNode("span", p.tex, false));
    else if (p.bold !== undefined) out.push(el("strong", null, ...learnParts(p.bold, levelId, lives)));
    else if (p.live !== undefined) {
      const s = el("span", { class: p.sentence ? "dpo-live sentence" : "dpo-live",
        "data-live": p.live, "data-testid": "learn-" + levelId + "-" + p.live }, "…");
      lives.push(s);
      out.push(s);
    }
  }
  return out;
}

function learnBlock(b, levelId, lives) {
  if (b.display !== undefined) return texNode("div", b.display, true);
  if (b.heading !== undefined) return el("h4", null, ...learnParts(b.heading, levelId, lives));
  return el("p", b.now ? { class: "learn-now" } : null, ...learnParts(b.para, levelId, lives));
}

export function mountLearn(box, ctx) {
  const L = ctx.LEARN;
  const live = learnLive(L.live_text, ctx);
  const ids = L.levels.map((lv) => lv.id);
  let level = ids.indexOf(ctx.level) >= 0 ? ctx.level : ids[0];
  let katex = null;

  const root = el("section", { class: "dpo-card learn", "aria-labelledby": "learn-h" },
    el("h2", { id: "learn-h", text: L.heading }),
    el("p", { class: "learn-intro", text: L.intro }));
  const tabs = el("div", { class: "learn-tabs", role: "tablist", "aria-label": L.levels_label });
  root.appendChild(tabs);
  const buttons = {}, panels = {}, lives = {};
  for (const lv of L.levels) {
    const b = el("button", { type: "button", class: "learn-tab", id: "learn-tab-" + lv.id,
      role: "tab", "aria-controls": "learn-panel-" + lv.id, "data-testid": "learn-tab-" + lv.id,
      text: lv.label });
    b.addEventListener("click", () => select(lv.id, false));
    tabs.appendChild(b);
    lives[lv.id] = [];
    const p = el("div", { class: "learn-panel", id: "learn-panel-" + lv.id, role: "tabpanel",
      "aria-labelledby": b.id, "data-testid": "learn-panel-" + lv.id },
    el("h3", { text: lv.title }), ...lv.blocks.map((bl) => learnBlock(bl, lv.id, lives[lv.id])));
    root.appendChild(p);
    buttons[lv.id] = b;
    panels[lv.id] = p;
  }
  const limits = el("section", { class: "dpo-card learn-limits", "aria-labelledby": "learn-limits-h" },
    el("h3", { id: "learn-limits-h", text: L.limits.heading }),
    el("ul", null, ...L.limits.items.map((it) => el("li", null, ...learnParts(it, "limits", [])))));
  box.append(root, limits);

  // a displayed formula wider than its column scrolls, and can then take the focus
  function markScrollers() {
    for (const d of root.querySelectorAll(".tex-display")) {
      if (d.offsetParent === null) continue;
      if (d.scrollWidth > d.clientWidth + 1) d.setAttribute("tabindex", "0");
      else d.removeAttribute("tabindex");
    }
  }

  let lastView = null;
  function show(id) {
    level = id;
    for (const k of ids) {
      const on = k === id;
      buttons[k].setAttribute("aria-selected", on ? "true" : "false");
      buttons[k].tabIndex = on ? 0 : -1;
      panels[k].hidden = !on;
    }
    root.setAttribute("data-level", id);
    if (lastView) fill(lastView);
    markScrollers();
  }
  function select(id, focus) {
    show(id);
    if (focus) buttons[id].focus();
  }

  // Arrows, Home and End move between the levels (automatic activation). The page's own
  // shortcuts listen on the document (→ steps the run); this listener is on the window in
  // the capture phase, so it sees these keys first, and acts only when a level's tab has
  // the focus.
  function onKey(e) {
    const t = (e.composedPath && e.composedPath()[0]) || e.target;
    if (!t || !t.classList || !t.classList.contains("learn-tab") || !tabs.contains(t)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const i = ids.indexOf(level);
    let j = null;
    if (e.key === "ArrowRight" || e.key === "ArrowDown") j = (i + 1) % ids.length;
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") j = (i - 1 + ids.length) % ids.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = ids.length - 1;
    if (j === null) return;
    e.preventDefault();
    e.stopPropagation();
    select(ids[j], true);
  }
  window.addEventListener("keydown", onKey, true);

  // the visible level's live values, as text, each only when it changed
  let loss0 = null;                 // the loss at step 0 of this run, when the host has none
  function fill(view) {
    for (const s of lives[level]) {
      const key = s.getAttribute("data-live");
      const f = live[key];
      if (!f) continue;
      const [text, value] = f(view);
      setText(s, text);
      const num = (value === null || value === undefined) ? null : pyFloat(value);
      if (num === null) { if (s.hasAttribute("data-value")) s.removeAttribute("data-value"); }
      else if (s.getAttribute("data-value") !== num) s.setAttribute("data-value", num);
    }
  }

  let lastFill = -Infinity, pending = null;
  function update(view, why) {
    if (why === "theme") return;
    if (view.rec.step === 0 && why !== "step") loss0 = view.rec.loss;
    lastView = (typeof view.loss0 === "number" || loss0 === null) ? view
      : Object.assign(Object.create(view), { loss0: loss0 });
    const now = performance.now();
    if (why === "step" && view.playing && now - lastFill < 1000 / LEARN_MAX_PER_SECOND) {
      if (pending === null) {
        pending = setTimeout(() => {
          pending = null;
          lastFill = performance.now();
          fill(lastView);
        }, 1000 / LEARN_MAX_PER_SECOND - (now - lastFill));
      }
      return;
    }
    if (pending !== null) { clearTimeout(pending); pending = null; }
    lastFill = now;
    fill(lastView);
  }

  show(level);
  katexFor(() => (ctx.root || box).getRootNode(), ctx).then((k) => {
    katex = k;
    for (const t of root.querySelectorAll(".tex[data-tex]")) renderTex(katex, t);
    for (const t of limits.querySelectorAll(".tex[data-tex]")) renderTex(katex, t);
    root.setAttribute("data-katex", "ready");
    markScrollers();
  }, () => root.setAttribute("data-katex", "failed"));
  const ro = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => markScrollers());
  if (ro) ro.observe(root);

  return {
    update,
    /** The level shown, or show another. */
    level(id) {
      if (id !== undefined && ids.indexOf(id) >= 0) show(id);
      return level;
    },
    destroy() {
      window.removeEventListener("keydown", onKey, true);
      if (ro) ro.disconnect();
      if (pending !== null) clearTimeout(pending);
    },
  };
}
