"""A stack of R independent runs on the same data, each with its own beta and learning
rate, updated together: sweeps over beta and the learning rate.

A stack is worked on runs-last, as a (P*K, R) array, so every NumPy loop runs over the R
runs. The operations per element are the ones ``engine.Engine.evaluate`` does for a
single run, in the same order, so each run of a stack matches that run alone to the bit
(``tests/test_engine.py`` checks it). ``step`` returns its result as a view of a
runs-last array: feeding it back costs no copy.

The runs share the model (sim/model.py): a table's runs are (..., P, K) logits; a features
model's are (..., d) thetas, made into logits and the gradient pulled back with the
model's own sequence of element-wise operations (``FeaturesModel.logits``, ``.pullback``),
run by run, so a features run in a stack is bit-identical to the run alone too. The loss
in force is one value shared by the stack (``losses.LossSpec``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .losses import DPO, Loss, LossSpec
from .model import TABLE
from .numerics import log_softmax
from .pairs import Pairs


class RunStack:
    """The data compiled for updating many runs at once (shared rows and reference).

    Keeps scratch arrays between calls: use one per thread."""

    def __init__(self, pairs: Pairs, theta_ref: np.ndarray, model=TABLE):
        """``theta_ref``: the reference's logits (normalised here); ``model``: how each
        run's parameters make its logits."""
        plan = pairs.plan
        ref = np.asarray(theta_ref, dtype=float).reshape(pairs.n_prompts, pairs.n_replies)
        self.pairs = pairs
        self.model = model
        self._table = model.kind == "table"
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
                beta=e(N, R), learning_rate=e(self._n_params(), R), X=e(P * K, R), Xt=e(P * K, R),
                vc=full(self.vc[:, None], (N, R)), vr=full(self.vr[:, None], (N, R)),
                logp_ref=full(self.logp_ref[:, :, None], (P, K, R)))
        return self._bufs

    def _n_params(self) -> int:
        return self.P * self.K if self._table else self.model.d

    def _logits(self, T: np.ndarray, bf: SimpleNamespace) -> np.ndarray:
        """The runs' logits (P*K, R) from their parameters T: ``FeaturesModel.logits``
        run by run (log pi_ref, then + phi_j * theta_j for j = 0..d-1)."""
        if self._table:
            return T
        X = bf.X
        np.copyto(X, self.logp_ref.reshape(-1, 1))
        f = self.model.features.reshape(self.P * self.K, -1)
        t = bf.Xt
        for j in range(self.model.d):
            np.multiply(f[:, j:j + 1], T[j], out=t)
            X += t
        return X

    def _pullback(self, g: np.ndarray) -> np.ndarray:
        """d loss / d params from d loss / d logits (P*K, R): ``FeaturesModel.pullback``
        run by run (sum over (x, y) in order of phi(x, y) * g(x, y))."""
        if self._table:
            return g
        f = self.model.features.reshape(self.P * self.K, -1)
        out = np.zeros((self.model.d, g.shape[1]))
        for i in range(self.P * self.K):
            out += f[i][:, None] * g[i]
        return out

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
        """Gradient of a stack held runs-last: T (n_params, R), beta (R,); returns
        (n_params, R)."""
        R = T.shape[1]
        g = np.zeros((self.P * self.K, R))
        bf = self._buffers(R)
        B = bf.beta
        np.copyto(B, beta)                                # beta per run, (N, R)
        # a loss whose weight ignores u (the bare margin) needs no margins
        u = self._scaled_margins(self._logits(T, bf), bf) if loss.needs_margin else bf.u
        w_fwd, w_bwd = loss.pair_weights(u, B, out=(bf.a, bf.b, bf.e))
        coef = np.multiply(bf.vr, w_bwd, out=bf.coef)
        coef -= np.multiply(bf.vc, w_fwd, out=bf.t)
        coef *= B
        for i, (c, r) in enumerate(zip(self._c, self._r)):
            g[c] += coef[i]
            g[r] -= coef[i]
        return self._pullback(g)

    @staticmethod
    def _per_run(x, lead) -> np.ndarray:
        """beta or learning_rate as a scalar or a flat (R,) array."""
        x = np.asarray(x, dtype=float)
        if x.ndim == 0:
            return x
        if x.shape != lead:
            x = np.broadcast_to(x, lead)
        return x.reshape(-1)

    @property
    def params_shape(self) -> tuple:
        """The shape of one run's parameters: (P, K) for a table, (d,) for features."""
        return (self.P, self.K) if self._table else (self.model.d,)

    def _runs_last(self, theta: np.ndarray):
        theta = np.asarray(theta, dtype=float)
        lead = theta.shape[:theta.ndim - len(self.params_shape)]
        T = theta.reshape((-1, self._n_params())).T
        if not T.flags.c_contiguous:
            T = np.ascontiguousarray(T)
        return T, lead

    def _from_runs_last(self, T: np.ndarray, lead) -> np.ndarray:
        return T.T.reshape(lead + self.params_shape)

    def logits(self, theta: np.ndarray) -> np.ndarray:
        """The runs' logits (..., P, K) from their parameters (..., *params_shape), by the
        same operations as the single run's ``model.logits``."""
        if self._table:
            return np.asarray(theta, dtype=float)
        T, lead = self._runs_last(theta)
        X = self._logits(T, self._buffers(T.shape[1])).copy()
        return X.T.reshape(lead + (self.P, self.K))

    def grad(self, theta: np.ndarray, beta, loss: LossSpec = DPO) -> np.ndarray:
        """Exact gradient of the mean loss in the parameters, for theta of shape
        (..., *params_shape) and the loss in force ``loss``."""
        T, lead = self._runs_last(theta)
        g = self._grad_runs_last(T, self._per_run(beta, lead), loss.loss)
        return self._from_runs_last(g, lead)

    def step(self, theta: np.ndarray, beta, learning_rate, loss: LossSpec = DPO
             ) -> np.ndarray:
        """One full-batch gradient-descent update of every run; beta and learning_rate
        broadcast per run (scalars or arrays of theta's leading shape); the loss in force
        (``losses.LossSpec``) is shared by the stack. Returns a new array."""
        T, lead = self._runs_last(theta)
        g = self._grad_runs_last(T, self._per_run(beta, lead), loss.loss)
        rate = self._bufs.learning_rate
        np.copyto(rate, self._per_run(learning_rate, lead))
        g *= rate
        np.subtract(T, g, out=g)
        return self._from_runs_last(g, lead)
