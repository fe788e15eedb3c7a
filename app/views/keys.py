"""Keyboard shortcuts for the whole page: Space play/pause, → step, R reset.

Space and R work wherever focus is, except in a text field (a button or a row in focus
does not swallow them: the page listens first, in the capture phase). → steps unless
focus is on a control whose own arrow keys matter: a slider, a select, a text field.
A focused preference row flips with Enter (the rows' own handler)."""

from __future__ import annotations

from .component import Component

ESM = r"""
const TEXT_TYPES = new Set(["text", "search", "email", "url", "tel", "number", "password"]);
const TEXT_ROLES = new Set(["textbox", "searchbox", "spinbutton"]);
const ARROW_ROLES = new Set(["slider", "listbox", "combobox", "spinbutton", "radiogroup",
                             "menu", "tablist"]);

function isTextField(t) {
  if (!t) return false;
  const tag = (t.tagName || "").toLowerCase();
  if (tag === "textarea" || t.isContentEditable) return true;
  if (tag === "input") return TEXT_TYPES.has((t.type || "text").toLowerCase());
  return TEXT_ROLES.has(t.getAttribute ? t.getAttribute("role") : null);
}

function ownsArrows(t) {
  if (!t) return false;
  const tag = (t.tagName || "").toLowerCase();
  if (tag === "select" || isTextField(t)) return true;
  if (tag === "input" && (t.type || "").toLowerCase() === "range") return true;
  if (t.classList && t.classList.contains("noUi-handle")) return true;
  return ARROW_ROLES.has(t.getAttribute ? t.getAttribute("role") : null);
}

export function render({ model, el }) {
  function handler(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = (e.composedPath && e.composedPath()[0]) || e.target;
    let key = null;
    if (e.key === " " || e.code === "Space") {
      if (isTextField(t)) return;
      key = "toggle";
    } else if (e.key === "r" || e.key === "R") {
      if (isTextField(t)) return;
      key = "reset";
    } else if (e.key === "ArrowRight") {
      if (ownsArrows(t)) return;
      key = "step";
    }
    if (key === null) return;
    e.preventDefault();
    e.stopPropagation();
    if (!e.repeat || key === "step") model.send_msg({ key });
  }
  document.addEventListener("keydown", handler, true);
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
    document.removeEventListener("keydown", handler, true);
    clearInterval(timer);
  });
}
"""


class KeyboardShortcuts(Component):
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
