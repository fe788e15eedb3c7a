"""Pin a run (issue 18): the page's controller and address (app/ui/controller.js,
address.js, pin.js) over the offline file's engine, run in Node (tests/js_pin_driver.mjs).

The pinned run's numbers are held against independent runs of the NumPy engine
(sim.simulation.Simulation), not the page's own; its label against what differs; the link's
pin is replayed to the same numbers; a malformed pin is refused with a notice; unpin and
another scenario clear it; the bars' dashed outlines are as wide as the pinned run's final
probabilities on the drawn axis."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from js_ui import NODE, finite_json, page_view

from dpo_sim.app.interactive import page_data
from dpo_sim.app.parts import MAX_URL_EVENTS, MAX_URL_STEP
from dpo_sim.app.texts import PIN_TEXTS as T
from dpo_sim.sim.scenario_io import list_presets, load_scenario
from dpo_sim.sim.simulation import Simulation

pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js")

DRIVER = Path(__file__).resolve().parent / "js_pin_driver.mjs"
PRESETS = [load_scenario(pid) for pid, _, err in list_presets() if err is None]
_DATA = None


def _data() -> dict:
    global _DATA
    if _DATA is None:
        first = [s for s in PRESETS if s.id == "align"]
        _DATA = page_data(first + [s for s in PRESETS if s.id != "align"])
    return _DATA


def run(jobs: list[dict]) -> list:
    p = subprocess.run([NODE, str(DRIVER)], input=json.dumps({"DATA": _data(), "jobs": jobs}),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[:3000]
    return json.loads(p.stdout)


def page(query=(), do=()) -> list[dict]:
    job = {"kind": "page", "query": [list(q) for q in query], "do": [list(d) for d in do]}
    return run([job])[0]


def reference(sid: str, steps: int, settings=None, flips=(), later=()) -> list:
    """An independent run (NumPy): settings and flips at step 0, ``later`` actions
    [(step, "flip", i) | (step, "set", {..})], records of steps 0..steps."""
    sim = Simulation(load_scenario(sid))
    if settings:
        sim.set(**settings)
    for i in flips:
        sim.flip(i)
    recs = [sim.record]
    todo = sorted(later, key=lambda a: a[0])
    while sim.t < steps:
        while todo and todo[0][0] == sim.t:
            _, kind, v = todo.pop(0)
            if kind == "flip":
                sim.flip(v)
            else:
                sim.set(**v)
            recs[-1] = sim.record
        recs.append(sim.advance(1))
    return recs


def assert_series_equal(hist: dict, recs: list, at: list[int]):
    assert hist["step"] == list(range(len(recs)))
    for t in at:
        r = recs[t]
        want = [r.loss, r.rewards_chosen, r.rewards_rejected, r.rewards_margins, *r.kl]
        got = [hist["loss"][t], hist["chosen"][t], hist["rejected"][t], hist["margin"][t],
               *[k[t] for k in hist["kl"]]]
        assert got == pytest.approx(want, rel=1e-10, abs=1e-12), t


def test_a_pinned_ipo_run_is_the_independent_ipo_run_while_sigmoid_plays():
    """Pin IPO at step 120, then sigmoid from step 0: the pin's curves are IPO's numbers
    (NumPy) at several steps; the live run is sigmoid's; the label says IPO."""
    out = page([("scenario", "align")], [
        ("set", {"loss_type": "ipo"}), ("step", 120), ("pin", None),
        ("set", {"loss_type": "sigmoid"}), ("reset", None), ("step", 40)])
    end = out[-1]
    ipo = reference("align", 120, {"loss_type": "ipo"})
    assert end["pin"]["step"] == 120 and end["step"] == 40
    assert_series_equal(end["pin"]["hist"], ipo, [0, 1, 17, 60, 120])
    assert sum(end["pin"]["probs"], []) == pytest.approx(ipo[-1].probs.ravel().tolist(), rel=1e-10)
    sig = reference("align", 40)
    assert end["live"]["loss"] == pytest.approx([r.loss for r in sig], rel=1e-10)
    assert end["label"] == "pinned: IPO"
    assert end["pin"]["text"] == "loss:ipo~step:120"
    assert end["link"] == "?scenario=align&step=40&pin=loss:ipo~step:120"
    # said in the log: the pin, and after the reset that it stays
    assert any("pin this run at step 120" in e for e in out[3]["events"])
    assert any("the run pinned at step 120 stays on the charts" in e for e in end["events"])


