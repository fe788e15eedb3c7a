"""Per-instance preference losses as functions of the scaled margin ``u``.

Every loss is a pair (loss(u, beta), weight(u, beta)) where ``weight = -d loss / d u``.
The engine never needs more: the gradient of one judgement "c over r" on prompt x is
``-beta * weight * (e_c - e_r)`` for every loss of this form, because the softmax
normaliser cancels in the log-ratio difference. New losses (IPO, hinge, conservative DPO)
plug in here without touching the engine.

A row with votes a:b holds a judgements at margin ``u`` and b at ``-u``, so the engine asks
for both sides at once (``pair_losses``, ``pair_weights``); a loss may supply a fused
version that shares work between the two sides (DPO does: one exp for both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow for large |x|."""
    return np.logaddexp(0.0, x)


# exp(709) is near the largest finite double: clipping the exponent there keeps exp finite.
_EXP_MAX = 709.0


def _sigmoid_core(u, a, b, e) -> None:
    """a = sigma(u), b = sigma(-u), e = scratch, into the given arrays (see sigmoid_pair)."""
    np.negative(u, out=e)
    np.minimum(e, _EXP_MAX, out=e)
    np.exp(e, out=e)                      # E = exp(-u), finite
    np.add(e, 1.0, out=a)
    np.divide(1.0, a, out=a)              # sigma(u) = 1 / (1 + E)
    np.multiply(e, a, out=b)              # sigma(-u) = E / (1 + E)


def sigmoid_pair(u: np.ndarray, out=None) -> tuple[np.ndarray, np.ndarray]:
    """(sigma(u), sigma(-u)) from one exp, each exact to rounding in both tails.

    With E = exp(-u): sigma(u) = 1 / (1 + E) and sigma(-u) = E * sigma(u). Both are
    products and quotients of accurately rounded positive numbers, never 1 - (something
    close to 1), so each keeps its relative precision however small it gets: sigma(-u)
    for u up to 745 (then it underflows to 0), sigma(u) down to 1e-308 (u >= -709; below,
    where E is clipped to stay finite, it is off by less than 1.3e-308 in absolute terms).
    ``out``: optional three arrays shaped like u (the two results and a scratch array),
    for the engine's allocation-free hot path; the numbers are the same either way.
    """
    u = np.asarray(u, dtype=float)
    if u.ndim == 0:
        a, b = sigmoid_pair(u.reshape(1))
        return a[0], b[0]
    if out is None:
        out = np.empty((3,) + u.shape)
    _sigmoid_core(u, *out)
    return out[0], out[1]


def dpo_terms(u: np.ndarray):
    """(sigma(u), sigma(-u), softplus(-u), softplus(u)) of a 1-D u: the DPO weights and
    losses of both sides of a row. The sigmoids are bit-identical to ``sigmoid_pair``;
    softplus(x) = max(x, 0) + log1p(exp(-|x|)) is exact in both tails, and
    max(-u, 0) = max(u, 0) - u holds exactly."""
    out = np.empty((4,) + u.shape)
    a, b, e, l1p = out
    _sigmoid_core(u, a, b, e)
    np.abs(u, out=l1p)
    np.negative(l1p, out=l1p)
    np.exp(l1p, out=l1p)
    np.log1p(l1p, out=l1p)
    relu = np.maximum(u, 0.0)
    sp_neg = relu - u
    sp_neg += l1p
    relu += l1p
    return a, b, sp_neg, relu


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), exact in both tails (no overflow warning, no 1 - tiny loss)."""
    return sigmoid_pair(x)[0]


def softplus_pair(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(softplus(-u), softplus(u)) = (-log sigma(u), -log sigma(-u)), exact in both tails:
    softplus(x) = max(x, 0) + log1p(exp(-|x|))."""
    u = np.asarray(u, dtype=float)
    e = np.log1p(np.exp(-np.abs(u)))
    return np.maximum(-u, 0.0) + e, np.maximum(u, 0.0) + e


@dataclass(frozen=True)
class Loss:
    """A per-instance loss in the scaled margin u = beta * h.

    ``both_losses`` / ``both_weights`` are optional fused versions returning the value at
    u and at -u together; without them the engine calls ``loss`` / ``weight`` twice.
    """

    name: str
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray]
    weight: Callable[[np.ndarray, np.ndarray], np.ndarray]
    description: str
    both_losses: Optional[Callable] = None
    both_weights: Optional[Callable] = None
    # Fast-path hints for the engine (a new loss leaves both False):
    sigmoid_weight: bool = False     # loss -log sigma(u), weight sigma(-u): see dpo_terms
    constant_weight: bool = False    # weight 1: the gradient does not depend on theta

    def pair_losses(self, u, beta):
        """(loss(u), loss(-u)): the chosen-side and the rejected-side judgements of a row."""
        if self.both_losses is not None:
            return self.both_losses(u, beta)
        return self.loss(u, beta), self.loss(-u, beta)

    def pair_weights(self, u, beta):
        """(weight(u), weight(-u)), as ``pair_losses``."""
        if self.both_weights is not None:
            return self.both_weights(u, beta)
        return self.weight(u, beta), self.weight(-u, beta)


def _dpo_loss(u, beta):
    return softplus_pair(u)[0]


def _dpo_weight(u, beta):
    return sigmoid_pair(u)[1]


def _dpo_both_losses(u, beta):
    return softplus_pair(u)


def _dpo_both_weights(u, beta):
    s_pos, s_neg = sigmoid_pair(u)
    return s_neg, s_pos


def _bare_loss(u, beta):
    return -np.asarray(u, dtype=float)


def _bare_weight(u, beta):
    return np.ones_like(u, dtype=float)


def _bare_both_losses(u, beta):
    u = np.asarray(u, dtype=float)
    return -u, u.copy()


def _bare_both_weights(u, beta):
    one = np.ones_like(u, dtype=float)
    return one, one


DPO = Loss("sigmoid", _dpo_loss, _dpo_weight,
           "DPO: -log sigma(u); the weight sigma(-u) fades as a pair is learned.",
           _dpo_both_losses, _dpo_both_weights, sigmoid_weight=True)
BARE_MARGIN = Loss("bare_margin", _bare_loss, _bare_weight,
                   "Bare margin: -u; weight 1 forever, so nothing ever stops the push.",
                   _bare_both_losses, _bare_both_weights, constant_weight=True)

# TRL's name for the DPO loss is loss_type="sigmoid"; later issues add "ipo", "hinge", ...
LOSSES: dict[str, Loss] = {"sigmoid": DPO}


def get_loss(loss_type: str, adaptive_weight: bool) -> Loss:
    """The loss in force: with the adaptive weight switched off, every loss becomes -u."""
    if loss_type not in LOSSES:
        raise KeyError(f"unknown loss_type {loss_type!r}; known: {', '.join(sorted(LOSSES))}")
    return LOSSES[loss_type] if adaptive_weight else BARE_MARGIN
