"""One probability chart per prompt: a bar per reply for pi(y|x), a sage tick at pi_ref(y|x),
and beside it a table with each reply's full text and its numbers (pi, pi_ref, r̂).

The figure is built once; every tick patches only the columns that changed (bar lengths,
value labels, hover values) with NumPy arrays. The replies with the most net votes
(``Pairs.preferred``; the export uses the same rule) are drawn by a second bar glyph on top,
darker and outlined, and their axis label starts with ★, so they stand out without colour;
a flip that changes them relabels the axis. Every style is a constant, not a per-bar
column: BokehJS recomputes a glyph's visuals on each data change, and per-bar colours made
that a large part of the browser's work per tick.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Range1d
from bokeh.plotting import figure

from ..state import SimState
from ..texts import NO_OPTIMUM, NO_OPTIMUM_DPO, NO_OPTIMUM_OTHER, TERMS
from ..theme import Palette, page_css, style_figure
from .util import LiveHTML, fixed, term
from .util import esc as _esc

LABEL_CHARS = 18
#: a value label goes inside its bar above this probability (else after the bar)
INSIDE = 0.78
#: About the width of a value label ("100.0%") in probability units on a bar chart.
LABEL_SPAN = 0.25
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def short(text: str, n: int = LABEL_CHARS) -> str:
    """The text cut to n characters with an ellipsis."""
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def letter(y: int) -> str:
    return _LETTERS[y % 26] + ("" if y < 26 else str(y // 26))


def axis_labels(replies, preferred, n: int) -> list[str]:
    """Unique axis labels (Bokeh factors must be unique): ★ for the replies with the most
    net votes, the reply's letter, and (n > 0) the start of its text."""
    out = []
    for y, text in enumerate(replies):
        mark = "★ " if preferred[y] else ""
        out.append(f"{mark}{letter(y)}" + (f"  {short(text, n)}" if n else ""))
    return out


