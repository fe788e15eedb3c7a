"""Keyboard shortcuts for the whole page: Space play/pause, → step, R reset.

A hidden ESM component listens on the document and ignores keys typed into a field,
a slider, a select, or (for Space) pressed on a button, which handles Space itself."""

from __future__ import annotations

import panel as pn

ESM = r"""
const SKIP = new Set(["input", "textarea", "select"]);
const SKIP_ROLES = new Set(["slider", "textbox", "combobox", "spinbutton", "listbox"]);

export function render({ model, el }) {
  function handler(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const t = (e.composedPath && e.composedPath()[0]) || e.target;
    const tag = ((t && t.tagName) || "").toLowerCase();
    const role = t && t.getAttribute ? t.getAttribute("role") : null;
    if (SKIP.has(tag) || (t && t.isContentEditable) || SKIP_ROLES.has(role)) return;
    if (t && t.classList && t.classList.contains("noUi-handle")) return;
    let key = null;
    if (e.key === " " || e.code === "Space") {
      if (tag === "button" || tag === "a" || role === "button") return;
      key = "toggle";
    } else if (e.key === "ArrowRight") {
      key = "step";
    } else if (e.key === "r" || e.key === "R") {
      key = "reset";
    }
    if (key === null) return;
    e.preventDefault();
    model.send_msg({ key });
  }
  document.addEventListener("keydown", handler);
  model.send_msg({ key: "hello", width: window.innerWidth,
                   dark: window.matchMedia("(prefers-color-scheme: dark)").matches });
  // Slider handles (noUiSlider) carry role="slider" but no name: give each the title
  // of its slider ("beta", "Learning rate", ...). Widgets render late, so look again
  // now and then; it is a handful of elements.
  function label(root) {
    for (const h of root.querySelectorAll(".noUi-handle:not([aria-label])")) {
      const t = root.querySelector(".bk-slider-title");
      const name = t ? t.textContent.split(":")[0].trim() : "";
      if (name) h.setAttribute("aria-label", name);
    }
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) label(el.shadowRoot);
  }
  label(document);
  setTimeout(() => label(document), 150);
  const timer = setInterval(() => label(document), 1000);
  model.on("remove", () => {
    document.removeEventListener("keydown", handler);
    clearInterval(timer);
  });
}
"""


class KeyboardShortcuts(pn.custom.JSComponent):
    """Sends {key: "toggle" | "step" | "reset"}; ``actions`` maps each to a callable.
    On first draw it also sends {key: "hello", width, dark}: the screen it is on."""

    _esm = ESM

    def __init__(self, actions: dict | None = None, **params):
        params.setdefault("height", 0)
        params.setdefault("width", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)
        self._actions = actions or {}

    def _handle_msg(self, msg):
        fn = self._actions.get(msg.get("key")) if isinstance(msg, dict) else None
        if fn is None:
            return
        if msg["key"] == "hello":
            fn(msg)
        else:
            fn()
