"""The preference rows. Each row shows its prompt, "chosen > rejected" in full, the votes,
the row's margin u, sigma(u), and the two pulls on the pair with their difference, the net
pull that moves it.

Looking at a row never changes the run: hovering, focusing or tapping a row shows its
numbers in the formula strip below. Flipping is a deliberate act: the row's Flip button,
or Enter on a focused row. A flipped row is tinted, says so, and its button has
aria-pressed="true". Rows are updated in place, so keyboard focus stays where it is.
"""

from __future__ import annotations

import panel as pn
import param

from ...sim.dpo import row_pulls
from ..state import SimState
from ..texts import TERMS
from ..theme import FONT, MONO, Palette, page_css
from .bars import letter
from .component import Component
from .util import fixed, term

ESM = r"""
const NUMS = ["votes", "u", "sigma", "pull_for", "pull_against", "net"];
const NAMES = {votes: "votes", u: "u", sigma: "σ(u)", pull_for: "pull for",
               pull_against: "pull against", net: "net"};

export function render({ model, el }) {
  const list = document.createElement("ul");
  list.className = "dpo-pairs";
  list.setAttribute("aria-label", "Preference rows");
  el.appendChild(list);

  function send(msg) { model.send_msg(msg); }

  function build(rows) {
    list.innerHTML = "";
    rows.forEach((r, i) => {
      const li = document.createElement("li");
      li.className = "row";
      li.tabIndex = 0;
      li.setAttribute("data-testid", "pair-" + i);
      const top = document.createElement("div");
      top.className = "top";
      const who = document.createElement("span");
      who.className = "who";
      who.id = "who-" + i;
      const pair = document.createElement("span");
      pair.className = "pair";
      pair.id = "pair-" + i;
      li.setAttribute("aria-labelledby", "who-" + i + " pair-" + i);
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "flip";
      btn.setAttribute("data-testid", "flip-" + i);
      btn.innerHTML = 'Flip<span class="dpo-sr"> row ' + i + '</span>';
      btn.addEventListener("click", (e) => { e.stopPropagation(); send({ flip: i }); });
      top.append(who, pair, btn);
      const nums = document.createElement("div");
      nums.className = "nums";
      for (const k of NUMS) {
        const s = document.createElement("span");
        s.className = "n " + k;
        const name = document.createElement("span");
        name.className = "k";
        name.textContent = NAMES[k] + " ";
        const v = document.createElement("span");
        v.className = "v";
        s.append(name, v);
        nums.appendChild(s);
      }
      li.append(top, nums);
      // looking (hover, focus, tap) shows the row's numbers; Enter flips it
      li.addEventListener("focus", () => send({ look: i }));
      li.addEventListener("mouseenter", () => send({ look: i }));
      li.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.target === li) {
          e.preventDefault();
          send({ flip: i });
        }
      });
      list.appendChild(li);
    });
  }

  function text(node, v) {
    const t = node.firstChild;
    if (t && t.nodeType === 3 && !t.nextSibling) { if (t.nodeValue !== v) t.nodeValue = v; }
    else if (node.textContent !== v) node.textContent = v;
  }
  function update() {
    const rows = model.rows;
    if (list.children.length !== rows.length) build(rows);
    rows.forEach((r, i) => {
      const li = list.children[i];
      const key = r.pair + "\u0000" + r.flipped + "\u0000" + r.who;
      if (li._pair !== key) {
        li._pair = key;
        li.querySelector(".who").textContent = r.who;
        const pair = li.querySelector(".pair");
        pair.textContent = r.pair;
        if (r.flipped) {
          const b = document.createElement("span");
          b.className = "badge";
          b.textContent = "\u21c4 flipped";
          pair.appendChild(b);
        }
        li.classList.toggle("flipped", !!r.flipped);
        li.querySelector(".flip").setAttribute("aria-pressed", r.flipped ? "true" : "false");
      }
      li.classList.toggle("looked", i === model.looked);
      for (const k of NUMS) text(li.querySelector(".n." + k + " .v"), r[k]);
    });
  }

  build(model.rows);
  update();
  model.on(["rows", "looked"], update);
}
"""


