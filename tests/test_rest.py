"""Rest statements that cannot lie: what the page says about where each row ends
(``sim.rest``, said in words by ``app/ui/rest_text.js``, the one implementation both hosts
run, in the formula strip's ``data-testid="rest"`` element, and drawn as the pulls chart's
ticks) is checked against long runs of plain gradient descent written out
again here (``long_run.Lean``, no code from sim/): every preset x every loss (and the
weight off) x every row, and random scenarios with cycles and shared replies.

What a long run must show for each statement:

- "rests at u" (data-u a number): after 20,000 steps u is within 1e-3 of it and moved less
  than 1e-9 (relative) over the last 1,000 steps;
- "never rests" (data-u = none), by its kind: a row that *approaches* is within 1e-2 of the
  margin it heads for while the row it names keeps drifting outward; a row that *drifts*
  moves on in the stated direction, at the stated pace (1 %) if steady, by less each
  1,000 steps if slowing; one that *swings* or *overshoots* still moves;
- "halts": the run's numbers overflow.

A random scenario whose rows are still settling after 20,000 steps (slow: small votes,
large condition numbers) gets 200,000 before the verdict: a true statement stays true,
a false one is found either way.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest
from js_ui import NODE, node_ui, page_view, rest_dict, sim_rest, statements_job

from dpo_sim.app import texts
from dpo_sim.app.numfmt import fixed
from dpo_sim.sim import rest
from dpo_sim.sim.losses import objective
from dpo_sim.sim.scenario import Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import list_presets, load_scenario
from dpo_sim.sim.simulation import Simulation
from long_run import Lean, random_scenario

needs_node = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH: the "
                                                     "page's statements cannot be rendered")

#: the table presets: the features ones (the rows share theta) are checked against long
#: runs in theta in tests/test_rest_features.py
PRESETS = [pid for pid, _, err in list_presets()
           if err is None and load_scenario(pid).model.kind == "table"]
#: every loss the page offers (robust at two label smoothings: below and at/beyond the
#: vote shares of the presets' rows), and the weight off
LOSSES = {
    "sigmoid": dict(loss_type="sigmoid", adaptive_weight=True),
    "ipo": dict(loss_type="ipo", adaptive_weight=True),
    "hinge": dict(loss_type="hinge", adaptive_weight=True),
    "robust-0.1": dict(loss_type="robust", label_smoothing=0.1, adaptive_weight=True),
    "robust-0.3": dict(loss_type="robust", label_smoothing=0.3, adaptive_weight=True),
    "weight-off": dict(adaptive_weight=False),
}
STEPS = 20_000
WINDOW = 1_000


def verdict(said, run) -> list[int]:
    """The rows whose statement the run contradicts. ``said``: (kind, claim, u, how, via,
    pace) per row, as the page states them; ``run``: ``Lean.run``'s answer."""
    if run is None:                    # the numbers overflowed: the run halts
        return [i for i, s in enumerate(said) if s["kind"] in ("rests", "approaches",
                                                               "drifts", "swings")]
    u0, u1, u2, moved = run
    bad = []
    for i, s in enumerate(said):
        still = moved[i] < 1e-9 * max(1.0, abs(u2[i]))
        kind = s["kind"]
        if kind == "rests":
            ok = still and abs(u2[i] - s["claim"]) < 1e-3
        elif kind == "approaches":
            v = s["via"]
            ok = abs(u2[i] - s["u"]) < 1e-2 and abs(u2[v]) > abs(u1[v]) > abs(u0[v])
        elif kind == "drifts":
            d1, d2 = u1[i] - u0[i], u2[i] - u1[i]
            if s["how"] == "":
                ok = not still
            else:
                ok = d2 != 0 and np.sign(d2) == np.sign(s["u"])
                if s["how"] == "steady":
                    ok = ok and abs(d2 / WINDOW - s["pace"]) <= 0.01 * abs(s["pace"])
                else:
                    ok = ok and abs(d2) <= abs(d1) * (1 + 1e-6)
        elif kind in ("swings", "overshoots"):
            ok = not still
        elif kind == "halts":
            ok = False                 # the run was said to stop, and it did not
        else:                          # no claim: stops, idle, heads, open
            ok = True
        if not ok:
            bad.append(i)
    return bad


