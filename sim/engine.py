"""The engine: every number of one run's step, exact, in about 30 microseconds.

``dpo.py`` states the maths; this module computes the same numbers (tested against it to
1e-12) with as few NumPy calls as it can, because a 2 x 4 table is tiny and NumPy's
per-call cost is what a step costs. It also fixes the bits: the same policy gives the same
record in any process, on the page, on the command line and in a stack of runs.

The model (sim/model.py) and the loss in force (``losses.LossSpec``) are one value each:
``Engine(pairs, logp_ref, model)`` works on the logits ``model.logits(params)`` and pulls
the gradient back to the parameters (``model.pullback``); on a table both are the
identity and cost nothing.

How the bits are fixed:
- The margin is taken from the log-ratios ``log pi - log pi_ref`` (not from raw logit
  differences, equal in exact arithmetic), so it is exactly 0 at ``pi == pi_ref``: the
  loss is log 2 and the accuracy 0 at step 0.
- Each per-element operation is the one ``stack.RunStack`` does for a run in a stack, in
  the same order, so a run in a stack is bit-identical to the run alone.
- Means over judgements are exactly rounded sums (``math.fsum``) of the products, so no
  BLAS kernel (which differ between CPUs) touches a recorded number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import fsum

import numpy as np

from .losses import DPO, Loss, LossSpec
from .model import TABLE
from .numerics import sigmoid_pair
from .pairs import Pairs


class Engine:
    """The rows and the reference of one run, compiled for ``evaluate``."""

    def __init__(self, pairs: Pairs, logp_ref: np.ndarray, model=TABLE):
        """``logp_ref``: log pi_ref, used as given (not normalised again), so a Simulation
        and ``evaluate`` agree to the last bit. ``model`` (sim/model.py): how the
        parameters make the logits (the table: they are the logits)."""
        plan = pairs.plan
        self.pairs = pairs
        self.model = model
        self._table = model.kind == "table"
        self.P, self.K = pairs.n_prompts, pairs.n_replies
        self.logp_ref = np.asarray(logp_ref, dtype=float).reshape(self.P, self.K)
        self.DT = plan.DT                                 # (P*K, N) incidence, transposed
        self.vc, self.vr = plan.vc, plan.vr               # each row's share of judgements
        self._cr = plan.cr                                # c0, r0, c1, r1, ...
        side_c, side_r = plan.side.T
        # one product vector holds every term of every mean; its segments are summed
        PK, N = self.P * self.K, len(self.vc)
        self._mean_shares = np.concatenate((side_c, side_r, side_c, side_r, self.vc,
                                            self.vr, plan.vdiff))
        self._mean_slices = (slice(0, PK), slice(PK, 2 * PK), slice(2 * PK, 3 * PK),
                             slice(3 * PK, 4 * PK), slice(4 * PK, 4 * PK + 2 * N),
                             slice(4 * PK + 2 * N, 4 * PK + 3 * N))
        self._vcl, self._vrl = self.vc.tolist(), self.vr.tolist()

    def _row_pull(self, u: np.ndarray, beta, w_fwd, w_bwd) -> np.ndarray:
        """d mean-loss / d (theta[c] - theta[r]) per row: the rejected-side judgements
        (votes_rejected of them, at margin -u) pull the other way."""
        coef = self.vr * w_bwd
        coef -= self.vc * w_fwd
        coef *= beta
        return coef

    def _scatter(self, coef: np.ndarray) -> np.ndarray:
        """grad[c_i] += coef_i, grad[r_i] -= coef_i, in row order (as the stack does)."""
        w = np.empty(2 * len(coef))
        w[0::2] = coef
        np.negative(coef, out=w[1::2])
        return np.bincount(self._cr, weights=w, minlength=self.P * self.K)

    def evaluate(self, params: np.ndarray, beta: float, loss: LossSpec, step: int,
                 learning_rate: float) -> Record:
        """All metrics of one policy plus the gradient in its parameters, in one pass.

        ``params``: the model's parameters (the (P, K) logits of a table, theta (d,) of a
        features model); ``loss``: the loss in force (``losses.LossSpec``). Everything is
        computed on the logits ``model.logits(params)``; the gradient in the logits is
        then pulled back to the parameters (``model.pullback``).

        Counts NumPy calls: 1-D ``.dot`` rather than ``@``, one max over the reply axis
        (exact, so bit-equal to the stack's unrolled max)."""
        lossfn = loss.loss
        theta = self.model.logits(params, self.logp_ref)   # the table's: params itself
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
        log_ratio = logp - self.logp_ref
        rewards = log_ratio * beta
        kl = np.add.reduce(probs * log_ratio, axis=1)
        np.maximum(kl, 0.0, out=kl)           # >= 0; clip rounding at pi = pi_ref

        # u = beta * (log_ratio[c] - log_ratio[r]) per row. DT holds 0 and +-1 only, so
        # the product forms each difference exactly, like a subtraction.
        u = log_ratio.reshape(-1).dot(self.DT)
        u *= beta
        loss_fwd, loss_bwd, w_fwd, w_bwd = lossfn.pair_terms(u, beta)
        sigma_u = w_bwd if lossfn.weight_is_sigmoid else sigmoid_pair(u)[0]
        grad_logits = self._scatter(self._row_pull(u, beta, w_fwd, w_bwd)).reshape(
            theta.shape)

        lpf, lrf = logp.reshape(-1), log_ratio.reshape(-1)
        terms = np.concatenate((lpf, lpf, lrf, lrf, loss_fwd, loss_bwd, u))
        terms *= self._mean_shares
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
            adaptive_weight=loss.adaptive_weight,
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
            row_sigma=sigma_u,
            row_weight=w_fwd,
            grad=self.model.pullback(grad_logits),
            loss_type=loss.loss_type,
            label_smoothing=loss.label_smoothing,
            theta=None if self._table else params,
            grad_logits=grad_logits,
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
    # gradient of the mean loss in the parameters: (P, K) for a table, (d,) for features
    grad: np.ndarray = field(repr=False, default=None)
    # the loss settings in force (after grad, so the step lines of older runs keep their
    # order; with adaptive_weight off the bare margin replaced the loss, losses.objective)
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0
    # the parameters: theta (d,) of a features model; None for a table (its logits are
    # its parameters, and its step lines keep their bytes)
    theta: np.ndarray | None = field(repr=False, default=None)
    # gradient of the mean loss in the logits, (P, K) (the same array as grad on a table;
    # not stored in a History)
    grad_logits: np.ndarray | None = field(repr=False, default=None, compare=False)

    @property
    def loss_spec(self) -> LossSpec:
        """The loss in force at this step, as one value."""
        return LossSpec(self.adaptive_weight, self.loss_type, self.label_smoothing)

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
            "loss_type": self.loss_type,
            "label_smoothing": self.label_smoothing,
        })
        if self.theta is not None:
            d["theta"] = self.theta.tolist()
        return d


