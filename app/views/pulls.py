"""The pulls, as a picture: the weight curve of the loss in force (σ(−u) for DPO) against
the margin u, with every row as a dot at its current u, moving live.

A row's chosen side pulls with votes_chosen × weight(u), its rejected side with
votes_rejected × weight(−u). Each row that comes to rest (``sim.rest``, the same decision the
formula strip states) has a tick on the axis at its rest margin, so a learner sees a split
pair's dot settle on its tick while a unanimous pair's dot slides on down the curve for
ever, and a pair learned hard stops pulling because the curve is low there. With the weight
off the curve is flat at 1.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

from .. import texts as T
from ..state import SimState
from ..theme import Palette, page_css, style_figure
from .util import esc

GRID = 241
NOTE = T.PULLS_NOTE


class PullsChart(pn.viewable.Viewer):
    """The weight curve of the loss in force, with the rows as dots."""

    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(**params)
        self.state, self.pal = state, pal
        self.curve = ColumnDataSource({"u": np.zeros(GRID), "w": np.zeros(GRID)})
        self.dots = ColumnDataSource(self._dots())
        self.ticks = ColumnDataSource({"u": [], "label": []})
        self._span = None
        self._key = None
        self.figure = self._figure()
        self._refresh(force=True)
        self._layout = pn.Column(
            pn.pane.HTML(f'<div class="dpo-card"><div class="dpo-h">{esc(T.PULLS_HEADING)}'
                         '</div></div>', stylesheets=[page_css(pal)],
                         margin=(6, 10, 0, 10), sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
            pn.pane.HTML(f'<div class="dpo-note">{esc(NOTE)}</div>',
                         stylesheets=[page_css(pal)], margin=(0, 10, 6, 10),
                         sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        state.subscribe(self._on_change)

    def __panel__(self):
        return self._layout

    def _loss(self):
        return self.state.loss

    def _dots(self) -> dict:
        st = self.state
        rec = st.record
        u = rec.row_margin.copy()
        w = np.asarray(self._loss().weight(u, rec.beta), dtype=float).copy()
        return {"u": u, "w": w, "label": [str(i) for i in range(len(u))],
                "votes": [f"{a:g}:{b:g}" for a, b in zip(st.pairs.votes_chosen,
                                                          st.pairs.votes_rejected)]}

    def _figure(self):
        p = self.pal
        fig = figure(height=200, sizing_mode="stretch_width", min_width=260, tools="",
                     toolbar_location=None, x_axis_label=T.PULLS_X_LABEL,
                     y_axis_label=T.PULLS_Y_LABEL, x_range=Range1d(-5, 5),
                     y_range=Range1d(0, 1.1))
        fig.line("u", "w", source=self.curve, line_width=3, color=p.margin)
        fig.scatter("u", -0.05, source=self.ticks, marker="triangle", size=11,
                    fill_color=p.ref_tick, line_color=p.ref_tick)
        dots = fig.scatter("u", "w", source=self.dots, size=13, fill_color=p.chosen,
                           line_color=p.text, line_width=1.5)
        fig.text("u", "w", text="label", source=self.dots, x_offset=9, y_offset=-9,
                 text_font_size="13px", text_color=p.text)
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[
            ("row", "@label"), ("votes", "@votes"), ("u", "@u{+0.000}"),
            ("weight", "@w{0.000}")]))
        fig.css_classes = ["dpo-pulls"]
        style_figure(fig, p)
        return fig

    def _refresh(self, force: bool = False) -> None:
        """The curve and the rest ticks: redrawn only when what shapes them changes (the
        loss in force, beta, the rows, the span of the dots)."""
        st = self.state
        rec = st.record
        loss = self._loss()
        u = rec.row_margin
        lo = float(min(-5.0, np.floor(u.min()) - 1.0)) if len(u) else -5.0
        hi = float(max(5.0, np.ceil(u.max()) + 1.0)) if len(u) else 5.0
        pairs = st.pairs
        rests = [rr.u if rr.kind == "rests" else np.nan for rr in st.rest]
        key = (loss, rec.beta, lo, hi, tuple(pairs.chosen), tuple(pairs.rejected),
               tuple(rests))
        if not force and key == self._key:
            return
        self._key = key
        grid = np.linspace(lo, hi, GRID)
        w = np.asarray(loss.weight(grid, rec.beta), dtype=float)
        self.curve.data = {"u": grid, "w": w}
        shown = [(r, str(i)) for i, r in enumerate(rests) if np.isfinite(r)]
        self.ticks.data = {"u": [r for r, _ in shown], "label": [t for _, t in shown]}
        self.figure.x_range.start, self.figure.x_range.end = lo, hi
        top = float(max(1.1, np.nanmax(w) * 1.1 if w.size else 1.1))
        self.figure.y_range.start, self.figure.y_range.end = -0.12, top

    def _on_change(self, kind: str, records) -> None:
        if kind == "pause":
            return
        self._refresh(force=kind == "reset")
        new = self._dots()
        old = self.dots.data
        if len(new["u"]) != len(old["u"]) or new["votes"] != list(old["votes"]):
            self.dots.data = new
        else:
            n = len(new["u"])
            self.dots.patch({"u": [(slice(0, n), new["u"])], "w": [(slice(0, n), new["w"])]})
