"""The page's JavaScript modules (``app/ui/``) joined into one script for a host.

Why not a bundler from npm: the page is ~20 small ES modules with named imports only; a
page of Python turns them into one script with each module in its own function scope (so
two modules may use the same private names), in the order their imports need. The served
page's server sends the result as a classic script (``classic``: its exports on
``globalThis``, loaded with Bokeh's own scripts), or gives it to Panel as a component's
``_esm`` (an ES module exporting ``render``: the notebook); the offline file inlines it in a
``<script type="module">``.

Supported syntax (checked, anything else is an error naming the file and line):
``import { a, b as c } from "./x.js";`` (on one or more lines) and
``export function|const|let|class NAME``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

UI = Path(__file__).with_name("ui")

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\.{1,2}/[^"]+\.js)";[ \t]*$', re.M)
_EXPORT = re.compile(r"^export\s+(?:async\s+)?(function\*?|const|let|class)\s+([A-Za-z_$][\w$]*)")


class BundleError(ValueError):
    """A module uses syntax the joiner does not handle."""


def _var(path: Path) -> str:
    rel = path.relative_to(UI).with_suffix("").as_posix()
    return "__m_" + re.sub(r"\W", "_", rel)


def _read(path: Path, keep_exports: bool):
    """(imports [(path, [(name, alias)])], exports [name], body text) of one module."""
    imports, exports = [], []
    text = path.read_text(encoding="utf-8")

    def take(m: re.Match) -> str:
        names = []
        for part in filter(None, (p.strip() for p in m.group(1).split(","))):
            name, _, alias = part.partition(" as ")
            names.append((name.strip(), (alias or name).strip()))
        imports.append(((path.parent / m.group(2)).resolve(), names))
        return "\n" * m.group(0).count("\n")        # the lines stay where they were

    text = _IMPORT.sub(take, text)
    lines = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("import"):
            raise BundleError(f"{path.name}:{n}: only 'import {{ ... }} from \"./x.js\";' "
                              "is supported")
        if line.startswith("export"):
            m = _EXPORT.match(line)
            if not m:
                raise BundleError(f"{path.name}:{n}: only 'export function|const|let|class "
                                  "NAME' is supported")
            exports.append(m.group(2))
            if not keep_exports:
                line = line[len("export "):]
        lines.append(line)
    return imports, exports, "\n".join(lines)


def _order(entry: Path) -> list[Path]:
    seen, out = set(), []

    def visit(p: Path, stack: tuple):
        if p in stack:
            raise BundleError(f"import cycle: {' -> '.join(q.name for q in stack + (p,))}")
        if p in seen:
            return
        for dep, _ in _read(p, False)[0]:
            visit(dep, stack + (p,))
        seen.add(p)
        out.append(p)

    visit(entry.resolve(), ())
    return out


@lru_cache(maxsize=8)
def bundle(entry: str) -> str:
    """The script for ``app/ui/<entry>`` and every module it imports. The entry keeps its
    own ``export``s (the served page's ``render``); every other module is a function scope
    returning its exports."""
    return _join(entry, keep_exports=True)[0]


@lru_cache(maxsize=8)
def classic(entry: str, name: str) -> str:
    """The same as a classic script (no ``export``, so a plain ``<script src>`` can run it):
    the entry's exports become ``globalThis[name]``, the rest stays in one function scope."""
    body, exports = _join(entry, keep_exports=False)
    names = ", ".join(exports)
    return f'(() => {{\n"use strict";\n{body}\nglobalThis.{name} = {{ {names} }};\n}})();\n'


def _join(entry: str, keep_exports: bool) -> tuple[str, list[str]]:
    entry_path = (UI / entry).resolve()
    parts = [f"/* dpo-sim: app/ui/{entry} and its modules, joined by app/bundle.py */"]
    entry_exports: list[str] = []
    for p in _order(entry_path):
        is_entry = p == entry_path
        imports, exports, body = _read(p, keep_exports=is_entry and keep_exports)
        if is_entry:
            entry_exports = exports
        head = "".join(
            "const { " + ", ".join(n if n == a else f"{n}: {a}" for n, a in names)
            + f" }} = {_var(dep)};\n" for dep, names in imports)
        rel = p.relative_to(UI).as_posix()
        if is_entry:
            parts.append(f"// ---- {rel}\n{head}{body}")
        else:
            parts.append(f"// ---- {rel}\nconst {_var(p)} = (() => {{\n{head}{body}\n"
                         f"return {{ {', '.join(exports)} }};\n}})();")
    return "\n".join(parts) + "\n", entry_exports


def stylesheet() -> str:
    """Every view's CSS, the page's first (app/ui/page.css, then app/ui/views/*.css)."""
    files = [UI / "page.css", *sorted((UI / "views").glob("*.css"))]
    return "\n".join(f.read_text(encoding="utf-8") for f in files if f.exists())
