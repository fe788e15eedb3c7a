"""The step log: one line per step and per action (flip, slider, toggle, load, reset),
newest first. The browser keeps at most LOG_LINES lines; each update sends only a short
tail (longer when a coalesced play update carries more new lines, up to LOG_LINES) plus the
running total, and the browser appends the lines it has not seen yet."""

from __future__ import annotations

import panel as pn
import param

from ..state import LOG_LINES, SimState
from ..theme import FONT, MONO, Palette, page_css

TAIL = 30

INVITATION = ("Nothing has happened yet. Press Step (or the → key) to take one gradient "
              "step, drag the beta slider, or click a preference row to flip it: every "
              "step and every change is listed here, newest first.")

ESM = r"""
export function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "dpo-log";
  box.setAttribute("data-testid", "step-log");
  box.setAttribute("role", "log");
  box.setAttribute("aria-label", "Step log");
  box.tabIndex = 0;
  el.appendChild(box);
  let seen = 0;
  function update() {
    const L = model.log;
    const max = model.max_lines;
    if (L.total === 0 || seen > L.total) {   // nothing yet, or a new history
      box.innerHTML = "";
      seen = 0;
    }
    if (L.total === 0) {
      const p = document.createElement("p");
      p.className = "invite";
      p.textContent = model.invitation;
      box.appendChild(p);
      return;
    }
    const inv = box.querySelector(".invite");
    if (inv) inv.remove();
    const fresh = Math.min(L.total - seen, L.tail.length);
    for (const line of L.tail.slice(L.tail.length - fresh)) {
      const d = document.createElement("div");
      d.className = line.includes(" · loss ") ? "line" : "line act";
      d.textContent = line;
      box.insertBefore(d, box.firstChild);
    }
    while (box.children.length > max) box.removeChild(box.lastChild);
    seen = L.total;
  }
  update();
  model.on("log", update);
}
"""


def log_css(p: Palette) -> str:
    return f"""
.dpo-log {{ font-family: {MONO}; font-size: 14px; color: {p.text}; max-height: 260px;
  overflow-y: auto; border: 1px solid {p.border}; border-radius: 6px; padding: 6px 10px;
  background: {p.surface}; }}
.dpo-log .line {{ white-space: pre-wrap; padding: 1px 0; }}
.dpo-log .line.act {{ font-weight: 700; border-left: 4px solid {p.ref_tick};
  padding-left: 6px; margin: 2px 0; }}
.dpo-log .invite {{ font-family: {FONT}; font-size: 17px; margin: 6px 0; }}
"""


class LogLines(pn.custom.JSComponent):
    log = param.Dict(default={"total": 0, "tail": []})
    max_lines = param.Integer(default=LOG_LINES)
    invitation = param.String(default=INVITATION)

    _esm = ESM


class StepLog(pn.viewable.Viewer):
    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(**params)
        self.state = state
        self._sent = state.log_total
        self.lines = LogLines(log=self._payload(), stylesheets=[log_css(pal)],
                              sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.pane.HTML('<div class="dpo-h">Step log</div>', stylesheets=[page_css(pal)],
                         margin=(0, 10)),
            self.lines, sizing_mode="stretch_width")
        state.subscribe(self._on_change)

    def __panel__(self):
        return self._layout

    def _on_change(self, kind: str, records) -> None:
        if kind != "pause":
            self.update()

    def _payload(self) -> dict:
        st = self.state
        new = st.log_total - getattr(self, "_sent", 0)
        self._sent = st.log_total
        n = min(max(TAIL, new), LOG_LINES)
        return {"total": st.log_total, "tail": list(st.log)[-n:]}

    def update(self) -> None:
        self.lines.log = self._payload()
