"""A static replay: one self-contained HTML file that plays a precomputed run, no server.

Why a separate path from the dashboard: a course page, an LMS or a Jupyter Book can host a
file but not a Python process. So the engine runs here, in Python, once; the file carries the
per-step numbers (float32, base64 inside Bokeh's document JSON) and Bokeh's own JavaScript
(inline, so nothing is fetched from any host and it works from ``file://``). All interaction
(Play/Pause, the step slider, the scenario picker) is Bokeh CustomJS.

The page fits any screen from a phone's (390 px) up: it has a viewport tag, every part
stretches to the width it gets (nothing has a fixed width wider than a phone), the bar charts
and the charts over time sit side by side only where both fit, and the reply labels are
rewrapped in the browser to the bar chart's real width.

Test hooks (Bokeh draws on a canvas): every model that matters has a ``name``
(``"<key>:slider"``, ``"<key>:play"``, ``"<key>:speed"``, ``"<key>:bars:<prompt>"``,
``"<key>:barfig:<prompt>"``, ``"<key>:lossfig"``, ``"<key>:klfig"``, ``"<key>:readout"``,
``"picker"``) and the readout Div carries ``data-testid="readout"`` with ``data-value``
attributes holding the stored numbers at full stored precision.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from bokeh.core.has_props import is_DataModel
from bokeh.document import Document
from bokeh.embed.bundle import Bundle, bundle_for_objs_and_resources
from bokeh.embed.elements import html_page_for_render_items
from bokeh.embed.util import OutputDocumentFor, standalone_docs_json_and_render_items
from bokeh.events import DocumentReady
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    Div,
    HoverTool,
    InlineStyleSheet,
    Label,
    Legend,
    LegendItem,
    NumeralTickFormatter,
    Range1d,
    Select,
    Slider,
    Span,
    Toggle,
)
from bokeh.plotting import figure
from bokeh.resources import INLINE

from ..sim.dpo import kl_ceiling
from ..sim.numerics import log_softmax
from ..sim.scenario import Scenario
from ..sim.settings import BY_NAME
from ..sim.simulation import Simulation
from .theme import LEGEND, LIGHT, PROMPT_DASHES

PAL = LIGHT                     # the page's light palette
#: steps per second while playing: the page's default speed (the settings table's)
FPS = BY_NAME["speed"].default
SPEEDS = sorted({5, 10, FPS, 40, 60})
WRAP = 84                       # characters per line of a reply label (before the page,
                                # which rewraps them to the bar chart's real width)
STAR = "\u2605 "
STARRED = " (most net votes)"     # after the starred reply's label (``Pairs.preferred``)
#: the bar charts, in pixels: a reply's band is its label's lines, a gap, then its bar
LABEL_FONT = "12px helvetica"   # Bokeh's text glyph font (its default family)
LINE_PX, BAR_PX, PAD_TOP, LABEL_GAP, PAD_BOTTOM = 14, 20, 6, 6, 6
TICK_PX = BAR_PX // 2 + 3        # the reference tick: 3 px beyond the bar, each side
LABEL_MAX_PX = 640              # labels wrap at the chart's width, at most this wide
MIN_WIDTH = 260                 # no chart or column narrower (a phone is 360-430 wide)
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
#: the Play toggle: white on the palette's blues (WCAG AA: 5.96:1 and more), not Bokeh's
#: #428bca (3.63:1)
BUTTON_CSS = f""":host {{
  --primary: {PAL.focus}; --primary-border: #0a4fa8;
  --primary-hover: #0a4fa8; --primary-hover-border: #083f86;
  --primary-active: {PAL.bar_preferred}; --primary-active-border: #27446d;
}}"""
#: the loss with the sigma weight on, per ``loss_type`` (``sim.losses``)
LOSS_FORMULA = {"sigmoid": "\u2212log \u03c3(u)"}


def preferred_mask(pairs) -> np.ndarray:
    """(P,) a bitmask per prompt of the replies with the most net votes
    (``Pairs.preferred``, the page's rule). Recomputed per step so scripted flips show."""
    pref = pairs.preferred()
    return (pref * (1 << np.arange(pref.shape[1]))).sum(axis=1).astype(np.int32)


def replay_series(scenario: Scenario, steps: int) -> dict[str, np.ndarray]:
    """The run as float32 columns, one value per step 0..steps (the file's only data);
    ``weight`` (int) is 1 where the sigma weight was on, 0 where the loss was -u."""
    P, K = scenario.n_prompts, scenario.n_replies
    sim = Simulation(scenario, keep_history=False)
    n = steps + 1
    cols = {"step": np.arange(n, dtype=np.int32), "weight": np.empty(n, dtype=np.int32),
            "loss": np.empty(n), "margin": np.empty(n), "accuracy": np.empty(n)}
    for x in range(P):
        cols[f"kl_{x}"] = np.empty(n)
        cols[f"pref_{x}"] = np.empty(n, dtype=np.int32)
        for y in range(K):
            cols[f"p_{x}_{y}"] = np.empty(n)
    rec = sim.record
    for t in range(n):
        if t:
            rec = sim.advance()
        cols["weight"][t] = rec.adaptive_weight     # 0: the loss was the bare margin -u
        cols["loss"][t] = rec.loss
        cols["margin"][t] = rec.rewards_margins
        cols["accuracy"][t] = rec.rewards_accuracies
        mask = preferred_mask(sim.pairs)
        for x in range(P):
            cols[f"kl_{x}"][t] = rec.kl[x]
            cols[f"pref_{x}"][t] = mask[x]
            for y in range(K):
                cols[f"p_{x}_{y}"][t] = rec.probs[x, y]
    return {k: (v if v.dtype.kind == "i" else v.astype(np.float32)) for k, v in cols.items()}


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WRAP) or [""]