def pairs_css(p: Palette) -> str:
    return f"""
.dpo-pairs {{ font-family: {FONT}; color: {p.text}; font-size: 16px; list-style: none;
  margin: 0; padding: 0; }}
.dpo-pairs .row {{ padding: 6px 10px; border-radius: 6px; border: 1px solid {p.border};
  margin-bottom: 6px; background: {p.background}; }}
.dpo-pairs .row:hover, .dpo-pairs .row.looked {{ background: {p.surface}; }}
.dpo-pairs .row:focus-visible {{ outline: 3px solid {p.focus}; outline-offset: 1px; }}
.dpo-pairs .row.flipped {{ background: {p.flipped_bg}; border: 2px dashed {p.text}; }}
.dpo-pairs .top {{ display: flex; gap: 4px 10px; align-items: baseline; flex-wrap: wrap; }}
.dpo-pairs .who {{ color: {p.muted}; font-size: 14px; white-space: nowrap; }}
.dpo-pairs .pair {{ flex: 1 1 240px; line-height: 1.35; }}
.dpo-pairs .flip {{ font: inherit; font-size: 15px; padding: 3px 12px; cursor: pointer;
  color: {p.text}; background: {p.surface}; border: 1px solid {p.text}; border-radius: 4px;
  margin-left: auto; }}
.dpo-pairs .flip[aria-pressed=true] {{ background: {p.text}; color: {p.background}; }}
.dpo-pairs .flip:focus-visible {{ outline: 3px solid {p.focus}; outline-offset: 2px; }}
.dpo-pairs .nums {{ display: flex; flex-wrap: wrap; gap: 2px 16px; margin-top: 3px;
  font-family: {MONO}; font-size: 14px; font-variant-numeric: tabular-nums; }}
.dpo-pairs .nums .k {{ color: {p.muted}; font-family: {FONT}; }}
.dpo-pairs .badge {{ margin-left: 8px; font-size: 13px; font-weight: 700; padding: 1px 6px;
  border: 1px solid {p.text}; border-radius: 10px; white-space: nowrap; }}
.dpo-sr {{ position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }}
"""


class PairRows(Component):
    """The rows (browser side in ESM); a flip arrives as {flip: i}, a look as {look: i}."""

    rows = param.List(default=[])
    looked = param.Integer(default=-1)

    _esm = ESM

    def __init__(self, on_flip=None, on_look=None, **params):
        super().__init__(**params)
        self._on_flip, self._on_look = on_flip, on_look

    def _handle_msg(self, msg):
        if not isinstance(msg, dict):
            return
        if isinstance(msg.get("flip"), int) and self._on_flip is not None:
            self._on_flip(msg["flip"])
        elif isinstance(msg.get("look"), int) and self._on_look is not None:
            self._on_look(msg["look"])


_num = fixed


def row_items(state: SimState) -> list[dict]:
    """What each row shows, as plain JSON-ready dicts."""
    spec, pairs, rec = state.spec, state.pairs, state.record
    loss = state.loss
    pull_for, pull_against, net = row_pulls(rec.row_margin, pairs, loss, rec.beta)
    out = []
    for i, r in enumerate(spec.rows):
        c, l = int(pairs.chosen[i]), int(pairs.rejected[i])
        replies = spec.prompts[r.prompt].replies
        out.append({
            "who": f"row {i} · prompt {r.prompt + 1}",
            "pair": f"“{letter(c)}: {replies[c]}” > “{letter(l)}: {replies[l]}”",
            "votes": f"{r.votes_chosen:g}:{r.votes_rejected:g}",
            "u": _num(float(rec.row_margin[i]), sign=True),
            "sigma": _num(float(rec.row_sigma[i])),
            "pull_for": _num(float(pull_for[i])),
            "pull_against": _num(float(pull_against[i])),
            "net": _num(float(net[i]), sign=True),
            "flipped": i in state.flipped,
        })
    return out


KEY = ("votes", "u", "sigma", "pull_for", "pull_against", "net")
KEY_LABELS = {"votes": "votes", "u": "u", "sigma": "σ(u)", "pull_for": "pull for",
              "pull_against": "pull against", "net": "net"}


class PairsList(pn.viewable.Viewer):
    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(**params)
        self.state = state
        self.rows = PairRows(on_flip=state.flip, on_look=state.look,
                             rows=row_items(state), looked=state.focus_row,
                             stylesheets=[page_css(pal), pairs_css(pal)],
                             sizing_mode="stretch_width")
        terms = " · ".join(term(f"key-{k}", KEY_LABELS[k], TERMS[k], right=i >= 4)
                           for i, k in enumerate(KEY))
        self._layout = pn.Column(
            pn.pane.HTML(
                '<div class="dpo-card"><div class="dpo-h">Preference rows</div>'
                f'<div class="dpo-note">Each row: {terms}. Hover, focus or tap a row to see '
                'its numbers worked out below; Flip (or Enter on the row) swaps its chosen '
                'and rejected replies, the votes staying with their sides.</div></div>',
                stylesheets=[page_css(pal)], sizing_mode="stretch_width", margin=(0, 10)),
            self.rows, sizing_mode="stretch_width")
        state.subscribe(self._on_change)
        state.param.watch(lambda e: setattr(self.rows, "looked", e.new), "focus_row")

    def __panel__(self):
        return self._layout

    def _on_change(self, kind: str, records) -> None:
        if kind != "pause":
            self.update()

    def update(self) -> None:
        self.rows.send(rows=row_items(self.state))
