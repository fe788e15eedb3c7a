"""The preference rows as a list of buttons: click (or Enter / Space) flips a row.

Each row shows the prompt, "chosen > rejected" as the data currently says, the votes, the
row's implicit reward margin u, the model's preference probability sigma(u) and the
gradient weight. A flipped row is tinted and says so, and has aria-pressed="true".
The rows are updated in place, so keyboard focus stays on the row just flipped.
"""

from __future__ import annotations

import panel as pn
import param

from ..state import SimState
from ..theme import FONT, MONO, Palette, page_css
from .bars import short

ESM = r"""
const COLS = ["row", "pair (chosen > rejected)", "votes", "margin u", "sigma(u)", "weight"];

export function render({ model, el }) {
  const wrap = document.createElement("div");
  wrap.className = "dpo-pairs";
  const head = document.createElement("div");
  head.className = "row head";
  head.setAttribute("aria-hidden", "true");
  for (const c of COLS) {
    const s = document.createElement("span");
    s.textContent = c;
    head.appendChild(s);
  }
  const body = document.createElement("div");
  body.setAttribute("role", "group");
  body.setAttribute("aria-label", "Preference rows: press a row to flip it");
  wrap.append(head, body);
  el.appendChild(wrap);

  function flip(i) { model.send_msg({ flip: i }); }

  function build(rows) {
    body.innerHTML = "";
    rows.forEach((r, i) => {
      const row = document.createElement("div");
      row.className = "row";
      row.setAttribute("role", "button");
      row.tabIndex = 0;
      row.dataset.testid = "pair-" + i;
      row.setAttribute("data-testid", "pair-" + i);
      for (let k = 0; k < COLS.length; k++) {
        const s = document.createElement("span");
        s.className = "c" + k;
        row.appendChild(s);
      }
      row.addEventListener("click", () => flip(i));
      row.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          e.stopPropagation();
          flip(i);
        }
      });
      body.appendChild(row);
    });
  }

  // Per tick only the numbers change: touch a cell only when its text differs, and
  // rebuild the pair cell only when the pair itself (or its flipped state) changes.
  function text(node, v) {
    const t = node.firstChild;
    if (t && t.nodeType === 3 && !t.nextSibling) { if (t.nodeValue !== v) t.nodeValue = v; }
    else if (node.textContent !== v) node.textContent = v;
  }
  function update() {
    const rows = model.rows;
    if (body.children.length !== rows.length) build(rows);
    rows.forEach((r, i) => {
      const row = body.children[i];
      const c = row.children;
      text(c[0], r.prompt);
      const key = r.chosen + "\u0000" + r.rejected + "\u0000" + r.flipped;
      if (row._pair !== key) {
        row._pair = key;
        c[1].innerHTML = "";
        const pair = document.createElement("span");
        pair.textContent = "\u201c" + r.chosen + "\u201d > \u201c" + r.rejected + "\u201d";
        c[1].appendChild(pair);
        if (r.flipped) {
          const b = document.createElement("span");
          b.className = "badge";
          b.textContent = "\u21c4 flipped";
          c[1].appendChild(b);
        }
        row.classList.toggle("flipped", !!r.flipped);
        row.setAttribute("aria-pressed", r.flipped ? "true" : "false");
      }
      text(c[2], r.votes);
      text(c[3], r.u);
      text(c[4], r.sigma);
      text(c[5], r.weight);
      if (row.getAttribute("aria-label") !== r.label) row.setAttribute("aria-label", r.label);
    });
  }

  build(model.rows);
  update();
  model.on("rows", update);
}
"""