def _bar_layout(lines: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Bar centres and label bottoms, in pixels up from the frame's bottom, and the frame's
    height, for replies whose labels take ``lines[y]`` lines; reply A on top. The same
    arithmetic as ``_BAR_LAYOUT_JS``, which redoes it at the chart's real width."""
    heights = [PAD_TOP + n * LINE_PX + LABEL_GAP + BAR_PX + PAD_BOTTOM for n in lines]
    total = int(sum(heights))
    bar_y, top = [], total
    for h, n in zip(heights, lines):
        bar_y.append(top - PAD_TOP - n * LINE_PX - LABEL_GAP - BAR_PX / 2)
        top -= h
    bar_y = np.array(bar_y, dtype=float)
    return bar_y, bar_y + BAR_PX / 2 + LABEL_GAP, total


def _bar_figure(key: str, x: int, prompt, pi_ref: np.ndarray) -> tuple[figure, CustomJS]:
    """Horizontal bars of pi(y|x), one band per reply: its label above, its bar below.

    The y axis counts pixels (the frame is exactly as tall as the y range), so a label's
    lines, its gap and its bar never overlap, whatever the wrap; the page rewraps the
    labels to the chart's real width (``_BAR_LAYOUT_JS``, returned with the figure: it
    runs whenever the chart's width changes and once the page is up)."""
    K = len(prompt.replies)
    plain = [f"{chr(65 + y)}. {t}" for y, t in enumerate(prompt.replies)]
    starred = [STAR + p + STARRED for p in plain]
    lines = [max(len(_wrap(a)), len(_wrap(b))) for a, b in zip(plain, starred)]
    bar_y, label_y, height = _bar_layout(lines)
    src = ColumnDataSource(name=f"{key}:bars:{x}", data={
        "y": bar_y, "label_y": label_y,
        "right": np.full(K, np.nan), "pref_right": np.full(K, np.nan),
        "value_text": [""] * K, "label": ["\n".join(_wrap(s)) for s in plain],
        "plain": ["\n".join(_wrap(s)) for s in plain],
        "starred": ["\n".join(_wrap(s)) for s in starred],
        "raw_plain": plain, "raw_starred": starred,
        "ref": pi_ref, "ref_lo": bar_y - TICK_PX, "ref_hi": bar_y + TICK_PX,
        "reply": list(prompt.replies),
    })
    fig = figure(name=f"{key}:barfig:{x}", sizing_mode="stretch_width", min_width=MIN_WIDTH,
                 frame_height=height, x_range=Range1d(0, 1.1), y_range=Range1d(0, height),
                 toolbar_location=None, tools="", min_border_left=4, min_border_right=4)
    # as on the page: the starred reply's bar drawn again on top, stronger and outlined
    bars = fig.hbar(y="y", right="right", left=0, height=BAR_PX, source=src,
                    fill_color=PAL.bar, line_color=PAL.bar, line_width=2)
    pref = fig.hbar(y="y", right="pref_right", left=0, height=BAR_PX, source=src,
                    fill_color=PAL.bar_preferred, line_color=PAL.text, line_width=2.5)
    fig.segment(x0="ref", x1="ref", y0="ref_lo", y1="ref_hi", source=src,
                line_color=PAL.ref_tick, line_width=4)
    fig.text(x=0, y="label_y", text="label", source=src, text_font_size="12px",
             text_baseline="bottom", text_color=PAL.text,
             text_line_height=LINE_PX / 12)
    fig.text(x="right", y="y", text="value_text", source=src, x_offset=5,
             text_font_size="11px", text_baseline="middle", text_color=PAL.text)
    fig.add_tools(HoverTool(renderers=[bars, pref], tooltips=[
        ("reply", "@reply"), ("\u03c0(y|x)", "@right{0.0000}"),
        ("\u03c0_ref(y|x)", "@ref{0.0000}")]))
    fig.yaxis.visible = False
    fig.ygrid.grid_line_color = None
    fig.xaxis.formatter = NumeralTickFormatter(format="0%")
    fig.xaxis.axis_label = "probability \u03c0(y|x)"
    fig.outline_line_color = None
    layout = CustomJS(args=dict(fig=fig, src=src, font=LABEL_FONT, max_px=LABEL_MAX_PX,
                                line=LINE_PX, bar=BAR_PX, tick=TICK_PX, top=PAD_TOP,
                                gap=LABEL_GAP, bottom=PAD_BOTTOM), code=_BAR_LAYOUT_JS)
    fig.js_on_change("inner_width", layout)
    return fig, layout


_BAR_LAYOUT_JS = """
// Rewrap the reply labels to the chart's width (measured in the glyphs' font) and lay the
// bands out again in pixels: label lines, a gap, the bar; the frame as tall as the bands.
const W = fig.inner_width;
if (!(W > 0)) return;
const room = Math.max(80, Math.min(W - 4, max_px));
const memo = (window.__dpo_label_room = window.__dpo_label_room || {});
if (memo[src.id] === room) return;
memo[src.id] = room;
const ctx = (window.__dpo_measure = window.__dpo_measure ||
             document.createElement('canvas').getContext('2d'));
ctx.font = font;
const fits = s => ctx.measureText(s).width <= room;
function wrap(text) {
  const lines = [];
  let line = '';
  for (let word of text.split(' ')) {
    if (!word) continue;
    while (!fits(word) && word.length > 1) {     // a word wider than the chart: cut it
      let k = word.length - 1;
      while (k > 1 && !fits(word.slice(0, k))) k--;
      if (line) { lines.push(line); line = ''; }
      lines.push(word.slice(0, k));
      word = word.slice(k);
    }
    const joined = line ? line + ' ' + word : word;
    if (line && !fits(joined)) { lines.push(line); line = word; } else line = joined;
  }
  lines.push(line);
  return lines;
}
const d = src.data;
const K = d.raw_plain.length;
const plain = [], starred = [], n = [];
for (let y = 0; y < K; y++) {
  const a = wrap(d.raw_plain[y]), b = wrap(d.raw_starred[y]);
  plain.push(a.join('\\n'));
  starred.push(b.join('\\n'));
  n.push(Math.max(a.length, b.length));
}
let total = 0;
for (let y = 0; y < K; y++) total += top + n[y] * line + gap + bar + bottom;
const ys = [], label_y = [], ref_lo = [], ref_hi = [], label = [];
let t = total;
for (let y = 0; y < K; y++) {
  const c = t - top - n[y] * line - gap - bar / 2;
  ys.push(c);
  label_y.push(c + bar / 2 + gap);
  ref_lo.push(c - tick);
  ref_hi.push(c + tick);
  label.push(Number.isFinite(d.pref_right[y]) ? starred[y] : plain[y]);
  t -= top + n[y] * line + gap + bar + bottom;
}
src.data = Object.assign({}, d, {y: ys, label_y, ref_lo, ref_hi, plain, starred, label});
fig.x_range.end = 1 + 48 / W;             // room for "100.0%" after a full bar
fig.y_range.end = total;
fig.frame_height = total;
"""


def _time_figure(key: str, name: str, title: str, steps: int) -> figure:
    fig = figure(name=f"{key}:{name}", sizing_mode="stretch_width", min_width=MIN_WIDTH,
                 height=240, title=title, x_range=Range1d(0, max(steps, 1)),
                 toolbar_location=None, tools="")
    fig.xaxis.axis_label = "step"
    return fig


def loss_title(weight: np.ndarray, loss_type: str = "sigmoid") -> str:
    """What the loss chart plots: the mean over judgements of the loss in force, which is
    the bare margin -u wherever the sigma weight is off (``sim.losses.objective``)."""
    on = LOSS_FORMULA.get(loss_type, loss_type)
    weight = np.asarray(weight)
    if weight.all():
        return f"Loss: mean {on} over judgements"
    if not weight.any():
        return "Loss: mean \u2212u over judgements (\u03c3 weight off)"
    return f"Loss: mean {on} over judgements,\nmean \u2212u while the \u03c3 weight is off"


def _ceiling_label(ceilings: Sequence[float], steps: int) -> Label:
    """The dashed line's name, inside the plot just above the highest ceiling, right-aligned:
    no KL curve reaches above its ceiling, so nothing is drawn there."""
    distinct = sorted(set(round(c, 12) for c in ceilings))
    if len(distinct) == 1:
        text = f"ceiling log(1/min \u03c0_ref) = {distinct[0]:.3f}"
    else:
        text = "dashed: each prompt's ceiling log(1/min \u03c0_ref)"
    return Label(x=max(steps, 1), y=max(ceilings), x_offset=-4, y_offset=3,
                 text_align="right", text_baseline="bottom", text_font_size="11px",
                 text_color=PAL.muted, text=text)


_UPDATE_JS = """
const t = Math.max(0, Math.min(Math.round(slider.value), slider.end));
const d = series.data;
const fmt = (v, n) => Number.isFinite(v) ? v.toFixed(n) : String(v);
for (let x = 0; x < bars.length; x++) {
  const old = bars[x].data;
  const K = old.y.length;
  const mask = d['pref_' + x][t];
  const right = [], pref_right = [], value_text = [], label = [];
  for (let y = 0; y < K; y++) {
    const p = d['p_' + x + '_' + y][t];
    const pref = (mask >> y) & 1;
    right.push(p);
    pref_right.push(pref ? p : NaN);
    value_text.push(p > 0 && p < 0.0005 ? '<0.1%' : (100 * p).toFixed(1) + '%');
    label.push(pref ? old.starred[y] : old.plain[y]);
  }
  bars[x].data = Object.assign({}, old, {right, pref_right, value_text, label});
}
for (const s of spans) s.location = t;
const P = bars.length;
const item = (name, v, html) => '<span data-name="' + name + '" data-value="' + v +
  '" style="white-space:nowrap">' + html + '</span>';
let kl = '';
for (let x = 0; x < P; x++) {
  const v = d['kl_' + x][t];
  kl += ' ' + item('kl-' + x, v, 'prompt ' + (x + 1) + ': <b>' + fmt(v, 4) + '</b> (ceiling ' +
                   ceilings[x].toFixed(3) + ')').replace('<span ', '<span class="dpo-kl" ');
  if (x < P - 1) kl += ';';
}
const loss = d.loss[t], margin = d.margin[t], acc = d.accuracy[t];
const bare = d.weight[t] ? '' : ' <span data-name="objective" style="white-space:nowrap">' +
  '(mean \u2212u: \u03c3 weight off)</span>';
readout.text =
  '<div data-testid="readout" data-scenario="' + key + '" data-step="' + t + '" ' +
  'aria-live="off" style="font: 14px/1.5 system-ui, sans-serif">' +
  item('step', t, 'Step <b>' + t + '</b> / ' + slider.end) + ' &middot; ' +
  item('loss', loss, 'loss <b>' + fmt(loss, 4) + '</b>') + bare + ' &middot; ' +
  item('margin', margin, 'reward margin <b>' + fmt(margin, 3) + '</b>') + ' &middot; ' +
  item('accuracy', acc, 'accuracy <b>' + fmt(100 * acc, 1) + '%</b>') +
  '<br>KL(\u03c0 || \u03c0_ref):' + kl + '</div>';
"""

_PLAY_JS = """
const key = '__dpo_replay_timer_' + toggle.id;
if (window[key]) { clearInterval(window[key]); window[key] = null; }
if (toggle.active) {
  if (slider.value >= slider.end) slider.value = slider.start;
  toggle.label = '\\u25ae\\u25ae Pause';
  const fps = parseFloat(speed.value) || 20;
  window[key] = setInterval(() => {
    if (slider.value >= slider.end) { toggle.active = false; return; }
    slider.value = slider.value + 1;
  }, 1000 / fps);
} else {
  toggle.label = '\\u25b6 Play';
}
"""

_SPEED_JS = """
if (toggle.active) { toggle.active = false; toggle.active = true; }
"""

_NAME_SLIDER_JS = """
// noUiSlider's handle (role=slider) has no name; give it the slider's title.
const views = slider.document && slider.document.views_manager;
const view = views ? views.find_one(slider) : null;
const root = view ? view.shadow_el : null;
if (root) {
  for (const h of root.querySelectorAll('[role=slider]')) h.setAttribute('aria-label', name);
}
"""

_PICK_JS = """
const i = picker.options.map(o => Array.isArray(o) ? o[0] : o).indexOf(picker.value);
for (let j = 0; j < blocks.length; j++) {
  if (j !== i) toggles[j].active = false;
  blocks[j].visible = (j === i);
}
"""


def _block(key: str, scenario: Scenario, steps: int):
    """Everything for one scenario: text, controls, bars, time charts, readout, callbacks.
    Returns the layout, its Play toggle and the callbacks to run once the page is up.

    The layout fits any width from a phone's up: every part stretches to the width it is
    given, and the bar charts and the charts over time sit side by side only where both
    fit (``flex-wrap``), else one above the other."""
    P = scenario.n_prompts
    series = replay_series(scenario, steps)
    src = ColumnDataSource(series, name=f"{key}:series")
    logp_ref = log_softmax(np.asarray(scenario.ref_logits, dtype=float))
    ref = np.exp(logp_ref)
    ceilings = kl_ceiling(logp_ref).tolist()
    wide = dict(sizing_mode="stretch_width")

    head = Div(name=f"{key}:head", disable_math=True, **wide, text=(
        f'<h2 style="margin:0.2em 0">{html.escape(scenario.title)}</h2>'
        f'<p style="margin:0.2em 0 0.6em; max-width:60em"><b>What to watch:</b> '
        f'{html.escape(scenario.watch)}</p>'))
    key_div = Div(disable_math=True, **wide, text=f'<small>{html.escape(LEGEND)}</small>')

    slider = Slider(name=f"{key}:slider", start=0, end=steps, value=0, step=1,
                    title="Step", **wide, min_width=200, max_width=720)
    toggle = Toggle(name=f"{key}:play", label="\u25b6 Play", active=False,
                    button_type="primary", width=110, align="end",
                    stylesheets=[InlineStyleSheet(css=BUTTON_CSS)])
    speed = Select(name=f"{key}:speed", title="Speed", value=str(FPS), width=130,
                   options=[(str(v), f"{v} steps/s") for v in SPEEDS])
    readout = Div(name=f"{key}:readout", disable_math=True, **wide, text="")

    bar_parts, bar_srcs, layouts = [], [], []
    for x, prompt in enumerate(scenario.prompts):
        fig, layout = _bar_figure(key, x, prompt, ref[x])
        bar_parts += [Div(disable_math=True, **wide, text=(
            f'<div style="font: 14px system-ui, sans-serif; margin-top:0.6em">'
            f'<b>Prompt {x + 1}:</b> {html.escape(prompt.text)}</div>')), fig]
        bar_srcs.append(fig.renderers[0].data_source)
        layouts.append(layout)

    loss_fig = _time_figure(key, "lossfig", loss_title(series["weight"], scenario.loss_type),
                            steps)
    loss_fig.line("step", "loss", source=src, line_width=2, color=PAL.margin)
    kl_fig = _time_figure(key, "klfig", "KL(\u03c0 || \u03c0_ref) per prompt", steps)
    items = []
    for x in range(P):
        r = kl_fig.line("step", f"kl_{x}", source=src, line_width=2,
                        color=PAL.series[x % len(PAL.series)],
                        line_dash=PROMPT_DASHES[x % len(PROMPT_DASHES)])
        items.append(LegendItem(label=f"prompt {x + 1}", renderers=[r]))
    for c in sorted(set(round(c, 12) for c in ceilings)):
        kl_fig.add_layout(Span(location=c, dimension="width", line_dash="dashed",
                               line_color=PAL.muted))
    # room above the highest ceiling for its label (KL never goes there)
    kl_fig.y_range = Range1d(0, max(ceilings) * 1.22 if ceilings else 1)
    kl_fig.add_layout(Legend(items=items, label_text_font_size="11px", padding=4,
                             spacing=2, border_line_color=None), "right")
    kl_fig.add_layout(_ceiling_label(ceilings, steps))
    spans = []
    for f in (loss_fig, kl_fig):
        for e in scenario.events:
            if 0 < e.step <= steps:
                f.add_layout(Span(location=e.step, dimension="height", line_dash="dotted",
                                  line_color=PAL.border))
        sp = Span(location=0, dimension="height", line_color=PAL.focus, line_width=2)
        f.add_layout(sp)
        spans.append(sp)

    update = CustomJS(args=dict(slider=slider, series=src, bars=bar_srcs, spans=spans,
                                readout=readout, ceilings=ceilings, key=key),
                      code=_UPDATE_JS)
    slider.js_on_change("value", update)
    play = CustomJS(args=dict(toggle=toggle, slider=slider, speed=speed), code=_PLAY_JS)
    toggle.js_on_change("active", play)
    speed.js_on_change("value", CustomJS(args=dict(toggle=toggle), code=_SPEED_JS))
    name_slider = CustomJS(args=dict(slider=slider, name="Step"), code=_NAME_SLIDER_JS)

    events_note = _events_note(scenario, steps)
    wrap = {"flex-wrap": "wrap"}
    controls = row(toggle, slider, speed, **wide, styles=wrap)
    # side by side where both fit (flex-basis), each at least MIN_WIDTH wide
    bars_col = column(key_div, *bar_parts, **wide, min_width=MIN_WIDTH,
                      styles={"flex": "1 1 460px"})
    charts_col = column(loss_fig, kl_fig, **wide, min_width=MIN_WIDTH,
                        styles={"flex": "1 1 400px"})
    body = row(bars_col, charts_col, **wide, styles=wrap)
    parts = [head, controls, readout, body]
    if events_note:
        parts.append(Div(disable_math=True, **wide, text=events_note))
    block = column(*parts, name=f"{key}:block", **wide)
    return block, toggle, [*layouts, name_slider, update]


def _events_note(scenario: Scenario, steps: int) -> str:
    notes = []
    for e in scenario.events:
        if e.step > steps:
            continue
        if e.flip is not None:
            notes.append(f"step {e.step}: row {e.flip} flipped")
        else:
            notes.append(f"step {e.step}: " + ", ".join(f"{k} = {v}" for k, v in e.set.items()))
    if not notes:
        return ""
    return ("<small>Scripted events (dotted lines on the charts): "
            + html.escape("; ".join(notes)) + ".</small>")



def _keys(scenarios: Sequence[Scenario]) -> list[str]:
    """Unique model-name prefixes: the scenario id, suffixed when an id repeats."""
    seen: dict[str, int] = {}
    keys = []
    for s in scenarios:
        n = seen.get(s.id, 0) + 1
        seen[s.id] = n
        keys.append(s.id if n == 1 else f"{s.id}-{n}")
    return keys


#: Bokeh's standalone page plus the viewport tag (without it a phone lays the page out
#: about 1000 px wide and shows it shrunk) and, after Bokeh's own page style, a small
#: gutter so nothing touches the screen's edges.
PAGE_TEMPLATE = ("{% block preamble %}" + VIEWPORT + "{% endblock %}"
                 "{% block postamble %}<style>body { padding: 0 4px; }</style>{% endblock %}")


def standalone_html(doc: Document, title: str) -> str:
    """The page for ``doc`` with Bokeh's JS and CSS inline and nothing else.

    Why not ``bokeh.embed.file_html``: Bokeh adds the ``__javascript__`` / ``__css__`` files
    and the data-model definitions of *every* model class registered in the process, used
    or not. Once Panel is imported (the dashboard, or a test run that also imports it) that
    drags in Panel's ``<script src="static/extensions/panel/.../es-module-shims...">``,
    which a file opened from disk cannot load. So this takes Bokeh's own inline bundle for
    the models in ``doc`` (Bokeh still picks which of its components they need), drops the
    process-wide extras, and renders the page with Bokeh's standalone template (plus the
    viewport tag, ``PAGE_TEMPLATE``). The result does not depend on what else was imported.
    """
    roots = list(doc.roots)
    with OutputDocumentFor(roots) as d:
        docs_json, render_items = standalone_docs_json_and_render_items(roots)
        bundle = bundle_for_objs_and_resources([d], INLINE)
        classes = {type(m) for m in d.models}
    for cls in classes:                      # our own models must not need a file either
        for attr in ("__javascript__", "__css__"):
            if getattr(cls, attr, None):
                raise RuntimeError(f"export: model {cls.__name__} needs external files "
                                   f"({attr}); the replay would not be self-contained")
    if not any(is_DataModel(c) for c in classes):
        for dj in docs_json.values():        # definitions of other libraries' data models
            dj.pop("defs", None)
    page = Bundle(js_raw=bundle.js_raw, css_raw=bundle.css_raw)
    return html_page_for_render_items(page, docs_json, render_items, title=title,
                                      template=PAGE_TEMPLATE)


def export_html(scenarios: list[Scenario], steps: int | None, out: str) -> Path:
    """Write one self-contained HTML replay of ``scenarios`` to ``out``; return its path.

    ``steps=None`` replays each scenario for its own ``steps``; an int replays all of them
    for that many updates (records 0..steps).
    """
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError("export: give at least one scenario")
    for s in scenarios:
        if not isinstance(s, Scenario):
            raise TypeError(f"export: expected a Scenario, got {type(s).__name__}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
                              or steps < 1):
        raise ValueError(f"export: steps must be a whole number >= 1, got {steps!r}")
    keys = _keys(scenarios)
    blocks, toggles, on_ready = [], [], []
    for key, s in zip(keys, scenarios):
        n = int(steps) if steps is not None else int(s.steps)
        if n < 1:
            raise ValueError(f"export: scenario {s.id!r} has steps = {n}; need >= 1")
        b, tg, ready = _block(key, s, n)
        blocks.append(b)
        toggles.append(tg)
        on_ready += ready

    doc = Document()
    if len(scenarios) > 1:
        picker = Select(name="picker", title="Scenario", value=keys[0],
                        sizing_mode="stretch_width", max_width=420,
                        options=[(k, s.title) for k, s in zip(keys, scenarios)])
        for b in blocks[1:]:
            b.visible = False
        picker.js_on_change("value", CustomJS(
            args=dict(picker=picker, blocks=blocks, toggles=toggles), code=_PICK_JS))
        root = column(picker, *blocks, sizing_mode="stretch_width")
    else:
        root = column(*blocks, sizing_mode="stretch_width")
    doc.add_root(root)
    for cb in on_ready:                      # lay out the labels, draw step 0
        doc.js_on_event(DocumentReady, cb)

    title = "dpo-sim replay: " + ", ".join(s.title for s in scenarios)
    text = standalone_html(doc, title)
    path = Path(out)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
