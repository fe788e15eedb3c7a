"""The column store behind Simulation.history (sim/history.py).

Expected values come from a plain list of ``evaluate()`` results taken in lockstep with the
run, and from the per-record CSV writer (the code path that existed before the store).
"""

from __future__ import annotations

import csv
import io
import struct
import tracemalloc
from dataclasses import fields

import numpy as np
import pytest

from dpo_sim.sim.engine import Record, evaluate
from dpo_sim.sim.export_csv import csv_header, csv_row, to_csv
from dpo_sim.sim.history import History
from dpo_sim.sim.scenario import Event, Prompt, Row, Scenario
from dpo_sim.sim.simulation import Simulation


def _scenario(P: int, K: int, rows, **kw) -> Scenario:
    prompts = tuple(Prompt(f"prompt {x}", tuple(f"reply {y}" for y in range(K)))
                    for x in range(P))
    ref = np.random.default_rng(P * 10 + K).normal(0, 0.7, (P, K))
    base = dict(id=f"h{P}x{K}", title="t", watch="w", beta=0.5, learning_rate=1.5,
                adaptive_weight=True, prompts=prompts, ref_logits=ref, rows=tuple(rows))
    base.update(kw)
    return Scenario(**base)


SEED_SHAPE = _scenario(2, 4, [Row(0, 0, 1, 8, 2), Row(0, 0, 2, 9, 1), Row(0, 1, 3, 7, 3),
                              Row(1, 2, 0, 6, 4), Row(1, 2, 3, 10, 0), Row(1, 1, 3, 5, 5)],
                       events=(Event(step=7, flip=1), Event(step=12, set={"beta": 3.0})))
OTHER_SHAPE = _scenario(3, 2, [Row(0, 0, 1, 4, 1), Row(1, 1, 0, 3, 3), Row(2, 0, 1, 9, 0)])


def _bits(v):
    """A value as (type, exact bits): floats by their IEEE bytes (so -0.0 and NaN count)."""
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, float):
        return ("float", struct.pack("<d", v))
    return (type(v).__name__, v)


def _same(a: Record, b: Record, grad: bool = False) -> None:
    for f in fields(Record):
        if f.name in ("grad", "grad_logits") and not grad:
            continue
        assert _bits(getattr(a, f.name)) == _bits(getattr(b, f.name)), f.name


def _play(sim: Simulation, ref: list[Record]) -> None:
    """Steps, flips, setting changes (weight off with a large beta: saturated sigmas),
    each mirrored by an evaluate() of the simulation's state into the plain list ``ref``."""
    def mirror():
        rec = evaluate(sim.theta, sim.logp_ref, sim.pairs, sim.beta, sim.loss_spec,
                       step=sim.t, learning_rate=sim.learning_rate)
        if ref and ref[-1].step == rec.step:
            ref[-1] = rec
        else:
            ref.append(rec)

    mirror()
    script = [("advance", 9), ("flip", 0), ("advance", 5), ("set", dict(learning_rate=0.7)),
              ("flip", 0), ("flip", 2), ("advance", 4),
              ("set", dict(adaptive_weight=False, beta=40.0, learning_rate=30.0)),
              ("advance", 25), ("set", dict(adaptive_weight=True)), ("advance", 300)]
    for kind, arg in script:
        if kind == "advance":
            for _ in range(arg):
                sim.advance()
                mirror()
        else:
            sim.flip(arg) if kind == "flip" else sim.set(**arg)
            mirror()


@pytest.mark.parametrize("sc", [SEED_SHAPE, OTHER_SHAPE], ids=["2x4", "3x2"])
def test_records_are_bit_identical_to_a_plain_list_of_evaluate(sc):
    sim = Simulation(sc)
    ref: list[Record] = []
    _play(sim, ref)
    h = sim.history
    assert isinstance(h, History) and len(h) == len(ref) == sim.t + 1
    for a, b in zip(h, ref):
        _same(a, b)
    # only the current record keeps its gradient; it is the simulation's own object
    assert h[-1] is sim.record and h[-1].grad is not None
    _same(h[-1], ref[-1], grad=True)
    assert all(r.grad is None for r in h[:-1])
    assert [r.step for r in h] == list(range(len(h)))


def test_one_store_takes_a_run_of_another_shape_after_clear():
    h = History()
    runs = []
    for sc in (SEED_SHAPE, OTHER_SHAPE):
        sim = Simulation(sc)
        ref: list[Record] = []
        _play(sim, ref)
        runs.append(ref)
        h.clear()
        for r in ref:
            h.append(r)
        assert len(h) == len(ref)
        for a, b in zip(h, ref):
            _same(a, b)
    with pytest.raises(ValueError, match="shape"):
        h.append(runs[0][0])
    assert len(h) == len(runs[1])


