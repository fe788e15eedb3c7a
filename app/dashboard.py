"""The dashboard: the state object plus one view per part, laid out for a projector
(1280 x 720) and a phone.

``create_dashboard(**settings)`` makes a fresh state and fresh views, so each browser tab
(one Panel session each) is independent. Each view subscribes itself to the state's
changes, so this module only builds the views and lays them out.

The theme is chosen per session: ``?theme=dark`` (Panel's own address parameter, read
by ``pn.config.theme``; ``?theme=default`` or ``light`` gives the light one), otherwise
the browser's colour-scheme preference, which the page reports on load; the views are
built once, after the theme is known.
"""

from __future__ import annotations

import panel as pn
import param

from .address import HIDEABLE, PARTS, WATCHED, apply_query, query_string, to_query
from .state import CONTROLS, SimState
from .texts import LEGEND_RLHF, SUBTITLE, TABLE_NOT_LM
from .theme import FONT, LEGEND, body_css, layout_css, page_css, palette
from .views.ack import FrameAck
from .views.bars import BarsPanel
from .views.controls import Controls
from .views.formula import FormulaStrip
from .views.frontier import FrontierChart
from .views.history import HistoryCharts
from .views.keys import KeyboardShortcuts
from .views.learn import LearnPanel, TryIt
from .views.pairs import PairsList
from .views.pulls import PullsChart
from .views.readouts import Readouts
from .views.reconnect import ConnectionNotice
from .views.share import SharePanel
from .views.stepbadge import StepBadge
from .views.steplog import StepLog
from .views.sweep import SweepMap
from .views.util import esc

TITLE = "dpo-sim"
#: The parts that live in the side column (hiding them all collapses it).
SIDE_PARTS = ("sliders", "picker", "watch", "download", "share")
#: The page's template: Panel's own, plus a viewport for phones (the page lays itself out
#: to the screen's width instead of a desktop width shrunk to fit).
#: (Panel puts "{% extends base %}" in front of a template given as text.)
PAGE_TEMPLATE = ("{% block preamble %}{{ super() }}"
                 '<meta name="viewport" content="width=device-width, initial-scale=1">'
                 "{% endblock %}")
#: What ``create_dashboard(...)`` accepts: the scenario and each setting with a control.
STATE_SETTINGS = ("scenario",) + tuple(s.name for s in CONTROLS)


def _query_theme() -> str | None:
    """The theme the address asks for, as Panel reads it (``pn.config.theme``), or None
    if it names none (then the browser's preference decides)."""
    if pn.state.curdoc is None or "theme" not in (pn.state.session_args or {}):
        return None
    return "dark" if pn.config.theme == "dark" else "light"


def _session_query() -> dict:
    """This session's address query as {name: text} (the first value of each)."""
    if pn.state.curdoc is None:
        return {}
    out = {}
    for k, vals in (pn.state.session_args or {}).items():
        if vals:
            v = vals[0]
            out[k] = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return out


def _served() -> bool:
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


