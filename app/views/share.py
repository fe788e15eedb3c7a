"""The Share control: the link to what the page shows, and an iframe snippet to paste
into course material, each with a Copy button.

The link is built in the browser from the page's own address (origin and path, so it is
right behind a proxy or inside an iframe) plus the query the state writes; nothing is
loaded from anywhere. Copy uses ``navigator.clipboard`` where the browser allows it
(secure contexts), else selects the text and tries the old copy command, else leaves it
selected with a hint to press Ctrl+C."""

from __future__ import annotations

import panel as pn
import param

from ..theme import Palette, page_css
from .component import Component
from .util import esc

EMBED_HEIGHT = 900
PLAYING_NOTE = ("Playing: this link opens at the start (after any actions in it). "
                "Pause first to link to the step shown.")

ESM = r"""
function escAttr(s) {
  return String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;")
                  .replace(/'/g, "&#x27;").replace(/</g, "&lt;")
                  .replace(/>/g, "&gt;");
}

export function render({ model, el }) {
  el.innerHTML = `
<div class="dpo-share">
  <button type="button" class="toggle" aria-expanded="false"
          aria-controls="share-panel">Share</button>
  <div class="panel" id="share-panel" hidden role="group" aria-label="Share this view">
    <p class="note" data-testid="share-note"></p>
    <label for="share-link">Link to this view</label>
    <div class="line">
      <input id="share-link" data-testid="share-link" type="text" readonly
             spellcheck="false">
      <button type="button" class="copy" data-what="link">Copy link</button>
    </div>
    <label for="share-embed">Embed in a page (iframe)</label>
    <textarea id="share-embed" data-testid="share-embed" readonly rows="4"
              spellcheck="false"></textarea>
    <div class="line">
      <button type="button" class="copy" data-what="embed">Copy embed code</button>
    </div>
    <p class="status" data-testid="share-status" role="status" aria-live="polite"></p>
  </div>
</div>`;
  const toggle = el.querySelector(".toggle");
  const panel = el.querySelector(".panel");
  const link = el.querySelector("#share-link");
  const embed = el.querySelector("#share-embed");
  const status = el.querySelector(".status");
  const note = el.querySelector(".note");

  function fill() {
    note.textContent = model.note;
    note.hidden = !model.note;
    const url = window.location.origin + window.location.pathname + model.query;
    link.value = url;
    embed.value = `<iframe src="${escAttr(url)}" width="100%" height="${model.height_px}" ` +
                  `style="border:0" title="${escAttr("dpo-sim: " + model.title)}"></iframe>`;
  }
  fill();
  model.on(["query", "title", "note"], fill);

  function show(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) { fill(); status.textContent = ""; link.focus(); link.select(); }
  }
  toggle.addEventListener("click", () => show(panel.hidden));
  panel.addEventListener("keydown", (e) => {      // Escape closes, focus back on Share
    if (e.key === "Escape") { e.preventDefault(); show(false); toggle.focus(); }
  });
  for (const field of [link, embed]) field.addEventListener("focus", () => field.select());

  async function copy(field, what) {
    fill();
    const text = field.value;
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
      await navigator.clipboard.writeText(text);
      status.textContent = `Copied the ${what}.`;
      return;
    } catch (e) { /* fall back below */ }
    field.focus();
    field.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    status.textContent = ok ? `Copied the ${what}.`
                            : `The ${what} is selected: press Ctrl+C (or ⌘+C) to copy it.`;
  }
  for (const b of el.querySelectorAll(".copy")) {
    const what = b.dataset.what;
    b.addEventListener("click", () => copy(what === "link" ? link : embed,
                                            what === "link" ? "link" : "embed code"));
  }
}
"""


def share_css(pal: Palette) -> str:
    return f"""
.dpo-share {{ color: {pal.text}; font-size: 15px; }}
.dpo-share button {{ font: inherit; font-size: 15px; padding: 5px 14px; cursor: pointer;
  color: {pal.text}; background: {pal.surface}; border: 1px solid {pal.border};
  border-radius: 4px; }}
.dpo-share button:focus-visible, .dpo-share input:focus-visible,
.dpo-share textarea:focus-visible {{ outline: 3px solid {pal.focus}; outline-offset: 2px; }}
.dpo-share .panel {{ margin-top: 8px; padding: 8px; border: 1px solid {pal.border};
  border-radius: 6px; background: {pal.surface}; }}
.dpo-share .panel[hidden] {{ display: none; }}
.dpo-share label {{ display: block; margin: 4px 0 2px 0; color: {pal.muted}; }}
.dpo-share .line {{ display: flex; gap: 6px; margin-bottom: 6px; }}
.dpo-share input, .dpo-share textarea {{ flex: 1 1 auto; min-width: 0; width: 100%;
  box-sizing: border-box; font-family: ui-monospace, monospace; font-size: 13px;
  color: {pal.text}; background: {pal.background}; border: 1px solid {pal.border};
  border-radius: 4px; padding: 4px; }}
.dpo-share textarea {{ resize: vertical; margin-bottom: 6px; }}
.dpo-share .note {{ margin: 0 0 4px 0; }}
.dpo-share .note[hidden] {{ display: none; }}
.dpo-share .status {{ min-height: 1.2em; margin: 2px 0 0 0; }}
"""


class ShareLink(Component):
    """``query``: "?..." as the state writes it; ``title``: the scenario's title (the
    iframe's accessible name)."""

    query = param.String(default="")
    title = param.String(default="")
    note = param.String(default="")
    height_px = param.Integer(default=EMBED_HEIGHT)

    _esm = ESM


class SharePanel(pn.viewable.Viewer):
    def __init__(self, pal: Palette, title: str = "", **params):
        super().__init__(**params)
        self.widget = ShareLink(title=title, stylesheets=[page_css(pal), share_css(pal)],
                                sizing_mode="stretch_width", margin=(6, 10))

    def __panel__(self):
        return self.widget

    def update(self, query: str, title: str, playing: bool = False) -> None:
        """query: "?a=1&b=2" (or ""), already encoded. While playing the link has no
        step (it would be stale at once): say so."""
        note = PLAYING_NOTE if playing else ""
        w = self.widget
        if (w.query, w.title, w.note) != (query, title, note):
            w.param.update(query=query, title=title, note=note)


def snippet(url: str, title: str, height: int = EMBED_HEIGHT) -> str:
    """The iframe snippet (the same text the browser builds), for docs and tests."""
    return (f'<iframe src="{esc(url)}" width="100%" height="{height}" style="border:0" '
            f'title="{esc("dpo-sim: " + title)}"></iframe>')
