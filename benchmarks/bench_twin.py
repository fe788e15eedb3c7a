"""Speed of the offline page's engine, the JavaScript twin: CPU microseconds per step of
``Simulation.advance`` and of the page's ``{op: "advance", n: 1}`` reply, and the sweep
map of 200 steps, on table presets and on features presets (benchmarks/bench_twin.mjs
does the timing in Node). A script, not a test: it prints numbers and asserts nothing.

    python benchmarks/bench_twin.py [preset ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dpo_sim.sim.scenario_io import list_presets, load_scenario
from dpo_sim.sim.settings import table_json

HERE = Path(__file__).resolve().parent
DEFAULT = ["align", "mass-flow", "tie", "similar-replies", "unseen-reply", "shared-prompts"]


def main(ids: list[str]) -> None:
    known = {pid for pid, _, err in list_presets() if err is None}
    ids = [i for i in ids if i in known]
    data = {"table": table_json(), "configs": {i: load_scenario(i).config() for i in ids}}
    p = subprocess.run(["node", str(HERE / "bench_twin.mjs")], input=json.dumps(data),
                       capture_output=True, text=True, check=True)
    print(f"{'preset':18s} {'model':9s} {'advance us':>11s} {'reply us':>9s} "
          f"{'sweep200 ms':>12s}")
    for pid, r in json.loads(p.stdout).items():
        kind = load_scenario(pid).model.kind
        print(f"{pid:18s} {kind:9s} {r['advance_us']:11.2f} {r['reply_us']:9.2f} "
              f"{r['sweep200_ms']:12.1f}")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
