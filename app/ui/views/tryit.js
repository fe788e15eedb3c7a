/* "Try it": a short guided path. Its steps are goals (app/ui/goals.js, the one evaluator
 * of a challenge's goals too; each step's goal comes with the texts, app/learn_texts.py
 * TRY_STEPS): each ticks itself the first time its goal holds, in any order, on an update
 * seen after the path started (or restarted), and stays ticked:
 *
 * - play-align: align loaded and its run at step 100 or later;
 * - flip: a row flipped by the learner (not by a scenario's script): flips at least 1;
 * - beta: β set by the learner's own action (not a load) to TRY_BETA or more;
 * - drop-sigma: drop-sigma loaded and its loss below 0 (it has been played);
 * - unanimous: unanimous loaded and its run at step 400 or later;
 * - ipo: the loss type is IPO (listed only when the page has a loss type setting).
 *
 * The learner's actions are the controller's (view.actions: a new list on each load or
 * reset); only those taken after the path (re)started count.
 *
 * Each step's "Show me" button brings the part of the page it names into view (the part's
 * root has the class dpo-part-NAME, wherever it is among the page's shadow roots), marks it
 * for a few seconds and moves the keyboard focus to its first control. */

import { el, setText } from "../dom.js";
import { goalFacts, goalHolds } from "../goals.js";

const TRY_MARK_MS = 4000;
const TRY_CONTROLS = "[role=slider], input, select, button, [tabindex]:not([tabindex='-1'])";

/** The first element matching selector under root, inside open shadow roots too. */
export function deepQuery(root, selector) {
  const hit = root.querySelector(selector);
  if (hit) return hit;
  if (root.shadowRoot) {
    const own = deepQuery(root.shadowRoot, selector);
    if (own) return own;
  }
  for (const node of root.querySelectorAll("*")) {
    if (node.shadowRoot) {
      const inner = deepQuery(node.shadowRoot, selector);
      if (inner) return inner;
    }
  }
  return null;
}

/** The root of the page part NAME (class dpo-part-NAME): in ctx.root (the page's root
 *  node, a document or a shadow root) first, then anywhere in the document. */
export function findPart(ctx, name) {
  const sel = ".dpo-part-" + CSS.escape(name);
  return (ctx.root ? deepQuery(ctx.root, sel) : null) || deepQuery(document, sel);
}

/** Scroll the part into view (no animation for people who ask for reduced motion), outline
 *  it for a few seconds and focus its first control. Returns the part, or null. */
export function pointAt(part, colour) {
  if (!part) return null;
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  part.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "center" });
  part.style.outline = "3px solid " + colour;
  part.style.outlineOffset = "3px";
  part.setAttribute("data-pointed", "true");
  clearTimeout(part.__dpoPointTimer);
  part.__dpoPointTimer = setTimeout(() => {
    part.style.outline = "";
    part.style.outlineOffset = "";
    part.removeAttribute("data-pointed");
  }, TRY_MARK_MS);
  const control = deepQuery(part, TRY_CONTROLS);
  if (control) control.focus({ preventScroll: true });
  return part;
}

/** Show or hide a node, touching it only when that changes. */
function tryHide(node, hide) {
  if (node.hidden !== hide) node.hidden = hide;
}

function offersIpo(view) {
  return !!((view.settings && "loss_type" in view.settings) || view.rec.loss_type !== undefined);
}

export function mountTryIt(box, ctx) {
  const T = ctx.LEARN.try;
  const pointing = ctx.pointing !== false;
  const colour = () => {
    const p = ctx.pal ? ctx.pal() : null;
    return (p && p.focus) || "currentColor";
  };

  const items = T.steps.map((s) => {
    const check = el("span", { class: "check", "aria-hidden": "true" }, "○");
    const sr = el("span", { class: "dpo-sr" }, T.not_done + ": ");
    const tag = el("span", { class: "tag" }, T.next + ":");
    const show = el("button", { type: "button", class: "dpo-point", "data-point": s.target,
      "data-testid": "try-show-" + s.id, "aria-label": T.show + ": " + s.target_label }, T.show);
    show.addEventListener("click", () => pointAt(findPart(ctx, s.target), colour()));
    const see = el("div", { class: "see" }, s.see);
    const li = el("li", { class: "todo", "data-testid": "try-" + s.id, "data-done": "false" },
      check, sr, tag, document.createTextNode(s.instruction), " ", show, see);
    return { step: s, li, check, sr, tag, show, see };
  });
  const status = el("p", { class: "learn-status", role: "status", "data-testid": "try-status" });
  const section = el("section", { class: "dpo-card learn learn-try", "aria-labelledby": "try-h" },
    el("h3", { id: "try-h", text: T.heading }),
    el("p", { class: "learn-intro", text: T.intro }),
    el("ol", null, ...items.map((it) => it.li)), status);
  const restartButton = el("button", { type: "button", class: "learn-restart",
    "data-testid": "try-restart" }, T.restart);
  restartButton.addEventListener("click", () => restart());
  box.append(section, restartButton);

  let done = {};
  let lastDone = null;
  let offered = null;                 // the ids on the path (ipo: when the page offers it)
  let since = null;                   // {actions, n}: the learner's actions when it started
  let view = null;

  const onPath = (it) => offered === null || offered.indexOf(it.step.id) >= 0;
  const nextItem = () => items.find((it) => onPath(it) && !done[it.step.id]) || null;

  function draw() {
    const nxt = nextItem();
    const hidden = new Set((view && view.hidden) || []);
    for (const it of items) {
      const id = it.step.id;
      tryHide(it.li, !onPath(it));
      const isDone = !!done[id];
      const cls = isDone ? "done" : (it === nxt ? "next" : "todo");
      if (it.li.className !== cls) it.li.className = cls;
      if (it.li.getAttribute("data-done") !== String(isDone)) it.li.setAttribute("data-done", String(isDone));
      setText(it.check, isDone ? "✓" : "○");
      setText(it.sr, (isDone ? T.done : T.not_done) + ": ");
      tryHide(it.tag, it !== nxt);
      tryHide(it.see, !(isDone || it === nxt));
      tryHide(it.show, !pointing || hidden.has(it.step.target));
    }
    let text = "";
    if (lastDone !== null) {
      const s = items.find((it) => it.step.id === lastDone).step;
      text = T.done + ": " + s.instruction + (nxt === null ? " " + T.all_done : "");
    }
    setText(status, text);
  }

  const mark = (v) => ({ actions: v.actions || null, n: (v.actions || []).length });

  function restart() {
    done = {};
    lastDone = null;
    if (view) since = mark(view);
    draw();
  }

  function update(v, why) {
    view = v;
    if (offered === null) {
      offered = T.steps.map((s) => s.id).filter((id) => id !== "ipo" || offersIpo(v));
    }
    if (why === "theme") return;
    if (since === null) {              // the first state seen: where the path starts from
      since = mark(v);
      draw();
      return;
    }
    const facts = goalFacts(v, since);
    const fresh = items.filter((it) => onPath(it) && !done[it.step.id] && goalHolds(it.step.goal, facts));
    for (const it of fresh) done[it.step.id] = true;
    if (fresh.length) lastDone = fresh[fresh.length - 1].step.id;
    draw();
  }

  draw();
  return {
    update,
    restart,
    /** The ids of the steps done. */
    done() { return Object.keys(done).filter((k) => done[k]); },
  };
}