def evaluate(params: np.ndarray, logp_ref: np.ndarray, pairs: Pairs, beta: float,
             loss: LossSpec = DPO, *, step: int = 0, learning_rate: float = float("nan"),
             model=TABLE) -> Record:
    """All metrics of one policy plus the gradient of the mean loss, in one pass:
    ``params`` the parameters of ``model`` ((P, K) logits of the table), ``loss`` the
    loss in force."""
    return Engine(pairs, logp_ref, model).evaluate(
        np.asarray(params, dtype=float), float(beta), loss, step, learning_rate)


def stored_row_metrics(rec: Record, pairs: Pairs, loss: Loss) -> dict:
    """``dpo.stored_row_metrics`` from a record (no softmax again): what TRL would log on
    the rows as stored, each row once (means over rows, not over judgements)."""
    x, c, r = pairs.prompt, pairs.chosen, pairs.rejected
    u = rec.row_margin
    with np.errstate(divide="ignore"):   # a probability that underflowed: log is -inf
        logp = np.log(rec.probs)
    n = len(u)
    return {
        "loss": fsum(np.asarray(loss.value(u, rec.beta)).tolist()) / n,
        "rewards/chosen": fsum(rec.rewards[x, c].tolist()) / n,
        "rewards/rejected": fsum(rec.rewards[x, r].tolist()) / n,
        "rewards/margins": fsum(u.tolist()) / n,
        "rewards/accuracies": float(np.count_nonzero(u > 0)) / n,
        "logps/chosen": fsum(logp[x, c].tolist()) / n,
        "logps/rejected": fsum(logp[x, r].tolist()) / n,
    }
