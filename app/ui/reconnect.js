/* Served page only: when the page loses its server (a restart, the Wi-Fi blinked), say so
 * plainly and offer to reload at the same step. Bokeh fires `connection_lost` on the
 * document when the websocket closes; the banner (role="alert") names the step it stopped
 * at, and the page asks the server every two seconds whether it answers again (a HEAD
 * request, which builds no session). Reload opens the run's link as it stands when the
 * server went (the page's own link, written from its state, not the address bar, which is
 * written a moment after a change), so the run comes back with the same numbers. */
import { el } from "./dom.js";

export function watchConnection(doc, T, getStep, getLink, pal) {
  let shown = false;
  function lost() {
    if (shown) return;
    shown = true;
    const step = getStep();
    const url = new URL(getLink() || window.location.href);
    url.searchParams.delete("autoplay");
    if (step) url.searchParams.set("step", String(step));
    const p = pal();
    const status = el("p", { "data-testid": "connection-status", role: "status", style: "margin:0 0 8px 0" });
    const button = el("button", { type: "button", "data-testid": "reload",
      style: "font:inherit;padding:6px 18px;cursor:pointer;border-radius:4px;border:1px solid " + p.text
        + ";background:" + p.background + ";color:" + p.text }, "Reload");
    button.addEventListener("click", () => { window.location.href = url.toString(); });
    const box = el("div", { class: "dpo-lost", role: "alert", "data-testid": "connection-lost",
      style: "position:fixed;left:0;right:0;top:0;z-index:1000;padding:12px 16px;background:" + p.surface
        + ";color:" + p.text + ";border-bottom:3px solid " + p.rejected + ";font:17px/1.4 system-ui, sans-serif;"
        + "box-shadow:0 3px 12px rgba(0,0,0,.3)" },
      el("p", { style: "margin:0 0 8px 0", text: T.CONNECTION_LOST.split("{step}").join(String(step)) }), status, button);
    document.body.appendChild(box);
    button.focus();
    const poll = setInterval(async () => {
      try {
        await fetch(window.location.pathname, { method: "HEAD", cache: "no-store" });
        status.textContent = T.CONNECTION_BACK;
        clearInterval(poll);
      } catch { /* still down */ }
    }, 2000);
  }
  doc.on_event("connection_lost", lost);
}