def _check(said, scenario, flips=()):
    lean = Lean(scenario)
    for i in flips:
        lean.flip(i)
    bad = verdict(said, lean.run(STEPS, WINDOW))
    if bad:                            # still settling? a false statement stays false
        lean = Lean(scenario)
        for i in flips:
            lean.flip(i)
        bad = verdict(said, lean.run(10 * STEPS, WINDOW))
    return bad


# -- the page's statements, as app/ui/rest_text.js renders them -----------------------------
def page_statements_of(sims: list[Simulation]) -> list[list[dict]]:
    """Each row's rest statement on each run, as the page renders it (the JavaScript of
    app/ui/rest_text.js, one Node process for all the runs): its kind, data-u and sentence,
    with sim.rest's numbers for the checks that need more than data-u."""
    rests = [sim_rest(sim) for sim in sims]
    jobs = [statements_job(rr, sim.pairs, sim.record) for rr, sim in zip(rests, sims)]
    out = []
    for rest_of, said in zip(rests, node_ui(jobs)):
        rows = []
        for rr, x in zip(rest_of, said, strict=True):
            assert x["kind"] == rr.kind
            data_u, text = x["u"], x["text"]
            claim = None if data_u is None else (math.nan if data_u == "none"
                                                 else float(data_u))
            if claim is not None and not math.isnan(claim):
                # the sentence says the number data-u holds
                assert f"u = {fixed(claim, 3, sign=True).replace('-', '−')}" in text, (
                    text, claim)
            rows.append(dict(kind=x["kind"], claim=claim, u=rr.u, how=rr.how, via=rr.via,
                             pace=rr.pace, text=text))
        out.append(rows)
    return out


def page_statements(sim: Simulation) -> list[dict]:
    return page_statements_of([sim])[0]


def js_rest_text(rr, a: float, b: float, **settings) -> str:
    """One statement, rendered by app/ui/rest_text.js: settings as a record has them."""
    s = dict(loss_type="sigmoid", adaptive_weight=True, label_smoothing=0.0, beta=1.0,
             learning_rate=0.5) | settings
    (said,) = node_ui([{"kind": "statements", "rests": [rest_dict(rr)],
                        "rows": [{"votes_chosen": a, "votes_rejected": b}], "settings": s}])
    return said[0]["text"]


def state_for(pid: str, settings: dict) -> tuple[Simulation, Scenario, tuple]:
    """A run of preset ``pid`` with ``settings``, past its scripted events, as the page
    holds it, and the same scenario for the long run (its rows as they stand then)."""
    scenario = load_scenario(pid).with_settings(**settings)
    sim = Simulation(scenario, keep_history=False)
    last = max((e.step for e in scenario.events), default=0)
    if last:
        sim.advance(last)
    return sim, replace(scenario, events=()), tuple(int(i) for i in sim.flipped)


@pytest.mark.slow
@needs_node
@pytest.mark.parametrize("pid", PRESETS)
def test_every_loss_and_row_of_the_preset_ends_as_the_page_says(pid):
    claims = 0
    cases = {name: state_for(pid, settings) for name, settings in LOSSES.items()}
    pages = page_statements_of([st for st, _, _ in cases.values()])
    for (name, (_, scenario, flips)), said in zip(cases.items(), pages):
        bad = _check(said, scenario, flips)
        assert not bad, (pid, name, [(i, said[i]["kind"], said[i]["text"]) for i in bad])
        claims += sum(s["claim"] is not None for s in said)
    assert claims > 0


# -- random scenarios ---------------------------------------------------------------------
def statements(s: Scenario) -> tuple[list[dict], tuple]:
    sim = Simulation(s, keep_history=False)
    loss = objective(sim.loss_type, sim.adaptive_weight, sim.label_smoothing)
    rr = rest.rest_points(sim.pairs, sim.beta, sim.learning_rate, loss,
                          sim.record.row_margin, sim.record.grad_logits)
    return [dict(kind=r.kind, claim=r.claim, u=r.u, how=r.how, via=r.via, pace=r.pace)
            for r in rr], rr


RANDOM_CHUNKS = 3
RANDOM_PER_CHUNK = 24
SEEN: dict[tuple, int] = {}


