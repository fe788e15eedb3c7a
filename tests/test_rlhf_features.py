"""pi*_phi, the RLHF optimum for a reward linear in the features (sim.rlhf.features_optimum
and its JavaScript twin DPO.featuresOptimum), against independent computations:

- one-hot features are the table: the table's pi* (rlhf.optimum) to 1e-12, ``coincide``;
- the fitted theta* is stationary: tests/naive_dpo.py's finite differences of the naive
  loss vanish along every row's difference vector, and theta* - theta0 lies in their span
  (the gauge: directions no row constrains stay where they started);
- long runs of gradient descent (written out again here, no code from sim/) reach pi*_phi
  (KL < 1e-8) where it is finite, and KL(pi || pi*) stops at ``kl_floor``;
- where there is no finite optimum, the replies said to be ``heading`` gain probability in
  long runs, every separable judgement's margin keeps growing and every tight one settles;
- the JavaScript twin gives the same pi*_phi within 1e-10 on 40 random scenarios.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.sim import rlhf
from dpo_sim.sim.model import FeaturesModel, one_hot
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs
from naive_dpo import features_fd_grad, random_case, random_features_case

NODE = shutil.which("node")
DRIVER = Path(__file__).resolve().parent / "features_optimum_driver.js"


def features_case(seed: int, small_d: bool):
    """A random features scenario (naive_dpo.random_features_case); ``small_d``: d in 1..3,
    where a finite optimum is common (with d large the rows are mostly separable)."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4)) if small_d else None
    P, K, rows, ref, phi, theta0, beta = random_features_case(rng, d=d)
    pairs = Pairs.from_rows(rows, P, K)
    return dict(P=P, K=K, rows=rows, ref=ref, phi=phi, theta0=theta0, beta=beta, pairs=pairs,
                logp=log_softmax(ref), model=FeaturesModel(phi, theta0))


def row_vectors(c):
    rows = c["rows"]
    x = np.array([r[0] for r in rows])
    return c["phi"][x, [r[1] for r in rows]] - c["phi"][x, [r[2] for r in rows]]


class Descent:
    """Plain full-batch gradient descent on the mean sigmoid loss in theta (the notes'
    gradient, written out again): -beta/N sum_rows (a sigma(-u) - b sigma(u)) v, for many
    scenarios at once (rows padded with no votes, features with zeros), each at the
    learning rate 1 / (the largest curvature the loss can have: beta^2 / N times
    lambda_max(sum n/4 v v^T))."""

    def __init__(self, cases):
        R = max(len(c["rows"]) for c in cases)
        D = max(c["phi"].shape[2] for c in cases)
        C = len(cases)
        self.v = np.zeros((C, R, D))
        self.a, self.b = np.zeros((C, R)), np.zeros((C, R))
        self.theta = np.zeros((C, D))
        self.beta = np.array([c["beta"] for c in cases])
        self.lr = np.ones(C)
        for i, c in enumerate(cases):
            v = row_vectors(c)
            n_rows, d = v.shape
            self.v[i, :n_rows, :d] = v
            self.a[i, :n_rows] = [r[3] for r in c["rows"]]
            self.b[i, :n_rows] = [r[4] for r in c["rows"]]
            self.theta[i, :d] = c["theta0"]
            n = self.a[i] + self.b[i]
            top = np.linalg.eigvalsh((self.v[i] * (n / 4)[:, None]).T @ self.v[i]).max()
            if top > 0:
                self.lr[i] = n.sum() / (c["beta"] ** 2 * top)
        self.scale = self.lr * self.beta / (self.a + self.b).sum(axis=1)
        self.dims = [c["phi"].shape[2] for c in cases]

    def run(self, steps: int) -> list[np.ndarray]:
        v, a, b, beta, scale = self.v, self.a, self.b, self.beta[:, None], self.scale[:, None]
        theta = self.theta
        for _ in range(steps):
            u = beta * np.einsum("crd,cd->cr", v, theta)
            s_neg = 0.5 * (1.0 - np.tanh(u / 2.0))
            theta = theta + scale * np.einsum("cr,crd->cd", a * s_neg - b * (1.0 - s_neg), v)
        self.theta = theta
        return [theta[i, :d].copy() for i, d in enumerate(self.dims)]


def policy(c, theta):
    return np.exp(log_softmax(c["logp"] + c["phi"] @ theta))


def textbook_kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