@pytest.mark.parametrize("pinned, live, label", [
    ({"loss_type": "ipo"}, {"loss_type": "sigmoid"}, "pinned: IPO"),
    ({"loss_type": "sigmoid"}, {"loss_type": "ipo"}, "pinned: sigmoid"),
    ({"beta": 1.0}, {"beta": 4.0}, "pinned: β = 1"),
    ({"beta": 4.0}, {"beta": 1.0}, "pinned: β = 4"),
    ({"adaptive_weight": False}, {"adaptive_weight": True}, "pinned: weight off"),
    ({"adaptive_weight": True}, {"adaptive_weight": False}, "pinned: weight on"),
    ({"learning_rate": 0.2, "beta": 2.0}, {"learning_rate": 0.5, "beta": 1.0},
     "pinned: β = 2, lr = 0.2"),
    ({}, {}, "pinned run"),
    # ε counts only where a run uses the robust loss
    ({"label_smoothing": 0.2}, {"label_smoothing": 0.0}, "pinned run"),
    ({"loss_type": "robust", "label_smoothing": 0.2}, {"label_smoothing": 0.0},
     "pinned: ε = 0.2"),
])
def test_the_label_says_what_the_pinned_run_has_that_the_live_one_does_not(pinned, live, label):
    do = [("set", pinned)] if pinned else []
    do += [("step", 30), ("pin", None)]
    do += [("set", live)] if live else []
    do += [("reset", None), ("step", 5)]
    out = page([("scenario", "align")], do)
    assert out[-1]["label"] == label
    want = reference("align", 30, pinned)
    assert_series_equal(out[-1]["pin"]["hist"], want, [0, 30])


def test_flips_differ_in_the_label():
    out = page([("scenario", "align")], [("flip", 1), ("step", 10), ("pin", None),
                                         ("flip", 1), ("reset", None)])
    assert out[-1]["label"] == "pinned: row 1 flipped"
    out = page([("scenario", "align")], [("step", 10), ("pin", None), ("flip", 0), ("flip", 2)])
    assert out[-1]["label"] == "pinned: no row flipped"


def test_a_link_with_a_pin_reproduces_the_pin():
    """A run with settings, a flip at 0 and actions mid-run, pinned; its link opened
    afresh: the same pin (numbers equal), its text, label and the live run after it."""
    do = [("set", {"beta": 2.0}), ("flip", 1), ("step", 25), ("set", {"loss_type": "ipo"}),
          ("step", 15), ("flip", 2), ("step", 30), ("pin", None),
          ("set", {"beta": 0.5}), ("reset", None), ("step", 12)]
    out = page([("scenario", "align")], do)
    end = out[-1]
    assert end["pin"]["text"] == "beta:2.0~flipped:1~events:25:loss:ipo,40:flip:2~step:70"
    want = reference("align", 70, {"beta": 2.0}, [1],
                     [(25, "set", {"loss_type": "ipo"}), (40, "flip", 2)])
    assert_series_equal(end["pin"]["hist"], want, [0, 25, 26, 40, 41, 70])
    link = end["link"]
    assert "pin=beta:2.0~flipped:1~events:25:loss:ipo,40:flip:2~step:70" in link
    from urllib.parse import parse_qsl
    opened = page(parse_qsl(link[1:]))[0]
    assert opened["notices"] == []
    assert opened["pin"]["hist"] == end["pin"]["hist"]          # exactly the same numbers
    assert opened["pin"]["probs"] == end["pin"]["probs"]
    assert opened["pin"]["text"] == end["pin"]["text"]
    # Reset kept IPO from the sliders: what differs is β and the flips
    assert opened["label"] == end["label"] == "pinned: β = 2, rows 1, 2 flipped"
    assert opened["link"] == link
    assert opened["step"] == 12 and opened["state"]["beta"] == 0.5
    assert opened["live"]["loss"] == end["live"]["loss"]
    assert any("the link's pinned run, replayed to step 70" in e for e in opened["events"])


def test_unpin_clears_and_another_scenario_clears():
    out = page([("scenario", "align"), ("pin", "step:20")],
               [("unpin", None), ("pin", None), ("load", "mislabel")])
    assert out[0]["pin"]["step"] == 20 and out[0]["label"] == "pinned run"
    assert out[1]["pin"] is None and "pin=" not in out[1]["link"]
    assert any("unpin the run pinned at step 20" in e for e in out[1]["events"])
    assert out[2]["pin"]["step"] == 0
    assert out[3]["pin"] is None and "pin=" not in out[3]["link"]
    assert any(T["PIN_LOG_CLEARED"].format(id="align") in e for e in out[3]["events"])
    # the same scenario again (Reset) keeps it
    out = page([("scenario", "align"), ("pin", "step:20")], [("reset", None), ("step", 3)])
    assert out[-1]["pin"]["step"] == 20


