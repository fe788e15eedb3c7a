"""The rest statements in JavaScript (app/ui/rest_text.js) say exactly what Python's
``views/formula.rest_text`` says (while it exists), with the same data-u, on every preset
x every loss (and the weight off, and learning rates on both sides of stability) x every
row, after the scripted events and after a flip, and on the random scenarios of the rest
tests: so the page may switch to the one JavaScript implementation. The loss weight the
module computes (maths in the view, for the served page, which gets only the engine's
numbers) is NumPy's within 1e-12, and its Python-style number formats are Python's."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from js_ui import NODE, node_ui

from dpo_sim.sim.losses import objective
from dpo_sim.sim.scenario_io import list_presets

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")

PRESETS = [pid for pid, _, err in list_presets() if err is None]
SETTINGS = ({}, {"loss_type": "ipo"}, {"loss_type": "hinge"},
            {"loss_type": "robust", "label_smoothing": 0.1},
            {"loss_type": "robust", "label_smoothing": 0.3}, {"adaptive_weight": False},
            {"learning_rate": 40.0}, {"learning_rate": 15.0}, {"learning_rate": 20.0},
            {"loss_type": "ipo", "learning_rate": 8.0},
            {"loss_type": "robust", "label_smoothing": 0.1, "learning_rate": 40.0})
_DATA_U = re.compile(r'data-kind="(\w+)"(?: data-u="([^"]+)")?>')


@pytest.mark.parametrize("settings", [
    {"loss_type": "sigmoid", "adaptive_weight": True, "label_smoothing": 0.0, "beta": 1.0},
    {"loss_type": "robust", "adaptive_weight": True, "label_smoothing": 0.2, "beta": 0.5},
    {"loss_type": "ipo", "adaptive_weight": True, "label_smoothing": 0.2, "beta": 0.3},
    {"loss_type": "hinge", "adaptive_weight": True, "label_smoothing": 0.0, "beta": 2.0},
    {"loss_type": "sigmoid", "adaptive_weight": False, "label_smoothing": 0.0, "beta": 1.0}])
def test_the_loss_weight_in_the_view_is_numpys(settings):
    us = [0.0, 1.0, -1.0, 0.5, 1e-9, -3.7, 12.5, -40.0, 300.0, -700.0, 710.0, 0.9999999,
          math.log(7 / 3)] + list(np.linspace(-9, 9, 37))
    (got,) = node_ui([{"kind": "weights", "settings": settings, "us": us}])
    loss = objective(settings["loss_type"], settings["adaptive_weight"],
                     settings["label_smoothing"])
    u = np.array(us)
    w = np.asarray(loss.weight(u, settings["beta"]), dtype=float)
    net = 7 * w - 3 * np.asarray(loss.weight(-u, settings["beta"]), dtype=float)
    got = np.array(got)
    np.testing.assert_allclose(got[:, 0], w, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got[:, 1], net, rtol=1e-12, atol=1e-12)


def test_votes_rates_and_margins_are_written_as_python_writes_them():
    values = [0.0, -0.0, 7.0, 3.0, 0.5, 0.1, 0.3, 1e-05, 2.5e-07, 40.0, 123456.0, 1234567.0,
              0.125, 0.375, 2.5, 1e16, 1e-4, 0.00012345678, 12.0000001, -3.5, 1 / 3,
              math.log(7 / 3), 1e300, 5e-324]
    g6, g3, reprs = node_ui([{"kind": "g", "values": values}, {"kind": "g", "values": values,
                                                                "p": 3},
                             {"kind": "repr", "values": values}])
    assert g6 == [f"{v:g}" for v in values]
    assert g3 == [f"{v:.3g}" for v in values]
    assert reprs == [repr(v) for v in values]


def test_numbers_in_the_sentences_round_as_pythons_numfmt():
    """An exact half (a steady pace of 0.15625, a share of 0.0625) rounds to even as
    Python's format does; the others as toFixed."""
    from dpo_sim.app.numfmt import fixed

    values = [0.15625, -0.15625, 0.0625, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 1e-9, -1e-9,
              0.8472978603872037, -0.0004, 123456.7, 99999.99951, 0.1, 2.675, 1.0005]
    jobs = [{"kind": "fixed", "values": values, "digits": d, "sign": sg}
            for d in (0, 3, 4) for sg in (False, True)]
    for job, got in zip(jobs, node_ui(jobs)):
        assert got == [fixed(v, job["digits"], job["sign"]) for v in values], job
