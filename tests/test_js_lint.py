"""The project's own JavaScript passes ESLint (its recommended rules, tests/js/eslint.config.js):
every ``.js`` file under app/ except the vendored KaTeX, so a file added later is linted
without being listed. ESLint comes from the npm registry with axe-core (tests/js, npm ci in
scripts/test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ESLINT = ROOT / "tests" / "js" / "node_modules" / ".bin" / "eslint"
CONFIG = ROOT / "tests" / "js" / "eslint.config.js"


def own_javascript() -> list[Path]:
    return sorted(p for p in (ROOT / "app").rglob("*.js")
                  if "static" not in p.relative_to(ROOT / "app").parts)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (node) is not on PATH")
def test_every_javascript_file_passes_eslint():
    files = own_javascript()
    names = {p.name for p in files}
    assert {"engine.js", "page.js", "live_html.js"} <= names, names
    assert ESLINT.exists(), "ESLint is not installed: run scripts/test (npm ci in tests/js)"
    out = subprocess.run([str(ESLINT), "--config", str(CONFIG), "--max-warnings", "0",
                          *[str(p.relative_to(ROOT)) for p in files]],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
