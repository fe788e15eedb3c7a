"""The whole simulator in one HTML file: no server, every learner's browser runs its own run.

Why: a course site (Jupyter Book, MkDocs, Quarto, an LMS) can host a file but not a Python
process. The file carries the JavaScript twin of the engine (``offline/engine.js``, held to
the NumPy engine to 1e-12 by ``tests/test_js_engine.py``), the page's controller and views
(``offline/page.js``, ``offline/page.css``) and, as JSON, everything the page says that is
declared in Python: the scenarios, the settings table, the texts, the colours. So the file
and the served page share names, texts, colours and the address format, and nothing is
fetched from anywhere (it works from ``file://`` with the network off).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from ..sim.scenario import Scenario
from ..sim.scenario_io import LIMITS
from ..sim.settings import table_json
from . import texts
from .bundle import bundle, stylesheet
from .katex_assets import katex_inline
from .learn_texts import learn_json
from .theme import DARK, FONT, LIGHT, MONO, PROMPT_DASHES, Palette

HERE = Path(__file__).with_name("offline")

#: The metrics table: (TRL name, test id, label), how each is written, its explanation.
COLUMNS = (("loss", "loss", "loss"), ("rewards/margins", "margin", "margin"),
           ("rewards/accuracies", "accuracy", "accuracy"),
           ("rewards/chosen", "rewards-chosen", "rewards/\u200bchosen"),
           ("rewards/rejected", "rewards-rejected", "rewards/\u200brejected"))
COLUMN_SPECS = {"loss": "loss", "rewards/margins": "signed", "rewards/accuracies": "pct",
                "rewards/chosen": "signed", "rewards/rejected": "signed"}
COLUMN_TERMS = {"loss": "loss", "rewards/margins": "margin", "rewards/accuracies": "accuracy",
                "rewards/chosen": "chosen", "rewards/rejected": "rejected"}


def _version() -> str:
    try:
        return metadata.version("dpo-sim")
    except metadata.PackageNotFoundError:
        return "dev"


def _palette_css(p: Palette, selector: str) -> str:
    primary = "#0b5fcc" if p.name == "light" else "#1f6feb"
    names = {"bg": p.background, "surface": p.surface, "text": p.text, "muted": p.muted,
             "grid": p.grid, "border": p.border, "focus": p.focus, "bar": p.bar,
             "bar-preferred": p.bar_preferred, "ref-tick": p.ref_tick,
             "rlhf-tick": p.rlhf_tick, "chosen": p.chosen, "rejected": p.rejected,
             "margin": p.margin, "flipped-bg": p.flipped_bg, "primary": primary}
    body = " ".join(f"--{k}: {v};" for k, v in names.items())
    return f"{selector} {{ {body} --font: {FONT}; --mono: {MONO}; color-scheme: {p.name}; }}"


def page_texts() -> dict:
    """Every text the page shows, from the modules the served page takes them from."""
    return {
        "SUBTITLE": texts.SUBTITLE, "TABLE_NOT_LM": texts.TABLE_NOT_LM,
        "LEGEND": texts.LEGEND, "LEGEND_RLHF": texts.LEGEND_RLHF,
        "NO_OPTIMUM": texts.NO_OPTIMUM, "NO_OPTIMUM_DPO": texts.NO_OPTIMUM_DPO,
        "NO_OPTIMUM_OTHER": texts.NO_OPTIMUM_OTHER, "TERMS": texts.TERMS,
        "LOSS_TERMS": texts.LOSS_TERMS,
        "LOSS_AXIS": texts.LOSS_AXIS, "LOSS_OFF": texts.LOSS_OFF, "DIVERGED": texts.DIVERGED,
        "INVITATION": texts.INVITATION, "PLAYING_NOTE": texts.PLAYING_NOTE,
        "EMBED_HEIGHT": texts.EMBED_HEIGHT,
        "PICKER_HELP": texts.PICKER_HELP, "COLUMNS": COLUMNS, "COLUMN_SPECS": COLUMN_SPECS,
        "COLUMN_TERMS": COLUMN_TERMS, **texts.STACK_TEXTS, "ROW_KEYS": texts.ROW_KEYS,
        "ROW_LABELS": texts.ROW_LABELS,
        "ROWS_KEY": texts.ROWS_KEY, **{k: getattr(texts, k) for k in texts.VIEW_TEXT_NAMES},
        "DASHES": PROMPT_DASHES, "CONNECTION_LOST": texts.CONNECTION_LOST,
        "CONNECTION_BACK": texts.CONNECTION_BACK,
        "CHALLENGE": texts.CHALLENGE_TEXTS,          # issue 18: challenges
        **texts.PIN_TEXTS,
        **texts.EDITOR_TEXTS,
    }


def scenario_json(s: Scenario) -> dict:
    """A scenario as the file carries it: the JSONL config line plus its title, its
    "what to watch" text and its suggested length."""
    return {**s.config(), "watch": s.watch, "steps": s.steps}


def page_data(scenarios: Sequence[Scenario]) -> dict:
    from .parts import HIDEABLE, MAX_URL_EVENTS, MAX_URL_STEP

    return {
        "initial": scenarios[0].id,
        "scenarios": [scenario_json(s) for s in scenarios],
        "settings": table_json(),
        "texts": page_texts(),
        "learn": learn_json(),
        "palettes": {"light": asdict(LIGHT), "dark": asdict(DARK)},
        "font": FONT,
        "hideable": list(HIDEABLE),
        "max_url_step": MAX_URL_STEP,
        "max_url_events": MAX_URL_EVENTS,
        "limits": dict(LIMITS),      # what the page can show (sim/scenario_io.py)
    }


def _json_safe(text: str) -> str:
    """JSON that cannot end the <script> element it sits in (JSON reads \\/ as /)."""
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


def _checked(name: str, text: str) -> str:
    """One of our scripts, checked to hold nothing that would end its <script> element."""
    low = text.lower()
    if "</script" in low or "<!--" in low:
        raise RuntimeError(f"{name} must not contain '</script' or '<!--'")
    return text


def _script(name: str) -> str:
    return _checked(f"app/offline/{name}", (HERE / name).read_text(encoding="utf-8"))


def palette_css() -> str:
    """The palettes as custom properties of the page's root, light and dark (both hosts)."""
    return (_palette_css(LIGHT, ".dpo-page") + "\n"
            + _palette_css(DARK, '.dpo-page[data-theme="dark"]'))


