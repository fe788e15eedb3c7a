"""The features (log-linear) model through the engine, the stack, the sweep, the frontier,
the history, the CSV and the page's replies, and the loss in force as one value.

Oracles, never the engine's own output: finite differences of tests/naive_dpo.py's naive
features loss (plain floats, judgement by judgement), its ``features_metrics``, the
one-hot equivalence (a table is the features model with one coordinate per reply), and
single runs for the stack."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import numpy as np
import pytest

import naive_dpo as naive
from dpo_sim.sim import frontier as fr
from dpo_sim.sim import settings
from dpo_sim.sim import sweep as sw
from dpo_sim.sim.engine import evaluate
from dpo_sim.sim.export_csv import to_csv
from dpo_sim.sim.losses import DPO, LOSS_TYPES, LossSpec
from dpo_sim.sim.model import TABLE, FeaturesModel, one_hot
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.protocol import Session
from dpo_sim.sim.scenario import Event, Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Diverged, Simulation
from dpo_sim.sim.stack import RunStack

FEATURE_CASES = [naive.random_features_case(np.random.default_rng(1000 + s)) for s in range(60)]
#: every loss, the robust one with an eps, and the weight off: (adaptive_weight, type, eps)
SPECS = [LossSpec(True, "sigmoid"), LossSpec(True, "ipo"), LossSpec(True, "hinge"),
         LossSpec(True, "robust", 0.2), LossSpec(False, "sigmoid")]


def _scenario_of(P, K, rows, ref, phi, theta0, beta, lr=0.5, **kw) -> Scenario:
    prompts = tuple(Prompt(f"p{x}", tuple(f"r{y}" for y in range(K))) for x in range(P))
    return Scenario(id="features", title="t", watch="w", beta=beta, learning_rate=lr,
                    adaptive_weight=True, prompts=prompts, ref_logits=np.asarray(ref, float),
                    rows=tuple(Row(*r) for r in rows), model=FeaturesModel(phi, theta0), **kw)


def _naive_value(spec: LossSpec, h: float, beta: float) -> float:
    """One judgement's loss at log-ratio margin h, written out for each loss."""
    u = beta * h
    if not spec.adaptive_weight:
        return -u
    if spec.loss_type == "sigmoid":
        return naive.softplus(-u)
    if spec.loss_type == "ipo":
        return (h - 1.0 / (2.0 * beta)) ** 2
    if spec.loss_type == "hinge":
        return max(0.0, 1.0 - u)
    eps = spec.label_smoothing                      # robust
    return ((1.0 - eps) * naive.softplus(-u) - eps * naive.softplus(u)) / (1.0 - 2.0 * eps)


def _judgements(theta, ref, phi, rows, beta):
    """(share, h) of every judgement of the features policy, in plain floats."""
    logits = naive.features_logits(theta, ref, phi).tolist()
    logp = [naive.log_softmax_row(t) for t in logits]
    logq = [naive.log_softmax_row(t) for t in np.asarray(ref, float).tolist()]
    total = math.fsum(a + b for *_, a, b in rows)
    return [(n / total, (logp[x][w] - logq[x][w]) - (logp[x][l] - logq[x][l]))
            for x, w, l, n in naive.instances(rows)]


def _naive_loss(theta, ref, phi, rows, beta, spec):
    return math.fsum(f * _naive_value(spec, h, beta)
                     for f, h in _judgements(theta, ref, phi, rows, beta))


# -- the loss in force as one value ----------------------------------------------------
def test_the_loss_value_is_the_settings_rows_that_shape_the_loss():
    names = tuple(f.name for f in dataclasses.fields(LossSpec) if f.init)
    assert names == settings.LOSS == ("adaptive_weight", "loss_type", "label_smoothing")
    a, b = LossSpec(True, "robust", 0.1), LossSpec(True, "robust", 0.1)
    assert a == b and hash(a) == hash(b) and len({a, b, DPO}) == 2
    assert a.loss is b.loss and a.loss.c == pytest.approx(0.1 / 0.8)
    assert LossSpec(False, "ipo").loss.name == "bare_margin"
    assert a.to_dict() == {"adaptive_weight": True, "loss_type": "robust",
                           "label_smoothing": 0.1}
    s = load_scenario("align").with_settings(loss_type="hinge", adaptive_weight=True)
    assert LossSpec.of(s) == LossSpec(True, "hinge", 0.0)
    with pytest.raises(ValueError):
        LossSpec(True, "robust", 0.5)
    with pytest.raises(KeyError):
        LossSpec(True, "nope")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.loss_type = "ipo"


