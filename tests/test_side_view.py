"""The side column's controls (app/ui/views/side.js) under the page's own view code in
Node: a reply to an earlier ``set`` must not move a slider back while a later ``set`` is
on its way. Three quick → on the beta slider of the served page sent 1.05, 1.1 and 1.15;
the reply to the first came back while the others were in flight and put the slider at
1.05, so the third press sent 1.1 again (tests/test_e2e_screens.py saw it under load)."""

from __future__ import annotations

import math

from js_ui import find_testid, node_ui

from dpo_sim.sim.protocol import state_json
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.settings import table_json
from dpo_sim.sim.simulation import Simulation


def test_a_slider_shows_the_value_asked_for_not_an_older_reply():
    sim = Simulation(load_scenario("align"))
    state = state_json(sim)                        # the server's reply: beta 1.0 still
    cfg = {"title": "Align", "watch": "w", "scenario": "align"}
    view = {"state": state, "cfg": cfg, "id": "align", "speed": 20, "playing": False}
    pending = dict(state, beta=1.15)               # a later set on its way
    jobs = [{"kind": "view", "mount": "side", "settings": table_json(), "views": [view]},
            {"kind": "view", "mount": "side", "settings": table_json(), "views": [view],
             "intended": pending}]
    alone, in_flight = (out[0]["tree"] for out in node_ui(jobs))
    assert math.isclose(float(find_testid(alone, "ctl-beta")[1][".value"]), state["beta"])
    assert math.isclose(float(find_testid(in_flight, "ctl-beta")[1][".value"]), 1.15)
    # the other controls keep the run's values
    lr = float(find_testid(in_flight, "ctl-lr")[1][".value"])
    assert math.isclose(lr, state["learning_rate"])
