"""The dashboard: the served page (``app/page.py``) for one session or one notebook cell.

``create_dashboard(**settings)`` makes a fresh page with its own NumPy session, so each
browser tab is independent. Settings given here (``scenario="mislabel"``, ``beta=0.5``,
``theme="dark"``, ``hide=...``) are the page's starting link, read by the same code as an
address (app/ui/address.js); on a served page the address's own settings come after them.
"""

from __future__ import annotations

import panel as pn

from ..sim.settings import SETTINGS
from . import page
from .page import ServedPage, SimPage

TITLE = "dpo-sim"
#: The page's template: Panel's own, plus a viewport for phones.
#: (Panel puts "{% extends base %}" in front of a template given as text.)
PAGE_TEMPLATE = ("{% block preamble %}{{ super() }}"
                 '<meta name="viewport" content="width=device-width, initial-scale=1">'
                 "{% endblock %}")
#: What ``create_dashboard(...)`` accepts besides the scenarios: the link's parameters.
_URL = {s.name: s.url for s in SETTINGS if s.url}


def _served() -> bool:
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


def create_dashboard(*, scenarios: dict | None = None, query: dict | None = None,
                     **settings) -> SimPage:
    """A fresh page. ``settings``: ``scenario``, any setting by its TOML name, ``theme``,
    ``hide``, ``step``, ``flipped``, ``events``, ``autoplay``; ``query``: the same as an
    address's parameters by their link names."""
    q = dict(query or {})
    for k, v in settings.items():
        if k in _URL:
            k = _URL[k]
        elif k not in ("scenario", "theme", "hide", "step", "flipped", "events", "autoplay"):
            raise TypeError(f"unknown dashboard setting: {k}")
        q[k] = v if isinstance(v, str) else (("on" if v else "off") if isinstance(v, bool)
                                              else str(v))
    served = _served()
    if served:
        pn.state.curdoc.template = PAGE_TEMPLATE
    kind = ServedPage if served and page.script_in_html() else SimPage
    return kind(scenarios=scenarios, shareable=served, query=q)
