"""Long runs for the rest-statement tests: plain full-batch gradient descent written out
again with NumPy (its own weight formulas, no code from sim/), tracking only the rows'
margins, about 13 microseconds a step. It follows the scenario's rows as they stand and
its settings; scripted events are the caller's business (``Lean.flip``)."""

from __future__ import annotations

import numpy as np


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
        with np.errstate(all="ignore"):
            for _ in range(steps - 2 * window):
                self.step()
            marks = [self.margins()]
            for _ in range(window):
                self.step()
            lo = hi = u = self.margins()
            marks.append(u)
            for _ in range(window):
                self.step()
                u = self.margins()
                lo, hi = np.minimum(lo, u), np.maximum(hi, u)
            marks.append(u)
        if not all(np.isfinite(m).all() for m in marks):
            return None
        return marks[0], marks[1], marks[2], hi - lo