def js_statements(scenarios: list[Scenario]) -> list[list[dict]]:
    """``statements`` of each scenario as the page renders them (app/ui/rest_text.js, one
    Node process): the claim read off the rendered data-u, the sentence with it."""
    jobs, rrs = [], []
    for s in scenarios:
        sim = Simulation(s, keep_history=False)
        rr = statements(s)[1]
        rrs.append(rr)
        jobs.append(statements_job(rr, sim.pairs, sim.record))
    out = []
    for rr, said in zip(rrs, node_ui(jobs)):
        rows = []
        for r, x in zip(rr, said, strict=True):
            claim = None if x["u"] is None else (math.nan if x["u"] == "none"
                                                 else float(x["u"]))
            assert (claim is None) == (r.claim is None)
            rows.append(dict(kind=x["kind"], claim=claim, u=r.u, how=r.how, via=r.via,
                             pace=r.pace, text=x["text"]))
        out.append(rows)
    return out


@pytest.mark.slow
@needs_node
@pytest.mark.parametrize("chunk", range(RANDOM_CHUNKS))
def test_random_scenarios_with_cycles_and_shared_replies_end_as_stated(chunk):
    seeds = range(chunk * RANDOM_PER_CHUNK, (chunk + 1) * RANDOM_PER_CHUNK)
    scenarios = [random_scenario(seed) for seed in seeds]
    for seed, s, said in zip(seeds, scenarios, js_statements(scenarios)):
        for r in said:
            SEEN[(s.loss_type if s.adaptive_weight else "off", r["kind"], r["how"])] = 1
        bad = _check(said, s)
        assert not bad, (seed, s.loss_type, s.label_smoothing, s.adaptive_weight,
                         [(i, said[i]) for i in bad])


def test_the_random_scenarios_cover_every_kind_of_statement():
    """The generator makes every case the decision has (checked on the statements, not
    the runs, so this is quick): each kind, cycles, both paces of drift."""
    seen = set()
    for seed in range(RANDOM_CHUNKS * RANDOM_PER_CHUNK):
        s = random_scenario(seed)
        for r in statements(s)[1]:
            seen.add((r.kind, r.how))
            seen.add(("cycle", r.cycle))
    for want in [("rests", "own"), ("rests", "shared"), ("rests", "still"),
                 ("approaches", "own"), ("drifts", "slowing"), ("drifts", "steady"),
                 ("swings", ""), ("stops", ""), ("overshoots", "shared"), ("open", ""),
                 ("cycle", True), ("cycle", False)]:
        assert want in seen, want


# -- the cases, each with its number ------------------------------------------------
def _one_row(a, b, K=2, **kw) -> Scenario:
    base = dict(id="t", title="t", watch="w", beta=1.0, learning_rate=0.5,
                adaptive_weight=True, prompts=(Prompt("q", tuple("ABCD"[:K])),),
                ref_logits=np.zeros((1, K)), rows=(Row(0, 0, 1, a, b),))
    base.update(kw)
    return Scenario(**base)


def _said(s: Scenario) -> list:
    return statements(s)[1]


@needs_node
def test_robust_a_share_of_exactly_1_minus_eps_has_no_rest_point_and_slows_like_log_t():
    """A lone 9:1 row under robust DPO with eps = 0.1 (p = 1 - eps): no rest point (a
    numeric search used to stop at u = 45). Its margin grows by about ln 10 = 2.30 per
    tenfold of steps: 4.59 / 6.91 / 9.21 at steps 100 / 1,000 / 10,000."""
    s = _one_row(9, 1, loss_type="robust", label_smoothing=0.1)
    (rr,) = _said(s)
    assert (rr.kind, rr.how) == ("drifts", "slowing") and math.isnan(rr.claim)
    lean, at = Lean(s), {}
    for t in range(1, 10_001):
        lean.step()
        if t in (100, 1000, 10_000):
            at[t] = float(lean.margins()[0])
    assert [round(at[t], 2) for t in (100, 1000, 10_000)] == [4.59, 6.91, 9.21]
    assert at[1000] - at[100] == pytest.approx(math.log(10), rel=0.01)
    assert at[10_000] - at[1000] == pytest.approx(math.log(10), rel=0.002)
    # in align, rows 1 and 4 (9:1) are such rows, and rows sharing their replies approach
    st, _, _ = state_for("align", LOSSES["robust-0.1"])
    said = page_statements(st)
    assert [s["kind"] for s in said] == ["approaches", "drifts", "approaches",
                                         "approaches", "drifts", "approaches"]
    assert "45" not in " ".join(s["text"] for s in said)


