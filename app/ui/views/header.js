/* The header (title, Play / Step / Reset, the step; it stays on top), the alert when a run
 * diverged, and the notice of a link's settings that were not used. */
import { el, setText, term } from "../dom.js";

export function mountHeader(top, ctx) {
  const { T, ctl } = ctx;
  const title = el("span", { class: "dpo-header-title" });
  const titleBox = el("div", { class: "dpo-card dpo-header" }, el("h1", { text: "dpo-sim" }), title,
    el("span", { class: "dpo-note dpo-header-sub", text: T.SUBTITLE }));
  const play = el("button", { type: "button", class: "dpo-btn primary", "data-testid": "play" }, "Play");
  const step = el("button", { type: "button", class: "dpo-btn", "data-testid": "step-button" }, "Step");
  const reset = el("button", { type: "button", class: "dpo-btn", "data-testid": "reset" }, "Reset");
  play.addEventListener("click", () => ctl.toggle());
  step.addEventListener("click", () => ctl.stepOnce(1));
  reset.addEventListener("click", () => ctl.reset());
  const stepv = el("span", { class: "v", "data-testid": "step" }, "0");
  // the step and KL, said politely at most once a second (a screen reader would drown
  // otherwise); while paused, at once
  const said = el("span", { class: "dpo-sr", "aria-live": "polite", "data-testid": "step-said" });
  const badge = el("span", { class: "dpo-stepbadge" }, term("step", T.TERMS.step), stepv, said);
  top.append(titleBox, el("div", { class: "dpo-buttons" }, play, step, reset), badge);
  let lastSaid = 0;
  return {
    update(view, why) {
      if (why !== "step") setText(title, view.cfg.title);
      setText(play, view.playing ? "Pause" : "Play");
      setText(stepv, String(view.rec.step));
      const now = performance.now();
      if (now - lastSaid >= 1000 || !view.playing) {
        lastSaid = now;
        setText(said, "step " + view.rec.step + ", KL " + view.rec.kl.map((k) => k.toFixed(3)).join(" and "));
      }
    },
  };
}

export function mountAlerts(box) {
  const alert = el("div", { class: "dpo-card dpo-alert", role: "alert", "data-testid": "halted" });
  const notice = el("div", { class: "dpo-card dpo-notice", role: "status", "data-testid": "notices" });
  alert.hidden = true;
  notice.hidden = true;
  box.append(alert, notice);
  let shown = null;
  return {
    update(view) {
      alert.hidden = !view.halted;
      setText(alert, view.halted || "");
      if (shown !== view.notices) {
        shown = view.notices;
        notice.textContent = "";
        notice.hidden = !view.notices.length;
        if (view.notices.length) {
          notice.append(el("b", { text: "Some settings in the address were not used" }), " (the defaults apply):",
            el("ul", null, ...view.notices.map((n) => el("li", { text: n }))));
        }
      }
    },
  };
}
