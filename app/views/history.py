"""Charts over time: loss; KL per prompt against its ceiling; rewards/chosen, /rejected and
/margins. One ColumnDataSource feeds all three; each tick streams the new steps into it
with a rollover, so the page holds a bounded window while the Simulation keeps the run."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, Range1d, Span
from bokeh.plotting import figure

from sim.engine import Record

from ..state import SimState
from ..theme import Palette, style_figure
from .util import wrap_below
from .readouts import kl_ceiling

#: Points kept on the page per series (older points roll off the left edge).
ROLLOVER = 1500


def columns(records: list[Record], n_prompts: int) -> dict:
    """The chart columns of some records, as NumPy arrays."""
    d = {
        "step": np.array([r.step for r in records], dtype=float),
        "loss": np.array([r.loss for r in records]),
        "chosen": np.array([r.rewards_chosen for r in records]),
        "rejected": np.array([r.rewards_rejected for r in records]),
        "margins": np.array([r.rewards_margins for r in records]),
    }
    kl = np.array([r.kl for r in records]).reshape(len(records), n_prompts)
    for x in range(n_prompts):
        d[f"kl{x}"] = kl[:, x]
    return d


class HistoryCharts(pn.viewable.Viewer):
    def __init__(self, state: SimState, pal: Palette, rollover: int = ROLLOVER, **params):
        super().__init__(**params)
        self.state, self.pal, self.rollover = state, pal, rollover
        self.n_prompts = state.spec.n_prompts
        self.source = ColumnDataSource(columns(state.sim.history[-rollover:], self.n_prompts))
        self.figures = [self._loss(), self._kl(), self._rewards()]
        self._layout = pn.FlexBox(*[pn.pane.Bokeh(f, sizing_mode="stretch_width")
                                    for f in self.figures],
                                  sizing_mode="stretch_width", flex_wrap="nowrap",
                                  stylesheets=[wrap_below(1200)])

    def __panel__(self):
        return self._layout

    def _fig(self, title: str, y_label: str):
        fig = figure(title=title, height=230, sizing_mode="stretch_width", min_width=300,
                     tools="", toolbar_location=None, x_axis_label="step",
                     y_axis_label=y_label)
        return fig

    def _finish(self, fig, renderers, tooltips):
        fig.add_tools(HoverTool(renderers=renderers, tooltips=[("step", "@step")] + tooltips,
                                mode="vline"))
        lg = fig.legend[0]
        lg.orientation = "horizontal"
        lg.click_policy = "none"
        fig.add_layout(lg, "below")
        style_figure(fig, self.pal)
        return fig

    def _loss(self):
        p = self.pal
        fig = self._fig("Loss", "mean -log sigma(u)")
        r = fig.line("step", "loss", source=self.source, line_width=3, color=p.margin,
                     legend_label="mean over all judgements")
        return self._finish(fig, [r], [("loss", "@loss{0.0000}")])

    def _kl(self):
        p = self.pal
        fig = self._fig("KL(pi || pi_ref) per prompt", "KL (nats); dashed: ceiling")
        rs = []
        self.kl_spans = []
        dashes = ["solid", "dashed", "dotdash", "dotted"]
        for x in range(self.n_prompts):
            c = p.series[x % len(p.series)]
            rs.append(fig.line("step", f"kl{x}", source=self.source, line_width=3, color=c,
                               line_dash=dashes[x % len(dashes)],
                               legend_label=f"prompt {x + 1}"))
        ceil = kl_ceiling(self.state)
        # a fixed scale up to the ceiling: how far below it KL stays is the story
        fig.y_range = Range1d(0, 1.08 * float(ceil.max()))
        self.kl_range = fig.y_range
        for x in range(self.n_prompts):
            s = Span(location=float(ceil[x]), dimension="width", line_dash="dashed",
                     line_color=p.muted, line_width=1.5)
            fig.add_layout(s)
            self.kl_spans.append(s)
        return self._finish(fig, rs, [(f"KL {x + 1}", f"@kl{x}{{0.0000}}")
                                      for x in range(self.n_prompts)])

    def _rewards(self):
        p = self.pal
        fig = self._fig("Implicit rewards", "mean implicit reward")
        rc = fig.line("step", "chosen", source=self.source, line_width=3, color=p.chosen,
                      legend_label="chosen")
        rr = fig.line("step", "rejected", source=self.source, line_width=3, color=p.rejected,
                      line_dash="dashed", legend_label="rejected")
        rm = fig.line("step", "margins", source=self.source, line_width=2, color=p.margin,
                      line_dash="dotted", legend_label="margin")
        return self._finish(fig, [rc, rr, rm], [("chosen", "@chosen{+0.000}"),
                                                ("rejected", "@rejected{+0.000}"),
                                                ("margins", "@margins{+0.000}")])

    # -- updates ---------------------------------------------------------------------
    def append(self, records: list[Record]) -> None:
        self.source.stream(columns(records, self.n_prompts), rollover=self.rollover)

    def replace_last(self, record: Record) -> None:
        """An action recomputed the current step's record: patch the last point."""
        n = len(self.source.data["step"])
        if n == 0:
            return self.append([record])
        new = columns([record], self.n_prompts)
        self.source.patch({k: [(n - 1, v[0])] for k, v in new.items()})

    def restart(self) -> None:
        st = self.state
        if st.spec.n_prompts != self.n_prompts:
            raise ValueError("a scenario with a different number of prompts needs new charts")
        ceil = kl_ceiling(st)
        for s, c in zip(self.kl_spans, ceil):
            s.location = float(c)
        self.kl_range.end = 1.08 * float(ceil.max())
        self.source.data = columns(st.sim.history[-self.rollover:], self.n_prompts)
