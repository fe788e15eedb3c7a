"""Size and time of the static replay (app/export.py): where the bytes of the file go.

A script, not a test: it prints numbers and asserts nothing. Most of the file is BokehJS
itself (inline, so the file works offline); the run's numbers are a small part.

    python benchmarks/bench_export.py [SCENARIO ...] [--steps N]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from dpo_sim.app.export import export_html
from dpo_sim.sim.scenario_io import load_scenario


def sizes(text: str) -> dict[str, int]:
    """Bytes of the whole file, the inline JavaScript, and Bokeh's document JSON."""
    doc = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', text, re.S)
    js = re.findall(r"<script(?![^>]*application/json)[^>]*>(.*?)</script>", text, re.S)
    arrays = re.findall(r'"type":"bytes","data":"([^"]*)"', "".join(doc))
    return {"file": len(text.encode()), "inline_js": sum(len(s.encode()) for s in js),
            "document_json": sum(len(s.encode()) for s in doc),
            "base64_arrays": sum(len(s) for s in arrays)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="*", default=["align"])
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args()
    scen = [load_scenario(s) for s in a.scenarios]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "replay.html"
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            export_html(scen, a.steps, str(out))
            times.append(time.perf_counter() - t0)
        s = sizes(out.read_text(encoding="utf-8"))
    print(f"export of {' '.join(a.scenarios)}, {a.steps} steps")
    print(f"  time (best of 3): {min(times) * 1000:.0f} ms")
    for k, v in s.items():
        print(f"  {k:>15}: {v:>10,} bytes")
    print(f"  numbers per step: {s['base64_arrays'] / (a.steps + 1):.0f} bytes (base64 float32)")


if __name__ == "__main__":
    main()
