""""Read at your level": the DPO paper explained at six levels, with its formulas rendered
by KaTeX and the numbers of the run on the page; a guided "Try it" path; the simulator's
limitations. The texts live in ``app/learn_texts.py``.

KaTeX (``app/static/katex``: the JavaScript, the stylesheet and its woff2 fonts) is served
by this package's own server at ``STATIC_ROUTE`` (``app/server.py`` passes
``static_dirs``), so showing a formula makes no request to any other host. Without that
route (a notebook, a server started some other way) each formula shows its TeX source.

Live numbers: each level ends with a line quoting the current run (the scenario, the step,
the loss, the row looked at last, its σ(u), KL, ...). On every change of the run only the
visible level's few values are recomputed and sent, and only when they changed; while
playing, at most ``MAX_LIVE_PER_SECOND`` times a second (pausing sends the last ones).

``TryIt`` is a guided path of a few steps; each ticks itself when the state shows it done
(``state.subscribe`` for the run, ``state.param.watch`` for the loss type), never before.
"""

from __future__ import annotations

import html
import math
import re
import time
from collections.abc import Callable

import numpy as np
import panel as pn
import param

from ..katex_assets import STATIC_DIR, STATIC_ROUTE, katex_base  # noqa: F401 (theirs too)
from ..learn_texts import (
    BY_ID,
    HEADING,
    INTRO,
    LEVELS,
    LEVELS_LABEL,
    LIMITATIONS,
    LIMITS_HEADING,
    LIVE_TEXT,
    SENTENCES,
    TRY_ALL_DONE,
    TRY_BETA,
    TRY_DONE,
    TRY_HEADING,
    TRY_INTRO,
    TRY_NEXT,
    TRY_NOT_DONE,
    TRY_RESTART,
    TRY_SHOW,
    TRY_STEPS,
    Level,
    TryStep,
)
from ..numfmt import minus
from ..theme import MONO, Palette, page_css, widget_css
from .component import Component
from .formula import rest_text
from .util import LiveHTML, esc

#: While playing, the live numbers are sent at most this often.
MAX_LIVE_PER_SECOND = 4


# --- the levels' markup -> HTML ------------------------------------------------------------
_INLINE = re.compile(r"\$(.+?)\$|\[\[(\w+)\]\]|\*\*(.+?)\*\*")
_LIVE_KEY = re.compile(r"\[\[(\w+)\]\]")


def keys_of(level: Level) -> list[str]:
    """The live values a level quotes, in order of first use."""
    return list(dict.fromkeys(k for b in level.blocks for k in _LIVE_KEY.findall(b)))


LEVEL_KEYS = {lv.id: keys_of(lv) for lv in LEVELS}


def tex_html(src: str, display: bool = False) -> str:
    """A formula: its TeX in ``data-tex`` (KaTeX renders it in the browser) and as text
    until then (or for good, if KaTeX cannot load)."""
    if display:
        return (f'<div class="tex tex-display" data-display="1" data-tex="{esc(src)}">'
                f'<code>{esc(src)}</code></div>')
    return f'<span class="tex" data-tex="{esc(src)}"><code>{esc(src)}</code></span>'




def live_html(level_id: str, key: str, values: dict) -> str:
    text, value = values.get(key, ("…", None))
    v = "" if value is None else f' data-value="{float(value)!r}"'
    cls = "dpo-live sentence" if key in SENTENCES else "dpo-live"
    return (f'<span class="{cls}" data-live="{key}" '
            f'data-testid="learn-{level_id}-{key}"{v}>{esc(text)}</span>')


def render_inline(text: str, level_id: str = "", values: dict | None = None) -> str:
    values = values or {}
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(esc(text[pos:m.start()]))
        tex, key, bold = m.groups()
        if tex is not None:
            out.append(tex_html(tex))
        elif key is not None:
            out.append(live_html(level_id, key, values))
        else:
            out.append(f"<strong>{render_inline(bold, level_id, values)}</strong>")
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def render_block(block: str, level_id: str = "", values: dict | None = None) -> str:
    b = block.strip()
    if b.startswith("$$") and b.endswith("$$") and len(b) > 4:
        return tex_html(b[2:-2].strip(), display=True)
    if b.startswith("### "):
        return f"<h4>{render_inline(b[4:], level_id, values)}</h4>"
    cls = ' class="learn-now"' if _LIVE_KEY.search(b) else ""
    return f"<p{cls}>{render_inline(b, level_id, values)}</p>"


