"""Charts over time: loss; KL per prompt against its ceiling; rewards/chosen, /rejected and
/margins. One ColumnDataSource feeds all three; new steps are streamed into it with a
rollover, so the page holds a bounded window while the Simulation keeps the run.

While playing, steps are streamed at most STREAM_PER_SECOND times a second (the ones in
between wait and go in the next stream, so no point is lost); paused, at once. Legends
are HTML built once under each chart (a Bokeh legend redraws every item on each change),
with a one-line explanation. Every event of the run after step 0 (a flip, a setting, a
scripted event) is a dotted vertical line on all three charts. The loss chart's axis
names what is plotted: the loss in force, by its formula (−log σ(u) for DPO), or the bare
margin −u with the sigma weight off."""

from __future__ import annotations

import time

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, Range1d, Span
from bokeh.plotting import figure

from ...sim.engine import Record
from ...sim.losses import LOSS_TYPES
from ..state import SimState
from ..texts import LOSS_AXIS, TERMS
from ..theme import PROMPT_DASHES, Palette, page_css, style_figure
from .util import esc, term

#: The loss chart's axis names what is plotted: the loss in force (its formula), or the
#: bare margin −u with the weight off; a window holding several names them all.
LOSS_OFF = "−u (weight off)"
LOSS_NAMES = tuple(LOSS_TYPES)
#: Points kept on the page per series (older points roll off the left edge).
ROLLOVER = 1500
#: Streams per second at most while playing: a line chart need not move faster.
STREAM_PER_SECOND = 10

_DASH_CSS = {"solid": "solid", "dashed": "dashed", "dotdash": "dashed", "dotted": "dotted"}


def loss_label(weights, loss_types=None) -> str:
    """What the loss chart plots, given the sigma weight and the loss type (as its index
    in ``LOSS_TYPES``) at each step shown."""
    w = np.asarray(weights, dtype=bool)
    kinds = (np.zeros(w.size, dtype=int) if loss_types is None
             else np.asarray(loss_types).astype(int))
    names = []
    for on, k in set(zip(w.tolist(), kinds.tolist())):
        names.append(LOSS_AXIS[LOSS_NAMES[k]] if on else LOSS_OFF)
    order = list(LOSS_AXIS.values()) + [LOSS_OFF]
    names = sorted(set(names), key=order.index) or [LOSS_AXIS["sigmoid"]]
    return "mean " + " or ".join(names)


