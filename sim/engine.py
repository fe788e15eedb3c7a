"""Exact DPO on a tabular softmax policy: the loss, its gradient and every metric.

Shapes: a policy is a table of logits ``theta`` of shape (P, K), or (R, P, K) for a stack
of R independent runs (a sweep). The data is a set of preference rows; every mean is over
single annotator judgements ("instances"), as in ../shared/dpo-notes.md.

The margin ``h = lr(c) - lr(r)`` is a difference of log-ratios on the same prompt, so the
softmax normaliser cancels in the gradient: each judgement touches exactly two logits.
The single run (``evaluate``, every metric) and the stack (``Batch.step``) perform the same
sequence of floating-point operations per element, so a run in a stack is bit-identical to
the same run alone, and margins are exactly 0 at ``pi == pi_ref``. Numerics: log-softmax
shifted by the max, sigmoids exact in both tails (``losses.sigmoid_pair``), softplus as
``max(x, 0) + log1p(exp(-|x|))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import fsum
from types import SimpleNamespace

import numpy as np

from .losses import Loss, dpo_terms, get_loss, sigmoid_pair


@dataclass(frozen=True)
class Pairs:
    """Preference rows as parallel integer/float arrays (indices from 0).

    Treat the arrays as read-only: the compiled plan (``_plan``) is cached on first use.
    """

    prompt: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    votes_chosen: np.ndarray
    votes_rejected: np.ndarray
    n_prompts: int
    n_replies: int

    @classmethod
    def from_rows(cls, rows, n_prompts: int, n_replies: int) -> "Pairs":
        """rows: iterable of (prompt, chosen, rejected, votes_chosen, votes_rejected)."""
        a = np.array([tuple(r) for r in rows], dtype=float).reshape(-1, 5)
        return cls(
            prompt=a[:, 0].astype(np.intp),
            chosen=a[:, 1].astype(np.intp),
            rejected=a[:, 2].astype(np.intp),
            votes_chosen=a[:, 3].copy(),
            votes_rejected=a[:, 4].copy(),
            n_prompts=n_prompts,
            n_replies=n_replies,
        )

    def __len__(self) -> int:
        return len(self.prompt)

    @property
    def n_instances(self) -> float:
        return float(self.votes_chosen.sum() + self.votes_rejected.sum())

    def flipped(self, i: int) -> "Pairs":
        """Row i with chosen and rejected swapped; the votes stay, so the majority moves."""
        chosen, rejected = self.chosen.copy(), self.rejected.copy()
        chosen[i], rejected[i] = self.rejected[i], self.chosen[i]
        return Pairs(self.prompt, chosen, rejected, self.votes_chosen, self.votes_rejected,
                     self.n_prompts, self.n_replies)

    def net_votes(self) -> np.ndarray:
        """(P, K) judgements for each reply minus judgements against it, over every row of
        its prompt (flips counted): the reply "the data prefers" has the largest positive
        count; a 5:5 tie prefers nothing."""
        net = np.zeros((self.n_prompts, self.n_replies))
        d = self.votes_chosen - self.votes_rejected
        np.add.at(net, (self.prompt, self.chosen), d)
        np.add.at(net, (self.prompt, self.rejected), -d)
        return net

    def flat_chosen(self) -> np.ndarray:
        return self.prompt * self.n_replies + self.chosen

    def flat_rejected(self) -> np.ndarray:
        return self.prompt * self.n_replies + self.rejected

    def incidence(self) -> np.ndarray:
        """(N, P*K) matrix with +1 at each row's chosen logit and -1 at its rejected one."""
        d = np.zeros((len(self), self.n_prompts * self.n_replies))
        rows = np.arange(len(self))
        d[rows, self.flat_chosen()] += 1.0
        d[rows, self.flat_rejected()] -= 1.0
        return d

    @cached_property
    def _plan(self) -> SimpleNamespace:
        """Everything the hot path needs that depends on the rows only, computed once.

        ``side`` (P*K, 2) holds, per logit, the instance weight with which it appears on
        the chosen side (column 0) and on the rejected side (column 1) of a judgement, so
        a mean over instances of any per-reply quantity q is ``q.ravel() @ side``.
        """
        n = self.n_instances
        vc = self.votes_chosen / n
        vr = self.votes_rejected / n
        D = self.incidence()
        side = np.zeros((self.n_prompts * self.n_replies, 2))
        np.add.at(side[:, 0], self.flat_chosen(), vc)
        np.add.at(side[:, 0], self.flat_rejected(), vr)
        np.add.at(side[:, 1], self.flat_rejected(), vc)
        np.add.at(side[:, 1], self.flat_chosen(), vr)
        cr = np.empty(2 * len(self), dtype=np.intp)
        cr[0::2], cr[1::2] = self.flat_chosen(), self.flat_rejected()
        return SimpleNamespace(D=D, DT=np.ascontiguousarray(D.T), vc=vc, vr=vr,
                               vdiff=vc - vr, side=side, cr=cr)