# -- gradients and metrics against the naive features loss -----------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.loss_type}-{s.adaptive_weight}")
def test_features_gradient_matches_finite_differences(spec):
    checked = pulled = 0
    for P, K, rows, ref, phi, theta, beta in FEATURE_CASES:
        if spec.loss_type == "hinge" and spec.adaptive_weight and any(
                abs(abs(beta * h) - 1.0) < 1e-4
                for _, h in _judgements(theta, ref, phi, rows, beta)):
            continue                           # on the hinge's kink: no derivative
        pairs = Pairs.from_rows(rows, P, K)
        model = FeaturesModel(phi, np.zeros(phi.shape[2]))
        rec = evaluate(theta, log_softmax(ref), pairs, beta, spec, model=model)
        fd = naive.central_differences(
            lambda t, a=(ref, phi, rows, beta): _naive_loss(t, *a, spec),
            np.asarray(theta), 1e-6)
        assert rec.grad.shape == (phi.shape[2],) and rec.theta is theta
        scale = max(1.0, float(np.abs(fd).max()))
        np.testing.assert_allclose(rec.grad, fd, rtol=0, atol=2e-6 * scale)
        assert rec.loss == pytest.approx(_naive_loss(theta, ref, phi, rows, beta, spec),
                                         rel=1e-11, abs=1e-12)
        # the stack's gradient is the engine's, bit for bit
        stack = RunStack(pairs, ref, model).grad(theta[None], beta, spec)[0]
        assert np.array_equal(stack, rec.grad)
        checked += 1
        pulled += bool(np.abs(fd).max() > 1e-3)
    assert checked >= len(FEATURE_CASES) - 3
    assert pulled >= 50            # the cases could fail: their gradients are not zero


@pytest.mark.parametrize("weight_on", [True, False])
def test_every_features_metric_matches_the_naive_computation(weight_on):
    for P, K, rows, ref, phi, theta, beta in FEATURE_CASES:
        pairs = Pairs.from_rows(rows, P, K)
        rec = evaluate(theta, log_softmax(ref), pairs, beta, LossSpec(weight_on),
                       model=FeaturesModel(phi, None))
        want = naive.features_metrics(theta, ref, phi, rows, beta, weight_on)
        tie = np.abs(want["row_margin"]).min() < 1e-9     # accuracy jumps at u = 0
        for k, v in rec.scalars().items():
            if not (tie and k == "rewards/accuracies"):
                assert v == pytest.approx(want[k], rel=1e-10, abs=1e-11), k
        for k in ("probs", "kl", "rewards", "row_margin", "row_sigma", "row_weight"):
            np.testing.assert_allclose(getattr(rec, k), want[k], rtol=1e-10, atol=1e-11,
                                       err_msg=k)


# -- the one-hot equivalence -------------------------------------------------------------
def _as_one_hot(s: Scenario) -> Scenario:
    """The same scenario on one-hot features, theta_0 placing the policy at its start."""
    P, K = s.n_prompts, s.n_replies
    theta0 = (s.start_logits() - log_softmax(np.asarray(s.ref_logits, float))).reshape(-1)
    return dataclasses.replace(s, model=FeaturesModel(one_hot(P, K).features, theta0),
                               init_logits=None)


def _run(s: Scenario, steps: int, actions) -> list:
    sim = Simulation(s, keep_history=False)
    out = [sim.record]
    for t in range(1, steps + 1):
        try:
            out.append(sim.advance())
        except Diverged as e:
            out.append(("diverged", e.step))
            break
        for at, act in actions:
            if at == t:
                out.append(act(sim))
    return out


def _assert_close(a, b, where):
    assert type(a) is type(b), where
    if isinstance(a, tuple):
        assert a == b, where
        return
    assert a.step == b.step and a.loss_type == b.loss_type, where
    tie = np.abs(a.row_margin).min() < 1e-9             # accuracy jumps at u = 0
    for k, v in a.scalars().items():
        if tie and k == "rewards/accuracies":
            continue
        assert abs(v - b.scalars()[k]) <= 1e-12 * max(1.0, abs(v)), (where, k, v)
    for k in ("probs", "kl", "rewards", "row_margin", "row_sigma", "row_weight"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-12, atol=1e-12,
                                   err_msg=f"{where} {k}")