# -- the table as one-hot features ---------------------------------------------------------
def test_one_hot_features_give_the_table_optimum():
    rng = np.random.default_rng(19)
    worst, finite_seen, heading_seen = 0.0, 0, 0
    for _ in range(80):
        P, K, rows, ref, _, beta = random_case(rng)
        pairs = Pairs.from_rows(rows, P, K)
        logp = log_softmax(ref)
        init = rng.normal(scale=float(rng.choice([0.0, 1.0])), size=P * K)
        model = FeaturesModel(one_hot(P, K).features, init)
        opt = rlhf.features_optimum(pairs, logp, model, beta)
        table = rlhf.optimum(pairs, logp, logp + init.reshape(P, K), beta)
        assert np.array_equal(opt.finite, table.finite)
        assert np.array_equal(opt.heading, table.heading)
        assert opt.coincide
        f = opt.finite
        if f.any():
            worst = max(worst, float(np.abs(opt.probs[f] - table.probs[f]).max()))
            finite_seen += 1
        if (~f).any():
            heading_seen += 1
            # the drift is the table's max-margin drift (to the solvers' rounding)
            assert np.allclose(opt.drift[~f], table.drift[~f], atol=1e-8)
    assert worst < 1e-12
    assert finite_seen >= 20 and heading_seen >= 20


def test_rotated_one_hot_features_give_the_table_optimum_and_coincide():
    """One-hot features turned by a random orthogonal Q (phi = e_(x,y) Q): the same family
    and the same gauge (gradient steps stay in theta0 + the rows' span, which Q carries
    over isometrically), so pi*_phi is the table's pi* and ``coincide`` holds, though no
    coordinate belongs to one reply. A non-orthogonal map changes the gauge: a reply in
    no row then moves, and the two optima differ."""
    rng = np.random.default_rng(5)
    finite = 0
    for _ in range(40):
        P, K, rows, ref, _, beta = random_case(rng)
        pairs = Pairs.from_rows(rows, P, K)
        logp = log_softmax(ref)
        Q, _ = np.linalg.qr(rng.normal(size=(P * K, P * K)))
        phi = one_hot(P, K).features @ Q
        opt = rlhf.features_optimum(pairs, logp, FeaturesModel(phi, np.zeros(P * K)), beta)
        assert opt.coincide
        if opt.finite.any():
            f = opt.finite
            assert np.abs(opt.probs[f] - opt.table.probs[f]).max() < 1e-10
            finite += 1
    assert finite >= 10
    # two replies, one row A > B (3:1), and a reply C in no row; phi with a shared part
    phi = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    pairs = Pairs.from_rows([(0, 0, 1, 3, 1)], 1, 3)
    opt = rlhf.features_optimum(pairs, np.log(np.full((1, 3), 1 / 3)),
                                FeaturesModel(phi, np.zeros(2)), 1.0)
    # v = [1, -1]: theta* = t [1, -1] with 2t = log 3; C's logit stays 0, A's, B's +-t
    t = math.log(3.0) / 2
    want = np.exp([t, -t, 0.0]) / np.exp([t, -t, 0.0]).sum()
    assert np.allclose(opt.probs[0], want, atol=1e-14)
    assert np.allclose(opt.params, [t, -t], atol=1e-14)
    # the table's pi*: A and B keep their sum of logits (0) too, C its start: the same here
    assert opt.coincide
    # stretch B's coordinate: v = [1, -2], theta* = s [1, -2] with 5 s = log 3; the logits
    # are s, -4 s, 0, so A and B lose mass to C, where the table keeps their sum at 0
    phi2 = np.array([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]])
    opt2 = rlhf.features_optimum(pairs, np.log(np.full((1, 3), 1 / 3)),
                                 FeaturesModel(phi2, np.zeros(2)), 1.0)
    s = math.log(3.0) / 5
    want2 = np.exp([s, -4 * s, 0.0]) / np.exp([s, -4 * s, 0.0]).sum()
    assert np.allclose(opt2.probs[0], want2, atol=1e-14)
    assert np.allclose(opt2.table.probs[0], want, atol=1e-14)
    assert not opt2.coincide
    assert math.isclose(rlhf.kl_floor(opt2)[0], textbook_kl(want2, want), rel_tol=1e-9)


