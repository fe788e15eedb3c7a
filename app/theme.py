"""Colours, sizes and CSS for a projector and a phone: one palette per theme, nothing
fetched. The live page and the static export both take their colours, line dashes and the
bars' legend from here.

The page uses the system font stack (no web font). Colours avoid a red/green contrast:
the data's preferred reply is marked by a label ("★ preferred"), an outline and a
stronger fill, never by hue alone. The reference tick is a calm sage green.
"""

from __future__ import annotations

from dataclasses import dataclass

from .texts import LEGEND as _LEGEND

FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
        "'Noto Sans', 'Liberation Sans', sans-serif")
MONO = "ui-monospace, 'SFMono-Regular', 'DejaVu Sans Mono', Menlo, Consolas, monospace"


@dataclass(frozen=True)
class Palette:
    name: str
    background: str
    surface: str
    text: str
    muted: str
    grid: str
    border: str
    focus: str
    bar: str            # a reply the data does not prefer
    bar_preferred: str  # the reply the data prefers (also outlined and labelled)
    ref_tick: str       # pi_ref, sage green
    rlhf_tick: str      # pi*, the RLHF optimum: a diamond in reddish purple
    series: tuple       # one colour per prompt (Okabe-Ito, colour-blind safe)
    chosen: str
    rejected: str
    margin: str
    flipped_bg: str


LIGHT = Palette(
    name="light", background="#ffffff", surface="#f4f5f7", text="#1f2328", muted="#57606a",
    grid="#e3e6ea", border="#d0d7de", focus="#0b5fcc",
    bar="#a9b9cf", bar_preferred="#34598f", ref_tick="#6f9a69", rlhf_tick="#a8336e",
    series=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00"),
    chosen="#0072B2", rejected="#D55E00", margin="#3b3f45", flipped_bg="#fff4d6",
)

DARK = Palette(
    name="dark", background="#1b1f24", surface="#252a31", text="#e8eaed", muted="#aeb6bf",
    grid="#353b43", border="#444c56", focus="#79b8ff",
    bar="#56657a", bar_preferred="#8fb3ea", ref_tick="#8fbf88", rlhf_tick="#f29ccb",
    series=("#56B4E9", "#E69F00", "#33C9A0", "#E08DC2", "#9FD3F5", "#F0C05A"),
    chosen="#56B4E9", rejected="#E69F00", margin="#d6dae0", flipped_bg="#4a3f1e",
)


#: One dash per prompt in the charts over time (with the palette's ``series`` colours),
#: so prompts differ by more than colour.
PROMPT_DASHES = ("solid", "dashed", "dotdash", "dotted")

#: The bars' legend, shared with the static export (the text lives in texts.py).
LEGEND = _LEGEND


def palette(theme: str) -> Palette:
    return DARK if theme == "dark" else LIGHT


