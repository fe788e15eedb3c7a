"""A map of beta x learning rate: one run per cell (64 x 64 runs, computed at once with
``RunStack``, ``sim.sweep``), coloured by what the run reached after the scenario's steps:
the final KL, the final loss or the distance to pi*. Hatched cells are where plain
gradient descent did not settle (measured from the runs), and a dashed line is where the
loss's curvature says that starts. A click on a cell loads its beta and learning rate and
restarts the run; a ring marks the settings in force.

Cost: the grid is computed again only when the scenario, the rows (a flip), the weight
toggle or the loss change, never when beta or the learning rate move and never per tick;
and not while the view is hidden (``visible`` False): then it waits until it is shown. On
a served page the first computation waits for the next tick, so building the page (and
hiding this part) comes first.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.events import Tap
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    HoverTool,
    LinearColorMapper,
    LogColorMapper,
    Range1d,
    TapTool,
)
from bokeh.palettes import Cividis256
from bokeh.plotting import figure

from ...sim import sweep as sw
from ..shared import shared
from ..state import SimState
from ..theme import Palette, page_css, style_figure, widget_css
from .util import LiveHTML, after_this_update, esc, heading

#: The 4,096 runs and the stability line, computed once per process for every session
#: that shows the same rows and loss (app/shared.py).
run_sweep = shared(16)(sw.run_sweep)
stability_limit = shared(16)(sw.stability_limit)

#: The quantities a cell can show, by the select's labels.
OPTIONS = {"final KL(π ‖ π_ref), mean over prompts": "kl",
           "final loss": "loss",
           "final KL(π ‖ π*), distance to the RLHF optimum": "kl_opt"}
#: The colour bar's title of each quantity.
TITLES = {"kl": "KL(π ‖ π_ref)", "loss": "loss", "kl_opt": "KL(π ‖ π*) (log scale)"}
#: Cividis: a colour map readable with every common colour-vision deficiency.
PALETTE = Cividis256
NOTE = ("Each cell is one run with that β and learning rate, from the scenario's start on the "
        "rows as they stand, with the loss in force. Hatched cells did not settle: their loss "
        "rose again near the end, ended above its start, or overflowed. Click a cell to load "
        "its settings and start again from step 0.")


def colours(values: np.ndarray, low: float, high: float, log: bool, nan: str) -> list[str]:
    """The palette's colour of each value on a linear (or log) scale from low to high;
    values outside are clipped, NaN gets ``nan``."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if log:
            v, low, high = np.log(np.maximum(v, low)), np.log(low), np.log(high)
        t = (v - low) / (high - low) if high > low else np.zeros_like(v)
    idx = np.clip(np.nan_to_num(t, nan=0.0) * (len(PALETTE) - 1), 0, len(PALETTE) - 1)
    idx = np.rint(idx).astype(int)
    return [nan if not np.isfinite(x) else PALETTE[i] for x, i in zip(v, idx)]


def scale(name: str, values: np.ndarray, stable: np.ndarray, ceiling: float):
    """(low, high, log) of the colour scale for a quantity: KL from 0 to the mean KL
    ceiling; the loss over the stable cells' range; the distance to pi* on a log scale
    over the stable cells' range (it spans many powers of ten)."""
    finite = np.isfinite(values)
    pick = values[finite & stable] if (finite & stable).any() else values[finite]
    if name == "kl":
        return 0.0, float(ceiling), False
    if pick.size == 0:
        return 0.0, 1.0, name == "kl_opt"
    if name == "kl_opt":
        pos = pick[pick > 0]
        low = max(float(pos.min()) if pos.size else 1e-16, 1e-16)
        high = max(float(pick.max()), low * 10)
        return low, high, True
    low, high = float(pick.min()), float(pick.max())
    return low, (high if high > low else low + 1.0), False