# -- the fit: stationary, in the gauge -------------------------------------------------------
def test_the_fitted_theta_is_stationary_and_moves_only_along_the_rows():
    checked = 0
    for seed in range(200):
        c = features_case(seed, small_d=True)
        opt = rlhf.features_optimum(c["pairs"], c["logp"], c["model"], c["beta"])
        if not opt.finite.all():
            continue
        theta = opt.params
        v = row_vectors(c)
        g = features_fd_grad(theta, c["ref"], c["phi"], c["rows"], c["beta"], eps=1e-5)
        scale = np.abs(v).max() * c["beta"]
        # the gradient along each row's difference vector vanishes (finite differences)
        assert np.abs(v @ g).max() < 1e-7 * max(1.0, scale), (seed, v @ g)
        # theta* - theta0 lies in the span of the rows' difference vectors
        step = theta - c["theta0"]
        coef = np.linalg.lstsq(v.T, step, rcond=None)[0]
        assert np.abs(v.T @ coef - step).max() < 1e-9 * max(1.0, np.abs(step).max())
        checked += 1
        if checked >= 40:
            break
    assert checked >= 40


def test_a_unanimous_row_that_nothing_opposes_has_no_finite_optimum():
    # one prompt, replies a, b, c with features [1, 0], [0, 1], [0, 0]; one row a > b (2:0)
    phi = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]],
                    [[1.0, 1.0], [0.0, 0.0], [2.0, 0.0]]])
    pairs = Pairs.from_rows([(0, 0, 1, 2, 0)], 2, 3)
    logp = log_softmax(np.zeros((2, 3)))
    opt = rlhf.features_optimum(pairs, logp, FeaturesModel(phi, np.zeros(2)), 1.0)
    # u is along phi_a - phi_b = [1, -1], scaled to margin 1: [0.5, -0.5]
    assert np.allclose(opt.fit.direction, [0.5, -0.5])
    # prompt 0: a heads (u . phi = 0.5, -0.5, 0); prompt 1: u . phi = 0, 0, 1: the third
    assert opt.heading.tolist() == [[True, False, False], [False, False, True]]
    assert not opt.finite.any() and np.isnan(opt.params).all()
    # a second prompt whose replies differ only along a direction no row moves is finite
    phi2 = phi.copy()
    phi2[1] = [[0.0, 0.0], [1.0, 1.0], [3.0, 3.0]]        # differences along [1, 1]
    opt2 = rlhf.features_optimum(pairs, logp, FeaturesModel(phi2, np.array([0.3, -0.1])), 1.0)
    assert opt2.finite.tolist() == [False, True]
    # there theta stays at theta0 along [1, 1]: pi*_phi is the start policy
    start = np.exp(log_softmax(logp[1] + phi2[1] @ np.array([0.3, -0.1])))
    assert np.allclose(opt2.probs[1], start, atol=1e-14)


def test_a_prompt_orthogonal_to_the_drift_but_not_to_its_span_gets_no_limit():
    """Two unanimous rows along e1 and e2 (on two prompts): theta runs off along
    u = [1, 1, 0] (margin 1 on both rows), so a third prompt whose replies differ by
    [1, -1, 0] sees no log t term, yet its logits follow where theta's two drifting parts
    settle relative to each other, which no finite fit decides: no finite optimum, and
    every reply is said to be heading (true, and no more). A fourth prompt whose replies
    differ only along e3 (no row moves it) keeps its start."""
    phi = np.zeros((4, 2, 3))
    phi[0, 0, 0] = 1.0                    # prompt 0: reply 0 - reply 1 = e1
    phi[1, 0, 1] = 1.0                    # prompt 1: e2
    phi[2, 0, 0], phi[2, 1, 1] = 1.0, 1.0    # prompt 2: e1 - e2
    phi[3, 0, 2] = 1.0                    # prompt 3: e3
    pairs = Pairs.from_rows([(0, 0, 1, 2, 0), (1, 0, 1, 3, 0)], 4, 2)
    logp = log_softmax(np.zeros((4, 2)))
    opt = rlhf.features_optimum(pairs, logp, FeaturesModel(phi, np.array([0, 0, 0.7])), 1.0)
    assert np.allclose(opt.fit.direction, [1.0, 1.0, 0.0])
    assert opt.finite.tolist() == [False, False, False, True]
    assert opt.heading.tolist() == [[True, False], [True, False], [True, True],
                                    [False, False]]
    assert np.allclose(opt.probs[3], np.exp(log_softmax(np.array([0.7, 0.0]))), atol=1e-15)