@needs_node
def test_robust_a_unanimous_row_drifts_at_a_steady_pace_with_its_weight_at_the_floor():
    """10:0 under robust DPO, eps = 0.1: the weight stays above eps/(1 - 2 eps) = 0.125 and
    u grows by a constant amount per step (the statement's pace), not ever more slowly."""
    s = _one_row(10, 0, loss_type="robust", label_smoothing=0.1)
    (rr,) = _said(s)
    assert (rr.kind, rr.how) == ("drifts", "steady")
    lean = Lean(s)
    u = []
    for _ in range(4000):
        lean.step()
        u.append(float(lean.margins()[0]))
    steps = np.diff(u[-1000:])
    assert steps.min() == pytest.approx(rr.pace, rel=1e-6)
    assert steps.max() == pytest.approx(rr.pace, rel=1e-6)
    # the chosen side's pull tends to 10 x 0.125 = 1.25 per judgement share: with one row
    # of 10 judgements, beta 1 and lr 0.5, u moves by lr * beta^2 * 2 * 1.25 / 10 per step
    assert rr.pace == pytest.approx(0.5 * 2 * 1.25 / 10, rel=1e-12)
    text = js_rest_text(rr, 10, 0, loss_type="robust", label_smoothing=0.1)
    assert "steady pace" in text and "0.125" in text and "ever more slowly" not in text


@needs_node
def test_hinge_a_one_sided_row_stops_at_its_first_step_past_1():
    """unanimous with hinge: every row's pull stops at the first step that takes it to
    u >= 1 (u between 1 and 1.67 at the end, every weight then 0, nothing moves); the page
    states no margin for them (a path, not a closed form, decides where)."""
    st, s, _ = state_for("unanimous", LOSSES["hinge"])
    said = page_statements(st)
    assert {x["kind"] for x in said} == {"stops"}
    assert all(x["claim"] is None for x in said)
    lean = Lean(s)
    first = {}
    for t in range(1, 2001):
        before = lean.margins()
        lean.step()
        u = lean.margins()
        for i in np.flatnonzero((u >= 1) & (before < 1)):
            first.setdefault(int(i), t)
    u = lean.margins()
    assert len(first) == 6 and np.all((u >= 1) & (u <= 1.67))
    # the end is a rest the page does state: the pulls on every reply cancel (all 0)
    st.advance(2000)
    assert {x["kind"] for x in page_statements(st)} == {"rests"}


@needs_node
def test_hinge_a_split_row_never_rests_it_swings_about_1():
    """align with hinge: row 0 (7:3) has net pull +4 below u = 1 and -3 from 1 on, never 0;
    every row swings about u = 1 for ever, the six between 0.88 and 1.17."""
    st, s, _ = state_for("align", LOSSES["hinge"])
    said = page_statements(st)
    assert {x["kind"] for x in said} == {"swings"} and all(math.isnan(x["claim"])
                                                           for x in said)
    assert "7 − 3 = +4" in said[0]["text"] and "it is −3" in said[0]["text"]
    lean = Lean(s)
    for _ in range(1000):
        lean.step()
    seen = []
    for _ in range(3000):
        lean.step()
        seen.append(lean.margins())
    seen = np.array(seen)
    assert np.all(seen.min(axis=0) < 1) and np.all(seen.max(axis=0) >= 1)
    assert round(seen.min(), 2) == 0.88 and round(seen.max(), 2) == 1.17


@needs_node
def test_in_a_cycle_what_rests_is_each_reply_not_each_row():
    """rock-paper-scissors: each row's net pull is +2.000 at every step (7 x 0.5 - 3 x 0.5)
    while nothing moves; dpo-is-rlhf at rest: nets +0.599, +0.599, -0.599 and margins
    0.576 / 1.152 (not the 7:3 share's 0.847) -- the rows rest where the pulls on each
    reply cancel, and the page says so."""
    st = Simulation(load_scenario("rock-paper-scissors"), keep_history=False)
    said = page_statements(st)
    assert [x["kind"] for x in said] == ["rests"] * 3 and all(x["claim"] == 0 for x in said)
    for _ in range(3):
        rec = st.record
        nets = 7 / (1 + np.exp(rec.row_margin)) - 3 / (1 + np.exp(-rec.row_margin))
        np.testing.assert_allclose(nets, 2.0, atol=1e-15)
        st.advance(100)
    np.testing.assert_array_equal(st.record.row_margin, 0.0)
    assert "+2.000" in texts.TERMS["net"] and "no cycle" in texts.TERMS["net"]

    st = Simulation(load_scenario("dpo-is-rlhf"), keep_history=False)
    said = page_statements(st)
    assert [x["kind"] for x in said] == ["rests"] * 3
    assert [round(x["claim"], 3) for x in said] == [0.576, 0.576, 1.152]
    assert all("cycle" in x["text"] for x in said)
    nets = [re.search(r"net pull at rest is ([−+][0-9.]+)", x["text"])[1] for x in said]
    assert nets == ["+0.599", "+0.599", "−0.599"]
    st.advance(6000)
    rec = st.record
    np.testing.assert_allclose(rec.row_margin, [x["claim"] for x in said], atol=1e-9)
    own = 7 / (1 + np.exp(rec.row_margin)) - 3 / (1 + np.exp(-rec.row_margin))
    np.testing.assert_allclose(own, [0.599, 0.599, -0.599], atol=5e-4)


