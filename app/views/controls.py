"""The controls: Play/Pause, Step, Reset, speed, scenario picker with its "what to watch"
text, beta, learning rate, the adaptive sigma weight, and Download CSV.

Every setting widget is made from the state's parameter, so the widget and the state can
never disagree. The sliders report on release (``throttled``): one drag is one action in
the log, taking effect from the next step."""

from __future__ import annotations

import io

import panel as pn

from ..state import SimState
from ..theme import Palette, page_css, widget_css
from .util import esc


class Controls(pn.viewable.Viewer):
    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(**params)
        self.state = state
        css = [widget_css(pal)]
        self.play = pn.widgets.Button(label="Pause" if state.playing else "Play",
                                      color="primary", width=100,
                                      stylesheets=css)
        self.step = pn.widgets.Button(label="Step", width=90, stylesheets=css)
        self.reset = pn.widgets.Button(label="Reset", width=90, stylesheets=css)
        self.play.on_click(lambda e: state.toggle())
        self.step.on_click(lambda e: state.step())
        self.reset.on_click(lambda e: state.reset())
        state.param.watch(self._on_playing, "playing")

        self.speed = pn.widgets.IntSlider.from_param(
            state.param.speed, throttled=True, stylesheets=css, sizing_mode="stretch_width")
        self.scenario = pn.widgets.Select.from_param(
            state.param.scenario, options={state.titles[k]: k for k in state.titles},
            name="Scenario", stylesheets=css, sizing_mode="stretch_width")
        self.watch = pn.pane.HTML(self._watch_html(), stylesheets=[page_css(pal)],
                                  sizing_mode="stretch_width")
        state.param.watch(lambda e: setattr(self.watch, "object", self._watch_html()),
                          "scenario")
        self.beta = pn.widgets.FloatSlider.from_param(
            state.param.beta, throttled=True, stylesheets=css, sizing_mode="stretch_width",
            format="0.00")
        self.learning_rate = pn.widgets.FloatSlider.from_param(
            state.param.learning_rate, throttled=True, stylesheets=css,
            sizing_mode="stretch_width", format="0.00")
        # A toggle button: its text is its accessible name and says on or off.
        self.weight = pn.widgets.Toggle.from_param(
            state.param.adaptive_weight, stylesheets=css, sizing_mode="stretch_width",
            label=self._weight_label())
        state.param.watch(lambda e: setattr(self.weight, "label", self._weight_label()),
                          "adaptive_weight")
        self.download = pn.widgets.FileDownload(
            callback=self._csv, filename=self._filename(), label="Download CSV",
            embed=False, stylesheets=css, width=160)
        state.param.watch(lambda e: setattr(self.download, "filename", self._filename()),
                          "scenario")
        self.buttons = pn.Row(self.play, self.step, self.reset, margin=0)
        self._layout = pn.Column(
            self.speed,
            self.scenario,
            self.watch,
            self.beta,
            self.learning_rate,
            self.weight,
            self.download,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    def _on_playing(self, event) -> None:
        self.play.label = "Pause" if event.new else "Play"

    def _weight_label(self) -> str:
        return "Adaptive sigma weight: " + ("on" if self.state.adaptive_weight else "off")

    def _watch_html(self) -> str:
        spec = self.state.spec
        return (f'<div class="dpo-watch"><b>What to watch:</b> {esc(spec.watch)}</div>')

    def _filename(self) -> str:
        return f"dpo-sim-{self.state.scenario}.csv"

    def _csv(self):
        return io.StringIO(self.state.csv())