# -- long runs --------------------------------------------------------------------------------
def _steps_needed(c, opt, lr):
    """Steps for gradient descent to close the distance to theta* by e^-30, from the
    smallest curvature at theta* along the rows' span."""
    v = row_vectors(c)
    n = np.array([r[3] + r[4] for r in c["rows"]], dtype=float)
    u = c["beta"] * v @ opt.params
    s = 1.0 / (1.0 + np.exp(-u))
    H = c["beta"] ** 2 / n.sum() * (v * (n * s * (1 - s))[:, None]).T @ v
    B = opt.fit.basis_v
    if len(B) == 0:
        return 1
    return 30.0 / (lr * np.linalg.eigvalsh(B @ H @ B.T).min())


LONG = 60_000


def test_long_runs_reach_pi_star_phi_and_kl_to_pi_star_stops_at_the_floor():
    """30 random scenarios with a finite optimum (those gradient descent can reach in
    60,000 steps at its largest stable learning rate: the slow ones are skipped, and
    counted), each run 60,000 steps."""
    cases, opts, skipped = [], [], 0
    for seed in range(400):
        c = features_case(seed, small_d=True)
        opt = rlhf.features_optimum(c["pairs"], c["logp"], c["model"], c["beta"])
        if not opt.finite.all():
            continue
        if _steps_needed(c, opt, Descent([c]).lr[0]) > LONG:
            skipped += 1
            continue
        cases.append(c)
        opts.append(opt)
        if len(cases) >= 30:
            break
    assert len(cases) >= 30 and skipped < len(cases)
    floors = 0
    for c, opt, theta in zip(cases, opts, Descent(cases).run(LONG)):
        pi = policy(c, theta)
        kl_phi = rlhf.kl_to_optimum(pi, opt)
        assert kl_phi.max() < 1e-8, kl_phi
        floor = rlhf.kl_floor(opt)
        kl_star = rlhf.kl_to_optimum(pi, opt.table)
        for p in range(c["P"]):
            if not opt.table.finite[p]:
                assert np.isnan(floor[p])
                continue
            # the floor is KL(pi*_phi || pi*), and the run's KL to pi* stops there
            assert math.isclose(floor[p], textbook_kl(opt.probs[p], opt.table.probs[p]),
                                rel_tol=1e-9, abs_tol=1e-13)
            assert abs(kl_star[p] - floor[p]) < 1e-6 * max(1.0, floor[p])
            floors += floor[p] > 1e-6
    assert floors >= 15


def test_separable_judgements_drift_and_the_heading_replies_gain():
    """Where no finite optimum exists, long runs: every separable judgement's margin grows
    from 20,000 to 100,000 steps, every tight one settles near the fit's value, and on
    each prompt without a finite optimum the replies said to be heading take more of the
    probability; prompts with a finite optimum approach pi*_phi."""
    cases, opts = [], []
    for seed in range(300):
        c = features_case(seed, small_d=bool(seed % 2))
        opt = rlhf.features_optimum(c["pairs"], c["logp"], c["model"], c["beta"])
        if opt.finite.all() or not np.any(row_vectors(c)):
            continue
        cases.append(c)
        opts.append(opt)
        if len(cases) >= 30:
            break
    run = Descent(cases)
    first = run.run(20_000)
    last = run.run(80_000)
    partial = 0
    for c, opt, t1, t2 in zip(cases, opts, first, last):
        fit = opt.fit
        m1, m2 = c["beta"] * fit.w @ t1, c["beta"] * fit.w @ t2
        sep = ~fit.tight
        assert (m2[sep] > m1[sep]).all() and (m2[sep] > 0).all()
        if fit.tight.any():
            target = c["beta"] * fit.w[fit.tight] @ fit.theta
            assert np.abs(m2[fit.tight] - target).max() < 1e-2
        p1, p2 = policy(c, t1), policy(c, t2)
        for p in np.flatnonzero(~opt.finite):
            h1, h2 = p1[p][opt.heading[p]].sum(), p2[p][opt.heading[p]].sum()
            assert h2 > h1 or h2 == 1.0, (p, h1, h2)
        if opt.finite.any():
            partial += 1
            assert rlhf.kl_to_optimum(p2, opt)[opt.finite].max() < 1e-3
    assert len(cases) >= 30 and partial >= 1


