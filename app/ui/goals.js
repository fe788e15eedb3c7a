/* Goals: the one evaluator of a challenge's goals and of "Try it"'s steps (issue 18).
 *
 * A goal is the `[[challenge.goals]]` table of a scenario (sim/challenge.py checks it):
 * {metric, one comparison (above | below | at_least | at_most | equals), optional prompt,
 * row, reply, per ("judgement" | "row"), text}. Try it's steps are goals too, with two
 * fields only the page's own goals use: `scenario` (the goal holds only while that scenario
 * is loaded) and `learner: true` (a setting's goal holds only when the learner's own action
 * set the value, not a load or a scenario's script).
 *
 * What a goal is evaluated on (goalFacts): the page's state at one step: the record on
 * screen (the per-judgement TRL metrics, KL, KL to π*, each row's margin, σ(u) and weight,
 * π), the stored per-row metrics, the run's settings, the learner's actions since the
 * goals started (flips: how many flips the learner made) and the scenario's id.
 *
 * The comparisons are exact, on the engine's numbers as they arrive (doubles; no rounding,
 * no tolerance): "above 0.9" is false for a σ(u) of 0.8999999999999999 that the page shows
 * as 0.900. A number that is not finite (NaN: a diverged run; a KL to π* where π* is not
 * finite, sent as null) meets no comparison. "every prompt" / "every row" (no prompt or
 * row given) holds when each one does.
 *
 * A challenge ({goals, by_step, controls}) is met when all its goals hold at once at one
 * step <= by_step; met is sticky ("met at step N") until the run restarts (a load or a
 * reset). It can no longer be met when the run is past by_step without having been met,
 * or when the learner used a control outside `controls` (said by name). The page checks
 * each step it receives a record for (app/ui/views/challenge.js): every step when stepping
 * one at a time, a few at a time while playing, and the controller never steps over
 * by_step unchecked. */
import { pyFloat } from "./pyfmt.js";
import { fill, letter } from "./fmt.js";

export const TRL_METRICS = ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
  "rewards/accuracies", "logps/chosen", "logps/rejected"];
export const PROMPT_METRICS = ["kl", "kl_to_rlhf"];
export const ROW_METRICS = ["pairs/margin", "pairs/sigma", "pairs/weight"];
export const SETTING_METRICS = ["beta", "learning_rate", "label_smoothing", "adaptive_weight",
  "loss_type"];
export const COMPARISONS = ["above", "below", "at_least", "at_most", "equals"];
/** The controls a challenge can allow: the live settings by TOML name, and "flip". */
export const CONTROL_NAMES = ["beta", "learning_rate", "adaptive_weight", "loss_type",
  "label_smoothing", "flip"];

/** The goal's comparison: [kind, value]. */
export function comparison(goal) {
  for (const c of COMPARISONS) if (goal[c] !== undefined) return [c, goal[c]];
  throw new Error("a goal needs one of " + COMPARISONS.join(", "));
}

/** v against the goal's comparison, exactly. */
export function compare(kind, target, v) {
  if (kind === "equals") return v === target;
  if (typeof v !== "number" || v !== v) return false;      // null, NaN: no comparison holds
  if (kind === "above") return v > target;
  if (kind === "below") return v < target;
  if (kind === "at_least") return v >= target;
  return v <= target;                                        // at_most
}

/** The learner's actions since `since` ({actions, n}: the actions array and its length
 * when the goals started): the controller starts a new array on a load or a reset, and
 * then every action of the new run counts. */
export function actionsSince(view, since) {
  const acts = view.actions || [];
  if (since && since.actions === acts) return acts.slice(since.n);
  return acts;
}

/** What the goals are evaluated on, from the page's state (docs/ui.md's view). */
export function goalFacts(view, since) {
  const acts = actionsSince(view, since);
  let flips = 0;
  const learnerSet = {};
  for (const a of acts) {
    if (a.flip != null) flips += 1;
    if (a.set) for (const k in a.set) learnerSet[k] = true;
  }
  const rec = view.rec;
  const settings = view.state || view.settings || rec;
  return { rec, stored: view.stored || null, settings, flips, learnerSet,
           scenario: view.id !== undefined && view.id !== null ? view.id : (view.cfg && view.cfg.scenario),
           step: rec.step };
}

