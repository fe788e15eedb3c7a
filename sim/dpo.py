"""DPO on a table of logits, in the paper's names. Read this module first.

The policy is a table ``theta`` of logits, P prompts x K replies, with
``pi(y|x) = softmax(theta[x])``. The reference ``pi_ref`` is frozen; ``logp_ref`` holds
its log-probabilities. The data are preference rows (``pairs.Pairs``), and every mean is
over single annotator judgements: a row "chosen > rejected, 7:3" is seven judgements one
way and three the other.

Shared parameters (the features model, sim/model.py): each reply has a feature vector
phi(x, y) of length d and the logits are ``log pi_ref + Phi theta`` with one theta in R^d
(``features_logits``). Every function below then works on those logits unchanged; only
the gradient is carried back to theta by the chain rule (``features_gradient``).

This module states the maths for reading: plain NumPy, one run, no shortcuts.
``engine.py`` computes the same numbers faster (and ``stack.py`` many runs at once); the
tests hold them to this module. The conventions in words: docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import Loss
from .numerics import sigmoid
from .pairs import Pairs


def log_probs(theta: np.ndarray) -> np.ndarray:
    """log pi(y|x) of every reply: a log-softmax over each prompt's replies."""
    top = theta.max(axis=-1, keepdims=True)
    return theta - top - np.log(np.exp(theta - top).sum(axis=-1, keepdims=True))


def log_ratio(logp: np.ndarray, logp_ref: np.ndarray) -> np.ndarray:
    """log(pi(y|x) / pi_ref(y|x)): how much more likely the policy makes y than the
    reference does."""
    return logp - logp_ref


def implicit_reward(logp: np.ndarray, logp_ref: np.ndarray, beta: float) -> np.ndarray:
    """r̂(y) = beta * log(pi(y|x) / pi_ref(y|x)): the policy read as a reward model."""
    return beta * log_ratio(logp, logp_ref)


def kl(logp: np.ndarray, logp_ref: np.ndarray) -> np.ndarray:
    """KL(pi(.|x) || pi_ref(.|x)) of each prompt, exactly: sum_y pi log(pi / pi_ref)."""
    return np.sum(np.exp(logp) * log_ratio(logp, logp_ref), axis=-1)


def kl_ceiling(logp_ref: np.ndarray) -> np.ndarray:
    """The largest KL each prompt can reach, log(1 / min_y pi_ref(y|x)): approached as the
    policy puts all its mass on the reference's least likely reply."""
    return -np.asarray(logp_ref).min(axis=-1)


@dataclass(frozen=True)
class Judgements:
    """The rows unrolled into single judgements "winner beats loser on prompt", each
    with its ``share`` of all judgements. The first N are the rows' chosen sides (in row
    order), the next N their rejected sides."""

    prompt: np.ndarray
    winner: np.ndarray
    loser: np.ndarray
    share: np.ndarray


def judgements(pairs: Pairs) -> Judgements:
    n = pairs.n_judgements
    return Judgements(prompt=np.concatenate([pairs.prompt, pairs.prompt]),
                      winner=np.concatenate([pairs.chosen, pairs.rejected]),
                      loser=np.concatenate([pairs.rejected, pairs.chosen]),
                      share=np.concatenate([pairs.votes_chosen, pairs.votes_rejected]) / n)


def margin(ratio: np.ndarray, j: Judgements) -> np.ndarray:
    """h = log-ratio(winner) - log-ratio(loser) of each judgement (not scaled by beta);
    the scaled margin u = beta * h = r̂(winner) - r̂(loser)."""
    return ratio[j.prompt, j.winner] - ratio[j.prompt, j.loser]


def scaled_margins(theta, logp_ref, pairs: Pairs, beta: float):
    """(judgements, u) of a policy: u = beta * h for every judgement."""
    j = judgements(pairs)
    return j, beta * margin(log_ratio(log_probs(theta), logp_ref), j)


def dpo_loss(theta, logp_ref, pairs: Pairs, beta: float, loss: Loss) -> float:
    """The mean over judgements of ``loss.value(u)``. With DPO's loss (``Sigmoid``) this
    is the paper's objective, -log sigma(beta * h) averaged over the data."""
    j, u = scaled_margins(theta, logp_ref, pairs, beta)
    return float(np.sum(j.share * loss.value(u, beta)))


def gradient(theta, logp_ref, pairs: Pairs, beta: float, loss: Loss) -> np.ndarray:
    """d dpo_loss / d theta, exactly.

    A judgement at u pulls with ``loss.weight(u)`` (= -d loss / d u). Its gradient is
    ``-beta * weight * share`` on the winner's logit and ``+beta * weight * share`` on the
    loser's, nothing else: in h = log pi(w) - log pi(l) - (reference terms), the softmax
    normaliser of the prompt cancels. The other replies move only through the softmax."""
    j, u = scaled_margins(theta, logp_ref, pairs, beta)
    pull = beta * loss.weight(u, beta) * j.share
    grad = np.zeros(np.shape(theta))
    np.add.at(grad, (j.prompt, j.winner), -pull)
    np.add.at(grad, (j.prompt, j.loser), pull)
    return grad


def step(theta, logp_ref, pairs: Pairs, beta: float, learning_rate: float,
         loss: Loss) -> np.ndarray:
    """One update of plain, full-batch gradient descent on the mean loss."""
    return theta - learning_rate * gradient(theta, logp_ref, pairs, beta, loss)


