"""Small helpers shared by the views."""

from __future__ import annotations

import html
from pathlib import Path

import panel as pn
import param

from ..numfmt import fixed, small  # noqa: F401  (the views import them from here)
from ..theme import Palette, page_css
from .component import Component


def esc(s: str) -> str:
    """Text safe inside HTML and attribute values."""
    return html.escape(str(s), quote=True)


def term(key: str, label: str, text: str, right: bool = False) -> str:
    """A term with its one-line explanation, reachable by hover, keyboard focus or tap:
    a button (focusable, and focused by a tap) described by a tooltip that CSS shows on
    hover and focus (``page_css``). ``key`` must be unique within its fragment;
    ``right``: the tooltip opens leftward (for terms near the right edge)."""
    side = " dpo-tip-right" if right else ""
    return (f'<span class="dpo-tipwrap"><button type="button" class="dpo-term" '
            f'aria-describedby="tip-{key}">{esc(label)}</button><span role="tooltip" '
            f'id="tip-{key}" class="dpo-tip{side}">{esc(text)}</span></span>')


def num(testid: str, value: float, text: str, label: str, extra: str = "") -> str:
    """A readout: data-testid, full-precision data-value, rounded visible text."""
    return (f'<span class="dpo-readout"><span class="k">{esc(label)}</span>'
            f'<span class="v" data-testid="{testid}" data-value="{float(value)!r}">{esc(text)}'
            f'</span>{extra}</span>')


def wrap_below(px: int) -> str:
    """Stylesheet for a pn.FlexBox(flex_wrap="nowrap"): wrap its items on screens
    narrower than ``px`` (Panel's own wrapping ignores flex-basis on stretched panes)."""
    return f"@media (max-width: {px}px) {{ div {{ flex-wrap: wrap !important; }} }}"


class LiveHTML(Component):
    """An HTML fragment that changes every tick. Cheaper than a pn.pane.HTML update
    (which rebuilds its whole model properties): only the string property changes, and
    the browser patches the live DOM in place (only text and attributes that differ),
    so a tick that changes a few numbers changes a few text nodes, not the whole tree.
    A button in it with ``data-point="PART"`` points at that part of the page
    (``live_html.js``)."""

    html = param.String(default="")

    _esm = Path(__file__).with_name("live_html.js")


class HtmlView(pn.viewable.Viewer):
    """A view that is one LiveHTML fragment redrawn from the state: subclasses write
    ``_html()``; it is re-rendered on every change of the run (one string property per
    tick)."""

    #: how the fragment sizes itself (a header badge keeps its own width)
    _sizing = "stretch_width"

    def __init__(self, state, pal: Palette, **params):
        super().__init__(**params)
        self.state = state
        self.pane = LiveHTML(html=self._html(), stylesheets=[page_css(pal)],
                             sizing_mode=self._sizing, margin=(4, 10))
        state.subscribe(self._on_change)

    def _on_change(self, kind: str, records) -> None:
        if kind != "pause":
            self.update()

    def __panel__(self):
        return self.pane

    def _html(self) -> str:
        raise NotImplementedError

    def update(self) -> None:
        self.pane.send(html=self._html())


def after_this_update(fn) -> bool:
    """Run ``fn`` on the server's next tick, once the update being built has gone to the
    browser (a served page), so a slow recomputation never delays what the learner just
    did; elsewhere (a notebook, a test) run it now. Returns True if it was deferred."""
    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        doc.add_next_tick_callback(fn)
        return True
    fn()
    return False


def heading(text: str, pal: Palette) -> pn.pane.HTML:
    """A view's small heading, above its widgets and chart."""
    return pn.pane.HTML(f'<div class="dpo-card"><div class="dpo-h">{esc(text)}</div></div>',
                        stylesheets=[page_css(pal)], margin=(6, 10, 0, 10),
                        sizing_mode="stretch_width")