def interactive_html(scenarios: Sequence[Scenario]) -> str:
    """The whole simulator as one HTML document; the first scenario opens."""
    if not scenarios:
        raise ValueError("interactive_html needs at least one scenario")
    data = json.dumps(page_data(scenarios), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)
    parts = {
        "__VERSION__": _version(),
        "__TITLE__": scenarios[0].title.replace("&", "&amp;").replace("<", "&lt;"),
        "__PALETTE_CSS__": palette_css(),
        "__PAGE_CSS__": stylesheet(),
        "__KATEX__": katex_inline(),
        "__DATA__": _json_safe(data),
        "__ENGINE_JS__": _script("engine.js"),
        "__STACK_JS__": _script("stack.js"),
        "__PAGE_JS__": _checked("app/ui/host_offline.js", bundle("host_offline.js")),
    }
    template = (HERE / "page.html").read_text(encoding="utf-8")
    missing = [k for k in parts if k not in template]
    if missing:
        raise RuntimeError(f"page.html has no {missing[0]}")
    # one pass, so a text that happens to contain a placeholder's name is left alone
    return re.sub("|".join(map(re.escape, parts)), lambda m: parts[m.group(0)], template)


def export_interactive(scenarios: Sequence[Scenario], path: str) -> None:
    """Write the file (UTF-8); nothing is written if building it fails."""
    text = interactive_html(scenarios)
    Path(path).write_text(text, encoding="utf-8")
