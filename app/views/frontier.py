"""The reward-KL frontier of one prompt (the DPO paper's Figure 2, in miniature).

x is KL(π ‖ π_ref), y the expected true reward E_π[r*]. The curve is π_b = π_ref·exp(r*/b)/Z
over b > 0: for its KL no policy scores higher (``sim.frontier``). On it: the current run
as a point moving live with its path, and where DPO ends after the scenario's steps for a
sweep of betas (computed at once with ``RunStack``, again only when the rows or the loss
change). r* is the scenario's ``true_reward`` if it gives one, else the Bradley-Terry fit
to the votes; where that fit is not finite (unanimous votes) the view says so and draws
no curve.

Per tick: one point patched and the new path points streamed; the readout under the chart
reads the curve's height by interpolation on the drawn curve (no solve per tick).
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

from ...sim import frontier as fr
from ..shared import shared
from ..state import SimState
from ..theme import Palette, page_css, style_figure, widget_css
from .history import legend_html
from .util import LiveHTML, after_this_update, esc, heading, term

#: Path points kept on the page (older ones roll off).
ROLLOVER = 4000
NOTE = ("Each policy is a point: how far it has moved from the reference (KL) and how good "
        "its replies are by the true reward r*. The curve is π_ref·exp(r*/b)/Z for every "
        "b > 0: no policy with the same KL scores higher. With split votes DPO ends on it "
        "(at b = β); a run trained on wrong labels ends below the curve of the true reward.")
TIP_R = ("r*: the true quality of each reply. A scenario may state it (true_reward in its "
         "file); otherwise it is the Bradley–Terry reward fitted to the votes as they stand.")

#: The β runs' end points, computed once per process for every session that shows the same
#: rows and settings (app/shared.py).
beta_sweep = shared(16)(fr.beta_sweep)


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _fmt(v: float) -> str:
    return f"{v:.3f}" if abs(v) >= 0.001 or v == 0 else f"{v:.1e}"


class FrontierChart(pn.viewable.Viewer):
    """The reward-KL frontier of one prompt, with the live run and a sweep over beta."""

    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(**params)
        self.state, self.pal = state, pal
        #: how often each part was computed, and the whole chart redrawn (tests: neither
        #: happens per tick)
        self.computations = {"reward": 0, "sweep": 0}
        self.redraws = 0
        self._reward_key = self._sweep_key = None
        self._pending = False         # a recomputation waits for the next tick
        self._spec = None
        self._quiet = False
        self.reward: fr.TrueReward | None = None
        self.beta_sweep: fr.BetaSweep | None = None
        self.frontiers: dict[int, fr.Frontier] = {}
        self.curve = ColumnDataSource({"kl": [], "reward": [], "b": []})
        self.flat = ColumnDataSource({"kl": [], "reward": []})
        self.sweep = ColumnDataSource({"kl": [], "reward": [], "beta": [], "label": [],
                                       "dx": [], "align": []})
        self.path = ColumnDataSource({"kl": [], "reward": [], "step": []})
        self.now = ColumnDataSource({"kl": [], "reward": [], "step": []})
        self.start = ColumnDataSource({"kl": [], "reward": []})
        self.prompt = pn.widgets.Select(label="Prompt", options={}, width=320,
                                        margin=(0, 10), stylesheets=[widget_css(pal)])
        self.figure = self._figure()
        css = [page_css(pal)]
        self.status = LiveHTML(html="", stylesheets=css, sizing_mode="stretch_width",
                               margin=(0, 10))
        self.readout = LiveHTML(html="", stylesheets=css, sizing_mode="stretch_width",
                                margin=(0, 10))
        legend = legend_html([("the frontier", pal.margin, "solid", 3),
                              ("this run", pal.chosen, "solid", 2),
                              ("β sweep, end points", pal.series[2], "dotted", 4)], pal)
        self._layout = pn.Column(
            heading("The reward–KL frontier", pal),
            self.prompt,
            pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
            pn.pane.HTML(legend, stylesheets=css, sizing_mode="stretch_width",
                         margin=(0, 0, 2, 0)),
            self.readout, self.status,
            pn.pane.HTML(f'<div class="dpo-note">{esc(NOTE)}</div>', stylesheets=css,
                         margin=(0, 10, 6, 10), sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        self._refresh(force=True)
        self.prompt.param.watch(self._on_prompt, "value")
        state.subscribe(self._on_change)

    def __panel__(self):
        return self._layout

    # -- building ---------------------------------------------------------------------
    def _figure(self):
        p = self.pal
        fig = figure(height=260, sizing_mode="stretch_width", min_width=260, tools="",
                     toolbar_location=None, x_axis_label="KL(π ‖ π_ref) (nats)",
                     y_axis_label="E_π[r*], expected true reward",
                     x_range=Range1d(0, 1.5), y_range=Range1d(-1, 1))
        fig.line("kl", "reward", source=self.curve, line_width=3, color=p.margin)
        fig.line("kl", "reward", source=self.flat, line_width=2, color=p.margin,
                 line_dash="dashed")
        fig.line("kl", "reward", source=self.path, line_width=2, color=p.chosen,
                 line_alpha=0.8)
        sw = fig.scatter("kl", "reward", source=self.sweep, size=10, marker="diamond",
                         fill_color=p.series[2], line_color=p.text, line_width=1)
        fig.text("kl", "reward", text="label", source=self.sweep, x_offset="dx",
                 y_offset=16, text_align="align", text_font_size="13px",
                 text_color=p.muted)
        fig.scatter("kl", "reward", source=self.start, size=11, marker="square",
                    fill_color=p.ref_tick, line_color=p.text)
        now = fig.scatter("kl", "reward", source=self.now, size=14, fill_color=p.chosen,
                          line_color=p.text, line_width=2)
        fig.add_tools(HoverTool(renderers=[sw], tooltips=[
            ("β", "@beta{0.00}"), ("KL", "@kl{0.0000}"), ("E[r*]", "@reward{+0.000}")]))
        fig.add_tools(HoverTool(renderers=[now], tooltips=[
            ("step", "@step"), ("KL", "@kl{0.0000}"), ("E[r*]", "@reward{+0.000}")]))
        fig.css_classes = ["dpo-frontier"]
        style_figure(fig, p)
        return fig

    # -- what is computed, and when ---------------------------------------------------
    def _keys(self):
        """(what r* depends on, what the beta sweep depends on): the scenario, the rows as
        they stand (a flip), the loss in force."""
        st = self.state
        pairs = st.pairs
        data = (id(st.spec), pairs.chosen.tobytes(), pairs.rejected.tobytes())
        rec = st.record
        loss = (rec.adaptive_weight, rec.loss_type,
                rec.label_smoothing if rec.loss_type == "robust" else 0.0)
        reward = (id(st.spec),) if st.spec.true_reward is not None else data
        return reward, data + loss

    def _refresh(self, force: bool = False) -> bool:
        """Recompute r* and the frontiers when the rows change, the beta sweep when the
        rows or the loss change; redraw if anything changed. Returns True if it did."""
        st = self.state
        reward_key, sweep_key = self._keys()
        changed = force
        if st.spec is not self._spec:
            self._spec = st.spec
            s = st.spec
            self._quiet = True          # the prompt's watcher waits for the new data
            try:
                self.prompt.options = {f"{x + 1}: {_short(p.text)}": x
                                       for x, p in enumerate(s.prompts)}
                self.prompt.value = 0
            finally:
                self._quiet = False
            self.prompt.visible = s.n_prompts > 1
            changed = True
        if reward_key != self._reward_key:
            self._reward_key = reward_key
            self.computations["reward"] += 1
            self.reward = fr.true_reward(st.pairs, st.spec.true_reward)
            lp = st.logp_ref
            self.frontiers = {x: fr.frontier(lp[x], self.reward.reward[x])
                              for x in range(st.spec.n_prompts) if self.reward.finite[x]}
            changed = True
        if sweep_key != self._sweep_key:
            self._sweep_key = sweep_key
            self.computations["sweep"] += 1
            s, rec = st.spec, st.record
            self.beta_sweep = beta_sweep(
                st.pairs, s.ref_logits, s.start_logits(), fr.SWEEP_BETAS,
                s.learning_rate * s.beta ** 2, min(s.steps, fr.MAX_SWEEP_STEPS),
                rec.adaptive_weight, rec.loss_type, rec.label_smoothing)
            changed = True
        if changed:
            self._show_prompt()
        return changed

    def _on_prompt(self, event) -> None:
        if not self._quiet:
            self._show_prompt()

    @property
    def x(self) -> int:
        return int(self.prompt.value or 0)

    def _show_prompt(self) -> None:
        """Redraw everything for the prompt chosen: curve, sweep, path, point, ranges."""
        st, x = self.state, self.x
        self.redraws += 1
        f = self.frontiers.get(x)
        ceiling = float(st.kl_ceiling[x])
        self.figure.x_range.start, self.figure.x_range.end = 0.0, 1.04 * ceiling
        if f is None:
            for src in (self.curve, self.flat, self.sweep, self.path, self.now, self.start):
                src.data = {k: [] for k in src.data}
            self.status.html = self._status_html()
            self.readout.html = ""
            return
        self.curve.data = {"kl": f.kl, "reward": f.reward, "b": f.b}
        self.flat.data = ({"kl": [f.kl_end, ceiling], "reward": [f.best, f.best]}
                          if f.kl_end < ceiling else {"kl": [], "reward": []})
        self.start.data = {"kl": [0.0], "reward": [f.start]}
        sw = self.beta_sweep
        e = sw.reward(np.where(np.isfinite(self.reward.reward), self.reward.reward, 0.0))
        # three labels: the smallest beta (far right), beta = 1, the largest (near 0)
        ends = (0, len(sw.beta) // 2, len(sw.beta) - 1)
        n = len(sw.beta)
        self.sweep.data = {"kl": sw.kl[:, x], "reward": e[:, x], "beta": sw.beta,
                           "label": [f"β={b:g}" if i in ends else ""
                                     for i, b in enumerate(sw.beta)],
                           "dx": [-4.0 if i == 0 else 4.0 for i in range(n)],
                           "align": ["right" if i == 0 else "left" for i in range(n)]}
        lo, hi = float(f.r.min()), float(f.r.max())
        pad = 0.06 * (hi - lo) if hi - lo > 1e-9 else 1.0       # a flat r*: a flat line
        self.figure.y_range.start, self.figure.y_range.end = lo - pad, hi + pad
        h = st.history
        n = min(len(h), ROLLOVER)
        kl, rew = fr.path(h.column("kl")[-n:, x], h.column("probs")[-n:, x], f.r)
        steps = h.column("step")[-n:]
        self.path.data = {"kl": kl.copy(), "reward": rew, "step": steps.copy()}
        self.now.data = {"kl": kl[-1:].copy(), "reward": rew[-1:], "step": steps[-1:].copy()}
        self.status.html = self._status_html()
        self.readout.html = self._readout_html()

    def _refresh_later(self) -> None:
        self._pending = False
        with pn.io.hold():
            self._refresh(force=True)

    # -- per tick -----------------------------------------------------------------------
    def _on_change(self, kind: str, records) -> None:
        if kind == "pause":
            self.readout.html = self._readout_html()     # exact again, now it stands
            return
        if self._pending:
            return                   # a recomputation is due next tick; it redraws all
        if (kind == "action" and self.state.spec is self._spec and
                self._keys() != (self._reward_key, self._sweep_key)):
            # a flip or a new loss: it reaches the screen first, then the new frontier
            self._pending = True
            after_this_update(self._refresh_later)
            return
        if self._refresh(force=kind == "reset"):
            return                   # everything was redrawn from the history
        f = self.frontiers.get(self.x)
        if f is None or not records:
            return
        x = self.x
        kl = np.array([r.kl[x] for r in records], dtype=float)
        rew = np.array([r.probs[x] @ f.r for r in records])
        steps = np.array([r.step for r in records], dtype=float)
        if kind == "action":
            n = len(self.path.data["kl"])
            if n:
                self.path.patch({"kl": [(n - 1, kl[-1])], "reward": [(n - 1, rew[-1])]})
        else:
            self.path.stream({"kl": kl, "reward": rew, "step": steps}, rollover=ROLLOVER)
        self.now.patch({"kl": [(0, kl[-1])], "reward": [(0, rew[-1])],
                        "step": [(0, steps[-1])]})
        self.readout.send(html=self._readout_html())

    # -- text -----------------------------------------------------------------------------
    def _readout_html(self) -> str:
        f = self.frontiers.get(self.x)
        if f is None or not len(self.now.data["kl"]):
            return ""
        kl = float(self.now.data["kl"][0])
        rew = float(self.now.data["reward"][0])
        if self.state.playing:      # cheap while playing: the drawn curve, interpolated
            best = float(np.interp(kl, f.kl, f.reward)) if kl < f.kl_end else f.best
        else:                       # exact (a bisection, about 2 ms)
            best = float(fr.frontier_reward(f, [kl])[0])
        below = best - rew
        where = ("on the curve" if below < 5e-3 else
                 f"{_fmt(below)} below the curve (which reaches {best:+.3f} at this KL)")
        return (f'<div class="dpo-note" data-testid="frontier-readout" '
                f'data-gap="{below!r}">Now: KL {_fmt(kl)}, E[r*] {rew:+.3f}: '
                f'{esc(where)}.</div>')

    def _status_html(self) -> str:
        st, x = self.state, self.x
        r = self.reward
        tip = term("frontier-r", "r*", TIP_R)
        if not r.finite[x]:
            return (f'<div class="dpo-notice" data-testid="frontier-none">No frontier for '
                    f'this prompt: its votes are unanimous where no other vote leads back, '
                    f'so the Bradley–Terry fit to them is not finite (the reward of the '
                    f'winning replies grows without bound). A scenario can state the true '
                    f'quality of its replies instead ({tip}: <code>true_reward</code> in its '
                    f'file).</div>')
        src = ("the scenario's own true reward (<code>true_reward</code>)"
               if r.source == "scenario" else
               "the Bradley–Terry fit to the votes as they stand")
        extra = ("" if r.linked[x] else " The rows do not link every reply of this prompt: "
                 "the fit gives a reply no row names 0, and each linked group a mean of 0.")
        sw = self.beta_sweep
        lr_b2 = st.spec.learning_rate * st.spec.beta ** 2
        steps = f"{sw.steps:,}"
        if sw.steps < st.spec.steps:
            steps += f" (of the scenario's {st.spec.steps:,})"
        return (f'<div class="dpo-note" data-testid="frontier-status">{tip} = {src}.{esc(extra)}'
                f' Diamonds: where runs with β = {sw.beta[0]:g} … {sw.beta[-1]:g} end after '
                f'{steps} steps, each with learning rate {lr_b2:g}/β² (the scenario\'s '
                f'lr·β²) and the loss in force.</div>')
