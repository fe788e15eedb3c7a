"""sim.rlhf: the RLHF optimum pi*, checked against independent computations: Hunter's MM
algorithm for the Bradley-Terry fit, long DPO runs, the DPO gradient at theta*, and a
50-digit evaluation of the KL."""

from __future__ import annotations

import math
import random
from decimal import Decimal, getcontext

import numpy as np
import pytest

from dpo_sim.sim import dpo, rlhf
from dpo_sim.sim.losses import Sigmoid
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.scenario import Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation


# -- independent helpers (plain Python) ----------------------------------------------------
def groups_of(K: int, rows) -> list[set[int]]:
    """Connected components of the replies linked by rows (rows: (c, r, a, b))."""
    parent = list(range(K))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    named = set()
    for c, r, *_ in rows:
        parent[root(c)] = root(r)
        named |= {c, r}
    out: dict[int, set[int]] = {}
    for y in sorted(named):
        out.setdefault(root(y), set()).add(y)
    return list(out.values())


def mm_fit(K: int, rows, tol: float = 1e-15, max_sweeps: int = 200_000) -> dict[int, float]:
    """Hunter's (2004) minorise-maximise algorithm for Bradley-Terry: with W_i the wins of
    reply i and N_ij the judgements between i and j, w_i <- W_i / sum_j N_ij / (w_i + w_j),
    swept until no log w_i moves by more than tol. Returns log w, mean 0 on each group."""
    wins = [0.0] * K
    n = [[0.0] * K for _ in range(K)]
    for c, r, a, b in rows:
        wins[c] += a
        wins[r] += b
        n[c][r] += a + b
        n[r][c] += a + b
    groups = groups_of(K, rows)
    w = [1.0] * K
    for _ in range(max_sweeps):
        change = 0.0
        for g in groups:
            for i in g:
                new = wins[i] / sum(n[i][j] / (w[i] + w[j]) for j in g if n[i][j])
                change = max(change, abs(math.log(new) - math.log(w[i])))
                w[i] = new
            scale = math.exp(sum(math.log(w[i]) for i in g) / len(g))
            for i in g:
                w[i] /= scale
        if change < tol:
            break
    else:
        raise AssertionError("MM did not converge")
    return {i: math.log(w[i]) for g in groups for i in g}


def strongly_connected_case(rng: random.Random):
    """(P, K, rows): every group of every prompt strongly connected. A group is linked
    either by split rows (both directions voted) along a random tree, or by unanimous rows
    around a cycle; extra rows of any kind on top. Some replies stay in no row."""
    P, K = rng.randint(1, 3), rng.randint(2, 6)
    rows = []

    def votes():
        return rng.choice([rng.randint(1, 10), round(rng.uniform(0.2, 5.0), 3)])

    def add(x, y, z, a, b):             # stored either way round
        rows.append((x, y, z, a, b) if rng.random() < 0.5 else (x, z, y, b, a))

    for x in range(P):
        order = list(range(K))
        rng.shuffle(order)
        i = 0
        while K - i >= 2:
            if rng.random() < 0.2:      # this reply in no row
                i += 1
                continue
            size = rng.randint(2, K - i)
            g = order[i:i + size]
            i += size
            if size >= 3 and rng.random() < 0.4:
                for j in range(size):   # a cycle of unanimous rows
                    add(x, g[j], g[(j + 1) % size], votes(), 0)
            else:
                for j in range(1, size):
                    add(x, g[j], g[rng.randrange(j)], votes(), votes())
            for _ in range(rng.randint(0, size)):
                y, z = rng.sample(g, 2)
                add(x, y, z, votes(), rng.choice([0, votes()]))
    if not rows:
        rows.append((0, 0, 1, 3, 2))
    return P, K, rows


def make_scenario(P, K, rows, beta=1.0, lr=1.0, ref=None, init=None, weight=True):
    return Scenario(
        id="t", title="t", watch="", beta=beta, learning_rate=lr, adaptive_weight=weight,
        prompts=tuple(Prompt(f"q{x}", tuple(f"r{y}" for y in range(K))) for x in range(P)),
        ref_logits=np.zeros((P, K)) if ref is None else np.asarray(ref, dtype=float),
        init_logits=None if init is None else np.asarray(init, dtype=float),
        rows=tuple(Row(*r) for r in rows))


def start(s: Scenario):
    """(simulation, pi*) of a scenario as it starts."""
    sim = Simulation(s, keep_history=False)
    return sim, rlhf.optimum(sim.pairs, sim.logp_ref, s.start_logits(), sim.beta)