def _shifted_exp(theta: np.ndarray):
    """z = theta - max, exp(z) and its sum over replies (the last axis).

    The max and the sum are unrolled over the K replies in a fixed order: a short last
    axis is slow to reduce in NumPy, and the stacked update (``Batch.step``, replies on
    axis 1 of a runs-last array) does exactly the same elementwise operations, so a run in
    a stack gets the same bits as the run alone.
    """
    if theta.ndim == 1:
        z, ez, norm = _shifted_exp(theta[None, :])
        return z[0], ez[0], norm.reshape(())
    K = theta.shape[-1]
    m = np.maximum(theta[..., 0], theta[..., 1])
    for k in range(2, K):
        np.maximum(m, theta[..., k], out=m)
    z = theta - m[..., None]
    ez = np.exp(z)
    norm = ez[..., 0] + ez[..., 1]
    for k in range(2, K):
        norm += ez[..., k]
    return z, ez, norm


def kl_ceiling(logp_ref: np.ndarray) -> np.ndarray:
    """(P,) the largest KL(pi || pi_ref) each prompt can reach: log(1 / min pi_ref),
    approached as pi puts all its mass on the reference's least likely reply."""
    return -np.asarray(logp_ref).min(axis=-1)


def log_softmax(theta: np.ndarray) -> np.ndarray:
    """Stable log pi over the last axis."""
    z, _, norm = _shifted_exp(np.asarray(theta, dtype=float))
    z -= np.log(norm)[..., None]
    return z


