"""Per-instance preference losses as functions of the scaled margin ``u``.

Every loss is a pair (loss(u, beta), weight(u, beta)) where ``weight = -d loss / d u``.
The engine never needs more: the gradient of one judgement "c over r" on prompt x is
``-beta * weight * (e_c - e_r)`` for every loss of this form, because the softmax
normaliser cancels in the log-ratio difference. New losses (IPO, hinge, conservative DPO)
plug in here without touching the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow for large |x|."""
    return np.logaddexp(0.0, x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), exact in both tails (no overflow warning, no 1 - tiny loss)."""
    return np.exp(-np.logaddexp(0.0, -x))


@dataclass(frozen=True)
class Loss:
    """A per-instance loss in the scaled margin u = beta * h."""

    name: str
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray]
    weight: Callable[[np.ndarray, np.ndarray], np.ndarray]
    description: str


def _dpo_loss(u, beta):
    return softplus(-u)


def _dpo_weight(u, beta):
    return sigmoid(-u)


def _bare_loss(u, beta):
    return -u


def _bare_weight(u, beta):
    return np.ones_like(u)


DPO = Loss("sigmoid", _dpo_loss, _dpo_weight,
           "DPO: -log sigma(u); the weight sigma(-u) fades as a pair is learned.")
BARE_MARGIN = Loss("bare_margin", _bare_loss, _bare_weight,
                   "Bare margin: -u; weight 1 forever, so nothing ever stops the push.")

# TRL's name for the DPO loss is loss_type="sigmoid"; later issues add "ipo", "hinge", ...
LOSSES: dict[str, Loss] = {"sigmoid": DPO}


def get_loss(loss_type: str, adaptive_weight: bool) -> Loss:
    """The loss in force: with the adaptive weight switched off, every loss becomes -u."""
    if loss_type not in LOSSES:
        raise KeyError(f"unknown loss_type {loss_type!r}; known: {', '.join(sorted(LOSSES))}")
    return LOSSES[loss_type] if adaptive_weight else BARE_MARGIN
