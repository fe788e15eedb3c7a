"""Small helpers shared by the views."""

from __future__ import annotations

import html

import panel as pn
import param

from ..theme import Palette, page_css


def esc(s: str) -> str:
    """Text safe inside HTML and attribute values."""
    return html.escape(str(s), quote=True)


def num(testid: str, value: float, text: str, label: str, extra: str = "") -> str:
    """A readout: data-testid, full-precision data-value, rounded visible text."""
    return (f'<span class="dpo-readout"><span class="k">{esc(label)}</span>'
            f'<span class="v" data-testid="{testid}" data-value="{float(value)!r}">{esc(text)}'
            f'</span>{extra}</span>')


def wrap_below(px: int) -> str:
    """Stylesheet for a pn.FlexBox(flex_wrap="nowrap"): wrap its items on screens
    narrower than ``px`` (Panel's own wrapping ignores flex-basis on stretched panes)."""
    return f"@media (max-width: {px}px) {{ div {{ flex-wrap: wrap !important; }} }}"


class LiveHTML(pn.custom.JSComponent):
    """An HTML fragment that changes every tick. Cheaper than a pn.pane.HTML update
    (which rebuilds its whole model properties): only the string property changes."""

    html = param.String(default="")

    _esm = """
export function render({ model, el }) {
  const box = document.createElement("div");
  box.innerHTML = model.html;
  el.appendChild(box);
  model.on("html", () => { box.innerHTML = model.html; });
}
"""


class HtmlView(pn.viewable.Viewer):
    """A view that is one LiveHTML fragment redrawn from the state: subclasses write
    ``_html()``; ``update()`` re-renders it (one string property per tick)."""

    def __init__(self, state, pal: Palette, **params):
        super().__init__(**params)
        self.state = state
        self.pane = LiveHTML(html=self._html(), stylesheets=[page_css(pal)],
                             sizing_mode="stretch_width", margin=(4, 10))

    def __panel__(self):
        return self.pane

    def _html(self) -> str:
        raise NotImplementedError

    def update(self) -> None:
        self.pane.html = self._html()
