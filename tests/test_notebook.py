"""docs/example.ipynb runs top to bottom, shows the dashboard, and its table is the engine's run.

The kernel is this interpreter, through a kernel spec written to a temporary folder, so the
test needs no `ipykernel install` and works in a fresh venv.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from dpo_sim.sim.scenario_io import load_scenario  # noqa: E402
from dpo_sim.sim.simulation import Simulation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "example.ipynb"
KERNEL = "dpo-sim-test-python"


class _Table(HTMLParser):
    """Header and body cells of the first <table id="run-table">."""

    def __init__(self):
        super().__init__()
        self.head, self.rows, self._in, self._cell, self._buf = [], [], None, False, ""

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == "run-table":
            self._in = "head"
        elif self._in and tag == "tbody":
            self._in = "body"
        elif self._in == "body" and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell, self._buf = True, ""

    def handle_endtag(self, tag):
        if self._in and tag in ("td", "th"):
            self._cell = False
            (self.head if self._in == "head" else self.rows[-1]).append(self._buf)
        elif tag == "table":
            self._in = None

    def handle_data(self, data):
        if self._cell:
            self._buf += data


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after running every cell in a kernel on sys.executable."""
    spec_root = tmp_path_factory.mktemp("jupyter")
    spec = spec_root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dpo-sim test kernel", "language": "python"}))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(spec_root))
        client = nbclient.NotebookClient(nb, timeout=180, kernel_name=KERNEL,
                                         resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()          # raises CellExecutionError if any cell fails
    return nb


def _outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.outputs


def test_every_cell_ran_without_error(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code)
    for o in _outputs(executed):
        assert o.output_type != "error", o
        if o.output_type == "stream" and o.name == "stderr":
            assert "Traceback" not in o.text and "Error" not in o.text, o.text


def test_dashboard_is_shown_inline_without_a_cdn(executed):
    cell = next(c for c in executed.cells
                if c.cell_type == "code" and "create_dashboard()" in c.source)
    kinds = {k for o in cell.outputs for k in o.get("data", {})}
    assert "application/vnd.holoviews_exec.v0+json" in kinds and "text/html" in kinds
    for o in _outputs(executed):
        for kind, data in o.get("data", {}).items():
            text = data if isinstance(data, str) else json.dumps(data)
            assert "cdn.bokeh.org" not in text and "cdn.holoviz.org" not in text, kind
            assert not re.search(r"""<(?:script|link)\b[^>]*(?:src|href)=["']?https?://""",
                                 text), kind


def test_table_is_the_engines_run(executed):
    html = next(o["data"]["text/html"] for o in _outputs(executed)
                if "run-table" in o.get("data", {}).get("text/html", ""))
    t = _Table()
    t.feed(html)
    sim = Simulation(load_scenario("align"))
    sim.advance(100)
    want = sim.history[::10]
    assert [int(r[0]) for r in t.rows] == [r.step for r in want] == list(range(0, 101, 10))
    assert t.head[:2] == ["step", "loss"]
    for row, rec in zip(t.rows, want):
        got = dict(zip(t.head, row))
        expected = {**rec.scalars(), **{f"kl/{x}": k for x, k in enumerate(rec.kl)}}
        assert set(got) - {"step"} == set(expected)
        for k, v in expected.items():
            assert abs(float(got[k]) - v) <= 0.5e-6 + 1e-12, (rec.step, k, got[k], v)