# -- the JavaScript twin ---------------------------------------------------------------------
@pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")
def test_the_javascript_twin_gives_the_same_pi_star_phi():
    cases = [features_case(seed, small_d=bool(seed % 2)) for seed in range(40)]
    for seed in range(40, 52):                             # features in {-1, 0, 1}: exact
        c = features_case(seed, small_d=True)              # ties and dependencies
        phi = np.random.default_rng(seed).integers(-1, 2, size=c["phi"].shape).astype(float)
        cases.append(dict(c, phi=phi, model=FeaturesModel(phi, c["theta0"])))
    rng = np.random.default_rng(7)
    for _ in range(4):                                     # one-hot: the table again
        P, K, rows, ref, _, beta = random_case(rng)
        phi = one_hot(P, K).features
        cases.append(dict(P=P, K=K, rows=rows, ref=ref, phi=phi, theta0=np.zeros(P * K),
                          beta=beta, pairs=Pairs.from_rows(rows, P, K),
                          logp=log_softmax(ref), model=FeaturesModel(phi, np.zeros(P * K))))
    jobs = [dict(rows=[list(r) for r in c["rows"]], P=c["P"], K=c["K"],
                 logp_ref=c["logp"].tolist(), features=c["phi"].tolist(),
                 theta0=np.asarray(c["theta0"]).tolist(), beta=c["beta"]) for c in cases]
    p = subprocess.run([NODE, str(DRIVER)], input=json.dumps(jobs), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    kinds = set()
    for c, js in zip(cases, json.loads(p.stdout), strict=True):
        py = rlhf.features_optimum(c["pairs"], c["logp"], c["model"], c["beta"])
        assert js["tight"] == py.fit.tight.tolist()
        assert js["finite"] == py.finite.tolist()
        assert js["heading"] == py.heading.tolist()
        assert js["coincide"] == py.coincide
        assert js["table_finite"] == py.table.finite.tolist()
        np.testing.assert_allclose(js["drift"], py.drift, atol=1e-10, rtol=0)
        for key in ("probs", "log_probs", "theta", "reward"):
            for row_js, row_py, ok in zip(js[key], getattr(py, key), py.finite):
                if ok:
                    np.testing.assert_allclose(row_js, row_py, atol=1e-10, rtol=1e-10)
                else:
                    assert row_js is None
        if py.finite.all():
            np.testing.assert_allclose(js["params"], py.params, atol=1e-10, rtol=1e-10)
        else:
            assert all(v is None for v in js["params"])
        kinds.add((bool(py.finite.all()), bool(py.finite.any()), py.coincide))
    # finite, partly finite and nowhere finite cases, and both answers of coincide
    assert {(True, True), (False, False)} <= {k[:2] for k in kinds}
    assert {True, False} <= {k[2] for k in kinds}


# -- the engine on the features presets --------------------------------------------------------
def test_the_engine_reaches_pi_star_phi_on_the_features_presets():
    """The real engine (sim.simulation), 20,000 steps of each features preset at its own
    learning rate (the random scenarios' 60,000-step runs above use a descent written out
    again; the engine follows the same steps, tests/test_model_kinds.py): where pi*_phi
    is finite KL(pi || pi*_phi) falls below 1e-8 and KL(pi || pi*) stops at kl_floor
    (above 0: the two optima differ there); on similar-replies (one unanimous row: no
    finite optimum) the reply said to be heading gains at every check and the row's
    margin keeps growing."""
    from dpo_sim.sim.scenario_io import load_scenario
    from dpo_sim.sim.simulation import Simulation

    for pid in ("similar-replies", "unseen-reply", "shared-prompts"):
        s = load_scenario(pid)
        assert s.model.kind == "features"
        sim = Simulation(s, keep_history=False)
        opt = rlhf.features_optimum(sim.pairs, sim.logp_ref, s.model, sim.beta)
        assert not opt.coincide
        heading, margins = [], []
        for t in (300, 2_000, 20_000):
            sim.advance(t - sim.t)
            rec = sim.record
            heading.append(np.where(opt.heading, rec.probs, 0.0).sum(axis=1))
            margins.append(rec.row_margin.copy())
        kl_phi = rlhf.kl_to_optimum(rec.probs, opt)
        kl_star = rlhf.kl_to_optimum(rec.probs, opt.table)
        floor = rlhf.kl_floor(opt)
        if pid == "similar-replies":
            assert not opt.finite.any() and opt.heading.tolist() == [[False, False, True,
                                                                       False]]
            assert heading[0][0] < heading[1][0] < heading[2][0] and heading[2][0] > 0.93
            assert margins[0][0] < margins[1][0] < margins[2][0]
        else:
            assert opt.finite.all() and kl_phi.max() < 1e-8, kl_phi
            assert np.allclose(kl_star, floor, rtol=1e-6, atol=1e-12)
            assert floor.max() > 0.1
            # theta itself reaches theta*
            assert np.abs(rec.theta - opt.params).max() < 1e-6