class Dashboard(pn.viewable.Viewer):
    """The whole page. ``state`` is its SimState; views are built once per session."""

    theme = param.Selector(default=None, objects=[None, "light", "dark"], allow_None=True)

    def __init__(self, state: SimState | None = None, *, theme: str | None = None,
                 scenarios=None, hold=None, query: dict | None = None, **settings):
        """``query``: address parameters to apply (see app.state.URL_PARAMS); in a served
        session the page's own address is used."""
        super().__init__()
        state_kw = {k: settings.pop(k) for k in STATE_SETTINGS if k in settings}
        if settings:
            raise TypeError(f"unknown dashboard settings: {', '.join(sorted(settings))}")
        self.state = state or SimState(scenarios=scenarios, hold=hold, **state_kw)
        self.views: dict = {}
        self._query = query
        self.notices: list[str] = []
        self._root = pn.Column(sizing_mode="stretch_width", margin=0)
        self._theme_arg = theme or _query_theme()
        self.compact = False
        st = self.state
        self._keys = KeyboardShortcuts(actions={"toggle": st.toggle, "step": st.step,
                                                "reset": st.reset, "hello": self._hello})
        # says so if the server goes away, from the first moment (served pages only)
        self._lost = ConnectionNotice() if _served() else None
        self._rest = None
        if _served():
            pn.state.curdoc.template = PAGE_TEMPLATE
            # The keyboard component reports the browser's width and colour scheme as
            # soon as it is drawn; the views are built then, once, to fit that screen.
            self._root.objects = [pn.pane.HTML(
                '<p style="font-size:18px;padding:16px">Loading the simulator…</p>'),
                self._keys, self._lost]
            pn.state.onload(self._fallback_build)
        else:
            self._build(self._theme_arg or "light")

    def __panel__(self):
        return self._root

    # -- building --------------------------------------------------------------------
    def _hello(self, info: dict) -> None:
        """The browser's first message: {width, dark}."""
        if self.views:
            return
        width = info.get("width") or 0
        self.compact = 0 < width < 700                  # phone: shorter reply labels
        dark = bool(info.get("dark"))
        with pn.io.hold():
            self._build(self._theme_arg or ("dark" if dark else "light"))

    def _fallback_build(self) -> None:
        """Should the browser's report never come, build anyway after a moment."""
        def later():
            if not self.views:
                info = pn.state.browser_info
                self._hello({"dark": bool(info is not None and info.dark_mode)})
        pn.state.add_periodic_callback(later, period=1500, count=1)

    def _build(self, theme: str) -> None:
        if self.views:
            return
        self.theme = theme
        if _served():
            pn.config.theme = "dark" if theme == "dark" else "default"   # this session only
        pal = palette(theme)
        st = self.state
        v = self.views
        # The address first: the views then start from what the link describes.
        query = self._query if self._query is not None else _session_query()
        self.notices = apply_query(st, query) if query else []
        self.pal = pal
        # Each view subscribes itself to the state's changes, in this order; the
        # acknowledgement of a screen update goes last whatever the order (see ack).
        v["controls"] = Controls(st, pal)
        v["readouts"] = Readouts(st, pal)
        v["bars"] = BarsPanel(st, pal, compact=self.compact)
        v["pairs"] = PairsList(st, pal)
        v["formula"] = FormulaStrip(st, pal)
        v["pulls"] = PullsChart(st, pal)
        v["history"] = HistoryCharts(st, pal)
        v["log"] = StepLog(st, pal)
        v["frontier"] = FrontierChart(st, pal)
        v["sweep"] = SweepMap(st, pal)
        v["try"] = TryIt(st, pal, pointing=True)
        v["learn"] = LearnPanel(st, pal)
        v["share"] = SharePanel(pal, title=st.spec.title)
        v["keys"] = self._keys
        # Flow control: the page acknowledges each drawn update; the play loop sends the
        # next one only then (a notebook has no play loop, so nothing waits there).
        v["ack"] = FrameAck(on_ack=self._on_ack, state=st)
        st.flow_control = _served()
        legend = pn.pane.HTML(f'<div class="dpo-card dpo-legend">{esc(LEGEND)} '
                              f'{esc(LEGEND_RLHF)}</div>',
                              stylesheets=[page_css(pal)], sizing_mode="stretch_width",
                              margin=(0, 10))
        table_note = pn.pane.HTML(f'<div class="dpo-card dpo-note">{esc(TABLE_NOT_LM)}</div>',
                                  stylesheets=[page_css(pal)], sizing_mode="stretch_width",
                                  margin=(6, 10))
        self._title = pn.pane.HTML(self._header_html(), stylesheets=[page_css(pal)],
                                   margin=(6, 12, 0, 12))
        v["step"] = StepBadge(st, pal)
        # Title, Play / Step / Reset and the step stay on top while the page scrolls.
        self._header = pn.FlexBox(
            self._title, v["controls"].buttons, v["step"], sizing_mode="stretch_width",
            align_items="center", gap="0 12px",
            styles={"position": "sticky", "top": "0", "z-index": "10",
                    "background": pal.background, "border-bottom": f"1px solid {pal.border}"})
        st.param.watch(lambda e: setattr(self._title, "object", self._header_html()),
                       "scenario")
        # Served: the page without the charts over time goes to the browser first, and
        # those figures (the costliest part to build and draw) once the browser has drawn
        # the rest, so the bars show sooner. A placeholder keeps their place.
        staged = _served()
        # the frontier and the sweep map follow the charts over time (the sweep's first
        # 4,096 runs wait for the next tick, after the page is laid out)
        history = [v["history"].__panel__(), v["frontier"].__panel__(),
                   v["sweep"].__panel__()]
        self._history_slot = pn.Column(*([] if staged else history),
                                       sizing_mode="stretch_width", min_height=0,
                                       styles={"grid-area": "charts"})
        # the details below the pairs (the pulls picture, "Try it", the levels with their
        # KaTeX) come with them: the first screen's bars and numbers need none of it
        tail = [v["pulls"].__panel__(), v["formula"].__panel__(), v["try"].__panel__(),
                v["learn"].__panel__(), v["log"].__panel__()]
        self._details_tail = pn.Column(*([] if staged else tail),
                                       sizing_mode="stretch_width", min_width=0, margin=0)
        if staged:
            self._schedule_rest([(self._history_slot, history), (self._details_tail, tail)])
        # The page's four blocks, placed by layout_css(): the numbers and the bars first
        # on narrow screens, the charts over time beside them on wide ones.
        self._side = pn.Column(v["controls"], v["share"].__panel__(), margin=(6, 10),
                               sizing_mode="stretch_width", styles={"grid-area": "side"})
        main = pn.Column(v["readouts"], legend, v["bars"], sizing_mode="stretch_width",
                         min_width=0, styles={"grid-area": "main"})
        details = pn.Column(table_note, v["pairs"], self._details_tail,
                            sizing_mode="stretch_width", min_width=0,
                            styles={"grid-area": "details"})
        self._body = pn.FlexBox(self._side, main, self._history_slot, details,
                                sizing_mode="stretch_width", stylesheets=[layout_css()])
        self._root.styles = {"background": pal.background, "min-height": "100vh"}
        self._root.stylesheets = [body_css(pal)]
        self._notice = pn.pane.HTML(self._notice_html(), stylesheets=[page_css(pal)],
                                    sizing_mode="stretch_width", margin=(4, 12),
                                    visible=bool(self.notices))
        # The run stopped by itself (it diverged): said at once, where the eye is.
        self._alert = pn.pane.HTML(self._alert_html(), stylesheets=[page_css(pal)],
                                   sizing_mode="stretch_width", margin=(4, 12),
                                   visible=bool(st.halted))
        st.param.watch(self._on_halted, "halted")
        if self._lost is not None:
            self._lost.param.update(text=pal.text, background=pal.background,
                                    surface=pal.surface, accent=pal.rejected, font=FONT)
        self._root.objects = [self._header, self._alert, self._notice, self._body,
                              v["keys"], v["ack"]] + ([self._lost] if self._lost else [])
        c = v["controls"]
        self._parts = {
            "sliders": list(c.boxes.values()),
            "picker": [c.scenario], "watch": [c.watch], "download": [c.download],
            "pairs": [v["pairs"].__panel__()], "charts": [v["history"].__panel__()],
            "pulls": [v["pulls"].__panel__()],
            "try": [v["try"].__panel__()], "learn": [v["learn"].__panel__()],
            "frontier": [v["frontier"].__panel__()], "sweep": [v["sweep"].__panel__()],
            "log": [v["log"].__panel__()], "formula": [v["formula"].__panel__()],
            "readouts": [v["readouts"].__panel__()], "share": [v["share"].__panel__()],
        }
        self._parts.update({s.url: [c.boxes[s.name]] for s in CONTROLS
                            if s.hideable and s.url})
        assert set(self._parts) == set(HIDEABLE) and set(PARTS) <= set(self._parts)
        # The link is built from the browser's address: in a notebook it would point at
        # the notebook, so Share is shown only on a served page.
        self._share_ok = _served()
        # each part's root carries its name as a class (dpo-part-pulls, dpo-part-beta, ...):
        # a handle for screenshots, browser tests and Try it's "Show me"
        for name in HIDEABLE:
            for o in self._parts[name]:
                o.css_classes = [*o.css_classes, f"dpo-part-{name}"]
        self._show_parts()
        st.param.watch(lambda e: self._show_parts(), "hidden")
        # a theme asked for in the address stays there, as it was written
        self._theme_query = ({"theme": _session_query()["theme"]}
                             if _query_theme() else {})
        self._location = pn.state.location if _served() else None
        st.param.watch(self._write_address, list(WATCHED))
        self._write_address()

    def _schedule_rest(self, rest_of_page) -> None:
        """Attach the rest of the page, [(slot, objects), ...], once the browser has drawn
        the first part (it acknowledges update 0), or after a second should that never
        come."""
        def rest():
            if self._rest is None:
                return
            parts, self._rest = self._rest, None
            with pn.io.hold():
                for slot, objs in parts:
                    slot.objects = objs

        self._rest = list(rest_of_page)
        self._attach_rest = rest
        pn.state.add_periodic_callback(rest, period=1000, count=1)

    def _on_ack(self, seq: int) -> None:
        if self._rest is not None:
            self._attach_rest()
        self.state.ack(seq)

    # -- the address and teacher mode -------------------------------------------------
    def _alert_html(self) -> str:
        return (f'<div class="dpo-card dpo-alert" role="alert" data-testid="halted">'
                f'{esc(self.state.halted)}</div>')

    def _on_halted(self, event) -> None:
        self._alert.object = self._alert_html()
        self._alert.visible = bool(event.new)

    def _notice_html(self) -> str:
        items = "".join(f"<li>{esc(n)}</li>" for n in self.notices)
        return (f'<div class="dpo-card dpo-notice" role="status"><b>Some settings in the '
                f'address were not used</b> (the defaults apply):<ul>{items}</ul></div>')

    def _show_parts(self) -> None:
        hidden = set(self.state.hidden) | (set() if self._share_ok else {"share"})
        # a control can be in two parts ("sliders" and "beta"): hidden if either is
        off = {id(o) for part in hidden for o in self._parts.get(part, ())}
        for objs in self._parts.values():
            for o in objs:
                o.visible = id(o) not in off
        # every part of the side column hidden: the column goes, the rest widens
        side = [o for p in SIDE_PARTS for o in self._parts[p]]
        empty = all(id(o) in off for o in side)
        self._side.visible = not empty
        self._body.css_classes = ["no-side"] if empty else []

    def _write_address(self, *events) -> None:
        """Keep the address bar (and the Share control) a link to what the page shows.
        While playing only the step moves, and a playing page's link leaves the step
        out, so ticks cost nothing here."""
        st = self.state
        if events and st.playing and all(e.name == "current_step" for e in events):
            return
        search = query_string({**to_query(st), **self._theme_query})
        self.views["share"].update(search, st.spec.title, st.playing)
        if self._location is not None and self._location.search != search:
            self._location.search = search

    def _header_html(self) -> str:
        spec = self.state.spec
        return (f'<div class="dpo-card dpo-header"><h1>dpo-sim</h1>'
                f'<span class="dpo-header-title">{esc(spec.title)}</span>'
                f'<span class="dpo-note dpo-header-sub">{esc(SUBTITLE)}</span></div>')


def create_dashboard(**settings) -> Dashboard:
    """A fresh dashboard (state and views) for one session or one notebook cell."""
    return Dashboard(**settings)
