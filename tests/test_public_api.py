"""``import dpo_sim``: the short surface for notebooks and scripts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

import dpo_sim
from dpo_sim.sim.export_csv import to_csv

ROOT = Path(__file__).resolve().parents[1]


def test_scenarios_lists_every_preset_file_with_its_title():
    listed = dict(dpo_sim.scenarios())
    assert set(listed) == {p.stem for p in (ROOT / "presets").glob("*.toml")}
    assert listed["align"] == "Align to preferences"


def test_run_returns_the_history_and_its_columns_are_the_csv():
    h = dpo_sim.run("align", steps=25, beta=0.5)
    assert len(h) == 26 and h[0].beta == 0.5
    sim = dpo_sim.Simulation(dpo_sim.load_scenario("align", beta=0.5))
    sim.advance(25)
    assert [r.to_dict() for r in h] == [r.to_dict() for r in sim.history]
    cols = h.columns()
    rows = list(csv.DictReader(io.StringIO(to_csv(h))))
    assert list(cols) == list(rows[0])
    for name, values in cols.items():
        assert values.shape == (26,)
        np.testing.assert_array_equal(values, [float(r[name]) for r in rows], err_msg=name)
    assert cols["step"].tolist() == list(range(26))
    np.testing.assert_array_equal(cols["probs/1/2"], [r.probs[1, 2] for r in h])
    np.testing.assert_array_equal(cols["pairs/3/sigma"], [r.row_sigma[3] for r in h])
    assert not cols["loss"].flags.writeable


def test_run_defaults_to_the_scenarios_own_length_and_takes_a_scenario():
    s = dpo_sim.load_scenario("tie")
    assert len(dpo_sim.run(s)) == s.steps + 1


def test_bad_settings_are_refused_with_the_tables_rule():
    with pytest.raises(dpo_sim.ScenarioError, match=r"beta: must be a number > 0"):
        dpo_sim.load_scenario("align", beta=0)
    with pytest.raises(dpo_sim.ScenarioError, match="unknown setting"):
        dpo_sim.run("align", steps=2, gamma=1)
    with pytest.raises(dpo_sim.ScenarioError, match="neither a preset id"):
        dpo_sim.load_scenario("no-such-thing")


def test_create_dashboard_is_a_fresh_page_each_time():
    """Each call is a new page with its own engine session; its settings are the page's
    starting link (read in the browser by the link's own code, tests/test_e2e_url.py), so
    a setting given here runs from step 0 as a link's does."""
    a = dpo_sim.create_dashboard(scenario="drop-sigma")
    b = dpo_sim.create_dashboard(scenario="drop-sigma", beta=0.25, adaptive_weight=False)
    assert a is not b and a.session is not b.session
    import json

    def query(page):
        data = json.loads(page.data) if isinstance(page.data, str) else page.data
        return [list(kv) for kv in data["query"]]

    assert query(a) == [["scenario", "drop-sigma"]]
    assert query(b) == [["scenario", "drop-sigma"], ["beta", "0.25"], ["weight", "off"]]
    # the sessions answer the page's commands independently
    a.session.handle({"op": "load", "scenario": "drop-sigma"})
    b.session.handle({"op": "load", "scenario": "drop-sigma"})
    b.session.handle({"op": "set", "changes": {"beta": 0.25}})
    a.session.handle({"op": "advance", "n": 3})
    reply = b.session.handle({"op": "advance", "n": 4})
    assert a.session.sim.t == 3 and b.session.sim.t == 4
    want = dpo_sim.Simulation(dpo_sim.load_scenario("drop-sigma", beta=0.25))
    want.advance(4)
    rec = dict(reply["record"])
    del rec["kl_to_rlhf"]
    assert rec == want.record.to_dict()
    with pytest.raises(TypeError, match="unknown dashboard setting: gamma"):
        dpo_sim.create_dashboard(gamma=1)


def test_the_engine_and_the_package_import_no_panel_or_bokeh():
    """sim/ is NumPy and the standard library only; ``import dpo_sim`` stays light (the
    dashboard's modules load on the first create_dashboard())."""
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, dpo_sim, dpo_sim.sim as s\n"
            "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('dpo_sim.sim.'"
            " + m.name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'panel', 'bokeh', 'param',"
            " 'tornado'}), len([m for m in sys.modules if m.startswith('dpo_sim.sim.')]))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    found, n = p.stdout.rsplit(maxsplit=1)
    assert found == "[]" and int(n) >= 12