def render_level(level: Level, values: dict | None = None) -> str:
    return (f"<h3>{esc(level.title)}</h3>"
            + "".join(render_block(b, level.id, values) for b in level.blocks))


def plain_text(level: Level, values: dict | None = None) -> str:
    """What a level says, as text: formulas as their TeX, live values filled in."""
    values = values or {}
    parts = []
    for b in level.blocks:
        b = _LIVE_KEY.sub(lambda m: values.get(m[1], ("…", None))[0], b)
        parts.append(b.replace("**", ""))
    return "\n".join(parts)


def limitations_html() -> str:
    items = "".join(f"<li>{render_inline(t)}</li>" for t in LIMITATIONS)
    return (f'<section class="dpo-card learn-limits" aria-labelledby="learn-limits-h">'
            f'<h3 id="learn-limits-h">{esc(LIMITS_HEADING)}</h3><ul>{items}</ul></section>')


# --- the live values ---------------------------------------------------------------------
def _n(v: float, digits: int = 4, sign: bool = False) -> str:
    """A number with a true minus sign (and +, with ``sign``), 4 decimals by default."""
    return minus(v, digits, sign)


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def loss_kind(state) -> str:
    """The loss in force: "dpo" (sigmoid, the weight on), "bare" (the weight off), or
    another loss type's name (once the state offers one)."""
    if not state.record.adaptive_weight:
        return "bare"
    lt = getattr(state, "loss_type", None) or state.spec.loss_type
    return "dpo" if lt == "sigmoid" else str(lt)


def _focus(state) -> int:
    n = len(state.pairs)
    return min(max(int(getattr(state, "focus_row", 0)), 0), n - 1) if n else -1


def _row(state):
    i = _focus(state)
    p = state.pairs
    return i, float(p.votes_chosen[i]), float(p.votes_rejected[i])


def _v_row(state):
    i = _focus(state)
    return (str(i), i) if i >= 0 else ("–", None)


def _v_votes(state):
    if _focus(state) < 0:
        return ("–", None)
    _, a, b = _row(state)
    return (f"{a:g}:{b:g}", None)


def _v_share(state):
    if _focus(state) < 0:
        return ("–", None)
    _, a, b = _row(state)
    share = a / (a + b) if a + b else float("nan")
    return (_n(share, 2), share)


def _row_number(field: str, sign: bool = False):
    """The focused row's value of a per-row record field, as text and as a number."""
    def value(state):
        i = _focus(state)
        if i < 0:
            return ("–", None)
        v = float(getattr(state.record, field)[i])
        return (_n(v, 3, sign=sign), v)
    return value


_v_sigma = _row_number("row_sigma")
_v_u = _row_number("row_margin", sign=True)


def _v_weight_line(state):
    i = _focus(state)
    if i < 0:
        return (LIVE_TEXT["weight_none"], None)
    w = float(state.record.row_weight[i])
    kind = loss_kind(state)
    if kind == "dpo":
        return (LIVE_TEXT["weight_dpo"].format(w=_n(w, 3)), w)
    if kind == "bare":
        return (LIVE_TEXT["weight_bare"], w)
    return (LIVE_TEXT["weight_other"].format(kind=kind, w=_n(w, 3)), w)


def _v_rest(state):
    i = _focus(state)
    if i < 0:
        return ("", None)
    _, a, b = _row(state)
    rec = state.record
    rr = state.rest[i]
    return (rest_text(rr, a, b, state.loss, rec.beta, rec.learning_rate), rr.claim)


def _v_loss_name(state):
    kind = loss_kind(state)
    if kind == "dpo":
        return (LIVE_TEXT["loss_dpo"], None)
    if kind == "bare":
        return (LIVE_TEXT["loss_bare"], None)
    return (LIVE_TEXT["loss_other"].format(kind=kind), None)


