"""KaTeX for the page on both hosts, from the package's own copy (``app/static/katex``).

- The offline file (``dpo-sim export``) inlines it: ``katex_inline()`` gives a ``<style>``
  (``katex.min.css`` with the woff2 fonts the formulas use as base64 ``data:`` URLs; a page
  opened from ``file://`` may not fetch fonts from files) and a ``<script>`` (katex.min.js).
- The served page fetches the same stylesheet and script from the static route
  (``STATIC_ROUTE``, ``katex_base()``); ``app/ui/katex.js`` (``ensureKatexFonts``) puts the
  ``@font-face`` rules in the document's head, where fonts load, and the rest of the
  stylesheet into the view's shadow root.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path

#: The URL path (under the server's prefix) where ``STATIC_DIR`` is served.
STATIC_ROUTE = "dpo-sim-static"
#: The package's static files (``app/static``).
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: KaTeX's folder in the package.
KATEX_DIR = STATIC_DIR / "katex"


def katex_base() -> str:
    """KaTeX's folder as the served page should ask for it (the views' ``ctx.katexBase``):
    relative to the page (Panel's ``rel_path`` climbs out of an app served below the root),
    so a ``--prefix`` works."""
    import panel as pn

    rel = pn.state.rel_path if pn.state.curdoc is not None else ""
    return f"{rel}/{STATIC_ROUTE}/katex/" if rel else f"{STATIC_ROUTE}/katex/"

#: The fonts the formulas of "Read at your level" use (found by rendering every formula
#: of ``learn_texts`` in Chromium with every font on offer and listing the faces it loaded:
#: tests/test_learn_views.py checks the list). An @font-face for any other font is left
#: out of the offline file: a formula that needed it would fall back to another font.
FONTS_USED = (
    "KaTeX_AMS-Regular",
    "KaTeX_Caligraphic-Regular",
    "KaTeX_Main-Regular",
    "KaTeX_Math-Italic",
    "KaTeX_Size1-Regular",
    "KaTeX_Size2-Regular",
)

_FONT_FACE = re.compile(r"@font-face\{[^}]*\}")
_FONT_URL = re.compile(r"url\(fonts/([\w-]+)\.woff2\)")


def katex_css() -> str:
    """KaTeX's stylesheet as shipped (font URLs relative to its folder)."""
    return (KATEX_DIR / "katex.min.css").read_text(encoding="utf-8")


def katex_js() -> str:
    """KaTeX's script as shipped."""
    return (KATEX_DIR / "katex.min.js").read_text(encoding="utf-8")


def font_names(css: str | None = None) -> list[str]:
    """Every font the stylesheet's @font-face rules name, e.g. ``KaTeX_Main-Regular``."""
    return _FONT_URL.findall(css if css is not None else katex_css())


@lru_cache(maxsize=4)
def inline_css(fonts: tuple[str, ...] | None = FONTS_USED) -> str:
    """The stylesheet with each font of ``fonts`` (None: every font) as a data: URL and the
    @font-face rules of the others left out."""
    def face(m: re.Match) -> str:
        rule = m.group(0)
        name = _FONT_URL.search(rule)
        if name is None:
            raise ValueError(f"an @font-face without a woff2 font: {rule}")
        if fonts is not None and name[1] not in fonts:
            return ""
        data = base64.b64encode((KATEX_DIR / "fonts" / f"{name[1]}.woff2").read_bytes())
        return rule.replace(name[0], f"url(data:font/woff2;base64,{data.decode('ascii')})")

    return _FONT_FACE.sub(face, katex_css())


def _script_text(js: str) -> str:
    # nothing in a script element may close it early
    return js.replace("</script", "<\\/script")


def katex_inline(fonts: tuple[str, ...] | None = FONTS_USED) -> str:
    """KaTeX for the offline file, as two inert ``<script type="text/plain">`` elements:
    ``#dpo-katex-css`` (the style, fonts as data: URLs) and ``#dpo-katex-js`` (the code that
    defines ``window.katex``), run by app/ui/katex.js when a formula is first drawn."""
    # both as inert text: app/ui/katex.js runs the script and applies the style when a
    # formula is first drawn, after the first screen
    return (f'<script type="text/plain" id="dpo-katex-css">{_script_text(inline_css(fonts))}'
            f'</script>\n'
            f'<script type="text/plain" id="dpo-katex-js">{_script_text(katex_js())}</script>')