class ProbabilityBars(pn.viewable.Viewer):
    """The bars of prompt ``x``."""

    def __init__(self, state: SimState, x: int, pal: Palette, compact: bool = False,
                 **params):
        super().__init__(**params)
        self.state, self.x, self.pal = state, x, pal
        self.compact = compact
        # the axis names each reply by its letter; the table beside it has the full text
        self.label_chars = 0
        self._pref = state.preferred[x].copy()
        self.source = ColumnDataSource(self._data())
        # pi_ref only changes with the scenario, pi* with the rows and beta: their ticks get
        # sources of their own, so BokehJS does not recompute them on every tick
        self.ref_source = ColumnDataSource(self._ref_data())
        self._opt = None
        self.rlhf_source = ColumnDataSource(self._rlhf_data())
        self.figure = self._figure()
        self.table = LiveHTML(html=self._table(), stylesheets=[page_css(pal)],
                              sizing_mode="stretch_width", margin=(0, 6),
                              styles={"flex": "1.3 1 250px", "min-width": "0"})
        self.heading = pn.pane.HTML(self._heading(), stylesheets=[page_css(pal)],
                                    sizing_mode="stretch_width", margin=(6, 10, 0, 10))
        # the figure in a column of its own: a flex item takes its flex basis from it
        plot = pn.Column(pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width", margin=0,
                         styles={"flex": "1 1 240px", "min-width": "0"})
        self._layout = pn.Column(
            self.heading,
            pn.FlexBox(plot, self.table, sizing_mode="stretch_width", align_items="center",
                       flex_wrap="wrap"),
            sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout

    # -- data ------------------------------------------------------------------------
    def _columns(self) -> dict:
        st, x = self.state, self.x
        rec = st.record
        # copies: Bokeh patches the source's arrays in place, and these must never be
        # the records' own arrays (the run's history, downloaded as CSV)
        pi = rec.probs[x].copy()
        pref = st.preferred[x]
        inside = pi > INSIDE
        label = np.array([f"{v:.1%}" for v in pi], dtype=object)
        empty = np.full(len(pi), "", dtype=object)   # object: no fixed string width
        return {
            "pi": pi,
            "ref": st.pi_ref[x],
            "rhat": rec.rewards[x].copy(),
            # the preferred bar, drawn again on top in its own style (NaN: no bar)
            "pref_pi": np.where(pref, pi, np.nan),
            # three label glyphs, each with one constant colour and alignment
            "lab_out": np.where(inside, empty, label),
            "lab_in": np.where(inside & ~pref, label, empty),
            "lab_in_pref": np.where(inside & pref, label, empty),
            "x_at": self._label_x(pi, inside),
        }

    def _label_x(self, pi: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Where each value label starts (outside the bar) or ends (inside it), a gap
        away (x_offset): past pi*'s diamond when it sits just beyond the bar's end, short
        of it when it sits just inside, so label and diamond never overlap."""
        opt = self.state.optimum
        if not opt.finite[self.x]:
            return pi
        star = opt.probs[self.x]
        out = np.maximum(pi, star)
        near_inside = (star < pi) & (star > pi - LABEL_SPAN)
        return np.where(inside, np.where(near_inside, star, pi), out)

    def labels(self) -> list[str]:
        """The value label drawn on each bar (whichever glyph draws it)."""
        d = self.source.data
        return [a or b or c for a, b, c in zip(d["lab_out"], d["lab_in"], d["lab_in_pref"])]

    def axis_labels(self) -> list[str]:
        """The axis label of each reply, in reply order (★ marks the most net votes)."""
        return list(self.source.data["reply"])

    def _data(self) -> dict:
        replies = self.state.spec.prompts[self.x].replies
        d = self._columns()
        d["reply"] = axis_labels(replies, self._pref, self.label_chars)
        d["text"] = list(replies)
        return d

    def _ref_data(self) -> dict:
        d = self.source.data
        return {"reply": list(d["reply"]), "ref": np.array(d["ref"])}

    def _rlhf_data(self) -> dict:
        """pi* of this prompt, or no points where it has no finite optimum."""
        opt = self._opt = self.state.optimum
        if not opt.finite[self.x]:
            return {"reply": [], "pstar": np.zeros(0)}
        return {"reply": list(self.source.data["reply"]), "pstar": opt.probs[self.x].copy()}

    # -- drawing ---------------------------------------------------------------------
    def _figure(self):
        p = self.pal
        labels = list(self.source.data["reply"])
        fig = figure(
            y_range=FactorRange(*reversed(labels)), x_range=Range1d(0, 1),
            height=_height(len(labels)), sizing_mode="stretch_width", min_width=200,
            tools="", toolbar_location=None, x_axis_label="probability π(y|x)",
            min_border_right=14,
        )
        bars = fig.hbar(y="reply", right="pi", height=0.7, source=self.source,
                        fill_color=p.bar, line_color=p.bar, line_width=2)
        pref = fig.hbar(y="reply", right="pref_pi", height=0.7, source=self.source,
                        fill_color=p.bar_preferred, line_color=p.text, line_width=2.5)
        ticks = fig.rect(x="ref", y="reply", width=0.012, height=0.95, source=self.ref_source,
                         fill_color=p.ref_tick, line_color=p.ref_tick)
        # pi*: a diamond, another shape and colour than the reference's bar-high tick
        stars = fig.scatter(x="pstar", y="reply", source=self.rlhf_source, marker="diamond",
                            size=15, fill_color=p.rlhf_tick, line_color=p.background,
                            line_width=1.5)
        fig.add_tools(HoverTool(renderers=[stars], tooltips=[("pi* (RLHF)",
                                                              "@pstar{0.0000}")]))
        # each label starts (or ends) a diamond's half width plus a gap from the bar's end
        for text, dx, colour, align in (("lab_out", 13, p.text, "left"),
                                        ("lab_in", -13, p.text, "right"),
                                        ("lab_in_pref", -13, p.background, "right")):
            fig.text(x="x_at", y="reply", text=text, source=self.source, x_offset=dx,
                     text_baseline="middle", text_font_size="15px", text_color=colour,
                     text_align=align, text_font_style="bold")
        fig.add_tools(HoverTool(renderers=[ticks], tooltips=[("pi_ref", "@ref{0.0000}")]))
        fig.add_tools(HoverTool(renderers=[bars, pref], tooltips=[
            ("reply", "@text"), ("pi", "@pi{0.0000}"), ("pi_ref", "@ref{0.0000}"),
            ("implicit reward", "@rhat{+0.0000}")]))
        fig.ygrid.grid_line_color = None
        fig.css_classes = ["dpo-bars"]             # a hook for layout tests
        style_figure(fig, p)
        fig.yaxis.major_label_text_font_size = "15px"
        return fig

    def _heading(self) -> str:
        prompt = self.state.spec.prompts[self.x]
        opt = self.state.optimum
        self._dpo = self.state.loss.name == "sigmoid"
        note = ""
        if not opt.finite[self.x]:
            heading = ", ".join(letter(y) for y in np.flatnonzero(opt.heading[self.x]))
            then = (NO_OPTIMUM_DPO if self._dpo else NO_OPTIMUM_OTHER).format(
                heading=heading or "no single reply")
            note = (f'<div class="dpo-note" data-testid="no-optimum-{self.x}">'
                    f'{_esc(NO_OPTIMUM.format(then=then))}</div>')
        return (f'<div class="dpo-card dpo-prompt"><span class="dpo-h">Prompt {self.x + 1}'
                f'</span> {_esc(prompt.text)}{note}</div>')

    def _table(self) -> str:
        """Each reply's letter and full text, and its implicit reward r̂. The bars show
        pi (their labels) and pi_ref (the ticks); for screen readers, which cannot read
        the canvas, each row also says both in words."""
        st, x = self.state, self.x
        d = self.source.data
        rows = []
        for y, text in enumerate(st.spec.prompts[x].replies):
            pi, ref = float(d["pi"][y]), float(d["ref"][y])
            star = "★ " if self._pref[y] else ""
            cls = ' class="pref"' if self._pref[y] else ""
            rows.append(
                f'<tr{cls}><th scope="row"><b>{star}{letter(y)}</b> {_esc(text)}'
                f'<span class="dpo-sr" data-testid="prob-{x}-{y}" data-value="{pi!r}">'
                f': π {pi:.3f}, π_ref {ref:.3f}</span></th>'
                f'<td>{_signed(float(d["rhat"][y]))}</td></tr>')
        k = f"-{x}"
        return ('<div class="dpo-card"><table class="dpo-probs" aria-label="'
                f'the replies of prompt {x + 1}, their probabilities and implicit rewards">'
                '<thead><tr><th scope="col">reply</th>'
                f'<th scope="col">{term("rhat" + k, "r̂", TERMS["rhat"], right=True)}</th>'
                '</tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>")

    # -- updates ---------------------------------------------------------------------
    def update(self) -> None:
        """Patch the bars with the current record (called inside the state's hold)."""
        if not np.array_equal(self.state.preferred[self.x], self._pref):
            self.restart()               # a flip changed the ★: relabel the axis
            return
        if self.state.optimum is not self._opt:    # a flip or a new beta: pi* moved
            self.rlhf_source.data = self._rlhf_data()
            self.heading.object = self._heading()
        elif (self.state.loss.name == "sigmoid") != self._dpo:    # the loss changed
            self.heading.object = self._heading()
        cols = self._columns()
        old = self.source.data
        n = len(cols["pi"])
        changed = {k: [(slice(0, n), v)] for k, v in cols.items()
                   if not np.array_equal(v, old[k], equal_nan=v.dtype.kind == "f")}
        if changed:
            self.source.patch(changed)
        self.table.send(html=self._table())

    def restart(self) -> None:
        """A new scenario, a reset or new ★ marks: replace the data and the labels."""
        self._pref = self.state.preferred[self.x].copy()
        data = self._data()
        labels = list(data["reply"])
        self.figure.y_range.factors = list(reversed(labels))
        self.figure.height = _height(len(labels))
        self.heading.object = self._heading()
        self.source.data = data
        self.ref_source.data = self._ref_data()
        self.rlhf_source.data = self._rlhf_data()
        self.table.send(html=self._table())


def _signed(v: float, digits: int = 3) -> str:
    return fixed(v, digits, sign=True)


class BarsPanel(pn.viewable.Viewer):
    """The bars of every prompt; a scenario with another number of prompts gets new
    charts in place. Indexable: ``panel[x]`` is prompt x's ``ProbabilityBars``."""

    def __init__(self, state: SimState, pal: Palette, compact: bool = False, **params):
        super().__init__(**params)
        self.state, self.pal, self.compact = state, pal, compact
        self.bars = self._new()
        self._layout = pn.Column(*self.bars, sizing_mode="stretch_width")
        state.subscribe(self._on_change)

    def __panel__(self):
        return self._layout

    def __len__(self) -> int:
        return len(self.bars)

    def __getitem__(self, x: int) -> ProbabilityBars:
        return self.bars[x]

    def __iter__(self):
        return iter(self.bars)

    def _new(self) -> list[ProbabilityBars]:
        return [ProbabilityBars(self.state, x, self.pal, compact=self.compact)
                for x in range(self.state.spec.n_prompts)]

    def _on_change(self, kind: str, records) -> None:
        if kind == "pause":
            return
        if kind != "reset":
            for b in self.bars:
                b.update()
            return
        if len(self.bars) != self.state.spec.n_prompts:
            self.bars = self._new()
            self._layout.objects = list(self.bars)
        else:
            for b in self.bars:
                b.restart()


def _height(k: int) -> int:
    return 50 + 30 * k