def test_slicing_behaves_like_a_list():
    sim = Simulation(SEED_SHAPE)
    sim.advance(30)
    sim.flip(3)
    h = sim.history
    plain = list(h)
    n = len(plain)
    assert n == 31 and bool(h) and len(h) == n
    for s in [slice(None), slice(5), slice(-5, None), slice(3, 17, 4), slice(None, None, -1),
              slice(-3, -20, -2), slice(100, 200), slice(20, 5), slice(-1000, 3),
              slice(0, None, 7), slice(n - 1, n)]:
        got, want = h[s], plain[s]
        assert isinstance(got, list) and len(got) == len(want), s
        for a, b in zip(got, want):
            _same(a, b)
    for i in (0, 1, n - 1, -1, -n, np.int64(4)):
        _same(h[i], plain[i])
    for i in (n, -n - 1):
        with pytest.raises(IndexError):
            h[i]
    with pytest.raises(TypeError):
        h[1.0]
    for a, b in zip(reversed(h), reversed(plain)):
        _same(a, b)
    assert History() == [] and not History() and len(History()) == 0


def test_records_are_copies_the_store_cannot_be_changed_through_them():
    sim = Simulation(SEED_SHAPE)
    sim.advance(5)
    h = sim.history
    before = h[2].probs.copy()
    r = h[2]
    r.probs[:] = 7.0
    r.row_margin[:] = 7.0
    np.testing.assert_array_equal(h[2].probs, before)
    with pytest.raises(ValueError):
        h.column("probs")[0, 0, 0] = 1.0
    np.testing.assert_array_equal(h.column("probs")[2], before)
    np.testing.assert_array_equal(h.column("loss"), [x.loss for x in h])
    np.testing.assert_array_equal(h.column("kl"), np.array([x.kl for x in h]))


def _record_width(P: int, K: int, N: int) -> int:
    """Numbers a Record holds: 4 settings, 7 TRL scalars, kl, probs, rewards, 3 per row,
    and the loss settings in force (loss_type, stored as an index, and label_smoothing)."""
    return 4 + len(Record.SCALARS) + P + 2 * P * K + 3 * N + 2


@pytest.mark.slow
def test_memory_per_step_is_the_numbers_and_little_more():
    steps = 4000
    sim = Simulation(SEED_SHAPE)
    sim.advance(10)
    tracemalloc.start()
    try:
        a = tracemalloc.get_traced_memory()[0]
        sim.advance(steps)
        grown = tracemalloc.get_traced_memory()[0] - a
    finally:
        tracemalloc.stop()
    h = sim.history
    used = 8 * _record_width(2, 4, 6) * len(h)
    assert h.array().nbytes == used
    assert used <= h.nbytes <= 1.25 * used + 8 * _record_width(2, 4, 6) * 256
    assert h.nbytes / len(h) < 500
    # what the process really kept for those steps: the block (and one live Record)
    assert grown < h.nbytes + 20_000, (grown, h.nbytes)


def test_csv_from_the_store_equals_the_per_record_writer():
    sim = Simulation(SEED_SHAPE)
    ref: list[Record] = []
    _play(sim, ref)
    fast = to_csv(sim.history)
    # the per-record path, written out here as it was before the store existed
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header(2, 4, 6))
    for r in ref:
        w.writerow(csv_row(r))
    assert fast == buf.getvalue()
    assert to_csv(list(sim.history)) == fast
    # and the numbers read back exactly
    rows = list(csv.reader(io.StringIO(fast)))
    header = rows[0]
    for line, r in zip(rows[1:], ref):
        d = dict(zip(header, line))
        assert int(d["step"]) == r.step and int(d["adaptive_weight"]) == r.adaptive_weight
        assert float(d["rewards/margins"]) == r.rewards_margins
        assert float(d["pairs/5/sigma"]) == r.row_sigma[5]
        assert float(d["probs/1/2"]) == r.probs[1, 2]
    assert to_csv(History()) == "" == to_csv([])


# -- a bounded history: a page that plays for hours ----------------------------------------
def test_a_bounded_history_keeps_the_newest_records_and_the_first():
    sim = Simulation(SEED_SHAPE, history_limit=100)
    full = Simulation(SEED_SHAPE)
    sim.advance(1000)
    full.advance(1000)
    h = sim.history
    assert 100 <= len(h) <= 200 and h.dropped == 1001 - len(h)
    assert h.nbytes <= 200 * h.width * 8                   # the block never grows past 2n
    assert h[-1] is sim.record
    for k in (1, 2, 50, len(h)):                           # the newest rows, bit for bit
        _same(h[-k], full.history[-k])
    _same(h.first, full.history[0])
    assert h.first.step == 0
    np.testing.assert_array_equal(h.column("loss"), full.history.column("loss")[-len(h):])


def test_a_bounded_history_s_memory_is_flat_however_long_it_runs():
    sim = Simulation(SEED_SHAPE, history_limit=64)
    sizes = []
    for _ in range(20):
        sim.advance(500)
        sizes.append(sim.history.nbytes)
    assert len(set(sizes)) == 1, sizes
    with pytest.raises(ValueError, match="limit must be at least 1"):
        History(limit=0)


def test_an_action_at_step_0_is_the_first_record():
    sim = Simulation(OTHER_SHAPE, history_limit=10)
    sim.set(beta=3.0)
    assert sim.history.first is sim.record and sim.history.first.beta == 3.0
    sim.advance(50)
    assert sim.history.first.beta == 3.0 and sim.history.first.step == 0