def _v_favourite(state):
    spec, probs = state.spec, state.record.probs
    if not spec.prompts:
        return ("", None)
    y = int(np.argmax(probs[0]))
    p = float(probs[0][y])
    return (LIVE_TEXT["favourite"].format(prompt=_short(spec.prompts[0].text),
                                          reply=_short(spec.prompts[0].replies[y]),
                                          n=round(100 * p)), p)


def _v_loss0(state):
    first = state.history.first
    v = float(first.loss) if first is not None else float(state.record.loss)
    return (_n(v), v)


def _v_kl(state):
    kl = [float(k) for k in state.record.kl]
    return (" and ".join(_n(k) for k in kl) if len(kl) <= 2 else ", ".join(_n(k) for k in kl),
            kl[0] if kl else None)


def _v_kl0(state):
    v = float(state.record.kl[0])
    return (_n(v), v)


def _v_ceil0(state):
    v = float(state.kl_ceiling[0]) if hasattr(state, "kl_ceiling") else \
        float(-np.log(np.min(state.pi_ref[0])))
    return (_n(v, 3), v)


def _scalar(attr: str, digits: int = 4, sign: bool = False):
    def get(state):
        v = float(getattr(state.record, attr))
        return (_n(v, digits, sign), v)
    return get


def _v_accuracy(state):
    v = float(state.record.rewards_accuracies)
    return (f"{100 * v:.1f} %", v)


#: How each live value is computed from the state: (text, number or None).
LIVE: dict[str, Callable] = {
    "scenario": lambda st: (st.spec.title, None),
    "step": lambda st: (str(st.record.step), st.record.step),
    "beta": lambda st: (f"{st.record.beta:g}", st.record.beta),
    "loss": _scalar("loss"),
    "loss0": _v_loss0,
    "loss_name": _v_loss_name,
    "favourite": _v_favourite,
    "row": _v_row,
    "votes": _v_votes,
    "share": _v_share,
    "sigma": _v_sigma,
    "u": _v_u,
    "weight_line": _v_weight_line,
    "rest": _v_rest,
    "margin": _scalar("rewards_margins", sign=True),
    "accuracy": _v_accuracy,
    "logps_chosen": _scalar("logps_chosen", 3),
    "logps_rejected": _scalar("logps_rejected", 3),
    "kl": _v_kl,
    "kl0": _v_kl0,
    "ceil0": _v_ceil0,
}
_missing = {k for keys in LEVEL_KEYS.values() for k in keys} - set(LIVE)
assert not _missing, f"learn_texts quotes live values nobody computes: {_missing}"


def live_values(state, keys=None) -> dict[str, tuple[str, float | None]]:
    """The live values ``keys`` (default: all) of the state as it is now."""
    return {k: LIVE[k](state) for k in (LIVE if keys is None else keys)}


# --- styles ------------------------------------------------------------------------------
def learn_css(p: Palette) -> str:
    return f"""
.learn-tabs {{ display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0 10px 0; }}
.learn-tab {{ font: inherit; font-size: 15px; line-height: 1.2; padding: 7px 12px;
  border-radius: 6px; border: 1px solid {p.border}; background: {p.surface};
  color: {p.text}; cursor: pointer; }}
.learn-tab[aria-selected="true"] {{ background: {p.bar_preferred}; color: {p.background};
  border-color: {p.text}; font-weight: 700; }}
.learn-tab:focus-visible, .tex-display:focus-visible {{ outline: 3px solid {p.focus};
  outline-offset: 2px; }}
.learn h2 {{ font-size: 21px; margin: 0 0 4px 0; }}
.learn h3 {{ font-size: 19px; margin: 6px 0 8px 0; }}
.learn h4 {{ font-size: 16px; margin: 14px 0 4px 0; color: {p.muted}; }}
.learn p, .learn li {{ margin: 4px 0 8px 0; }}
.learn-intro {{ font-size: 15px; color: {p.muted}; }}
.tex-display {{ overflow-x: auto; overflow-y: hidden; padding: 4px 2px; margin: 2px 0 8px; }}
.tex code, .learn code {{ font-family: {MONO}; font-size: 15px; }}
.learn-now {{ background: {p.surface}; border-left: 4px solid {p.ref_tick};
  padding: 6px 10px; border-radius: 4px; }}
.dpo-live {{ font-variant-numeric: tabular-nums; font-weight: 650; }}
.dpo-live.sentence {{ font-weight: 400; }}
@media (max-width: 600px) {{ .tex-display .katex {{ font-size: 1em; }} }}
.learn-limits ul, .learn-try ol {{ padding-left: 22px; margin: 4px 0; }}
.learn-try li {{ margin: 6px 0; }}
.learn-try li.todo {{ color: {p.muted}; }}
.learn-try li.next {{ font-weight: 650; }}
.learn-try .check {{ display: inline-block; width: 1.4em; color: {p.focus};
  font-weight: 700; }}
.learn-try .see {{ font-size: 15px; color: {p.muted}; font-weight: 400; margin-left: 1.4em; }}
.learn-try .tag {{ font-size: 14px; font-weight: 700; color: {p.focus}; margin-right: 6px; }}
.learn-status {{ font-size: 15px; min-height: 1.3em; }}
.dpo-point {{ font: inherit; font-size: 14px; font-weight: 600; margin-left: 6px;
  padding: 2px 8px; border-radius: 5px; border: 1px solid {p.border};
  background: {p.surface}; color: {p.focus}; cursor: pointer; }}
.dpo-point:focus-visible {{ outline: 3px solid {p.focus}; outline-offset: 2px; }}
"""


