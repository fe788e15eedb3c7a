"""A stack of R independent runs on the same data, each with its own beta and learning
rate, updated together: sweeps over beta and the learning rate.

A stack is worked on runs-last, as a (P*K, R) array, so every NumPy loop runs over the R
runs. The operations per element are the ones ``engine.Engine.evaluate`` does for a
single run, in the same order, so each run of a stack matches that run alone to the bit
(``tests/test_engine.py`` checks it). ``step`` returns its result as a view of a
runs-last array: feeding it back costs no copy.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .losses import Loss, objective
from .numerics import log_softmax
from .pairs import Pairs


class RunStack:
    """The data compiled for updating many runs at once (shared rows and reference).

    Keeps scratch arrays between calls: use one per thread."""

    def __init__(self, pairs: Pairs, theta_ref: np.ndarray):
        plan = pairs.plan
        ref = np.asarray(theta_ref, dtype=float).reshape(pairs.n_prompts, pairs.n_replies)
        self.pairs = pairs
        self.P, self.K = pairs.n_prompts, pairs.n_replies
        self.logp_ref = log_softmax(ref)
        self.vc, self.vr = plan.vc, plan.vr               # each row's share of judgements
        self._c = pairs.flat_chosen().tolist()
        self._r = pairs.flat_rejected().tolist()
        self._bufs = None

    def _buffers(self, R: int) -> SimpleNamespace:
        """Scratch arrays for a stack of R runs, reused across steps (no page faults), and
        the constants spelled out to full size: NumPy multiplies two equal-shaped arrays
        about twice as fast as it broadcasts a column."""
        if self._bufs is None or self._bufs.R != R:
            P, K, N = self.P, self.K, len(self.vc)

            def e(*shape):
                return np.empty(shape)

            def full(x, shape):
                return np.ascontiguousarray(np.broadcast_to(x, shape))

            self._bufs = SimpleNamespace(
                R=R, m=e(P, R), z=e(P, K, R), ez=e(P, K, R), norm=e(P, R),
                u=e(N, R), a=e(N, R), b=e(N, R), e=e(N, R), coef=e(N, R), t=e(N, R),
                beta=e(N, R), learning_rate=e(P * K, R),
                vc=full(self.vc[:, None], (N, R)), vr=full(self.vr[:, None], (N, R)),
                logp_ref=full(self.logp_ref[:, :, None], (P, K, R)))
        return self._bufs

    def _scaled_margins(self, T: np.ndarray, bf: SimpleNamespace) -> np.ndarray:
        """u = beta * (log-ratio(c) - log-ratio(r)) of every row and run, (N, R)."""
        P, K, R = self.P, self.K, T.shape[1]
        X = T.reshape(P, K, R)
        m, z, ez, norm = bf.m, bf.z, bf.ez, bf.norm
        np.maximum(X[:, 0], X[:, 1], out=m)
        for k in range(2, K):
            np.maximum(m, X[:, k], out=m)
        for k in range(K):
            np.subtract(X[:, k], m, out=z[:, k])
        np.exp(z, out=ez)
        np.add(ez[:, 0], ez[:, 1], out=norm)
        for k in range(2, K):
            norm += ez[:, k]
        np.log(norm, out=norm)
        for k in range(K):
            z[:, k] -= norm                               # log pi
        z -= bf.logp_ref                                  # log pi - log pi_ref
        ratio = z.reshape(P * K, R)
        u = bf.u
        for i, (c, r) in enumerate(zip(self._c, self._r)):
            np.subtract(ratio[c], ratio[r], out=u[i])
        u *= bf.beta
        return u

    def _grad_runs_last(self, T: np.ndarray, beta: np.ndarray, loss: Loss) -> np.ndarray:
        """Gradient of a stack held runs-last: T (P*K, R), beta (R,); returns (P*K, R)."""
        R = T.shape[1]
        g = np.zeros((self.P * self.K, R))
        bf = self._buffers(R)
        B = bf.beta
        np.copyto(B, beta)                                # beta per run, (N, R)
        # a loss whose weight ignores u (the bare margin) needs no margins
        u = self._scaled_margins(T, bf) if loss.needs_margin else bf.u
        w_fwd, w_bwd = loss.pair_weights(u, B, out=(bf.a, bf.b, bf.e))
        coef = np.multiply(bf.vr, w_bwd, out=bf.coef)
        coef -= np.multiply(bf.vc, w_fwd, out=bf.t)
        coef *= B
        for i, (c, r) in enumerate(zip(self._c, self._r)):
            g[c] += coef[i]
            g[r] -= coef[i]
        return g

    @staticmethod
    def _per_run(x, lead) -> np.ndarray:
        """beta or learning_rate as a scalar or a flat (R,) array."""
        x = np.asarray(x, dtype=float)
        if x.ndim == 0:
            return x
        if x.shape != lead:
            x = np.broadcast_to(x, lead)
        return x.reshape(-1)

    def _runs_last(self, theta: np.ndarray):
        theta = np.asarray(theta, dtype=float)
        lead = theta.shape[:-2]
        T = theta.reshape((-1, self.P * self.K)).T
        if not T.flags.c_contiguous:
            T = np.ascontiguousarray(T)
        return T, lead

    def _from_runs_last(self, T: np.ndarray, lead) -> np.ndarray:
        return T.T.reshape(lead + (self.P, self.K))

    def grad(self, theta: np.ndarray, beta, adaptive_weight: bool = True,
             loss_type: str = "sigmoid", label_smoothing: float = 0.0) -> np.ndarray:
        """Exact gradient of the mean loss w.r.t. theta, for theta of shape (..., P, K)."""
        T, lead = self._runs_last(theta)
        g = self._grad_runs_last(T, self._per_run(beta, lead),
                                 objective(loss_type, adaptive_weight, label_smoothing))
        return self._from_runs_last(g, lead)

    def step(self, theta: np.ndarray, beta, learning_rate, adaptive_weight: bool = True,
             loss_type: str = "sigmoid", label_smoothing: float = 0.0) -> np.ndarray:
        """One full-batch gradient-descent update of every run; beta and learning_rate
        broadcast per run (scalars or arrays of theta's leading shape); the loss
        (``losses.LOSS_TYPES``) and its label smoothing are shared by the stack. Returns a
        new array."""
        T, lead = self._runs_last(theta)
        g = self._grad_runs_last(T, self._per_run(beta, lead),
                                 objective(loss_type, adaptive_weight, label_smoothing))
        rate = self._bufs.learning_rate
        np.copyto(rate, self._per_run(learning_rate, lead))
        g *= rate
        np.subtract(T, g, out=g)
        return self._from_runs_last(g, lead)