@needs_node
def test_the_pulls_chart_ticks_where_and_only_where_a_row_rests():
    """app/ui/views/pulls.js, mounted in Node: a tick at the rest margin of each row that
    rests, none for the others."""
    cases = [state_for(pid, settings)[0] for pid, settings in [
        ("dpo-is-rlhf", {}), ("align", LOSSES["robust-0.3"]), ("unanimous", {}),
        ("align", LOSSES["hinge"]), ("unanimous", LOSSES["ipo"])]]
    got = node_ui([{"kind": "view", "mount": "pulls", "views": [page_view(st)]}
                   for st in cases])
    ticked = 0
    for st, (out,) in zip(cases, got):
        rests = {i: r.u for i, r in enumerate(sim_rest(st)) if r.kind == "rests"}
        ticks = {t["row"]: t["u"] for t in out["model"]["ticks"]}
        assert ticks == rests, (st.scenario.id, ticks, rests)
        ticked += len(ticks)
    assert ticked > 0


@needs_node
def test_a_row_sharing_a_reply_with_a_drifting_row_never_rests_and_the_page_names_it():
    """Prompt 1 of a toy: rows B>A 6:4 and C>B 1:0 share B. The 1:0 row drifts for ever,
    so the 6:4 row only approaches its share (it would rest at log 1.5 alone); the page
    names the drifting row and the margin it heads for."""
    s = Scenario(id="t", title="t", watch="w", beta=1.0, learning_rate=0.5,
                 adaptive_weight=True, prompts=(Prompt("q", ("A", "B", "C")),),
                 ref_logits=np.zeros((1, 3)), rows=(Row(0, 1, 0, 6, 4), Row(0, 2, 1, 1, 0)))
    r0, r1 = _said(s)
    assert (r1.kind, r1.how) == ("drifts", "slowing")
    assert r0.kind == "approaches" and r0.via == 1 and r0.u == pytest.approx(math.log(1.5))
    text = js_rest_text(r0, 6, 4)
    assert "row 1" in text and "+0.405" in text and "never comes to rest" in text
    run = Lean(s).run(STEPS, WINDOW)
    assert not verdict(statements(s)[0], run)
    assert run[3][0] > 1e-9                 # still moving after 20,000 steps


def test_a_unanimous_drift_covers_a_distance_like_log_t_at_a_speed_like_1_over_t():
    """docs/model.md: in unanimous the gap between the best and the worst logit of prompt 0
    is 8.98, 10.36 and 11.17 at steps 1000, 2000 and 3000, growing by about 2 ln 2 each
    time t doubles: the distance grows like log t, the speed falls like 1/t."""
    lean = Lean(load_scenario("unanimous"))
    gap, speed = {}, {}
    for t in range(1, 8001):
        before = lean.theta[0].max() - lean.theta[0].min()
        lean.step()
        if t in (1000, 2000, 3000, 4000, 8000):
            gap[t] = lean.theta[0].max() - lean.theta[0].min()
            speed[t] = gap[t] - before
    assert [round(gap[t], 2) for t in (1000, 2000, 3000)] == [8.98, 10.36, 11.17]
    assert gap[2000] - gap[1000] == pytest.approx(2 * math.log(2), rel=0.01)
    assert gap[8000] - gap[4000] == pytest.approx(2 * math.log(2), rel=0.01)
    assert speed[2000] / speed[1000] == pytest.approx(0.5, rel=0.02)
    assert speed[8000] / speed[4000] == pytest.approx(0.5, rel=0.02)