# --- the level reader: tabs, pages, KaTeX ---------------------------------------------------
ESM = r"""
// KaTeX, once per page, from this package's own static route. Its stylesheet goes into the
// document (where @font-face works) and into each component's shadow root (where the
// formulas are). UMD: hide an AMD loader, if any, while it loads.
function loadKatex(base) {
  const w = window;
  if (w.katex) return Promise.resolve(w.katex);
  if (!w.__dpoKatex) {
    w.__dpoKatex = new Promise((resolve, reject) => {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = base + "katex.min.css";
      document.head.appendChild(link);
      const s = document.createElement("script");
      s.src = base + "katex.min.js";
      const amd = (typeof w.define === "function" && w.define.amd) ? w.define : null;
      if (amd) w.define = undefined;
      const done = () => { if (amd) w.define = amd; };
      s.onload = () => { done(); w.katex ? resolve(w.katex) : reject(new Error("no katex")); };
      s.onerror = () => { done(); w.__dpoKatex = null; reject(new Error("katex did not load")); };
      document.head.appendChild(s);
    });
  }
  return w.__dpoKatex;
}

export function render({ model, el }) {
  const base = new URL(model.katex_base, document.baseURI).href;
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = base + "katex.min.css";
  el.appendChild(css);

  const root = document.createElement("section");
  root.className = "dpo-card learn";
  root.setAttribute("aria-labelledby", "learn-h");
  root.innerHTML = model.intro;
  const tabs = document.createElement("div");
  tabs.className = "learn-tabs";
  tabs.setAttribute("role", "tablist");
  tabs.setAttribute("aria-label", model.label);
  root.appendChild(tabs);
  const buttons = {}, panels = {};
  for (const lv of model.levels) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "learn-tab";
    b.id = "learn-tab-" + lv.id;
    b.setAttribute("role", "tab");
    b.setAttribute("aria-controls", "learn-panel-" + lv.id);
    b.setAttribute("data-testid", "learn-tab-" + lv.id);
    b.textContent = lv.label;
    b.addEventListener("click", () => select(lv.id, false));
    tabs.appendChild(b);
    const p = document.createElement("div");
    p.className = "learn-panel";
    p.id = "learn-panel-" + lv.id;
    p.setAttribute("role", "tabpanel");
    p.setAttribute("aria-labelledby", b.id);
    p.setAttribute("data-testid", "learn-panel-" + lv.id);
    p.innerHTML = lv.html;
    root.appendChild(p);
    buttons[lv.id] = b;
    panels[lv.id] = p;
  }
  el.appendChild(root);
  const ids = model.levels.map(lv => lv.id);

  // a displayed formula wider than its column scrolls, and can then take focus (keyboard
  // users can scroll it too)
  function markScrollers() {
    for (const d of root.querySelectorAll(".tex-display")) {
      if (d.offsetParent === null) continue;
      if (d.scrollWidth > d.clientWidth + 1) d.setAttribute("tabindex", "0");
      else d.removeAttribute("tabindex");
    }
  }

  function show(id) {
    if (!(id in panels)) id = ids[0];
    for (const k of ids) {
      const on = k === id;
      buttons[k].setAttribute("aria-selected", on ? "true" : "false");
      buttons[k].tabIndex = on ? 0 : -1;
      panels[k].hidden = !on;
    }
    root.setAttribute("data-level", id);
    markScrollers();
  }
  function select(id, focus) {
    show(id);
    if (focus) buttons[id].focus();
    if (model.level !== id) model.level = id;
  }

  // Arrows, Home and End move between the levels (and choose the level: automatic
  // activation). The page's own shortcuts listen on the document in the capture phase
  // (→ steps the run); this listener is on the window, so it sees these keys first, and
  // only when a level's tab has focus.
  function onKey(e) {
    const t = (e.composedPath && e.composedPath()[0]) || e.target;
    if (!t || !t.classList || !t.classList.contains("learn-tab") || !tabs.contains(t)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const i = ids.indexOf(model.level in panels ? model.level : ids[0]);
    let j = null;
    if (e.key === "ArrowRight" || e.key === "ArrowDown") j = (i + 1) % ids.length;
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") j = (i - 1 + ids.length) % ids.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = ids.length - 1;
    if (j === null) return;
    e.preventDefault();
    e.stopPropagation();
    select(ids[j], true);
  }
  window.addEventListener("keydown", onKey, true);

  function fill() {
    const live = model.live || {};
    const p = panels[live.level];
    if (!p) return;
    const values = live.values || {};
    for (const s of p.querySelectorAll("[data-live]")) {
      const v = values[s.getAttribute("data-live")];
      if (!v) continue;
      if (s.textContent !== v[0]) s.textContent = v[0];
      const num = (v[1] === null || v[1] === undefined) ? null : String(v[1]);
      if (num === null) s.removeAttribute("data-value");
      else if (s.getAttribute("data-value") !== num) s.setAttribute("data-value", num);
    }
  }

  show(model.level);
  fill();
  model.on("level", () => show(model.level));
  model.on("live", fill);

  loadKatex(base).then(katex => {
    for (const t of root.querySelectorAll(".tex[data-tex]")) {
      try {
        katex.render(t.getAttribute("data-tex"), t, {
          displayMode: t.getAttribute("data-display") === "1", throwOnError: false,
          output: "htmlAndMathml" });
      } catch (err) { /* keep the TeX source */ }
    }
    root.setAttribute("data-katex", "ready");
    markScrollers();
  }, () => root.setAttribute("data-katex", "failed"));
  const ro = new ResizeObserver(() => markScrollers());
  ro.observe(root);
  model.on("remove", () => {
    window.removeEventListener("keydown", onKey, true);
    ro.disconnect();
  });
}
"""


