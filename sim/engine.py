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

import numpy as np

from .losses import get_loss, sigmoid


@dataclass(frozen=True)
class Pairs:
    """Preference rows as parallel integer/float arrays (indices from 0)."""

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


def log_softmax(theta: np.ndarray) -> np.ndarray:
    """Stable log pi over the last axis."""
    m = theta.max(axis=-1, keepdims=True)
    z = theta - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class Batch:
    """The data compiled for fast updates of a stack of runs (shared data, per-run beta/lr)."""

    def __init__(self, pairs: Pairs, theta_ref: np.ndarray):
        self.pairs = pairs
        self.P, self.K = pairs.n_prompts, pairs.n_replies
        self.D = pairs.incidence()                       # (N, PK)
        self.DT = np.ascontiguousarray(self.D.T)         # (PK, N)
        ref = np.asarray(theta_ref, dtype=float).reshape(self.P * self.K)
        self.h_ref = ref @ self.DT                       # (N,) reference margin in logits
        n = pairs.n_instances
        self.vc = pairs.votes_chosen / n
        self.vr = pairs.votes_rejected / n

    def grad(self, theta: np.ndarray, beta, adaptive_weight: bool = True,
             loss_type: str = "sigmoid") -> np.ndarray:
        """Exact gradient of the mean loss w.r.t. theta, for theta of shape (..., P, K)."""
        loss = get_loss(loss_type, adaptive_weight)
        lead = theta.shape[:-2]
        flat = theta.reshape(lead + (self.P * self.K,))
        beta = np.asarray(beta, dtype=float)[..., None]
        u = beta * (flat @ self.DT - self.h_ref)         # (..., N)
        coef = beta * (self.vr * loss.weight(-u, beta) - self.vc * loss.weight(u, beta))
        return (coef @ self.D).reshape(theta.shape)

    def step(self, theta: np.ndarray, beta, learning_rate, adaptive_weight: bool = True,
             loss_type: str = "sigmoid") -> np.ndarray:
        """One full-batch gradient-descent update; beta and learning_rate broadcast per run."""
        g = self.grad(theta, beta, adaptive_weight, loss_type)
        lr = np.asarray(learning_rate, dtype=float)[..., None, None]
        return theta - lr * g


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
    loss_fn = get_loss(loss_type, adaptive_weight)
    K = pairs.n_replies
    logp = log_softmax(theta)
    probs = np.exp(logp)
    lr = logp - logp_ref
    rewards = beta * lr
    flat_lr = lr.ravel()
    flat_logp = logp.ravel()
    c = pairs.prompt * K + pairs.chosen
    r = pairs.prompt * K + pairs.rejected
    n = pairs.n_instances
    vc = pairs.votes_chosen / n
    vr = pairs.votes_rejected / n
    u = beta * (flat_lr[c] - flat_lr[r])
    w_fwd = loss_fn.weight(u, beta)
    w_bwd = loss_fn.weight(-u, beta)
    loss = float(vc @ loss_fn.loss(u, beta) + vr @ loss_fn.loss(-u, beta))
    rc, rr = beta * flat_lr[c], beta * flat_lr[r]
    lc, lrj = flat_logp[c], flat_logp[r]
    coef = beta * (vr * w_bwd - vc * w_fwd)
    grad = np.zeros(theta.size)
    np.add.at(grad, c, coef)
    np.add.at(grad, r, -coef)
    return Record(
        step=step, beta=float(beta), learning_rate=float(learning_rate),
        adaptive_weight=bool(adaptive_weight),
        loss=loss,
        rewards_chosen=float(vc @ rc + vr @ rr),
        rewards_rejected=float(vc @ rr + vr @ rc),
        rewards_margins=float((vc - vr) @ u),
        rewards_accuracies=float(vc @ (u > 0) + vr @ (u < 0)),
        logps_chosen=float(vc @ lc + vr @ lrj),
        logps_rejected=float(vc @ lrj + vr @ lc),
        kl=np.maximum((probs * lr).sum(axis=-1), 0.0),  # >= 0; clip rounding at pi = pi_ref
        probs=probs,
        rewards=rewards,
        row_margin=u,
        row_sigma=sigmoid(u),
        row_weight=w_fwd,
        grad=grad.reshape(theta.shape),
    )
