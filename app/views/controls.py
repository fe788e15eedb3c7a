"""The controls: Play/Pause, Step, Reset, the scenario picker with its "what to watch"
text, one control per setting of the settings table (the speed, beta, the learning rate,
the adaptive sigma weight, ...), and Download CSV.

Every setting's widget is made from the state's parameter, which is made from the table,
so the widget, the state and the table can never disagree. Sliders report on release
(``throttled``): one drag is one action in the log, taking effect from the next step. A
slider shows the table's usual range and widens to show a valid value outside it (a
link or a scenario with beta = 8, say)."""

from __future__ import annotations

import io

import panel as pn

from ...sim.settings import Choice, Flag, Number, Setting, Whole
from ..state import CONTROLS, SimState
from ..theme import Palette, page_css, widget_css
from .util import esc

PICKER_HELP = ("Each scenario is a small lesson: its prompts, replies, preference votes and "
               "settings. Choosing one starts it from step 0 with its own settings.")


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

        #: setting name -> its widget, in the table's order
        self.widgets = {s.name: self._widget(s, css) for s in CONTROLS}
        #: setting name -> the widget with its one line of help under it (what teacher
        #: mode hides)
        self.boxes = {s.name: pn.Column(self.widgets[s.name], pn.pane.HTML(
            f'<div class="dpo-help">{esc(s.help)}</div>', stylesheets=[page_css(pal)],
            sizing_mode="stretch_width", margin=(0, 10)), sizing_mode="stretch_width",
            margin=0) for s in CONTROLS}
        self.scenario = pn.widgets.Select.from_param(
            state.param.scenario, options={state.titles[k]: k for k in state.titles},
            name="Scenario", stylesheets=css, sizing_mode="stretch_width",
            description=PICKER_HELP)
        self.watch = pn.pane.HTML(self._watch_html(), stylesheets=[page_css(pal)],
                                  sizing_mode="stretch_width")
        state.param.watch(lambda e: setattr(self.watch, "object", self._watch_html()),
                          "scenario")
        self.download = pn.widgets.FileDownload(
            callback=self._csv, filename=self._filename(), label="Download CSV",
            embed=False, stylesheets=css, width=160)
        state.param.watch(lambda e: setattr(self.download, "filename", self._filename()),
                          "scenario")
        self.buttons = pn.Row(self.play, self.step, self.reset, margin=0)
        page = [self.boxes[s.name] for s in CONTROLS if s.scope == "page"]
        run = [self.boxes[s.name] for s in CONTROLS if s.scope == "run"]
        self._layout = pn.Column(*page, self.scenario, self.watch, *run, self.download,
                                 sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout

    # the widgets by the names the page's code and tests use
    @property
    def speed(self):
        return self.widgets["speed"]

    @property
    def beta(self):
        return self.widgets["beta"]

    @property
    def learning_rate(self):
        return self.widgets["learning_rate"]

    @property
    def weight(self):
        return self.widgets["adaptive_weight"]

    def _widget(self, s: Setting, css):
        p = self.state.param[s.name]
        k = s.kind
        if isinstance(k, (Number, Whole)):
            cls = pn.widgets.FloatSlider if isinstance(k, Number) else pn.widgets.IntSlider
            extra = {"format": "0.00"} if isinstance(k, Number) else {}
            w = cls.from_param(p, throttled=True, stylesheets=css,
                               sizing_mode="stretch_width", **extra)
            self._widen(w, getattr(self.state, s.name))
            self.state.param.watch(lambda e, w=w: self._widen(w, e.new), s.name)
            return w
        if isinstance(k, Flag):
            # a toggle button: its text is its accessible name and says on or off; on, it
            # is also filled and checked (widget_css), so the two differ by more than text
            w = pn.widgets.Toggle.from_param(p, stylesheets=css, sizing_mode="stretch_width",
                                             label=self._flag_label(s))
            self.state.param.watch(lambda e: setattr(w, "label", self._flag_label(s)),
                                   s.name)
            return w
        if isinstance(k, Choice):
            return pn.widgets.Select.from_param(p, stylesheets=css,
                                                sizing_mode="stretch_width")
        raise TypeError(f"no widget for a setting of kind {type(k).__name__}")

    @staticmethod
    def _widen(slider, value) -> None:
        """Show a valid value outside the slider's usual range by widening it."""
        if value < slider.start:
            slider.start = value
        elif value > slider.end:
            slider.end = value

    def _flag_label(self, s: Setting) -> str:
        return f"{s.label}: " + ("on" if getattr(self.state, s.name) else "off")

    def _on_playing(self, event) -> None:
        self.play.label = "Pause" if event.new else "Play"

    def _watch_html(self) -> str:
        spec = self.state.spec
        return (f'<div class="dpo-watch"><b>What to watch:</b> {esc(spec.watch)}</div>')

    def _filename(self) -> str:
        return f"dpo-sim-{self.state.scenario}.csv"

    def _csv(self):
        return io.StringIO(self.state.csv())