def page_css(p: Palette) -> str:
    """Styles for our own HTML (readouts, pairs, log, formula), scoped by class names."""
    return f"""
:host {{ --dpo-text: {p.text}; --dpo-muted: {p.muted}; --dpo-surface: {p.surface};
  --dpo-border: {p.border}; --dpo-focus: {p.focus}; --dpo-bg: {p.background}; }}
* {{ font-family: {FONT}; }}
.dpo-card {{ color: {p.text}; font-size: 17px; line-height: 1.4; }}
.dpo-h {{ font-size: 15px; font-weight: 700; color: {p.muted}; margin: 0 0 6px 0; }}
.dpo-watch {{ font-size: 16px; color: {p.text}; background: {p.surface};
  border-left: 4px solid {p.ref_tick}; padding: 8px 12px; border-radius: 4px; }}
.dpo-readouts {{ display: flex; flex-wrap: wrap; gap: 6px 22px; align-items: baseline; }}
.dpo-readout {{ white-space: nowrap; }}
.dpo-readout .k {{ color: {p.muted}; font-size: 15px; margin-right: 6px; }}
.dpo-readout .v {{ font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }}
.dpo-readout .ceil {{ color: {p.muted}; font-size: 15px; }}
table.dpo-probs {{ border-collapse: collapse; font-size: 15px; width: 100%;
  font-variant-numeric: tabular-nums; }}
table.dpo-probs th, table.dpo-probs td {{ padding: 2px 6px; text-align: right;
  vertical-align: top; }}
table.dpo-probs thead th {{ color: {p.muted}; font-weight: 600; white-space: nowrap; }}
table.dpo-probs tbody th {{ text-align: left; font-weight: 400; font-size: 14px;
  line-height: 1.3; }}
table.dpo-probs thead th:first-child {{ text-align: left; }}
/* a term with its one-line explanation: shown on hover, keyboard focus or tap */
.dpo-tipwrap {{ position: relative; display: inline-block; }}
.dpo-term {{ font: inherit; color: inherit; background: none; border: 0; padding: 0;
  margin: 0; cursor: help; text-decoration: underline dotted; text-underline-offset: 3px; }}
.dpo-tip {{ display: none; position: absolute; z-index: 30; left: 0; top: calc(100% + 4px);
  width: max-content; max-width: min(300px, 70vw); background: {p.surface}; color: {p.text};
  border: 1px solid {p.border}; border-radius: 6px; padding: 6px 9px; font-size: 14px;
  font-weight: 400; line-height: 1.35; white-space: normal; text-align: left;
  letter-spacing: 0; text-transform: none; box-shadow: 0 3px 10px rgba(0,0,0,.25); }}
.dpo-tip.dpo-tip-right {{ left: auto; right: 0; }}
.dpo-tipwrap:hover .dpo-tip, .dpo-term:focus + .dpo-tip {{ display: block; }}
/* the numbers under the header: per judgement and per stored row (TRL) */
table.dpo-metrics {{ border-collapse: collapse; font-variant-numeric: tabular-nums;
  margin-top: 4px; }}
table.dpo-metrics th, table.dpo-metrics td {{ padding: 1px 10px 1px 0; text-align: right;
  white-space: nowrap; }}
table.dpo-metrics thead th {{ color: {p.muted}; font-weight: 600; font-size: 15px;
  white-space: normal; vertical-align: bottom; line-height: 1.15; }}
table.dpo-metrics tbody th {{ text-align: left; color: {p.muted}; font-weight: 600;
  font-size: 15px; }}
table.dpo-metrics td {{ font-size: 18px; font-weight: 650; }}
table.dpo-metrics tr.rows td {{ font-size: 16px; font-weight: 500; color: {p.muted}; }}
table.dpo-metrics.narrow {{ display: none; }}
.dpo-big table.dpo-metrics.wide {{ display: none; }}
.dpo-big table.dpo-metrics.narrow {{ display: table; }}
.dpo-big table.dpo-metrics.narrow td {{ font-size: 14px; padding-left: 8px; }}
.dpo-big table.dpo-metrics.narrow td.r {{ font-size: 14px; }}
.dpo-big table.dpo-metrics.narrow tbody th {{ font-size: 14px; }}
.dpo-help {{ font-size: 14px; color: {p.muted}; line-height: 1.35; margin: -4px 0 6px 0; }}
.dpo-sr {{ position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }}
.dpo-note {{ font-size: 14px; color: {p.muted}; line-height: 1.35; }}
.dpo-notice {{ font-size: 15px; border: 2px solid {p.focus}; border-radius: 6px;
  padding: 6px 12px; }}
.dpo-notice ul {{ margin: 4px 0; }}
.dpo-alert {{ font-size: 16px; border: 2px solid {p.rlhf_tick}; border-left-width: 8px;
  border-radius: 6px; padding: 8px 12px; background: {p.surface}; }}
.dpo-legend {{ font-size: 15px; color: {p.muted}; }}
.dpo-header {{ display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 16px; }}
.dpo-header h1 {{ font-size: 26px; margin: 0; }}
.dpo-header-title {{ font-size: 19px; }}
.dpo-header-sub {{ font-size: 15px; }}
@media (max-width: 1439px) {{ .dpo-header-sub {{ display: none; }} }}
.dpo-prompt {{ font-size: 18px; font-weight: 600; }}
.dpo-prompt .dpo-h {{ display: inline; margin-right: 8px; }}
.dpo-prompt .dpo-note {{ font-weight: 400; margin-top: 2px; }}
@media (max-width: 600px) {{
  .dpo-readouts {{ gap: 2px 14px; }}
  .dpo-readout .v {{ font-size: 19px; }}
  .dpo-readout .k, .dpo-readout .ceil {{ font-size: 13px; }}
  table.dpo-metrics.wide {{ display: none; }}
  table.dpo-metrics.narrow {{ display: table; }}
  table.dpo-metrics.narrow td {{ font-size: 17px; padding-left: 10px; }}
  table.dpo-metrics.narrow td.r {{ font-size: 15px; font-weight: 500; color: {p.muted}; }}
  table.dpo-metrics thead th, table.dpo-metrics tbody th {{ font-size: 14px; }}
  .dpo-header-sub {{ display: none; }}
  .dpo-header h1 {{ font-size: 21px; }}
  .dpo-header-title {{ font-size: 16px; }}
}}
.dpo-formula {{ font-size: 17px; }}
.dpo-formula .eq {{ font-family: {MONO}; font-size: 16px; background: {p.surface};
  padding: 2px 6px; border-radius: 4px; }}
.dpo-formula p {{ margin: 4px 0 8px 0; }}
"""


def body_css(p: Palette) -> str:
    """Document-level styles: page background, focus ring."""
    return f"""
html, body {{ background: {p.background}; color: {p.text}; font-family: {FONT}; }}
body {{ margin: 0; }}
:focus-visible {{ outline: 3px solid {p.focus} !important; outline-offset: 2px; }}
"""