function every(list, index, kind, target) {
  if (!list) return false;
  if (index !== undefined) return compare(kind, target, list[index]);
  if (!list.length) return false;
  for (let i = 0; i < list.length; i++) if (!compare(kind, target, list[i])) return false;
  return true;
}

/** Whether the goal holds on these facts (goalFacts). */
export function goalHolds(goal, f) {
  if (goal.scenario !== undefined && goal.scenario !== f.scenario) return false;
  const [kind, target] = comparison(goal);
  const m = goal.metric, rec = f.rec;
  if (TRL_METRICS.includes(m)) {
    const src = goal.per === "row" ? f.stored : rec;
    return !!src && compare(kind, target, src[m]);
  }
  if (m === "kl" || m === "kl_to_rlhf") return every(rec[m], goal.prompt, kind, target);
  if (ROW_METRICS.includes(m)) return every(rec[m], goal.row, kind, target);
  if (m === "probs") return !!rec.probs[goal.prompt] && compare(kind, target, rec.probs[goal.prompt][goal.reply]);
  if (m === "step") return compare(kind, target, f.step);
  if (m === "flips") return compare(kind, target, f.flips);
  if (SETTING_METRICS.includes(m)) {
    if (goal.learner && !f.learnerSet[m]) return false;
    return compare(kind, target, f.settings[m]);
  }
  throw new Error("unknown goal metric " + JSON.stringify(m));
}

/** A goal's number as TOML wrote it: a whole number without ".0", else Python's repr. */
export function goalNumber(v) { return Number.isInteger(v) ? String(v) : pyFloat(v); }

/** The words of a goal: its own text, else made from its metric and comparison (W: the
 * page's CHALLENGE texts). Prompts and replies are named as the page names them: prompts
 * from 1 (the TOML's `prompt = 0` is "prompt 1"), replies by letter (reply 0 is A); rows
 * from 0, as the rows' list and their Flip buttons count them. */
export function goalText(goal, W) {
  if (goal.text) return goal.text;
  const [kind, target] = comparison(goal);
  const m = goal.metric;
  if (m === "adaptive_weight") return target ? W.weight_on : W.weight_off;
  if (m === "loss_type") return fill(W.loss_is, { value: W.cmp.equals + " " + target });
  let what;
  if (TRL_METRICS.includes(m)) what = m + " " + W.per[goal.per === "row" ? "row" : "judgement"];
  else if (PROMPT_METRICS.includes(m)) {
    what = goal.prompt !== undefined ? fill(W.on_prompt, { metric: W.metric[m], prompt: goal.prompt + 1 })
      : fill(W.every_prompt, { metric: W.metric[m] });
  } else if (ROW_METRICS.includes(m)) {
    what = goal.row !== undefined ? fill(W.of_row, { metric: W.metric[m], row: goal.row })
      : fill(W.every_row, { metric: W.metric[m] });
  } else if (m === "probs") what = fill(W.probs, { reply: letter(goal.reply), prompt: goal.prompt + 1 });
  else what = W.metric[m] || m;
  return fill(W.goal, { what, cmp: W.cmp[kind], value: goalNumber(target) });
}

/** The names of controls (CONTROL_NAMES) an action uses: {set: {...}} or {flip: i}. */
export function controlsUsed(action) {
  const out = [];
  if (action.flip != null) out.push("flip");
  if (action.set) for (const k in action.set) out.push(k);
  return out;
}

/** Joined as a list in words: "a", "a and b", "a, b and c". */
function listWords(names, W) {
  const words = names.map((n) => W.control_names[n] || n);
  if (words.length < 2) return words.join("");
  return words.slice(0, -1).join(", ") + W.and + words[words.length - 1];
}

/** Whether the challenge lets the learner use this control (a name of CONTROL_NAMES). */
export function allows(challenge, name) {
  return !challenge || !Array.isArray(challenge.controls) || challenge.controls.includes(name);
}

/** The sentence that says which controls the challenge allows, or null (it allows all). */
export function lockReason(challenge, W) {
  if (!challenge || !Array.isArray(challenge.controls)) return null;
  if (!challenge.controls.length) return W.none;
  return fill(W.only, { what: listWords(challenge.controls, W) });
}