def metrics(theta, logp_ref, pairs: Pairs, beta: float, loss: Loss) -> dict:
    """Every number the simulator records, under TRL's names where TRL has one.

    Means over judgements: ``loss``; ``rewards/chosen`` and ``rewards/rejected`` (r̂ of the
    winner and of the loser); ``rewards/margins`` (u); ``rewards/accuracies`` (the share
    with u > 0, strictly, so 0 at the start); ``logps/chosen``, ``logps/rejected``
    (log pi). Per prompt: ``kl``. Per reply: ``probs``, ``rewards`` (r̂). Per row as it
    stands now (flips applied): ``pairs/margin`` (u of its chosen side), ``pairs/sigma``
    (sigma(u), the model's probability that chosen beats rejected), ``pairs/weight``
    (the chosen side's weight). And ``grad``."""
    logp = log_probs(theta)
    reward = implicit_reward(logp, logp_ref, beta)
    j, u = scaled_margins(theta, logp_ref, pairs, beta)
    n = len(pairs)
    return {
        "loss": float(np.sum(j.share * loss.value(u, beta))),
        "rewards/chosen": float(np.sum(j.share * reward[j.prompt, j.winner])),
        "rewards/rejected": float(np.sum(j.share * reward[j.prompt, j.loser])),
        "rewards/margins": float(np.sum(j.share * u)),
        "rewards/accuracies": float(np.sum(j.share * (u > 0))),
        "logps/chosen": float(np.sum(j.share * logp[j.prompt, j.winner])),
        "logps/rejected": float(np.sum(j.share * logp[j.prompt, j.loser])),
        "kl": kl(logp, logp_ref),
        "probs": np.exp(logp),
        "rewards": reward,
        "pairs/margin": u[:n],
        "pairs/sigma": sigmoid(u[:n]),
        "pairs/weight": loss.weight(u[:n], beta),
        "grad": gradient(theta, logp_ref, pairs, beta, loss),
    }


def stored_row_metrics(theta, logp_ref, pairs: Pairs, beta: float, loss: Loss) -> dict:
    """What TRL's DPOTrainer would log on the rows as stored: each row once, its chosen
    reply as the winner, its votes ignored (TRL sees no votes). Means over rows:
    ``loss`` (the loss in force at u), ``rewards/chosen``, ``rewards/rejected``,
    ``rewards/margins`` (u), ``rewards/accuracies`` (u > 0), ``logps/chosen``,
    ``logps/rejected``. ``metrics`` gives the means over judgements instead; the two
    agree only when every row is unanimous for its chosen reply."""
    logp = log_probs(theta)
    reward = implicit_reward(logp, logp_ref, beta)
    x, c, r = pairs.prompt, pairs.chosen, pairs.rejected
    u = reward[x, c] - reward[x, r]
    return {
        "loss": float(np.mean(loss.value(u, beta))),
        "rewards/chosen": float(np.mean(reward[x, c])),
        "rewards/rejected": float(np.mean(reward[x, r])),
        "rewards/margins": float(np.mean(u)),
        "rewards/accuracies": float(np.mean(u > 0)),
        "logps/chosen": float(np.mean(logp[x, c])),
        "logps/rejected": float(np.mean(logp[x, r])),
    }


def row_pulls(u: np.ndarray, pairs: Pairs, loss: Loss, beta: float):
    """Each row's two pulls on (theta[chosen] - theta[rejected]), in judgements: the
    chosen side's ``votes_chosen * weight(u)`` and the rejected side's
    ``votes_rejected * weight(-u)``; the row moves by their difference (the net pull,
    times beta / all judgements) and rests only where they balance."""
    pull_for = pairs.votes_chosen * loss.weight(u, beta)
    pull_against = pairs.votes_rejected * loss.weight(-u, beta)
    return pull_for, pull_against, pull_for - pull_against


# -- shared parameters: the features (log-linear) model ------------------------------------
def features_logits(theta_d: np.ndarray, logp_ref: np.ndarray, features: np.ndarray
                    ) -> np.ndarray:
    """The logits of the features model: ``log pi_ref(y|x) + theta . phi(x, y)``, where
    ``features`` is (P, K, d) and ``theta_d`` (d,). At theta = 0 the policy is pi_ref.
    Within a prompt the normaliser cancels, so a judgement's margin is
    ``h = theta . (phi(x, w) - phi(x, l))``: one theta moves every reply that shares a
    feature with the two compared."""
    return logp_ref + features @ theta_d


def features_gradient(theta_d, logp_ref, features, pairs: Pairs, beta: float,
                      loss: Loss) -> np.ndarray:
    """d dpo_loss / d theta (d,): the chain rule through the linear map theta -> logits,
    ``sum over (x, y) of phi(x, y) * d loss / d logit(x, y)``. With ``gradient``'s pulls
    (-pull on the winner, +pull on the loser) this is ``-sum of pull * (phi_w - phi_l)``:
    each judgement pushes theta along the difference of its two replies' features, and
    every reply whose features lie along that difference moves too (the chosen one down,
    when it resembles the rejected one more than itself: Razin et al. 2024)."""
    g = gradient(features_logits(theta_d, logp_ref, features), logp_ref, pairs, beta, loss)
    return np.einsum("xyj,xy->j", features, g)


def features_step(theta_d, logp_ref, features, pairs: Pairs, beta: float,
                  learning_rate: float, loss: Loss) -> np.ndarray:
    """One update of plain, full-batch gradient descent on theta."""
    return theta_d - learning_rate * features_gradient(theta_d, logp_ref, features, pairs,
                                                       beta, loss)
