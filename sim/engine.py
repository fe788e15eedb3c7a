"""Exact DPO on a tabular softmax policy: the loss, its gradient and every metric.

Shapes: a policy is a table of logits ``theta`` of shape (P, K), or (R, P, K) for a stack
of R independent runs (a sweep). The data is a set of preference rows; every mean is over
single annotator judgements ("instances"), as in ../shared/dpo-notes.md.

The update needs no softmax at all: the margin ``h = lr(c) - lr(r)`` is a difference of
log-ratios on the same prompt, so the log-normaliser cancels and
``h = (theta[c] - theta[r]) - (theta_ref[c] - theta_ref[r])``. That keeps the batched
update to two tiny matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace

import numpy as np

from .losses import DPO, Loss, get_loss, sigmoid_pair


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
        return SimpleNamespace(D=D, DT=np.ascontiguousarray(D.T), vc=vc, vr=vr,
                               vdiff=vc - vr, side=side)


def log_softmax(theta: np.ndarray) -> np.ndarray:
    """Stable log pi over the last axis."""
    m = theta.max(axis=-1, keepdims=True)
    z = theta - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class Batch:
    """The data compiled for fast updates of a stack of runs (shared data, per-run beta/lr).

    The margin of a row needs no softmax: ``h = (theta[c] - theta[r]) - (ref[c] - ref[r])``
    (the log-normaliser cancels), and since the incidence matrix holds only 0 and +-1, the
    product ``theta @ D.T`` forms each difference exactly, with a single rounding.
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
        self.logp_ref = logp_ref
        self._logp_ref_flat = logp_ref.reshape(-1)
        self.h_ref = ref.reshape(-1) @ self.DT            # (N,) reference margin in logits

    def _coef(self, u: np.ndarray, beta, w_fwd, w_bwd) -> np.ndarray:
        """d mean-loss / d (theta[c] - theta[r]) per row; the rejected-side judgements
        (votes_rejected of them, at margin -u) push the other way."""
        coef = self.vr * w_bwd
        coef -= self.vc * w_fwd
        coef *= beta
        return coef

    def grad(self, theta: np.ndarray, beta, adaptive_weight: bool = True,
             loss_type: str = "sigmoid") -> np.ndarray:
        """Exact gradient of the mean loss w.r.t. theta, for theta of shape (..., P, K)."""
        return self._grad(theta, beta, get_loss(loss_type, adaptive_weight))

    def _grad(self, theta: np.ndarray, beta, loss: Loss) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        lead = theta.shape[:-2]
        flat = theta.reshape(lead + (self.P * self.K,))
        beta = np.asarray(beta, dtype=float)[..., None]
        u = flat @ self.DT                                # (..., N)
        u -= self.h_ref
        u *= beta
        w_fwd, w_bwd = loss.pair_weights(u, beta)
        return (self._coef(u, beta, w_fwd, w_bwd) @ self.D).reshape(theta.shape)

    def step(self, theta: np.ndarray, beta, learning_rate, adaptive_weight: bool = True,
             loss_type: str = "sigmoid") -> np.ndarray:
        """One full-batch gradient-descent update; beta and learning_rate broadcast per run.
        Returns a new array (theta is not modified)."""
        g = self._grad(theta, beta, get_loss(loss_type, adaptive_weight))
        g *= np.asarray(learning_rate, dtype=float)[..., None, None]
        return theta - g

    def _evaluate(self, theta: np.ndarray, beta: float, loss: Loss, adaptive_weight: bool,
                  step: int, learning_rate: float) -> "Record":
        """All metrics of one policy (P, K) plus the gradient, in one pass."""
        m = theta.max(axis=-1, keepdims=True)
        z = theta - m
        ez = np.exp(z)
        norm = ez.sum(axis=-1, keepdims=True)
        probs = ez / norm
        np.log(norm, out=norm)
        logp = z
        logp -= norm
        lr = logp - self.logp_ref
        rewards = lr * beta
        kl = (probs * lr).sum(axis=-1)
        np.maximum(kl, 0.0, out=kl)           # >= 0; clip rounding at pi = pi_ref

        # The margin from the log-ratios (not from raw logits as in _grad): at pi == pi_ref
        # it is then exactly 0, so the loss is log 2 and the accuracy 0 at step 0.
        u = lr.reshape(-1) @ self.DT
        u *= beta
        sig_u, sig_neg = sigmoid_pair(u)
        if loss is DPO:
            w_fwd, w_bwd = sig_neg, sig_u
        else:
            w_fwd, w_bwd = loss.pair_weights(u, beta)
        l_fwd, l_bwd = loss.pair_losses(u, beta)
        grad = (self._coef(u, beta, w_fwd, w_bwd) @ self.D).reshape(theta.shape)

        vc, vr = self.vc, self.vr
        logps = logp.reshape(-1) @ self._side             # (chosen, rejected) means
        lrs = lr.reshape(-1) @ self._side
        return Record(
            step=step, beta=float(beta), learning_rate=float(learning_rate),
            adaptive_weight=bool(adaptive_weight),
            loss=float(vc @ l_fwd + vr @ l_bwd),
            rewards_chosen=float(beta * lrs[0]),
            rewards_rejected=float(beta * lrs[1]),
            rewards_margins=float(self._vdiff @ u),
            rewards_accuracies=float(vc @ (u > 0.0) + vr @ (u < 0.0)),
            logps_chosen=float(logps[0]),
            logps_rejected=float(logps[1]),
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
