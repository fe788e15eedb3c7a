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
    assert {"engine.js", "page.js", "controller.js", "host_served.js"} <= names, names
    assert ESLINT.exists(), "ESLint is not installed: run scripts/test (npm ci in tests/js)"
    out = subprocess.run([str(ESLINT), "--config", str(CONFIG), "--max-warnings", "0",
                          *[str(p.relative_to(ROOT)) for p in files]],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (node) is not on PATH")
def test_each_host_s_joined_script_is_valid_javascript(tmp_path):
    """app/bundle.py's output for each host parses as an ES module (a module the joiner
    mangled, or a name two modules both export into one scope, would not); the script
    `dpo-sim serve` sends (a classic script) parses as one."""
    from dpo_sim.app.bundle import bundle
    from dpo_sim.app.page import page_script, served_esm

    for name, text in (("offline.mjs", bundle("host_offline.js")), ("served.mjs", served_esm()),
                       ("page.cjs", page_script()[0].decode("utf-8"))):
        f = tmp_path / name
        f.write_text(text, encoding="utf-8")
        out = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