# -- 1. the fit ----------------------------------------------------------------------------
def test_fit_matches_hunters_mm_on_random_strongly_connected_cases():
    rng = random.Random(20240611)
    seen = {"several groups": 0, "reply in no row": 0, "unanimous cycle": 0, "prompts": 0}
    worst = 0.0
    for _ in range(40):
        P, K, rows = strongly_connected_case(rng)
        fit = rlhf.fit_bradley_terry(Pairs.from_rows(rows, P, K))
        assert fit.finite.all()
        assert np.abs(fit.max_score).max() < 1e-10
        for x in range(P):
            mine = [(c, r, a, b) for (p, c, r, a, b) in rows if p == x]
            groups = groups_of(K, mine)
            seen["prompts"] += 1
            seen["several groups"] += len(groups) > 1
            seen["reply in no row"] += sum(map(len, groups)) < K
            seen["unanimous cycle"] += any(b == 0 for *_, b in mine)
            ref = mm_fit(K, mine)
            for y in range(K):
                if y in ref:
                    worst = max(worst, abs(fit.reward[x, y] - ref[y]))
                else:
                    assert fit.reward[x, y] == 0.0 and fit.group[x, y] == -1
            labels = {frozenset(np.flatnonzero(fit.group[x] == g)) for g in
                      set(fit.group[x].tolist()) - {-1}}
            assert labels == {frozenset(g) for g in groups}
    assert worst < 1e-9, worst
    assert min(seen.values()) >= 5, seen


def test_the_fit_does_not_depend_on_how_a_row_is_stored():
    """"a beat b 7:3" and "b beat a 3:7" are the same judgements."""
    rows = [(0, 0, 1, 7, 3), (0, 1, 2, 2, 5), (0, 2, 0, 4, 4)]
    swapped = [(x, r, c, b, a) for (x, c, r, a, b) in rows]
    a = rlhf.fit_bradley_terry(Pairs.from_rows(rows, 1, 3)).reward
    b = rlhf.fit_bradley_terry(Pairs.from_rows(swapped, 1, 3)).reward
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


# -- 2. DPO's limit ------------------------------------------------------------------------
def group_sums(theta, P, K, rows):
    return [sum(theta[x, y] for y in g) for x in range(P)
            for g in groups_of(K, [(c, r, a, b) for (p, c, r, a, b) in rows if p == x])]


def test_align_reaches_the_optimum_in_3000_steps():
    sim, opt = start(load_scenario("align"))
    sim.advance(3000)
    gap = np.abs(sim.record.probs - opt.probs).max()
    assert gap < 3e-11                   # measured 2.38e-11
    sim.advance(2000)
    assert np.abs(sim.record.probs - opt.probs).max() < 1e-14   # measured 1.3e-15


@pytest.mark.parametrize("beta, lr, steps", [(0.5, 2.0, 4000), (0.25, 8.0, 4000),
                                             (2.0, 0.25, 3000), (4.0, 0.1, 3000),
                                             (1.0, 1.5, 3000)])
def test_align_reaches_the_optimum_at_other_settings(beta, lr, steps):
    """Measured gaps: 3.5e-14, 4.4e-14, 4.2e-16, 1.9e-16, 3.3e-16."""
    sim, opt = start(load_scenario("align").with_settings(beta=beta, learning_rate=lr))
    sim.advance(steps)
    assert np.abs(sim.record.probs - opt.probs).max() < 1e-13


def test_a_random_case_reaches_the_optimum_and_keeps_its_group_sums():
    """Skewed reference, start logits that are not the reference, two groups on prompt 0
    (one a cycle of unanimous rows), a reply in no row on each prompt."""
    rng = np.random.default_rng(5)
    P, K = 2, 6
    rows = [(0, 0, 1, 6, 2), (0, 1, 2, 1, 3), (0, 2, 0, 2, 2),     # group {0, 1, 2}
            (0, 3, 4, 5, 0), (0, 4, 3, 2, 0),                      # group {3, 4}: a 2-cycle
            (1, 0, 1, 4, 0), (1, 1, 2, 3, 0), (1, 2, 0, 2, 0),     # a unanimous 3-cycle
            (1, 3, 4, 7, 2), (1, 4, 0, 1, 1)]
    ref = rng.normal(scale=0.7, size=(P, K))
    init = rng.normal(scale=0.5, size=(P, K))
    s = make_scenario(P, K, rows, beta=0.8, lr=3.0, ref=ref, init=init)
    sim, opt = start(s)
    assert opt.finite.all()
    sums0 = group_sums(s.start_logits(), P, K, rows)
    drift = 0.0
    for _ in range(3000):
        sim.advance()
        drift = max(drift, np.abs(np.subtract(group_sums(sim.theta, P, K, rows), sums0)).max())
        assert sim.theta[0, 5] == init[0, 5] and sim.theta[1, 5] == init[1, 5]
    assert drift < 1e-13                 # rounding only
    np.testing.assert_allclose(group_sums(opt.theta, P, K, rows), sums0, rtol=0, atol=1e-13)
    assert np.abs(sim.record.probs - opt.probs).max() < 1e-11     # measured 8.9e-16