class LevelReader(Component):
    """The levels as tabs (a WAI-ARIA tablist: arrows, Home and End move between them),
    one page each with its formulas rendered by KaTeX; ``live`` fills the numbers of the
    level named in it."""

    levels = param.List(default=[], doc="[{id, label, html}] of every level.")
    level = param.String(default="", doc="The level shown.")
    live = param.Dict(default={}, doc="{level, values: {key: [text, number or None]}}.")
    katex_base = param.String(default="", doc="The URL of KaTeX's folder.")
    intro = param.String(default="", doc="HTML above the tabs.")
    label = param.String(default=LEVELS_LABEL, doc="The tablist's name.")

    _esm = ESM


class LearnPanel(pn.viewable.Viewer):
    """The "Read at your level" section: the six levels (tabs) and the limitations."""

    def __init__(self, state, pal: Palette, level: str = LEVELS[0].id,
                 clock: Callable[[], float] = time.monotonic, **params):
        super().__init__(**params)
        self.state = state
        self._clock = clock
        self._last_sent = -math.inf
        if level not in BY_ID:
            level = LEVELS[0].id
        values = live_values(state)
        intro = (f'<h2 id="learn-h">{esc(HEADING)}</h2>'
                 f'<p class="learn-intro">{esc(INTRO)}</p>')
        styles = [page_css(pal), learn_css(pal)]
        self.reader = LevelReader(
            levels=[{"id": lv.id, "label": lv.label, "html": render_level(lv, values)}
                    for lv in LEVELS],
            level=level, intro=intro, katex_base=katex_base(),
            live=self._live(level), stylesheets=styles, sizing_mode="stretch_width",
            margin=(4, 10))
        self.limits = pn.pane.HTML(limitations_html(), stylesheets=styles,
                                   sizing_mode="stretch_width", margin=(4, 10))
        self.reader.param.watch(lambda e: self.update(), "level")
        state.subscribe(self._on_change)
        if "focus_row" in state.param:
            state.param.watch(lambda e: self.update(), "focus_row")
        self._layout = pn.Column(self.reader, self.limits, sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout

    @property
    def level(self) -> str:
        return self.reader.level

    @level.setter
    def level(self, value: str) -> None:
        self.reader.level = value

    def _live(self, level: str) -> dict:
        vals = live_values(self.state, LEVEL_KEYS[level])
        return {"level": level, "values": {k: [t, v] for k, (t, v) in vals.items()}}

    def _on_change(self, kind: str, records) -> None:
        if (kind == "step" and getattr(self.state, "playing", False)
                and self._clock() - self._last_sent < 1.0 / MAX_LIVE_PER_SECOND):
            return                 # playing: the next beat (or the pause) brings them
        self.update()

    def update(self) -> None:
        """Send the visible level's live values, if any changed."""
        live = self._live(self.reader.level)
        self._last_sent = self._clock()
        if live != self.reader.live:
            self.reader.live = live

    def text(self, level: str | None = None) -> str:
        """The level (default: the visible one) as plain text with the numbers now sent
        to the page (a hidden level's as they were when the view was built)."""
        lv = BY_ID[level or self.reader.level]
        sent = self.reader.live
        if sent.get("level") == lv.id:
            values = {k: (t, v) for k, (t, v) in sent["values"].items()}
        else:
            values = live_values(self.state, LEVEL_KEYS[lv.id])
        return plain_text(lv, values)


# --- the guided path ---------------------------------------------------------------------
def offers_ipo(state) -> bool:
    """Whether the state has a loss type setting that can be IPO."""
    if "loss_type" in state.param:
        objects = getattr(state.param["loss_type"], "objects", None)
        return objects is None or "ipo" in list(objects)
    return hasattr(state, "loss_type")


class TryIt(pn.viewable.Viewer):
    """A short guided path. Each step ticks itself when the state shows it done, in any
    order, and only on a change seen after the path started (or restarted):

    - ``play-align``: align loaded and its run at step 100 or later;
    - ``flip``: a row flipped by the learner (not by a scenario's script);
    - ``beta``: β moved by the learner from below ``TRY_BETA`` to ``TRY_BETA`` or more;
    - ``drop-sigma``: drop-sigma loaded and its loss below 0 (it has been played);
    - ``unanimous``: unanimous loaded and its run at step 400 or later;
    - ``ipo``: the loss type is IPO (listed only when the state offers it).
    """

    def __init__(self, state, pal: Palette, pointing: bool = False, **params):
        """``pointing``: the page holds the parts the steps name (the dashboard), so each
        step gets a "Show me" button."""
        super().__init__(**params)
        self.state = state
        self.pointing = pointing
        self._colour = pal.focus
        self.steps: tuple[TryStep, ...] = tuple(
            s for s in TRY_STEPS if s.id != "ipo" or offers_ipo(state))
        self.done: dict[str, bool] = {}
        self.last_done: str | None = None
        self._baseline()
        styles = [page_css(pal), learn_css(pal)]
        self.pane = LiveHTML(html=self._html(), stylesheets=styles,
                             sizing_mode="stretch_width", margin=(4, 10))
        self.button = pn.widgets.Button(label=TRY_RESTART, stylesheets=[widget_css(pal)],
                                        margin=(0, 10, 8, 10))
        self.button.on_click(lambda e: self.restart())
        state.subscribe(self._on_run)
        if "loss_type" in state.param:
            state.param.watch(lambda e: self._check(), "loss_type")
        if "hidden" in state.param:                  # a "Show me" for each part on show
            state.param.watch(lambda e: setattr(self.pane, "html", self._html()), "hidden")
        self._layout = pn.Column(self.pane, self.button, sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout

    # -- reading the state --------------------------------------------------------------
    def _baseline(self) -> None:
        self._flipped = list(self.state.flipped)
        self._beta = float(self.state.beta)

    def _on_run(self, kind: str, records) -> None:
        st = self.state
        learner = kind == "action"           # a flip or a setting, taken on the page
        flipped, beta = list(st.flipped), float(st.beta)
        ticks = []
        if learner and flipped != self._flipped:
            ticks.append("flip")
        if learner and self._beta < TRY_BETA <= beta:
            ticks.append("beta")
        self._flipped, self._beta = flipped, beta
        self._check(ticks)

    def _check(self, ticks=()) -> None:
        st = self.state
        sid, rec = st.spec.id, st.record
        now = set(ticks)
        if sid == "align" and rec.step >= 100:
            now.add("play-align")
        if sid == "drop-sigma" and rec.loss < 0:
            now.add("drop-sigma")
        if sid == "unanimous" and rec.step >= 400:
            now.add("unanimous")
        if getattr(st, "loss_type", None) == "ipo":
            now.add("ipo")
        new = [s.id for s in self.steps if s.id in now and not self.done.get(s.id)]
        if not new:
            return
        for sid in new:
            self.done[sid] = True
        self.last_done = new[-1]
        self.pane.html = self._html()

    # -- acting -------------------------------------------------------------------------
    def restart(self) -> None:
        """Untick every step; each ticks again only on a change seen from now on."""
        self.done = {}
        self.last_done = None
        self._baseline()
        self.pane.html = self._html()

    def _show(self, s: TryStep) -> str:
        """The step's "Show me" button: it brings the part of the page it names into view,
        marks it and moves the focus there (``live_html.js``). None when teacher mode hides
        that part, or the page has no such part (a view shown on its own)."""
        hidden = set(getattr(self.state, "hidden", ()) or ())
        if not self.pointing or s.target in hidden:
            return ""
        return (f' <button type="button" class="dpo-point" data-point="{esc(s.target)}" '
                f'data-colour="{self._colour}" data-testid="try-show-{s.id}" '
                f'aria-label="{esc(TRY_SHOW)}: {esc(s.target_label)}">{esc(TRY_SHOW)}</button>')

    @property
    def next_step(self) -> TryStep | None:
        return next((s for s in self.steps if not self.done.get(s.id)), None)

    def _html(self) -> str:
        nxt = self.next_step
        items = []
        for s in self.steps:
            done = bool(self.done.get(s.id))
            cls = "done" if done else ("next" if s is nxt else "todo")
            tag = (f'<span class="tag">{esc(TRY_NEXT)}:</span>' if s is nxt else "")
            state = TRY_DONE if done else TRY_NOT_DONE
            see = f'<div class="see">{esc(s.see)}</div>' if done or s is nxt else ""
            items.append(
                f'<li class="{cls}" data-testid="try-{s.id}" data-done="{str(done).lower()}">'
                f'<span class="check" aria-hidden="true">{"✓" if done else "○"}</span>'
                f'<span class="dpo-sr">{esc(state)}: </span>{tag}{esc(s.instruction)}'
                f'{self._show(s)}{see}</li>')
        if self.last_done is not None:
            s = next(x for x in self.steps if x.id == self.last_done)
            status = f"{TRY_DONE}: {s.instruction}"
            if nxt is None:
                status += " " + TRY_ALL_DONE
        else:
            status = ""
        return (f'<section class="dpo-card learn learn-try" aria-labelledby="try-h">'
                f'<h3 id="try-h">{esc(TRY_HEADING)}</h3>'
                f'<p class="learn-intro">{esc(TRY_INTRO)}</p><ol>{"".join(items)}</ol>'
                f'<p class="learn-status" role="status" data-testid="try-status">'
                f'{html.escape(status)}</p></section>')
