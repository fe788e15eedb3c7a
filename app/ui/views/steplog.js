/* The run's events, newest first: loads, resets, flips, settings, the scenario's own events
 * and a halt; above them one line with the step's numbers. The list is rebuilt only when an
 * event is added. */
import { el, setText } from "../dom.js";
import { fixed, pct } from "../fmt.js";

export function mountStepLog(box, ctx) {
  const { T } = ctx;
  const stepLine = el("div", { class: "now", "data-testid": "step-line" });
  const body = el("div");
  const card = el("section", { class: "dpo-card dpo-log dpo-part-log", "data-part": "log" },
                  el("h2", { class: "dpo-h", text: "Events" }), stepLine, body);
  box.append(card);
  let key = null;
  return {
    parts: { log: [card] },
    update(view) {
      const rec = view.rec;
      setText(stepLine, "step " + rec.step + " · loss " + fixed(rec.loss, 4) + " · margin "
        + fixed(rec["rewards/margins"], 4, true) + " · accuracy " + pct(rec["rewards/accuracies"])
        + " · KL " + rec.kl.map((k) => fixed(k, 4)).join(", "));
      const evs = view.events;
      const k = evs.length + ":" + (evs.length ? evs[evs.length - 1].text + evs[evs.length - 1].step : "");
      if (k === key) return;
      key = k;
      body.textContent = "";
      if (evs.length) {
        const ol = el("ol");
        for (let i = evs.length - 1; i >= 0; i--) ol.append(el("li", { class: evs[i].kind, text: "step " + evs[i].step + " · " + evs[i].text }));
        body.append(el("div", { role: "log", "aria-label": "Events of this run, newest first", tabindex: "0", class: "events", "data-testid": "step-log" }, ol));
      } else body.append(el("p", { class: "invite", "data-testid": "step-log", text: T.INVITATION }));
    },
  };
}