@pytest.mark.slow
def test_random_generated_cases_reach_the_optimum():
    rng, nrng = random.Random(77), np.random.default_rng(77)
    for _ in range(8):
        P, K, rows = strongly_connected_case(rng)
        s = make_scenario(P, K, rows, beta=1.0, lr=3.0, ref=nrng.normal(size=(P, K)),
                          init=nrng.normal(size=(P, K)))
        sim, opt = start(s)
        sim.advance(3000)
        assert np.abs(sim.record.probs - opt.probs).max() < 1e-11  # measured <= 1.6e-15
        np.testing.assert_allclose(group_sums(sim.theta, P, K, rows),
                                   group_sums(s.start_logits(), P, K, rows), atol=1e-13)


# -- 3. no finite optimum ------------------------------------------------------------------
def test_unanimous_has_no_finite_optimum_and_heads_for_the_top_reply():
    sim, opt = start(load_scenario("unanimous"))
    assert opt.finite.tolist() == [False, False]
    assert np.isnan(opt.theta).all() and np.isnan(opt.probs).all()
    assert np.isnan(opt.reward).all() and np.isnan(opt.beta_log_z).all()
    assert np.isnan(rlhf.kl_to_optimum(sim.record.probs, opt)).all()
    assert opt.heading.tolist() == [[True, False, False, False], [True, False, False, False]]
    share = []
    for _ in range(30):
        sim.advance(100)
        share.append((sim.record.probs * opt.heading).sum(axis=1))
    assert np.all(np.diff(share, axis=0) > 0)           # still rising at step 3000
    assert (np.argmax(sim.record.probs, axis=1) == [0, 0]).all()


def test_a_single_10_0_row_removes_the_optimum_of_its_prompt_only():
    s = load_scenario("align")
    rows = list(s.rows)
    rows[4] = Row(1, 1, 2, 10, 0)        # right beats wrong, now unanimous
    sim, opt = start(s.with_settings(rows=tuple(rows)))
    assert opt.finite.tolist() == [True, False]
    assert not opt.heading[0].any() and np.isfinite(opt.probs[0]).all()
    assert opt.group_finite[1].tolist() == [False] * 4
    # prompt 1: {0, 1} and {3} sit above the unanimous row's loser, 2
    np.testing.assert_allclose(opt.drift[1], [0.25, 0.25, -0.75, 0.25], atol=1e-12)
    assert opt.heading[1].tolist() == [True, True, False, True]
    sim.advance(5000)
    assert sim.record.probs[1, 2] < 1e-3
    np.testing.assert_allclose(sim.record.probs[0], opt.probs[0], atol=1e-14)


@pytest.mark.slow
def test_heading_is_the_long_run_not_the_first_to_win():
    """Prompt with two groups: a > b (100 votes to 0) and c > d > e (1 vote each). a leads
    for thousands of steps, but c's group can spread further (its drift, 1, beats a's,
    1/2): c takes over, as ``heading`` says."""
    s = make_scenario(1, 5, [(0, 0, 1, 100, 0), (0, 2, 3, 1, 0), (0, 3, 4, 1, 0)])
    sim, opt = start(s)
    np.testing.assert_allclose(opt.drift[0], [0.5, -0.5, 1.0, 0.0, -1.0], atol=1e-12)
    assert opt.heading[0].tolist() == [False, False, True, False, False]
    sim.advance(1000)
    assert np.argmax(sim.record.probs[0]) == 0
    sim.advance(99_000)
    assert np.argmax(sim.record.probs[0]) == 2


@pytest.mark.slow
def test_a_cycle_above_a_loser_heads_together():
    """a and b vote 6:4 (a finite pair), both beat c unanimously: a and b head for 1 in
    their finite ratio 6:4, c for 0."""
    s = make_scenario(1, 3, [(0, 0, 1, 6, 4), (0, 1, 2, 10, 0)])
    sim, opt = start(s)
    assert opt.heading[0].tolist() == [True, True, False]
    sim.advance(20_000)
    p = sim.record.probs[0]
    assert p[2] < 1e-4 and abs(p[0] / p[1] - 1.5) < 1e-3