ACTIONS = ((40, lambda sim: sim.flip(0)), (90, lambda sim: sim.set(loss_type="robust",
                                                                  label_smoothing=0.1)),
           (150, lambda sim: sim.set(adaptive_weight=False)),
           (200, lambda sim: sim.set(adaptive_weight=True, loss_type="ipo",
                                     learning_rate=0.05)),
           (250, lambda sim: sim.flip(0)))


def test_one_hot_features_run_every_preset_as_the_table():
    from dpo_sim.sim.scenario_io import preset_ids
    checked = 0
    for sid in preset_ids():
        s = load_scenario(sid)
        if s.model.kind != "table":
            continue
        a = _run(s, 300, ACTIONS)
        b = _run(_as_one_hot(s), 300, ACTIONS)
        assert len(a) == len(b), sid
        for i, (ra, rb) in enumerate(zip(a, b)):
            _assert_close(ra, rb, f"{sid} record {i}")
        checked += 1
    assert checked >= 14


def test_one_hot_features_run_random_tables_as_the_table():
    for seed in range(12):
        P, K, rows, ref, theta, beta = naive.random_case(np.random.default_rng(seed))
        s = _scenario_of(P, K, rows, ref, np.zeros((P, K, 1)), None, beta, 0.3)
        s = dataclasses.replace(s, model=TABLE, init_logits=theta,
                                events=(Event(30, flip=0), Event(60, set={"beta": beta * 2})))
        a = _run(s, 300, ())
        b = _run(_as_one_hot(s), 300, ())
        assert len(a) == len(b) == 301
        for i, (ra, rb) in enumerate(zip(a, b)):
            _assert_close(ra, rb, f"seed {seed} record {i}")


# -- the stack, the sweep and the frontier on a features model ---------------------------
def _features_align(d: int = 3, seed: int = 0) -> Scenario:
    s = load_scenario("align")
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(s.n_prompts, s.n_replies, d))
    return dataclasses.replace(s, model=FeaturesModel(phi, 0.1 * rng.normal(size=d)),
                               init_logits=None)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.loss_type}-{s.adaptive_weight}")
def test_a_stack_of_features_runs_is_bit_identical_to_single_runs(spec):
    s = _features_align(4)
    pairs = Simulation(s).pairs
    betas, rates = np.array([0.25, 0.5, 1.0, 2.0]), np.array([0.4, 0.3, 0.2, 0.05])
    stack = RunStack(pairs, s.ref_logits, s.model)
    theta = np.stack([s.start_params()] * 4)
    sims = [Simulation(s.with_settings(beta=b, learning_rate=r, **spec.to_dict()),
                       keep_history=False) for b, r in zip(betas, rates)]
    for _ in range(40):
        theta = stack.step(theta, betas, rates, spec)
        for sim in sims:
            sim.advance()
    assert np.abs(theta - s.start_params()).max() > 1e-3            # it moved
    for i, sim in enumerate(sims):
        assert theta[i].tobytes() == sim.theta.tobytes(), i
    logits = stack.logits(theta)
    for i, sim in enumerate(sims):
        assert logits[i].tobytes() == s.model.logits(sim.theta, sim.logp_ref).tobytes()


def test_sweep_on_a_features_model_gives_the_single_runs():
    s = _features_align(3, seed=2)
    sim0 = Simulation(s)
    sim0.flip(1)
    spec = LossSpec(True, "robust", 0.1)
    res = sw.run_sweep(sim0.pairs, s.ref_logits, s.start_params(), 60, spec,
                       betas=[0.3, 2.0], learning_rates=[0.05, 1.0], model=s.model)
    assert res.params.shape == (2, 2, 3) and res.theta.shape == (2, 2, 2, 4)
    for i, b in enumerate([0.3, 2.0]):
        for j, lr in enumerate([0.05, 1.0]):
            sim = Simulation(s.with_settings(beta=b, learning_rate=lr, **spec.to_dict()))
            sim.flip(1)
            sim.advance(60)
            assert res.params[i, j].tobytes() == sim.theta.tobytes()
            np.testing.assert_allclose(res.theta[i, j], s.model.logits(sim.theta,
                                                                         sim.logp_ref),
                                       atol=0, rtol=0)
            assert res.loss[i, j] == pytest.approx(sim.record.loss, abs=1e-12)
            np.testing.assert_allclose(res.kl[i, j], sim.record.kl, atol=1e-12, rtol=0)
    assert sw.stability_limit(sim0.pairs, spec, s.model).kind is None
    # the page's reply works on it
    reply = sw.sweep_reply(sim0, {"op": "sweep", "steps": 20, "n_beta": 3, "n_lr": 3})
    assert len(reply["kl"]) == 9 and reply["settings"] == sim0.loss_spec.to_dict()


