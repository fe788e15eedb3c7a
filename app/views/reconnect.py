"""When the page loses its server (the server restarted, the Wi-Fi blinked), say so plainly
and offer to reload.

Bokeh's client fires ``connection_lost`` on the document when the websocket closes. The
page then shows a fixed banner (``role="alert"``) naming the step it stopped at, with a
Reload button, and asks the server every two seconds whether it answers again (any HTTP
answer will do: a HEAD request, which builds no session), then says so. Reload opens the
page's own address with ``step=`` the step shown: the address holds the scenario, the
settings and every action (``app/address.py``), so the run comes back at the same step
with the same numbers, computed again by the new session."""

from __future__ import annotations

import param

from ..texts import CONNECTION_BACK, CONNECTION_LOST
from .component import Component

ESM = r"""
function shownStep() {
  function find(root) {
    const el = root.querySelector('[data-testid="step"]');
    if (el) return el;
    for (const e of root.querySelectorAll("*")) {
      if (e.shadowRoot) { const f = find(e.shadowRoot); if (f) return f; }
    }
    return null;
  }
  const el = find(document);
  const v = el ? (el.getAttribute("data-value") || el.textContent) : null;
  return v !== null && /^\d+$/.test(String(v).trim()) ? String(v).trim() : null;
}

export function render({ model, view }) {
  let shown = false;
  function lost() {
    // one banner, however many times this component was drawn
    if (shown || document.querySelector(".dpo-lost")) return;
    shown = true;
    const step = shownStep();
    const url = new URL(window.location.href);
    url.searchParams.delete("autoplay");
    if (step !== null && step !== "0") url.searchParams.set("step", step);
    const box = document.createElement("div");
    box.className = "dpo-lost";
    box.setAttribute("role", "alert");
    box.setAttribute("data-testid", "connection-lost");
    box.style.cssText = "position:fixed;left:0;right:0;top:0;z-index:1000;padding:12px 16px;" +
      "background:" + model.surface + ";color:" + model.text + ";border-bottom:3px solid " +
      model.accent + ";font:17px/1.4 " + model.font + ";box-shadow:0 3px 12px rgba(0,0,0,.3)";
    const p = document.createElement("p");
    p.style.margin = "0 0 8px 0";
    p.textContent = model.lost_text.split("{step}").join(step === null ? "?" : step);
    const status = document.createElement("p");
    status.setAttribute("data-testid", "connection-status");
    status.setAttribute("role", "status");
    status.style.margin = "0 0 8px 0";
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Reload";
    button.setAttribute("data-testid", "reload");
    button.style.cssText = "font:inherit;padding:6px 18px;cursor:pointer;border-radius:4px;" +
      "border:1px solid " + model.text + ";background:" + model.background + ";color:" + model.text;
    button.addEventListener("click", () => { window.location.href = url.toString(); });
    box.append(p, status, button);
    document.body.appendChild(box);
    button.focus();
    const poll = setInterval(async () => {
      try {
        await fetch(window.location.pathname, { method: "HEAD", cache: "no-store" });
        status.textContent = model.back_text;
        clearInterval(poll);
      } catch (e) { /* still down */ }
    }, 2000);
  }
  view.model.document.on_event("connection_lost", lost);
}
"""


class ConnectionNotice(Component):
    """Invisible until the connection to the server is lost (module docstring)."""

    lost_text = param.String(default=CONNECTION_LOST)
    back_text = param.String(default=CONNECTION_BACK)
    text = param.String(default="#1f2328")
    background = param.String(default="#ffffff")
    surface = param.String(default="#f4f5f7")
    accent = param.String(default="#D55E00")
    font = param.String(default="system-ui, sans-serif")

    _esm = ESM

    def __init__(self, **params):
        params.setdefault("height", 0)
        params.setdefault("width", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)