class SweepMap(pn.viewable.Viewer):
    """The beta x learning-rate map of the scenario's runs."""

    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(**params)
        self.state, self.pal = state, pal
        #: how many times the grid was computed, and the cells repainted (tests: neither
        #: happens per tick)
        self.computations = 0
        self.paints = 0
        self.result: sw.Sweep | None = None
        self.limit: sw.Limit | None = None
        self._key = None
        self._pending = False         # a recomputation waits for the next tick
        self.betas = sw.grid_values(*sw.BETA_RANGE, sw.N_BETA)
        self.learning_rates = sw.grid_values(*sw.LR_RANGE, sw.N_LR)
        self.quantity = pn.widgets.Select(label="Colour by", options=OPTIONS, value="kl",
                                          sizing_mode="stretch_width", max_width=480,
                                          margin=(0, 10),
                                          stylesheets=[widget_css(pal)])
        self.cells = ColumnDataSource(self._empty_cells())
        self.unstable = ColumnDataSource({"left": [], "right": [], "bottom": [], "top": []})
        self.marker = ColumnDataSource({"beta": [float(state.beta)],
                                        "lr": [float(state.learning_rate)]})
        self.formula = ColumnDataSource({"beta": [], "lr": []})
        self.lin = LinearColorMapper(palette=PALETTE, low=0.0, high=1.0,
                                     nan_color=pal.grid)
        self.log = LogColorMapper(palette=PALETTE, low=1e-6, high=1.0, nan_color=pal.grid)
        self.figure = self._figure()
        css = [page_css(pal)]
        self.status = LiveHTML(html=self._status_html(), stylesheets=css,
                               sizing_mode="stretch_width", margin=(0, 10))
        self._layout = pn.Column(
            heading("A sweep over β and the learning rate", pal),
            self.quantity,
            pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
            self.status,
            pn.pane.HTML(f'<div class="dpo-note">{esc(NOTE)}</div>', stylesheets=css,
                         margin=(0, 10, 6, 10), sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        self.quantity.param.watch(lambda e: self._paint(), "value")
        self._layout.param.watch(lambda e: self.ensure(), "visible")
        state.param.watch(self._on_settings, ["beta", "learning_rate"])
        state.subscribe(self._on_change)
        after_this_update(self.ensure)          # on a served page: after it is laid out

    def __panel__(self):
        return self._layout

    # -- building ---------------------------------------------------------------------
    def _empty_cells(self) -> dict:
        be, le = sw.cell_edges(self.betas), sw.cell_edges(self.learning_rates)
        B, L = len(self.betas), len(self.learning_rates)
        i, j = np.meshgrid(np.arange(B), np.arange(L), indexing="ij")
        i, j = i.ravel(), j.ravel()
        n = B * L
        return {"left": be[i], "right": be[i + 1], "bottom": le[j], "top": le[j + 1],
                "beta": self.betas[i], "lr": self.learning_rates[j],
                "value": np.full(n, np.nan), "color": [self.pal.grid] * n,
                "unstable": np.zeros(n, bool), "status": ["not computed yet"] * n,
                "text": [""] * n}

    def _figure(self):
        p = self.pal
        be, le = sw.cell_edges(self.betas), sw.cell_edges(self.learning_rates)
        fig = figure(height=340, sizing_mode="stretch_width", min_width=300,
                     x_axis_type="log", y_axis_type="log", tools="",
                     toolbar_location=None, x_axis_label="β",
                     y_axis_label="learning rate",
                     x_range=Range1d(be[0], be[-1]), y_range=Range1d(le[0], le[-1]))
        # edges in the fill colour: no hairline seams between neighbouring cells
        cells = fig.quad(left="left", right="right", bottom="bottom", top="top",
                         source=self.cells, fill_color="color", line_color="color",
                         line_width=0.8)
        cells.nonselection_glyph = None
        cells.selection_glyph = None
        # unstable cells: a cross-hatch in two colours, visible on every colour of the map
        for colour, weight in ((p.background, 3.0), (p.text, 1.2)):
            fig.quad(left="left", right="right", bottom="bottom", top="top",
                     source=self.unstable, fill_alpha=0, line_color=None,
                     hatch_pattern="x", hatch_color=colour, hatch_scale=9,
                     hatch_weight=weight)
        # the curvature's prediction runs along the hatched edge: drawn wide enough to
        # be seen on top of the hatch
        fig.line("beta", "lr", source=self.formula, line_width=6, color=p.background)
        fig.line("beta", "lr", source=self.formula, line_width=2.5, line_dash=[9, 5],
                 color=p.text)
        # the settings in force: a ring in two colours, visible on any cell colour
        fig.scatter("beta", "lr", source=self.marker, size=18, fill_alpha=0,
                    line_color=p.background, line_width=5)
        fig.scatter("beta", "lr", source=self.marker, size=18, fill_alpha=0,
                    line_color=p.text, line_width=2.5)
        fig.add_tools(HoverTool(renderers=[cells], tooltips=[
            ("β", "@beta{0.[000]}"), ("learning rate", "@lr{0.[0000]}"), ("value", "@text"),
            ("", "@status")]))
        fig.add_tools(TapTool(renderers=[cells], behavior="inspect"))
        fig.on_event(Tap, self._on_tap)
        self.colorbar = ColorBar(color_mapper=self.lin, width=14, label_standoff=8,
                                 major_label_text_font_size="13px",
                                 major_label_text_color=p.text,
                                 title_text_color=p.muted, title_text_font_size="13px",
                                 title_text_font_style="normal",
                                 background_fill_color=p.background)
        fig.add_layout(self.colorbar, "right")
        fig.css_classes = ["dpo-sweep"]
        style_figure(fig, p)
        return fig

    # -- what is computed, and when ---------------------------------------------------
    def _data_key(self):
        """What the grid depends on: the scenario, the rows as they stand, the loss in
        force (not beta, not the learning rate)."""
        st = self.state
        pairs = st.pairs
        rec = st.record
        return (id(st.spec), pairs.chosen.tobytes(), pairs.rejected.tobytes(),
                rec.adaptive_weight, rec.loss_type,
                rec.label_smoothing if rec.loss_type == "robust" else 0.0)

    @property
    def shown(self) -> bool:
        return bool(self._layout.visible)

    def ensure(self) -> bool:
        """Compute the grid if what it depends on changed and the view is shown; returns
        True if it computed."""
        key = self._data_key()
        if key == self._key or not self.shown:
            return False
        self._key = key
        st = self.state
        s, rec = st.spec, st.record
        self.computations += 1
        self.result = run_sweep(st.pairs, s.ref_logits, s.start_logits(),
                                   sw.sweep_steps(s.steps), rec.adaptive_weight,
                                   rec.loss_type, rec.label_smoothing,
                                   betas=self.betas, learning_rates=self.learning_rates)
        self.limit = stability_limit(st.pairs, rec.adaptive_weight, rec.loss_type,
                                        rec.label_smoothing)
        lr = self.limit.lr(self.betas)
        keep = np.isfinite(lr) & (lr >= self.learning_rates[0] / 2) & (
            lr <= self.learning_rates[-1] * 2)
        self.formula.data = {"beta": self.betas[keep], "lr": lr[keep]}
        self._paint()
        return True

    def _paint(self) -> None:
        """Colour the cells by the quantity selected (no runs: the grid is kept)."""
        res = self.result
        if res is None:
            return
        self.paints += 1
        name = self.quantity.value
        values = res.quantity(name).ravel()
        unstable = res.unstable.ravel()
        ceiling = float(np.mean(self.state.kl_ceiling))
        low, high, log = scale(name, values, ~unstable, ceiling)
        mapper = self.log if log else self.lin
        mapper.low, mapper.high = low, high
        self.colorbar.color_mapper = mapper
        self.colorbar.title = TITLES[name]
        status = np.where(res.diverged.ravel(), "unstable: diverged",
                          np.where(res.oscillating.ravel(), "unstable: still oscillating",
                                   "settled or settling")).tolist()
        text = ["none (no finite optimum)" if name == "kl_opt" and not np.isfinite(v)
                else ("not finite" if not np.isfinite(v) else f"{v:.4g}") for v in values]
        edges = {k: self.cells.data[k] for k in ("left", "right", "bottom", "top")}
        self.cells.data = {**edges, "beta": self.cells.data["beta"],
                           "lr": self.cells.data["lr"], "value": values,
                           "color": colours(values, low, high, log, self.pal.grid),
                           "unstable": unstable, "status": status, "text": text}
        self.unstable.data = {k: np.asarray(v)[unstable] for k, v in edges.items()}
        self.status.html = self._status_html()

    # -- events ---------------------------------------------------------------------------
    def _on_change(self, kind: str, records) -> None:
        """Per tick only a comparison of a few bytes: the grid is recomputed when the
        scenario, the rows or the loss changed (a scripted flip can come with a step)."""
        if kind == "pause" or self._pending or self._data_key() == self._key:
            return
        if kind == "action":         # a flip: it reaches the screen first, then the map
            self._pending = True
            after_this_update(self._ensure_later)
        else:
            self.ensure()

    def _ensure_later(self) -> None:
        self._pending = False
        with pn.io.hold():
            self.ensure()

    def _on_settings(self, *events) -> None:
        self.marker.data = {"beta": [float(self.state.beta)],
                            "lr": [float(self.state.learning_rate)]}

    def _on_tap(self, event) -> None:
        if event.x is None or event.y is None or event.x <= 0 or event.y <= 0:
            return
        self.load(self.cell_at(event.x, event.y))

    def cell_at(self, beta: float, learning_rate: float) -> tuple[int, int]:
        """The (beta, learning rate) indices of the cell holding a point of the map."""
        i = int(np.abs(np.log(self.betas) - np.log(beta)).argmin())
        j = int(np.abs(np.log(self.learning_rates) - np.log(learning_rate)).argmin())
        return i, j

    def load(self, cell: tuple[int, int]) -> None:
        """Load a cell's beta and learning rate and restart the run with them."""
        i, j = cell
        st = self.state
        with pn.io.hold():
            st.param.update(beta=float(self.betas[i]),
                            learning_rate=float(self.learning_rates[j]))
            st.reset()

    # -- text -----------------------------------------------------------------------------
    def boundary_text(self) -> str:
        """Where the runs turn unstable, measured, and what the curvature predicts."""
        res, lim = self.result, self.limit
        if res is None:
            return ""
        b = res.boundary()
        ok = np.isfinite(b)
        if lim.kind is None:
            if res.unstable.any():
                return (f"Hatched cells: {res.unstable.sum():,} of {res.unstable.size:,}. "
                        f"No curvature predicts them: {lim.why}.")
            return f"No cell is unstable: {lim.why}."
        if not np.isfinite(lim.value):
            end = ("no cell is unstable." if not res.unstable.any()
                   else f"yet {res.unstable.sum():,} cells did not settle within the steps.")
            return ("No row has a resting point here (with these votes and this loss every "
                    "row drifts), so the loss's curvature fades to 0 as the run drifts and no "
                    "step size is too large to settle: " + end)
        if lim.kind == "lr*beta^2":
            pred = f"lr·β² = {lim.value:.3g}"
            seen = (f"lr·β² ≈ {np.median(b[ok] * res.beta[ok] ** 2):.3g}" if ok.any()
                    else None)
        else:
            pred = f"learning rate {lim.value:.3g}, whatever β"
            seen = f"learning rate ≈ {np.median(b[ok]):.3g}" if ok.any() else None
        why = (" IPO's loss is a quadratic whose curvature does not depend on β."
               if lim.kind == "lr" else
               " Where a run settles the loss curves by β²·q(1−q) per judgement (q the "
               "pair's preference probability there), so the edge is a line lr ∝ 1/β².")
        if seen is None:
            where = ("every cell of the grid" if res.unstable.all() else "no cell of the grid")
            still = ("" if res.moved.any() else " No run moves from its start: its pulls "
                     "cancel exactly, so nothing can overshoot.")
            return (f"Plain gradient descent: {where} is unstable here; the curvature predicts "
                    f"the edge at {pred} (dashed line).{still}{why}")
        return (f"Plain gradient descent turns unstable (hatched) above {seen}, measured "
                f"from the runs; the curvature predicts {pred} (dashed line).{why}")

    def _status_html(self) -> str:
        res = self.result
        if res is None:
            return ('<div class="dpo-note" data-testid="sweep-status">The map is computed '
                    'when it is shown.</div>')
        s = self.state.spec
        steps = f"after {res.steps:,} steps"
        if res.steps < s.steps:
            steps = (f"after {res.steps:,} of the scenario's {s.steps:,} steps (a sweep runs "
                     f"at most {sw.MAX_STEPS:,})")
        size = f"{len(res.beta)} × {len(res.learning_rate)} = {res.unstable.size:,} runs"
        return (f'<div class="dpo-note" data-testid="sweep-status">{esc(size)}, {esc(steps)}. '
                f'{esc(self.boundary_text())} The ring marks the settings in force.</div>')