def test_frontier_beta_sweep_on_a_features_model_gives_the_single_runs():
    s = _features_align(2, seed=3)
    pairs = Simulation(s).pairs
    c = s.learning_rate * s.beta ** 2
    sweep = fr.beta_sweep(pairs, s.ref_logits, s.start_params(), [0.25, 1.0, 4.0], c, 150,
                          LossSpec(True, "robust", 0.1), s.model)
    for i, b in enumerate([0.25, 1.0, 4.0]):
        sim = Simulation(s.with_settings(beta=b, learning_rate=c / b ** 2,
                                         loss_type="robust", label_smoothing=0.1))
        sim.advance(150)
        np.testing.assert_allclose(sweep.probs[i], sim.record.probs, atol=1e-12, rtol=0)
        np.testing.assert_allclose(sweep.kl[i], sim.record.kl, atol=1e-12, rtol=0)
    reply = fr.frontier_reply(Simulation(s), {"op": "frontier", "points": 5})
    assert len(reply["sweep"]["kl"]) == len(fr.SWEEP_BETAS)


# -- records, history, CSV, the CLI's lines, the page's replies ---------------------------
def test_a_features_run_records_theta_in_history_csv_and_step_lines():
    s = _features_align(3, seed=4)
    sim = Simulation(s)
    thetas = [sim.theta]
    for _ in range(5):
        sim.advance()
        thetas.append(sim.theta)
    h = sim.history
    assert h.d == 3 and h.column("theta").shape == (6, 3)
    for i, rec in enumerate(h):
        assert rec.theta.tobytes() == thetas[i].tobytes()
        assert rec.to_dict()["theta"] == thetas[i].tolist()
    text = to_csv(h)
    assert text == to_csv(list(h))                   # the column store writes the same
    lines = text.splitlines()
    head = lines[0].split(",")
    assert head[-5:] == ["loss_type", "label_smoothing", "theta[0]", "theta[1]", "theta[2]"]
    assert [float(v) for v in lines[3].split(",")[-3:]] == thetas[2].tolist()
    # a table's records, lines and file have no theta
    t = Simulation(load_scenario("align"))
    t.advance(2)
    assert t.record.theta is None and "theta" not in t.record.to_dict()
    assert "theta" not in to_csv(t.history)