@pytest.mark.parametrize("text, why", [
    ("loss:ipx~step:80", "loss: must be one of sigmoid, ipo, hinge, robust, got 'ipx'"),
    ("loss:ipo", "no step:N"),
    ("step:5~step:6", "step is given twice"),
    ("colour:red~step:5", "'colour:red' is not KEY:VALUE with KEY one of beta, lr, weight, "
                          "loss, eps, flipped, events, step"),
    (f"step:{MAX_URL_STEP + 1}", f"step: must be a whole number from 0 to {MAX_URL_STEP}"),
    ("flipped:99~step:5", "flipped: row '99' is not a row number from 0 to"),
    ("events:10:beta:0.5~step:5", "events: an action at step 10 is after step=5"),
    ("events:" + ",".join(f"{i}:flip:0" for i in range(MAX_URL_EVENTS + 1))
     + f"~step:{MAX_URL_EVENTS}", f"events: more than {MAX_URL_EVENTS} actions"),
    ("<script>alert(1)</script>", "is not KEY:VALUE"),
])
def test_a_malformed_pin_is_ignored_with_a_notice_and_the_rest_applies(text, why):
    out = page([("scenario", "align"), ("beta", "2"), ("step", "7"), ("pin", text)])[0]
    assert out["pin"] is None
    assert len(out["notices"]) == 1
    n = out["notices"][0]
    assert n.startswith("ignored pin=" + text[:40] + ": ") and why in n
    assert out["step"] == 7 and out["state"]["beta"] == 2.0


def test_a_pinned_run_that_diverged_is_pinned_to_its_last_finite_step():
    """IPO at learning rate 100 overflows: the link's pinned run stops where NumPy's does;
    the live run after it is the link's, not halted."""
    out = page([("scenario", "align"), ("step", "4"), ("pin", "lr:100~loss:ipo~step:400")])[0]
    want = reference_until_diverged("align", {"learning_rate": 100.0, "loss_type": "ipo"})
    assert len(want) - 1 < 400
    assert out["pin"]["halted"] and out["pin"]["step"] == len(want) - 1
    assert_series_equal(out["pin"]["hist"], want, [0, len(want) - 1])
    assert out["step"] == 4 and out["notices"] == []


def reference_until_diverged(sid, settings):
    from dpo_sim.sim.simulation import Diverged

    sim = Simulation(load_scenario(sid))
    sim.set(**settings)
    recs = [sim.record]
    import numpy as np

    try:
        with np.errstate(over="ignore", invalid="ignore"):    # the overflow is the point
            for _ in range(1000):
                recs.append(sim.advance(1))
    except Diverged:
        pass
    return recs


def test_the_bars_outlines_are_the_pinned_runs_final_probabilities():
    """views/bars.js with a pin: per reply one dashed outline starting at the axis' 0, as
    wide as the pinned run's π(y|x) on the axis drawn (its "0" and "1" tick labels)."""
    ipo = reference("align", 150, {"loss_type": "ipo"})
    pinned = ipo[-1].probs.tolist()
    sim = Simulation(load_scenario("align"))
    sim.advance(60)
    view = page_view(sim)
    P, K = len(pinned), len(pinned[0])
    view.update({"opt": {"finite": [False] * P, "probs": None, "heading": [[False] * K] * P},
                 "state": {"loss_type": "sigmoid", "adaptive_weight": True}})
    view = finite_json(view)
    out = run([{"kind": "bars", "view": view, "pin": {"probs": pinned, "step": 150},
                "label": "pinned: IPO"}])[0]
    assert len(out) == len(pinned)
    for x, canvas in enumerate(out):
        ticks = {t[0]: t[1] for t in canvas["texts"]}
        x0, x1 = ticks["0"], ticks["1"]
        dashed = [r for r in canvas["rects"] if r[4]]
        assert len(dashed) == len(pinned[x])
        for y, (left, _top, w, h, _) in enumerate(dashed):
            # (the tick labels sit on the grid lines, drawn on whole pixels + 0.5)
            assert left == pytest.approx(x0, abs=0.5)
            assert w / (x1 - x0) == pytest.approx(pinned[x][y], abs=0.5 / (x1 - x0))
            assert h > 20                         # taller than the bar (20 px): an outline
    # without a pin: no dashed outline
    out = run([{"kind": "bars", "view": view, "pin": None, "label": None}])[0]
    assert all(not r[4] for c in out for r in c["rects"])


def test_pin_texts_reach_the_page():
    T_page = _data()["texts"]
    assert {k: T_page[k] for k in T} == T


@pytest.mark.parametrize("speed, gaps, want", [
    # 60 Hz frames come 16.5-16.8 ms apart (16.67 on average): at speed 60 every frame
    # shows one step
    (60, [16.5, 16.8, 16.6, 16.767, 16.7, 16.633] * 20, None),
    (30, [16.6] * 120, 30),
    (45, [16.7] * 120, 45),
])
def test_play_paces_one_step_per_frame_at_the_screens_rate(speed, gaps, want):
    """The controller's play loop (app/ui/controller.js frame): at speed 60 on a 60 Hz
    screen a frame a little early still takes its step (none, then two, was a visible
    stutter and a screen update lost); slower speeds keep their pace."""
    steps = run([{"kind": "pace", "speed": speed, "gaps": gaps}])[0]
    assert len(steps) == len(gaps) and steps[0] == 1
    if want is None:                  # (the first frame's step is paid back by the second)
        assert steps[2:] == [1] * (len(gaps) - 2), steps
    else:
        total = sum(steps[1:])
        elapsed = sum(gaps[:-1]) / 1000
        assert abs(total - want * elapsed) <= 1.5, (total, want * elapsed)
        assert set(steps) <= {0, 1}