def pairs_css(p: Palette) -> str:
    return f"""
.dpo-pairs {{ font-family: {FONT}; color: {p.text}; font-size: 16px; }}
.dpo-pairs .row {{ display: grid; gap: 4px 12px; align-items: center;
  grid-template-columns: minmax(120px, 1fr) minmax(160px, 2.6fr) 58px 86px 80px 70px;
  padding: 7px 10px; border-radius: 6px; border: 1px solid transparent;
  font-variant-numeric: tabular-nums; }}
.dpo-pairs .row.head {{ color: {p.muted}; font-size: 13px; text-transform: uppercase;
  letter-spacing: .03em; padding-top: 0; padding-bottom: 2px; }}
.dpo-pairs [role=button] {{ cursor: pointer; border-color: {p.border}; margin-bottom: 5px;
  background: {p.background}; }}
.dpo-pairs [role=button]:hover {{ background: {p.surface}; }}
.dpo-pairs [role=button]:focus-visible {{ outline: 3px solid {p.focus}; outline-offset: 1px; }}
.dpo-pairs [role=button].flipped {{ background: {p.flipped_bg}; border: 2px dashed {p.text}; }}
.dpo-pairs .c2, .dpo-pairs .c3, .dpo-pairs .c4, .dpo-pairs .c5 {{ text-align: right;
  font-family: {MONO}; font-size: 15px; }}
.dpo-pairs .c0 {{ color: {p.muted}; }}
.dpo-pairs .badge {{ margin-left: 8px; font-size: 13px; font-weight: 700; padding: 1px 6px;
  border: 1px solid {p.text}; border-radius: 10px; white-space: nowrap; }}
@media (max-width: 640px) {{
  .dpo-pairs .row {{ grid-template-columns: 1fr 1fr 1fr 1fr; }}
  .dpo-pairs .c0 {{ grid-column: 1 / span 4; }}
  .dpo-pairs .c1 {{ grid-column: 1 / span 4; }}
  .dpo-pairs .row.head .c0, .dpo-pairs .row.head span:nth-child(-n+2) {{ display: none; }}
}}
"""


class PairRows(pn.custom.JSComponent):
    """The row buttons (browser side in ESM); a click arrives as a message {flip: i}."""

    rows = param.List(default=[])

    _esm = ESM

    def __init__(self, on_flip=None, **params):
        super().__init__(**params)
        self._on_flip = on_flip

    def _handle_msg(self, msg):
        if isinstance(msg, dict) and "flip" in msg and self._on_flip is not None:
            self._on_flip(int(msg["flip"]))


def row_items(state: SimState) -> list[dict]:
    """What each row shows, as plain JSON-ready dicts."""
    spec, pairs, rec = state.spec, state.pairs, state.record
    out = []
    for i, r in enumerate(spec.rows):
        flipped = i in state.flipped
        c, l = int(pairs.chosen[i]), int(pairs.rejected[i])
        replies = spec.prompts[r.prompt].replies
        votes = f"{r.votes_chosen:g}:{r.votes_rejected:g}"
        u, s, w = (float(rec.row_margin[i]), float(rec.row_sigma[i]),
                   float(rec.row_weight[i]))
        label = (f"Row {i}, prompt {r.prompt + 1}: {replies[c]} preferred over "
                 f"{replies[l]}, votes {votes}, margin {u:+.3f}, sigma {s:.3f}, weight "
                 f"{w:.3f}" + (", flipped" if flipped else "")
                 + ". Press to flip" + (" back." if flipped else "."))
        out.append({
            "prompt": f"row {i} · prompt {r.prompt + 1}",
            "chosen": short(replies[c], 26), "rejected": short(replies[l], 26),
            "votes": votes, "u": f"{u:+.3f}", "sigma": f"{s:.3f}", "weight": f"{w:.3f}",
            "flipped": flipped, "label": label,
        })
    return out


class PairsList(pn.viewable.Viewer):
    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(**params)
        self.state = state
        self.rows = PairRows(on_flip=state.flip, rows=row_items(state),
                             stylesheets=[pairs_css(pal)], sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.pane.HTML('<div class="dpo-h">Preference rows: click a row to flip it</div>',
                         stylesheets=[page_css(pal)],
                         margin=(0, 10)),
            self.rows, sizing_mode="stretch_width")
        state.subscribe(self._on_change)

    def __panel__(self):
        return self._layout

    def _on_change(self, kind: str, records) -> None:
        if kind != "pause":
            self.update()

    def update(self) -> None:
        self.rows.rows = row_items(self.state)
