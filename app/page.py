"""The served page: one Panel ``JSComponent`` whose ``_esm`` is the page's modules
(``app/ui/``, joined by ``app/bundle.py``), and a NumPy session that answers its commands.

Why one component: the views are JavaScript drawn on canvases and text nodes, so a screen
update is one small message (``sim/protocol.py``'s reply) and no Bokeh model changes. Panel
stays the host: the page, the session, the notebook's comm, and the message channel
(``JSComponent._handle_msg`` / ``_send_msg``, Panel's documented API for custom messages).
"""

from __future__ import annotations

import panel as pn
import param

from ..sim.protocol import Session
from ..sim.scenario_io import list_presets, load_scenario
from .bundle import bundle, stylesheet
from .interactive import HERE, page_data, palette_css


def _presets() -> dict:
    return {pid: load_scenario(pid) for pid, _, err in list_presets() if err is None}


_PRESETS: dict | None = None


def presets() -> dict:
    """Every preset, read once per process (scenarios are immutable)."""
    global _PRESETS
    if _PRESETS is None:
        _PRESETS = _presets()
    return _PRESETS


def served_esm() -> str:
    """engine.js (for Python's number formats) and the page's modules, as one module."""
    return (HERE / "engine.js").read_text(encoding="utf-8") + "\n" + bundle("host_served.js")


class SimPage(pn.custom.JSComponent):
    """The whole page for one session (or one notebook cell)."""

    data = param.Dict(default={}, doc="The page's data: scenarios, settings table, texts.")

    _esm = served_esm()
    _stylesheets = [palette_css() + "\n" + stylesheet()
                    + "\n:host { display: block; width: 100%; }"]

    def __init__(self, scenarios: dict | None = None, shareable: bool = True, **params):
        self.scenarios = scenarios if scenarios is not None else presets()
        data = page_data(list(self.scenarios.values()))
        data["presets"] = list(self.scenarios)
        data["shareable"] = shareable
        params.setdefault("sizing_mode", "stretch_width")
        params.setdefault("margin", 0)
        super().__init__(data=data, **params)
        self.session = Session(self.scenarios)

    def _handle_msg(self, msg) -> None:
        self._send_msg(self.session.handle(msg))