def widget_css(p: Palette) -> str:
    """Bigger, clearer widgets with a visible focus ring (applied inside their shadow roots).
    A toggle that is on is filled and checked, so on and off differ by more than the
    words, in both themes."""
    return f"""
:host {{ font-size: 16px; }}
.bk-input, button, select, .bk-btn {{ font-size: 16px !important; }}
.bk-input-group label, label, .bk-slider-title {{ font-size: 16px; }}
:focus-visible, .noUi-handle:focus {{ outline: 3px solid {p.focus} !important;
  outline-offset: 2px; }}
.bk-btn-group .bk-btn.bk-active, .bk-btn.bk-active {{ background: {p.bar_preferred} !important;
  color: {p.background} !important; border-color: {p.text} !important; font-weight: 700; }}
.bk-btn.bk-active::before {{ content: "✓ "; }}
"""


def layout_css() -> str:
    """The page's grid (a stylesheet for the body's pn.FlexBox, whose inner div is the
    grid): the controls at the side, the bars, the charts over time, the details.

    - 1200 px and wider: three columns, so at 1280 x 800 the bars, the numbers and the
      charts over time are all in view;
    - 900 to 1199 px: controls beside one column of bars, charts and details;
    - narrower (an iframe in a course page, a phone): one column, the bars first.
    With every control hidden (teacher mode, class ``no-side``) the side column goes."""
    grid = 'div[id^="flexbox"]'
    return f"""
{grid} {{ display: grid !important; gap: 6px 16px; align-items: start;
  grid-template-columns: 300px minmax(0, 1fr) minmax(330px, 0.7fr);
  grid-template-areas: "side main charts" "side details charts"; }}
:host(.no-side) {grid} {{ grid-template-columns: minmax(0, 1fr) minmax(330px, 0.7fr);
  grid-template-areas: "main charts" "details charts"; }}
@media (max-width: 1199px) {{
  {grid} {{ grid-template-columns: 300px minmax(0, 1fr);
    grid-template-areas: "side main" "side charts" "side details"; }}
  :host(.no-side) {grid} {{ grid-template-columns: minmax(0, 1fr);
    grid-template-areas: "main" "charts" "details"; }}
}}
@media (max-width: 899px) {{
  {grid}, :host(.no-side) {grid} {{ grid-template-columns: minmax(0, 1fr);
    grid-template-areas: "main" "side" "charts" "details"; }}
}}
"""


def style_figure(fig, p: Palette) -> None:
    """Large readable text and the theme's colours on a Bokeh figure; called once its
    glyphs are drawn (and the figure's models are trimmed then: ``_fewer_models``)."""
    _fewer_models(fig)
    fig.background_fill_color = p.background
    fig.border_fill_color = p.background
    fig.outline_line_color = None
    for axis in fig.axis:
        axis.major_label_text_font_size = "15px"
        axis.axis_label_text_font_size = "15px"
        axis.major_label_text_color = p.text
        axis.axis_label_text_color = p.muted
        axis.axis_line_color = p.border
        axis.major_tick_line_color = p.border
        axis.minor_tick_line_color = None
        axis.axis_label_text_font_style = "normal"
    for grid in fig.grid:
        grid.grid_line_color = p.grid
    fig.title.text_font_size = "17px"
    fig.title.text_color = p.text
    fig.title.text_font_style = "bold"
    fig.toolbar.logo = None
    if fig.legend:
        for lg in fig.legend:
            style_legend(lg, p)


def _fewer_models(fig) -> None:
    """Fewer models per session, and fewer messages: every model is built, serialised
    and, for each message in and out, mapped by Bokeh's protocol (measured: 581 -> 453
    models per session; putting the document together and serialising it 300 -> 205 ms
    for the glyphs alone).

    - Bokeh's drawing methods give every renderer two more copies of its glyph, for
      unselected and muted points; nothing on the page selects or mutes, and "auto"
      makes the browser derive them only if needed. (None, set on purpose, stays.)
    - One view (all rows) per source for the renderers that draw it, and one selection
      policy for all the figure's sources, instead of one of each per renderer and per
      source. (A view shared by sources of different lengths fails in the browser.)
    - The browser fits a DataRange1d to the data on every repaint and by default sends
      each new start and end back: about 3 messages per screen update. Nothing on the
      server reads them (it only ever sets ranges), so they stay in the browser.
    """
    from bokeh.models import AllIndices, Glyph, GlyphRenderer

    fig.x_range.syncable = False
    fig.y_range.syncable = False
    views: dict = {}
    policy = None
    for r in fig.renderers:
        if not isinstance(r, GlyphRenderer):
            continue
        if type(r.view.filter) is AllIndices:
            r.view = views.setdefault(id(r.data_source), r.view)
        policy = policy or r.data_source.selection_policy
        r.data_source.selection_policy = policy
        if isinstance(r.nonselection_glyph, Glyph):
            r.nonselection_glyph = "auto"
        if isinstance(r.muted_glyph, Glyph):
            r.muted_glyph = "auto"


def style_legend(lg, p: Palette) -> None:
    lg.label_text_font_size = "14px"
    lg.label_text_color = p.text
    lg.background_fill_color = p.background
    lg.background_fill_alpha = 0.8
    lg.border_line_color = None