/** Why the challenge refuses an action ({set: {...}} or {flip: i}), or null. */
export function refusal(challenge, action, W) {
  const bad = controlsUsed(action).filter((n) => !allows(challenge, n));
  return bad.length ? lockReason(challenge, W) : null;
}

/** A challenge followed step by step: check(view) after every reply the page takes
 * (idempotent: the same state gives the same answer), status() what the page shows.
 * A load or a reset (a new actions array) starts it again. */
export function makeChallenge(challenge, W) {
  const goals = challenge.goals;
  const texts = goals.map((g) => goalText(g, W));
  const by = challenge.by_step === undefined ? null : challenge.by_step;
  let run = null;                       // the actions array of the run being followed
  let metAt = null, holds = goals.map(() => false), step = 0, used = [], fromLink = false;
  let seen = goals.map(() => false);    // each goal held at some step checked

  function restart(view) {
    run = view.actions || null;
    metAt = null; used = []; fromLink = false;
    holds = goals.map(() => false);
    seen = goals.map(() => false);
  }
  function check(view) {
    if (!view.rec) return status();
    if ((view.actions || null) !== run) restart(view);
    step = view.rec.step;
    const bad = [];
    for (const a of view.actions || []) {
      for (const n of controlsUsed(a)) if (!allows(challenge, n) && !bad.includes(n)) bad.push(n);
      if (a.link && controlsUsed(a).some((n) => !allows(challenge, n))) fromLink = true;
    }
    used = bad;
    const f = goalFacts(view, null);
    let all = true;
    for (let i = 0; i < goals.length; i++) {
      holds[i] = goalHolds(goals[i], f);
      if (holds[i]) seen[i] = true;
      all = all && holds[i];
    }
    if (metAt === null && all && !used.length && (by === null || step <= by)) metAt = step;
    return status();
  }
  function status() {
    let state = "open";
    if (metAt !== null) state = "met";
    else if (used.length) state = "void";
    else if (by !== null && step >= by) state = "missed";
    return { state, metAt, step, by_step: by, holds: holds.slice(), seen: seen.slice(),
             texts, used: used.slice(), fromLink, usedWords: listWords(used, W) };
  }
  return { check, status, goals, texts, challenge };
}

/** The page's challenge, wired to its state (page.js, and the tests' harness): app.observe()
 * (called by the controller after every reply it takes, and before every screen update)
 * follows the loaded scenario's challenge into app.challenge = {cfg, tracker, status};
 * app.guard(action) is the reason the challenge refuses an action, or null; app.lockReason
 * the sentence the locked controls show; app.refusal the last refusal (until the run
 * restarts). */
export function watchChallenges(app, W) {
  let run = null;
  app.challenge = null;
  app.observe = () => {
    const c = app.cfg && app.cfg.challenge;
    if (!c) {
      app.challenge = null; app.guard = null; app.lockReason = ""; app.refusal = "";
      return;
    }
    if (!app.challenge || app.challenge.cfg !== app.cfg) {
      // not taken until the learner says so: the scenario's own lesson stays whole (every
      // control free, links with any setting) and its goals are ticked as a run meets them
      app.challenge = { cfg: app.cfg, tracker: makeChallenge(c, W), status: null, taken: false };
      app.guard = (action) => (app.challenge && app.challenge.taken ? refusal(c, action, W) : null);
      app.lockReason = lockReason(c, W) || "";
    }
    if (run !== app.actions) { run = app.actions; app.refusal = ""; }
    const s = app.challenge.tracker.check(app);
    app.challenge.status = app.challenge.taken ? s : Object.assign({}, s, { state: "off", metAt: null });
  };
}

/** Take the scenario's challenge (on) or leave it: taking starts the run again from step 0
 * (Reset, which keeps only the settings the challenge lets the learner move) with the other
 * controls locked; leaving unlocks them and keeps the run. */
export function takeChallenge(app, ctl, on) {
  if (!app.challenge) return;
  app.challenge.taken = !!on;
  if (on) ctl.reset();
  else { app.refusal = ""; app.observe(); app.render("structure"); }
}