def legend_html(items, pal: Palette, note: str = "") -> str:
    """A legend as HTML: a short stroke in the line's colour and dash, then its name."""
    parts = []
    for name, colour, dash, width in items:
        parts.append(
            f'<span style="white-space:nowrap;margin-right:14px"><span aria-hidden="true" '
            f'style="display:inline-block;width:26px;vertical-align:middle;margin-right:6px;'
            f'border-top:{max(2, width)}px {_DASH_CSS.get(dash, "solid")} {colour}"></span>'
            f'{esc(name)}</span>')
    return (f'<div class="dpo-legend" style="font-size:14px;color:{pal.text};'
            f'padding:0 8px 0 40px">' + "".join(parts) + note + "</div>")


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
    """The three charts over time; a scenario with another number of prompts gets new
    charts in place (the view and its place on the page stay)."""

    def __init__(self, state: SimState, pal: Palette, rollover: int = ROLLOVER, **params):
        super().__init__(**params)
        self.state, self.pal, self.rollover = state, pal, rollover
        self._wrap = pn.Column(self._build(), sizing_mode="stretch_width", margin=0)
        state.subscribe(self._on_change)

    def __panel__(self):
        return self._wrap

    def _build(self):
        self.n_prompts = self.state.spec.n_prompts
        self.source = ColumnDataSource(columns(self.state.history[-self.rollover:],
                                               self.n_prompts))
        self._buffer: list[Record] = []      # steps waiting for the next stream
        self._streamed_at = -np.inf
        self._legends: list[list] = []
        # the run's events after step 0, one dotted line each on every chart
        self.marks = ColumnDataSource(self._marks_data())
        self._marks_version = self.state.events_version
        self.figures = [self._loss(), self._kl(), self._rewards()]
        self._loss_label = self.figures[0].yaxis[0].axis_label
        css = [page_css(self.pal)]
        notes = [("chart_loss", "about this chart"), ("chart_kl", "about this chart"),
                 ("chart_rewards", "about this chart")]
        return pn.Column(
            *[pn.Column(pn.pane.Bokeh(f, sizing_mode="stretch_width"),
                        pn.pane.HTML(legend_html(items, self.pal, note=(
                            '<span style="white-space:nowrap">'
                            + term(f"{k}", label, TERMS[k], right=True) + "</span>")),
                                     stylesheets=css, sizing_mode="stretch_width",
                                     margin=(0, 0, 4, 0)),
                        sizing_mode="stretch_width", min_width=0)
              for f, items, (k, label) in zip(self.figures, self._legends, notes)],
            sizing_mode="stretch_width", margin=0)

    def _marks_data(self) -> dict:
        m = self.state.marks()
        return {"step": np.array([e.step for e in m], dtype=float),
                "text": [e.line for e in m]}

    def _sync_marks(self) -> None:
        """New events (an action, a scripted event reached): redraw the marks, and the
        loss axis's name if the sigma weight changed."""
        st = self.state
        if st.events_version == self._marks_version:
            return
        self._marks_version = st.events_version
        data = self._marks_data()
        if not np.array_equal(data["step"], self.marks.data["step"]):
            self.marks.data = data
        label = self._label()
        if label != self._loss_label:
            self._loss_label = label
            self.figures[0].yaxis[0].axis_label = label

    def _label(self) -> str:
        h = self.state.history
        return loss_label(h.column("adaptive_weight")[-self.rollover:],
                          h.column("loss_type")[-self.rollover:])

    def _on_change(self, kind: str, records: list[Record]) -> None:
        st = self.state
        if kind == "pause":
            self.flush()                 # the steps held back while playing
        elif kind == "reset":
            self.restart()
        elif kind == "step":
            self.append(records, defer=st.playing, now=st.push_time)
        else:
            self.replace_last(records[-1])
        if kind != "reset":
            self._sync_marks()

    def _fig(self, title: str, y_label: str, y_span: float = 1.0):
        """A chart over time. At step 0 (one point) the axes still show a sensible span:
        steps 0 to 20, and ``y_span`` around the value."""
        fig = figure(title=title, height=180, sizing_mode="stretch_width", min_width=260,
                     tools="", toolbar_location=None, x_axis_label="step",
                     y_axis_label=y_label, x_range=DataRange1d(start=0, default_span=20),
                     y_range=DataRange1d(default_span=y_span))
        fig.vspan(x="step", source=self.marks, line_color=self.pal.muted, line_width=2,
                  line_dash="dotted")
        fig.css_classes = ["dpo-chart"]            # a hook for layout tests
        self._legends.append([])
        return fig

    def _line(self, fig, y, name, colour, width=3, dash="solid"):
        """A line of the chart, and its entry in the chart's HTML legend."""
        self._legends[-1].append((name, colour, dash, width))
        return fig.line("step", y, source=self.source, line_width=width, color=colour,
                        line_dash=dash)

    def _finish(self, fig, renderers, tooltips):
        fig.add_tools(HoverTool(renderers=renderers, tooltips=[("step", "@step")] + tooltips,
                                mode="vline"))
        style_figure(fig, self.pal)
        return fig

    def _loss(self):
        p = self.pal
        fig = self._fig("Loss", self._label(), y_span=0.5)
        r = self._line(fig, "loss", "mean over all judgements", p.margin)
        return self._finish(fig, [r], [("loss", "@loss{0.0000}")])

    def _kl(self):
        p = self.pal
        fig = self._fig("KL(π ‖ π_ref) per prompt", "KL (nats)")
        rs = []
        self.kl_spans = []
        for x in range(self.n_prompts):
            c = p.series[x % len(p.series)]
            rs.append(self._line(fig, f"kl{x}", f"prompt {x + 1}", c,
                                 dash=PROMPT_DASHES[x % len(PROMPT_DASHES)]))
        ceil = self.state.kl_ceiling
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
        fig = self._fig("Implicit rewards", "mean implicit reward r̂", y_span=2.0)
        rc = self._line(fig, "chosen", "chosen", p.chosen)
        rr = self._line(fig, "rejected", "rejected", p.rejected, dash="dashed")
        rm = self._line(fig, "margins", "margin", p.margin, width=2, dash="dotted")
        return self._finish(fig, [rc, rr, rm], [("chosen", "@chosen{+0.000}"),
                                                ("rejected", "@rejected{+0.000}"),
                                                ("margins", "@margins{+0.000}")])

    # -- updates ---------------------------------------------------------------------
    def append(self, records: list[Record], defer: bool = False,
               now: float | None = None) -> None:
        """Stream new steps. ``defer`` (playing): keep them for the next stream if the
        last one was less than 1 / STREAM_PER_SECOND ago (``now``: the beat's clock)."""
        self._buffer += records
        now = time.monotonic() if now is None else now
        if defer and now - self._streamed_at < 1.0 / STREAM_PER_SECOND:
            return
        self._streamed_at = now
        self.flush()

    def flush(self) -> None:
        """Stream every step still waiting (one stream of NumPy arrays)."""
        if self._buffer:
            new, self._buffer = self._buffer, []
            self.source.stream(columns(new, self.n_prompts), rollover=self.rollover)

    def replace_last(self, record: Record) -> None:
        """An action recomputed the current step's record: patch the last point."""
        self.flush()
        n = len(self.source.data["step"])
        if n == 0:
            return self.append([record])
        new = columns([record], self.n_prompts)
        self.source.patch({k: [(n - 1, v[0])] for k, v in new.items()})

    def restart(self) -> None:
        """A new scenario or a reset: the run's history so far (new charts if the number
        of prompts changed)."""
        st = self.state
        if st.spec.n_prompts != self.n_prompts:
            self._wrap.objects = [self._build()]
            return
        ceil = st.kl_ceiling
        for s, c in zip(self.kl_spans, ceil):
            s.location = float(c)
        self.kl_range.end = 1.08 * float(ceil.max())
        self._buffer = []
        self.source.data = columns(st.history[-self.rollover:], self.n_prompts)
        self._marks_version = -1
        self._sync_marks()
