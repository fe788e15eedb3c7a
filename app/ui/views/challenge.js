/* The challenge of the scenario on screen (its `[challenge]`, app/ui/goals.js): the
 * challenge's text, each goal with a tick (a mark, a word for screen readers and
 * data-holds, not colour alone), the rule (by which step, which controls), the status
 * line (open, met at step N, or why it can no longer be met) and polite announcements
 * when a goal is first met, when the challenge is met and when it is missed. Shown only
 * while the scenario has a challenge. The status is the page's (app.challenge, checked
 * after every reply the page takes: page.js); this view only shows it. */
import { el, setText } from "../dom.js";
import { fill } from "../fmt.js";


export function mountChallenge(box, ctx) {
  const W = ctx.T.CHALLENGE;
  const section = el("section", { class: "dpo-card dpo-challenge", "aria-labelledby": "challenge-h",
                                  "data-testid": "challenge" });
  const heading = el("h2", { class: "dpo-h", id: "challenge-h", text: W.heading });
  const text = el("p", { class: "challenge-text", "data-testid": "challenge-text" });
  const list = el("ul", { class: "challenge-goals" });
  const rule = el("p", { class: "dpo-note", "data-testid": "challenge-rule" });
  const lock = el("p", { class: "dpo-note challenge-lock", "data-testid": "challenge-lock" });
  const status = el("p", { class: "challenge-status", "data-testid": "challenge-status" });
  const refusal = el("p", { class: "challenge-refusal", role: "status", "data-testid": "challenge-refusal" });
  const said = el("p", { class: "dpo-sr", "aria-live": "polite", "data-testid": "challenge-said" });
  // taking the challenge: the run starts again with the other controls locked (goals.js)
  const take = el("button", { type: "button", class: "dpo-btn", "data-testid": "challenge-take" }, W.take);
  take.addEventListener("click", () => {
    const ch = ctx.ctl ? ctx.ctl.app.challenge : null;
    ctx.act({ op: "challenge", take: !(ch && ch.taken) });
  });
  section.append(heading, text, list, rule, lock, status, take, refusal, said);
  box.append(section);
  // shown only while the scenario has a challenge (a class: teacher mode's hide= sets the
  // box's hidden attribute, page.js showParts)
  box.classList.add("dpo-empty");

  let built = null;        // the tracker the list was built for
  let items = [];
  let last = null;         // the status last shown: {state, seen}
  function build(tracker, view) {
    built = tracker;
    list.textContent = "";
    items = tracker.texts.map((t, i) => {
      const check = el("span", { class: "check", "aria-hidden": "true" }, "○");
      const sr = el("span", { class: "dpo-sr" }, W.not_yet + ": ");
      const li = el("li", { "data-testid": "goal-" + i, "data-holds": "false" }, check, sr, el("span", { text: t }));
      list.append(li);
      return { li, check, sr };
    });
    const c = tracker.challenge;
    setText(text, c.text || "");
    text.hidden = !c.text;
    setText(rule, c.by_step !== undefined ? fill(W.by_step, { by_step: c.by_step }) + " " + fill(W.checked, { by_step: c.by_step })
      : W.any_step);
    setText(lock, view.lockReason || "");
    last = null;
    setText(said, "");
  }

  return {
    update(view, why) {
      const ch = view.challenge;
      box.classList.toggle("dpo-empty", !ch);
      if (!ch) return;
      if (why === "theme") return;
      if (built !== ch.tracker) build(ch.tracker, view);
      const s = ch.status;
      const met = s.state === "met";
      items.forEach((it, i) => {
        const on = met || s.holds[i];
        setText(it.check, on ? "✓" : "○");
        setText(it.sr, (met ? W.held : on ? W.holds : W.not_yet) + ": ");
        if (it.li.getAttribute("data-holds") !== String(on)) it.li.setAttribute("data-holds", String(on));
        it.li.className = on ? "done" : "todo";
      });
      const taken = !!ch.taken;
      lock.hidden = !taken || !view.lockReason;
      setText(take, taken ? W.leave : W.take);
      let line;
      if (!taken) line = fill(W.not_taken, { lock: view.lockReason || W.all_free });
      else if (met) line = fill(W.met, { step: s.metAt });
      else if (s.state === "void") line = fill(s.fromLink ? W.void_link : W.void, { what: s.usedWords });
      else if (s.state === "missed") line = fill(W.missed, { by_step: s.by_step });
      else if (s.by_step !== null) line = fill(W.open_by, { left: s.by_step - s.step, by_step: s.by_step });
      else line = W.open;
      setText(status, line);
      if (status.getAttribute("data-state") !== s.state) status.setAttribute("data-state", s.state);
      setText(refusal, view.refusal || "");
      refusal.hidden = !view.refusal;
      // announcements: a goal met for the first time in this run, the challenge met, missed
      let say = null;
      if (last && last.state !== s.state) {
        if (met) say = fill(W.said_met, { step: s.metAt });
        else if (s.state === "missed" || s.state === "void") say = W.said_missed + " " + line;
      }
      if (say === null && last && !met) {
        const fresh = s.seen.findIndex((v, i) => v && !last.seen[i]);
        if (fresh >= 0) say = fill(W.goal_met, { text: s.texts[fresh] });
      }
      if (say !== null) setText(said, say);
      last = { state: s.state, seen: s.seen };
    },
  };
}