class Batch:
    """The data compiled for fast updates of a stack of runs (shared data, per-run beta/lr).

    The margin is taken from the log-ratios ``log pi - log pi_ref`` (not from raw logit
    differences, which are equal in exact arithmetic): then it is exactly 0 at
    ``pi == pi_ref``. A stack is worked on runs-last, as a (P*K, R) array, so every NumPy
    loop runs over the R runs; the operations per element are the ones ``evaluate`` does
    for a single run, in the same order, so each run of a stack matches that run alone to
    the bit. ``step`` returns its result as a view of a runs-last array: feeding it back
    costs no copy. A Batch keeps scratch arrays between calls: use one per thread.
    """

    def __init__(self, pairs: Pairs, theta_ref: np.ndarray):
        ref = np.asarray(theta_ref, dtype=float).reshape(pairs.n_prompts, pairs.n_replies)
        self._compile(pairs, ref, log_softmax(ref))

    @classmethod
    def _from_logp_ref(cls, pairs: Pairs, logp_ref: np.ndarray) -> "Batch":
        """As Batch(pairs, logp_ref) but keeping logp_ref itself as log pi_ref (no
        re-normalisation), so evaluate() and Simulation agree to the last bit."""
        self = cls.__new__(cls)
        logp_ref = np.asarray(logp_ref, dtype=float).reshape(pairs.n_prompts,
                                                             pairs.n_replies)
        self._compile(pairs, logp_ref, logp_ref)
        return self

    def _compile(self, pairs: Pairs, ref: np.ndarray, logp_ref: np.ndarray) -> None:
        plan = pairs._plan
        self.pairs = pairs
        self.P, self.K = pairs.n_prompts, pairs.n_replies
        self.D, self.DT = plan.D, plan.DT                 # (N, PK), (PK, N)
        self.vc, self.vr = plan.vc, plan.vr               # instance weights, sum to 1
        self._vdiff, self._side = plan.vdiff, plan.side
        side_c, side_r = plan.side.T
        self._mean_weights = np.concatenate((side_c, side_r, side_c, side_r, self.vc, self.vr,
                                             plan.vdiff))
        PK, N = self.P * self.K, len(self.vc)
        self._mean_slices = (slice(0, PK), slice(PK, 2 * PK), slice(2 * PK, 3 * PK),
                             slice(3 * PK, 4 * PK), slice(4 * PK, 4 * PK + 2 * N),
                             slice(4 * PK + 2 * N, 4 * PK + 3 * N))
        self._c = pairs.flat_chosen().tolist()
        self._r = pairs.flat_rejected().tolist()
        self._vcl, self._vrl = self.vc.tolist(), self.vr.tolist()
        self._cr = plan.cr                                # interleaved c0, r0, c1, r1, ...
        self.logp_ref = logp_ref
        self.h_ref = ref.reshape(-1) @ self.DT            # (N,) reference margin in logits
        self._bufs = None

    # -- the gradient, single run (P, K) ----------------------------------------------
    def _coef(self, u: np.ndarray, beta, w_fwd, w_bwd) -> np.ndarray:
        """d mean-loss / d (theta[c] - theta[r]) per row; the rejected-side judgements
        (votes_rejected of them, at margin -u) push the other way."""
        coef = self.vr * w_bwd
        coef -= self.vc * w_fwd
        coef *= beta
        return coef

    def _scatter(self, coef: np.ndarray) -> np.ndarray:
        """grad[c_i] += coef_i, grad[r_i] -= coef_i, in row order (as the stacked path)."""
        w = np.empty(2 * len(coef))
        w[0::2] = coef
        np.negative(coef, out=w[1::2])
        return np.bincount(self._cr, weights=w, minlength=self.P * self.K)

    # -- the gradient, a stack (..., P, K) ----------------------------------------------
    def _buffers(self, R: int) -> SimpleNamespace:
        """Scratch arrays for a stack of R runs, reused across steps (no page faults), and
        the constants spelled out to full size: NumPy multiplies two equal-shaped arrays
        about twice as fast as it broadcasts a column."""
        if self._bufs is None or self._bufs.R != R:
            P, K, N = self.P, self.K, len(self.vc)
            e = lambda *shape: np.empty(shape)            # noqa: E731
            full = lambda x, shape: np.ascontiguousarray(np.broadcast_to(x, shape))  # noqa
            self._bufs = SimpleNamespace(
                R=R, m=e(P, R), z=e(P, K, R), ez=e(P, K, R), norm=e(P, R),
                u=e(N, R), a=e(N, R), b=e(N, R), e=e(N, R), s=e(N, R), coef=e(N, R),
                t=e(N, R), beta=e(N, R), lrate=e(P * K, R),
                vc=full(self.vc[:, None], (N, R)), vr=full(self.vr[:, None], (N, R)),
                dv=full((self.vr - self.vc)[:, None], (N, R)),
                logp_ref=full(self.logp_ref[:, :, None], (P, K, R)))
        return self._bufs

    def _grad_runs_last(self, T: np.ndarray, beta: np.ndarray, loss: Loss) -> np.ndarray:
        """Gradient of a stack held runs-last: T (P*K, R), beta (R,); returns (P*K, R).

        Per element this is exactly the sequence of ``_evaluate`` (same operations, same
        order), only looped over runs instead of replies."""
        P, K, R = self.P, self.K, T.shape[1]
        g = np.zeros((P * K, R))
        bf = self._buffers(R)
        B = bf.beta
        np.copyto(B, beta)                                # beta per run, (N, R)
        if loss.constant_weight:
            # weight 1 for every judgement: no margin needed, and the same numbers as the
            # general path (vr * 1 - vc * 1 == vr - vc exactly)
            coef = np.multiply(bf.dv, B, out=bf.coef)
        else:
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
                z[:, k] -= norm                           # log pi
            z -= bf.logp_ref                              # log pi - log pi_ref
            lr = z.reshape(P * K, R)
            u = bf.u
            for i, (c, r) in enumerate(zip(self._c, self._r)):
                np.subtract(lr[c], lr[r], out=u[i])
            u *= B                                        # (N, R) scaled margins
            if loss.sigmoid_weight:
                w_bwd, w_fwd = sigmoid_pair(u, out=(bf.a, bf.b, bf.e))
            else:
                w_fwd, w_bwd = loss.pair_weights(u, beta)
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
             loss_type: str = "sigmoid") -> np.ndarray:
        """Exact gradient of the mean loss w.r.t. theta, for theta of shape (..., P, K)."""
        T, lead = self._runs_last(theta)
        g = self._grad_runs_last(T, self._per_run(beta, lead),
                                 get_loss(loss_type, adaptive_weight))
        return self._from_runs_last(g, lead)

    def step(self, theta: np.ndarray, beta, learning_rate, adaptive_weight: bool = True,
             loss_type: str = "sigmoid") -> np.ndarray:
        """One full-batch gradient-descent update; beta and learning_rate broadcast per run
        (scalars or arrays of theta's leading shape). Returns a new array."""
        T, lead = self._runs_last(theta)
        g = self._grad_runs_last(T, self._per_run(beta, lead),
                                 get_loss(loss_type, adaptive_weight))
        lrate = self._bufs.lrate
        np.copyto(lrate, self._per_run(learning_rate, lead))
        g *= lrate
        np.subtract(T, g, out=g)
        return self._from_runs_last(g, lead)

    # -- one run with every metric ---------------------------------------------------
    def _evaluate(self, theta: np.ndarray, beta: float, loss: Loss, adaptive_weight: bool,
                  step: int, learning_rate: float) -> "Record":
        """All metrics of one policy (P, K) plus the gradient, in one pass.

        Tiny arrays: NumPy's per-call cost dominates, so this path counts calls (1-D
        ``.dot`` rather than ``@``, one max over the reply axis, which is exact and so
        bit-equal to the stacked path's unrolled max)."""
        z = theta - np.maximum.reduce(theta, axis=1)[:, None]
        ez = np.exp(z)
        ezT = ez.T
        norm = ezT[0] + ezT[1]
        for k in range(2, self.K):
            norm += ezT[k]
        probs = ez / norm[:, None]
        np.log(norm, out=norm)
        z -= norm[:, None]
        logp = z
        lr = logp - self.logp_ref
        rewards = lr * beta
        kl = np.add.reduce(probs * lr, axis=1)
        np.maximum(kl, 0.0, out=kl)           # >= 0; clip rounding at pi = pi_ref

        # The margin from the log-ratios, as in the stacked path: at pi == pi_ref it is
        # exactly 0 (loss log 2, accuracy 0 at step 0). D holds 0 and +-1 only, so the
        # product forms each difference lr[c] - lr[r] exactly, like a subtraction.
        flat_lr = lr.reshape(-1)
        u = flat_lr.dot(self.DT)
        u *= beta
        if loss.sigmoid_weight:
            sig_u, sig_neg, l_fwd, l_bwd = dpo_terms(u)
            w_fwd, w_bwd = sig_neg, sig_u
        else:
            sig_u, _ = sigmoid_pair(u)
            w_fwd, w_bwd = loss.pair_weights(u, beta)
            l_fwd, l_bwd = loss.pair_losses(u, beta)
        grad = self._scatter(self._coef(u, beta, w_fwd, w_bwd)).reshape(theta.shape)

        # Means over judgements as exactly rounded sums (math.fsum) of the products: no
        # BLAS in any recorded number, so the bits do not depend on which kernel OpenBLAS
        # picks for this CPU (the margins above are exact differences either way). One
        # product vector holds every term; its segments are summed one by one.
        lpf, lrf = logp.reshape(-1), lr.reshape(-1)
        terms = np.concatenate((lpf, lpf, lrf, lrf, l_fwd, l_bwd, u))
        terms *= self._mean_weights
        terms = terms.tolist()
        lp_c, lp_r, lr_c, lr_r, loss_terms, margin_terms = (
            terms[sl] for sl in self._mean_slices)
        acc = 0.0
        for x, c, r in zip(u.tolist(), self._vcl, self._vrl):
            if x > 0.0:
                acc += c
            elif x < 0.0:
                acc += r
        return Record(
            step=step, beta=float(beta), learning_rate=float(learning_rate),
            adaptive_weight=bool(adaptive_weight),
            loss=fsum(loss_terms),
            rewards_chosen=float(beta * fsum(lr_c)),
            rewards_rejected=float(beta * fsum(lr_r)),
            rewards_margins=fsum(margin_terms),
            rewards_accuracies=acc,
            logps_chosen=fsum(lp_c),
            logps_rejected=fsum(lp_r),
            kl=kl,
            probs=probs,
            rewards=rewards,
            row_margin=u,
            row_sigma=sig_u,
            row_weight=w_fwd,
            grad=grad,
        )