# -- 4. at the optimum ---------------------------------------------------------------------
@pytest.mark.parametrize("case", ["align", "skewed-reference", "mislabel", "tie", "random"])
def test_at_the_optimum_the_implicit_reward_is_r_minus_beta_log_z_and_the_gradient_is_0(case):
    if case == "random":
        P, K, rows = strongly_connected_case(random.Random(3))
        rng = np.random.default_rng(3)
        s = make_scenario(P, K, rows, beta=0.6, ref=rng.normal(size=(P, K)),
                          init=rng.normal(size=(P, K)))
    else:
        s = load_scenario(case)
    sim, opt = start(s)
    implicit = dpo.implicit_reward(dpo.log_probs(opt.theta), sim.logp_ref, sim.beta)
    np.testing.assert_allclose(implicit, opt.reward - opt.beta_log_z[:, None], rtol=0,
                               atol=1e-12)
    # Z(x) = sum_y pi_ref(y) exp(r'(y) / beta)
    z = (np.exp(sim.logp_ref) * np.exp(opt.reward / sim.beta)).sum(axis=1)
    np.testing.assert_allclose(sim.beta * np.log(z), opt.beta_log_z, rtol=1e-13)
    grad = dpo.gradient(opt.theta, sim.logp_ref, sim.pairs, sim.beta, Sigmoid())
    assert np.abs(grad).max() < 1e-15
    # and one step of DPO from a slightly different policy has a gradient that is not 0
    assert np.abs(dpo.gradient(opt.theta + [[0.01] + [0.0] * (s.n_replies - 1)]
                               * s.n_prompts, sim.logp_ref, sim.pairs, sim.beta,
                               Sigmoid())).max() > 1e-4


def test_the_optimum_keeps_the_start_logits_of_replies_in_no_row():
    s = make_scenario(1, 4, [(0, 0, 1, 3, 1)], beta=0.5, ref=[[0.2, -0.1, 0.4, 0.0]],
                      init=[[0.3, 0.1, -0.7, 1.1]])
    _, opt = start(s)
    assert opt.theta[0, 2] == -0.7 and opt.theta[0, 3] == 1.1
    # the row settles at its vote share: sigma(u) = 3/4
    lr = opt.theta[0, :2] - log_softmax(s.ref_logits)[0, :2]
    assert abs(1 / (1 + math.exp(-0.5 * (lr[0] - lr[1]))) - 0.75) < 1e-14
    assert abs(opt.theta[0, 0] + opt.theta[0, 1] - 0.4) < 1e-15
    # bit for bit, as in a run (no update touches them), whatever the reference
    rng = np.random.default_rng(8)
    s = make_scenario(3, 6, [(x, 0, 1, 2, 1) for x in range(3)], ref=rng.normal(size=(3, 6)),
                      init=rng.normal(size=(3, 6)))
    _, opt = start(s)
    assert np.array_equal(opt.theta[:, 2:], s.init_logits[:, 2:])


# -- 5. the KL -----------------------------------------------------------------------------
def test_kl_to_the_optimum_falls_to_0_along_a_run():
    sim, opt = start(load_scenario("align"))
    kls = [rlhf.kl_to_optimum(sim.record.probs, opt)]
    for _ in range(3000):
        kls.append(rlhf.kl_to_optimum(sim.advance().probs, opt))
    kls = np.array(kls)
    assert np.all(np.diff(kls[500:], axis=0) < 0)        # every step, steps 500..3000
    assert kls[-1].max() < 1e-20                           # measured 4.7e-21
    assert kls[0].min() > 1e-2


def kl_50_digits(p, theta_star) -> Decimal:
    """sum pi log(pi / pi*) - sum pi + sum pi*, in 50-digit decimal arithmetic, with pi the
    given floats and pi* the exact softmax of the float theta*."""
    getcontext().prec = 50
    e = [Decimal(t).exp() for t in theta_star]
    z = sum(e)
    star = [v / z for v in e]
    return sum((Decimal(q) * (Decimal(q) / s).ln() if q else Decimal(0)) - Decimal(q) + s
               for q, s in zip(p, star))


def test_kl_to_the_optimum_equals_the_kl_formula():
    rng = np.random.default_rng(11)
    s = load_scenario("skewed-reference")
    sim, opt = start(s)
    probs = [sim.record.probs]                       # far from pi*
    for n in (200, 1000, 2000, 3000):
        sim.advance(n - sim.t)
        probs.append(sim.record.probs)               # ever closer to pi*
    probs += [np.exp(log_softmax(rng.normal(scale=2, size=(2, 4)))) for _ in range(5)]
    for p in probs:
        got = rlhf.kl_to_optimum(p, opt)
        textbook = np.sum(p * (np.log(p) - np.log(opt.probs)), axis=1)
        np.testing.assert_allclose(got, textbook, rtol=1e-12, atol=1e-15)
        for x in range(2):
            exact = float(kl_50_digits(p[x].tolist(), opt.theta[x].tolist()))
            # log pi of a float is known to ~1e-16 only: that moves the KL by about
            # sqrt(2 KL) * 1e-16 (9e-6 relative at KL = 8e-23; 1e-16 for KL ~ 1)
            assert abs(got[x] - exact) <= 1e-12 * exact + 1e-15 * math.sqrt(exact), (got, exact)
    assert rlhf.kl_to_optimum(opt.probs, opt).max() < 1e-30
