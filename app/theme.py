"""Colours, sizes and CSS for a projector and a phone: one palette per theme, nothing
fetched. The live page and the static export both take their colours, line dashes and the
bars' legend from here.

The page uses the system font stack (no web font). Colours avoid a red/green contrast:
the data's preferred reply is marked by a label ("★ preferred"), an outline and a
stronger fill, never by hue alone. The reference tick is a calm sage green.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    series: tuple       # one colour per prompt (Okabe-Ito, colour-blind safe)
    chosen: str
    rejected: str
    margin: str
    flipped_bg: str


LIGHT = Palette(
    name="light", background="#ffffff", surface="#f4f5f7", text="#1f2328", muted="#57606a",
    grid="#e3e6ea", border="#d0d7de", focus="#0b5fcc",
    bar="#a9b9cf", bar_preferred="#34598f", ref_tick="#6f9a69",
    series=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00"),
    chosen="#0072B2", rejected="#D55E00", margin="#3b3f45", flipped_bg="#fff4d6",
)

DARK = Palette(
    name="dark", background="#1b1f24", surface="#252a31", text="#e8eaed", muted="#aeb6bf",
    grid="#353b43", border="#444c56", focus="#79b8ff",
    bar="#56657a", bar_preferred="#8fb3ea", ref_tick="#8fbf88",
    series=("#56B4E9", "#E69F00", "#33C9A0", "#E08DC2", "#9FD3F5", "#F0C05A"),
    chosen="#56B4E9", rejected="#E69F00", margin="#d6dae0", flipped_bg="#4a3f1e",
)


#: One dash per prompt in the charts over time (with the palette's ``series`` colours),
#: so prompts differ by more than colour.
PROMPT_DASHES = ("solid", "dashed", "dotdash", "dotted")

LEGEND = ("Bars: the policy π(y|x). Green tick: the reference π_ref(y|x). "
          "Outlined, in a stronger colour and marked ★: the reply the preference data favours.")


def palette(theme: str) -> Palette:
    return DARK if theme == "dark" else LIGHT


def page_css(p: Palette) -> str:
    """Styles for our own HTML (readouts, pairs, log, formula), scoped by class names."""
    return f"""
:host {{ --dpo-text: {p.text}; --dpo-muted: {p.muted}; --dpo-surface: {p.surface};
  --dpo-border: {p.border}; --dpo-focus: {p.focus}; --dpo-bg: {p.background}; }}
* {{ font-family: {FONT}; }}
.dpo-card {{ color: {p.text}; font-size: 17px; line-height: 1.4; }}
.dpo-h {{ font-size: 15px; font-weight: 600; letter-spacing: .02em; text-transform: uppercase;
  color: {p.muted}; margin: 0 0 6px 0; }}
.dpo-watch {{ font-size: 16px; color: {p.text}; background: {p.surface};
  border-left: 4px solid {p.ref_tick}; padding: 8px 12px; border-radius: 4px; }}
.dpo-readouts {{ display: flex; flex-wrap: wrap; gap: 6px 22px; align-items: baseline; }}
.dpo-readout {{ white-space: nowrap; }}
.dpo-readout .k {{ color: {p.muted}; font-size: 15px; margin-right: 6px; }}
.dpo-readout .v {{ font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }}
.dpo-readout .ceil {{ color: {p.muted}; font-size: 15px; }}
table.dpo-probs {{ border-collapse: collapse; font-size: 15px; width: 100%;
  font-variant-numeric: tabular-nums; }}
table.dpo-probs th, table.dpo-probs td {{ padding: 2px 8px; text-align: right; }}
table.dpo-probs th:first-child, table.dpo-probs td:first-child {{ text-align: left; }}
table.dpo-probs th {{ color: {p.muted}; font-weight: 500; }}
table.dpo-probs tr.pref td:first-child::after {{ content: " ★";
  color: {p.muted}; font-size: 13px; }}
.dpo-notice {{ font-size: 15px; border: 2px solid {p.focus}; border-radius: 6px;
  padding: 6px 12px; }}
.dpo-notice ul {{ margin: 4px 0; }}
.dpo-legend {{ font-size: 15px; color: {p.muted}; }}
.dpo-prompt {{ font-size: 18px; font-weight: 600; }}
.dpo-prompt .dpo-h {{ display: inline; margin-right: 8px; }}
@media (max-width: 600px) {{
  .dpo-readouts {{ gap: 2px 14px; }}
  .dpo-readout .v {{ font-size: 19px; }}
  .dpo-readout .k, .dpo-readout .ceil {{ font-size: 13px; }}
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
    """Bigger, clearer widgets with a visible focus ring (applied inside their shadow roots)."""
    return f"""
:host {{ font-size: 16px; }}
.bk-input, button, select, .bk-btn {{ font-size: 16px !important; }}
.bk-input-group label, label, .bk-slider-title {{ font-size: 16px; }}
:focus-visible, .noUi-handle:focus {{ outline: 3px solid {p.focus} !important;
  outline-offset: 2px; }}
"""


def style_figure(fig, p: Palette) -> None:
    """Large readable text and the theme's colours on a Bokeh figure."""
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


def style_legend(lg, p: Palette) -> None:
    lg.label_text_font_size = "14px"
    lg.label_text_color = p.text
    lg.background_fill_color = p.background
    lg.background_fill_alpha = 0.8
    lg.border_line_color = None