def test_the_cli_writes_theta_on_a_features_run():
    from dpo_sim.app.cli import write_run
    s = _features_align(2, seed=5)
    out = io.StringIO()
    write_run(s, 4, "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["model"]["kind"] == "features" and "init_logits" not in lines[0]
    sim = Simulation(s)
    for t, line in enumerate(lines[1:]):
        assert line["theta"] == sim.theta.tolist() and line["step"] == t
        sim.advance()


def test_the_page_reply_on_a_features_model():
    s = _features_align(3, seed=6)
    session = Session({"f": s})
    reply = session.handle({"op": "load", "scenario": "f"})
    assert "error" not in reply, reply
    assert reply["model"] == s.model.config()
    phi = s.model.features
    for row in reply["state"]["rows"]:
        fw, fl = phi[row["prompt"], row["chosen"]], phi[row["prompt"], row["rejected"]]
        want = math.fsum(a * b for a, b in zip(fw, fl)) - math.fsum(a * a for a in fw)
        assert row["similarity"] == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert reply["record"]["theta"] == s.start_params().tolist()
    reply = session.handle({"op": "advance", "n": 3})
    assert "error" not in reply and len(reply["record"]["theta"]) == 3
    reply = session.handle({"op": "flip", "row": 0})
    row0 = reply["state"]["rows"][0]
    fw, fl = phi[row0["prompt"], row0["chosen"]], phi[row0["prompt"], row0["rejected"]]
    assert row0["similarity"] == pytest.approx(float(fw @ fl - fw @ fw), abs=1e-12)
    for op in ("sweep", "frontier"):
        assert "error" not in session.handle({"op": op, **({"steps": 5} if op == "sweep"
                                                            else {})})
    csv_text = session.handle({"op": "csv"})["csv"]
    assert "theta[2]" in csv_text.splitlines()[0]
    # a table's reply says its model and has no similarity
    t = Session({"a": load_scenario("align")}).handle({"op": "load", "scenario": "a"})
    assert t["model"] == {"kind": "table"}
    assert all("similarity" not in r for r in t["state"]["rows"])
    assert "theta" not in t["record"]


def test_loss_types_are_all_covered():
    assert {s.loss_type for s in SPECS} == set(LOSS_TYPES)


def test_the_readable_features_maths_is_the_naive_loss_and_the_engine():
    """sim/dpo.py's features_logits / features_gradient / features_step against finite
    differences of the naive features loss, and the engine's run to 1e-12."""
    from dpo_sim.sim import dpo
    for P, K, rows, ref, phi, theta, beta in FEATURE_CASES[:20]:
        pairs, logq = Pairs.from_rows(rows, P, K), log_softmax(ref)
        np.testing.assert_allclose(dpo.features_logits(theta, logq, phi),
                                   naive.features_logits(theta, ref, phi), atol=1e-12)
        g = dpo.features_gradient(theta, logq, phi, pairs, beta, DPO.loss)
        fd = naive.features_fd_grad(theta, ref, phi, rows, beta)
        np.testing.assert_allclose(g, fd, rtol=0, atol=2e-6 * max(1.0, np.abs(fd).max()))
    s = _features_align(3, seed=7)
    sim = Simulation(s, keep_history=False)
    theta, logq = s.start_params(), sim.logp_ref
    for _ in range(200):
        theta = dpo.features_step(theta, logq, s.model.features, sim.pairs, sim.beta,
                                  sim.learning_rate, sim.loss_spec.loss)
        sim.advance()
    assert np.abs(theta - s.start_params()).max() > 0.1
    np.testing.assert_allclose(sim.theta, theta, rtol=0, atol=1e-12)


FEATURES_TOML = '''title = "Two prompts, shared features"
watch = "w"
beta = 0.5
learning_rate = 0.4
adaptive_weight = true
loss_type = "robust"
label_smoothing = 0.1
steps = 5
[model]
kind = "features"
init_theta = [0.2, -0.1, 0.0]
[reference]
kind = "uniform"
[[prompts]]
text = "p0"
replies = ["a", "b", "c"]
features = [[1, 0.5, 0], [0.8, 0.6, 1], [0, 0, 1]]
[[prompts]]
text = "p1"
replies = ["d", "e", "f"]
features = [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0.5]]
[[pairs]]
prompt = 0
chosen = 0
rejected = 1
votes_chosen = 3
votes_rejected = 1
[[pairs]]
prompt = 1
chosen = 1
rejected = 2
votes_chosen = 2
votes_rejected = 0
[[events]]
step = 3
flip = 0
'''


def test_a_toml_features_scenario_through_the_cli(tmp_path, capsys):
    """`dpo-sim run` on a TOML features file: the config line's model, a "theta" on every
    step line following the readable maths (sim/dpo.py's features_step, tested against
    the naive loss above), and theta columns in the CSV."""
    from dpo_sim.app.cli import main
    from dpo_sim.sim import dpo
    path = tmp_path / "shared.toml"
    path.write_text(FEATURES_TOML, encoding="utf-8")
    assert main(["run", str(path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["model"]["kind"] == "features" and len(lines) == 7
    phi = np.array(lines[0]["model"]["features"], dtype=float)
    logq = log_softmax(np.zeros((2, 3)))
    rows = [(0, 0, 1, 3, 1), (1, 1, 2, 2, 0)]
    theta = np.array([0.2, -0.1, 0.0])
    loss = LossSpec(True, "robust", 0.1).loss
    for t, line in enumerate(lines[1:]):
        if t == 3:
            rows[0] = (0, 1, 0, 3, 1)      # the scripted flip: the votes stay with their sides
        np.testing.assert_allclose(line["theta"], theta, rtol=0, atol=1e-12)
        theta = dpo.features_step(theta, logq, phi, Pairs.from_rows(rows, 2, 3), 0.5, 0.4,
                                  loss)
    assert main(["run", str(path), "--format", "csv"]) == 0
    head = capsys.readouterr().out.splitlines()[0].split(",")
    assert head[-3:] == ["theta[0]", "theta[1]", "theta[2]"]