@dataclass
class Record:
    """Everything recorded at one step, computed from the policy *before* that step's update."""

    step: int
    beta: float
    learning_rate: float
    adaptive_weight: bool
    loss: float
    rewards_chosen: float
    rewards_rejected: float
    rewards_margins: float
    rewards_accuracies: float
    logps_chosen: float
    logps_rejected: float
    kl: np.ndarray           # (P,) exact KL(pi || pi_ref) per prompt
    probs: np.ndarray        # (P, K)
    rewards: np.ndarray      # (P, K) implicit reward beta * (log pi - log pi_ref)
    row_margin: np.ndarray   # (N,) scaled margin u of each row, chosen over rejected
    row_sigma: np.ndarray    # (N,) sigma(u): the model's preference probability
    row_weight: np.ndarray   # (N,) gradient weight of the row's chosen-over-rejected side
    grad: np.ndarray = field(repr=False, default=None)  # (P, K) gradient of the mean loss

    SCALARS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
               "rewards/accuracies", "logps/chosen", "logps/rejected")

    def scalars(self) -> dict:
        """The TRL-named scalar metrics."""
        return {
            "loss": self.loss,
            "rewards/chosen": self.rewards_chosen,
            "rewards/rejected": self.rewards_rejected,
            "rewards/margins": self.rewards_margins,
            "rewards/accuracies": self.rewards_accuracies,
            "logps/chosen": self.logps_chosen,
            "logps/rejected": self.logps_rejected,
        }

    def to_dict(self) -> dict:
        """A JSON-ready dict (TRL names, lists instead of arrays)."""
        d = {"type": "step", "step": self.step, "beta": self.beta,
             "learning_rate": self.learning_rate, "adaptive_weight": self.adaptive_weight}
        d.update(self.scalars())
        d.update({
            "kl": self.kl.tolist(),
            "probs": self.probs.tolist(),
            "rewards": self.rewards.tolist(),
            "pairs/margin": self.row_margin.tolist(),
            "pairs/sigma": self.row_sigma.tolist(),
            "pairs/weight": self.row_weight.tolist(),
        })
        return d


def evaluate(theta: np.ndarray, logp_ref: np.ndarray, pairs: Pairs, beta: float,
             adaptive_weight: bool = True, loss_type: str = "sigmoid", *, step: int = 0,
             learning_rate: float = float("nan")) -> Record:
    """All metrics of one policy (P, K) plus the gradient of the mean loss, in one pass."""
    loss = get_loss(loss_type, adaptive_weight)
    return Batch._from_logp_ref(pairs, logp_ref)._evaluate(
        np.asarray(theta, dtype=float), float(beta), loss, adaptive_weight, step,
        learning_rate)
