"""Long runs for the rest-statement tests: plain full-batch gradient descent written out
again with NumPy (its own weight formulas, no code from sim/), tracking only the rows'
margins, about 13 microseconds a step. It follows the scenario's rows as they stand and
its settings; scripted events are the caller's business (``Lean.flip``).

``random_scenario`` makes the random scenarios these tests and the JavaScript twin's share:
cycles, shared replies, two rows on one pair, one-sided rows, every loss."""

from __future__ import annotations

import numpy as np

from dpo_sim.sim.scenario import Prompt, Row, Scenario


def weight(loss_type: str, weight_on: bool, eps: float, u, beta: float):
    """How hard a judgement at margin u pulls: -d loss / d u."""
    u = np.asarray(u, dtype=float)
    if not weight_on:
        return np.ones_like(u)
    if loss_type == "sigmoid":
        return 0.5 * (1.0 - np.tanh(u / 2.0))                  # sigma(-u)
    if loss_type == "robust":
        return 0.5 * (1.0 - np.tanh(u / 2.0)) + eps / (1.0 - 2.0 * eps)
    if loss_type == "ipo":
        return (1.0 - 2.0 * u) / beta ** 2
    if loss_type == "hinge":
        return (u < 1.0).astype(float)
    raise KeyError(loss_type)


class Lean:
    """One run: ``step()``, ``margins()``, ``run(steps)``."""

    def __init__(self, scenario):
        s = scenario
        self.s = s
        rows = s.rows
        self.x = np.array([r.prompt for r in rows])
        self.c = np.array([r.chosen for r in rows])
        self.r = np.array([r.rejected for r in rows])
        self.a = np.array([r.votes_chosen for r in rows], dtype=float)
        self.b = np.array([r.votes_rejected for r in rows], dtype=float)
        self.N = self.a.sum() + self.b.sum()
        ref = np.asarray(s.ref_logits, dtype=float)
        top = ref.max(axis=1, keepdims=True)
        self.logq = ref - top - np.log(np.exp(ref - top).sum(axis=1, keepdims=True))
        start = s.init_logits if s.init_logits is not None else ref
        self.theta = np.array(start, dtype=float)
        self.PK = s.n_prompts * s.n_replies

    def flip(self, i: int) -> None:
        self.c[i], self.r[i] = self.r[i], self.c[i]

    def margins(self) -> np.ndarray:
        z = self.theta - self.logq
        return self.s.beta * (z[self.x, self.c] - z[self.x, self.r])

    def step(self) -> None:
        s = self.s
        u = self.margins()
        w_for = weight(s.loss_type, s.adaptive_weight, s.label_smoothing, u, s.beta)
        w_against = weight(s.loss_type, s.adaptive_weight, s.label_smoothing, -u, s.beta)
        coef = s.beta * (self.b * w_against - self.a * w_for) / self.N
        K = s.n_replies
        g = (np.bincount(self.x * K + self.c, coef, self.PK)
             - np.bincount(self.x * K + self.r, coef, self.PK))
        self.theta = self.theta - s.learning_rate * g.reshape(self.theta.shape)

    def run(self, steps: int, window: int = 1000):
        """Take ``steps`` steps. Returns (u at steps - 2 window, at steps - window, at steps,
        the range of each u over the last window), or None if the numbers stopped being
        finite (the run would have halted)."""
        marks = windowed(self.step, self.margins, steps, window)
        if not all(np.isfinite(m).all() for m in marks[:3]):
            return None
        return marks


def windowed(step, margins, steps: int, window: int) -> tuple:
    """Call ``step`` ``steps`` times; (``margins()`` at steps - 2 window, at steps - window,
    at steps, the range of each margin over the last window). Overflow is not an error
    here: the caller decides what non-finite numbers mean."""
    with np.errstate(all="ignore"):
        for _ in range(steps - 2 * window):
            step()
        marks = [margins()]
        for _ in range(window):
            step()
        lo = hi = u = margins()
        marks.append(u)
        for _ in range(window):
            step()
            u = margins()
            lo, hi = np.minimum(lo, u), np.maximum(hi, u)
        marks.append(u)
    return marks[0], marks[1], marks[2], hi - lo


def _lam_global(s: Scenario) -> float:
    """The largest curvature the mean loss can have (n/4 per judgement for DPO's family,
    IPO's exact one), written out here: the random runs' learning rates are set from it."""
    P, K = s.n_prompts, s.n_replies
    H = np.zeros((P * K, P * K))
    N = sum(r.votes_chosen + r.votes_rejected for r in s.rows)
    for r in s.rows:
        n = r.votes_chosen + r.votes_rejected
        d = np.zeros(P * K)
        d[r.prompt * K + r.chosen], d[r.prompt * K + r.rejected] = 1.0, -1.0
        k = n / 4 * s.beta ** 2 if s.loss_type in ("sigmoid", "robust") else 2 * n
        H += k * np.outer(d, d) / N
    return float(np.linalg.eigvalsh(H).max())


def random_scenario(seed: int) -> Scenario:
    """1-2 prompts of 3-5 replies, random rows (cycles, shared replies, two rows on one
    pair, one-sided rows), any loss; the learning rate a random share of the largest
    stable one (beyond it a quarter of the time)."""
    rng = np.random.default_rng(seed)
    P, K = int(rng.integers(1, 3)), int(rng.integers(3, 6))
    rows = []
    for x in range(P):
        for _ in range(int(rng.integers(1, 2 * K))):
            c, r = rng.choice(K, 2, replace=False)
            a, b = int(rng.integers(0, 11)), int(rng.integers(0, 11))
            if rng.random() < 0.4:
                b = 0
            rows.append(Row(x, int(c), int(r), float(a or (b == 0)), float(b)))
    kind = int(rng.integers(0, 6))
    loss = [dict(loss_type="sigmoid"), dict(loss_type="ipo"), dict(loss_type="hinge"),
            dict(loss_type="robust",
                 label_smoothing=float(rng.choice([0.05, 0.1, 0.2, 0.3, 0.45]))),
            dict(adaptive_weight=False), dict(loss_type="sigmoid")][kind]
    ref = rng.normal(0, 1, (P, K)) if rng.random() < 0.5 else np.zeros((P, K))
    init = rng.normal(0, 1, (P, K)) if rng.random() < 0.3 else None
    s = Scenario(id=f"random-{seed}", title="r", watch="w",
                 beta=float(rng.choice([0.5, 1.0, 2.0])), learning_rate=1.0,
                 adaptive_weight=loss.pop("adaptive_weight", True),
                 prompts=tuple(Prompt("q", tuple("ABCDE"[:K])) for _ in range(P)),
                 ref_logits=ref, rows=tuple(rows), init_logits=init, **loss)
    if s.adaptive_weight and s.loss_type in ("sigmoid", "robust", "ipo"):
        share = rng.uniform(0.2, 0.95) if rng.random() < 0.75 else rng.uniform(1.2, 6.0)
        lr = share * 2.0 / _lam_global(s)
    else:
        lr = float(np.exp(rng.uniform(np.log(0.1), np.log(2.0))))
    return s.with_settings(learning_rate=min(100.0, float(f"{lr:.4g}")))
