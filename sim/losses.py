"""Per-judgement preference losses: one interface, used by the readable maths (``dpo.py``),
by the engine (``engine.py``) and by the stack of runs (``stack.py``).

A judgement "c beats r" on prompt x sees the policy only through its scaled margin
``u = beta * h``, with ``h = log-ratio(c) - log-ratio(r)``. A loss gives

- ``value(u, beta)``: the judgement's loss;
- ``weight(u, beta) = -d value / d u``: how hard the judgement pulls.

The judgement's gradient is then ``-beta * weight * (e_c - e_r)`` whatever the loss: the
softmax normaliser cancels in a difference of log-ratios (docs/model.md). A row with
votes a:b holds a judgements at ``u`` and b at ``-u``, so the engine asks for both sides
at once: ``pair_terms`` (values and weights) and ``pair_weights`` (weights only; the
stack of runs needs no loss values). The defaults call ``value`` / ``weight`` twice; a
loss may compute both sides together (DPO does: one exp serves both).

A new loss (IPO, hinge, ...) is one subclass plus one entry in ``LOSS_TYPES``.
"""

from __future__ import annotations

import numpy as np

from .numerics import sigmoid_pair, sigmoid_softplus, softplus_pair


class Loss:
    """A per-judgement loss in the scaled margin u = beta * h."""

    #: the name (TRL's ``loss_type`` where TRL has one)
    name = ""
    #: one line for people
    description = ""
    #: False when the weight never depends on u: the stack of runs then skips computing
    #: margins, and ``pair_weights`` reads only the shape of the u it is given.
    needs_margin = True
    #: True when weight(u) = sigma(-u): weight(-u) is then sigma(u), the row's preference
    #: probability, so the engine need not compute it a second time.
    weight_is_sigmoid = False

    def value(self, u, beta):
        raise NotImplementedError

    def weight(self, u, beta):
        raise NotImplementedError

    def pair_terms(self, u, beta):
        """(value(u), value(-u), weight(u), weight(-u)): the chosen-side and the
        rejected-side judgements of each row."""
        return (self.value(u, beta), self.value(-u, beta),
                self.weight(u, beta), self.weight(-u, beta))

    def pair_weights(self, u, beta, out=None):
        """(weight(u), weight(-u)); ``out``: optional scratch arrays shaped like u (three
        of them), for an allocation-free hot path."""
        return self.weight(u, beta), self.weight(-u, beta)

    def __repr__(self) -> str:
        return f"<loss {self.name}>"


class Sigmoid(Loss):
    """DPO: ``-log sigma(u)``, whose weight ``sigma(-u)`` fades as a judgement is learned.

    TRL's ``loss_type="sigmoid"``. Computed as softplus(-u) and sigma(+-u), exact in both
    tails, so a learned hard label keeps its small, correct pull."""

    name = "sigmoid"
    description = "DPO: -log sigma(u); the weight sigma(-u) fades as a pair is learned."
    weight_is_sigmoid = True

    def value(self, u, beta):
        return softplus_pair(u)[0]

    def weight(self, u, beta):
        return sigmoid_pair(u)[1]

    def pair_terms(self, u, beta):
        sig_u, sig_neg, loss_fwd, loss_bwd = sigmoid_softplus(u)
        return loss_fwd, loss_bwd, sig_neg, sig_u

    def pair_weights(self, u, beta, out=None):
        sig_u, sig_neg = sigmoid_pair(u, out=out)
        return sig_neg, sig_u


class BareMargin(Loss):
    """The bare margin ``-u``: weight 1 for every judgement, forever, so nothing ever
    stops the push (what the adaptive-weight toggle switches to)."""

    name = "bare_margin"
    description = "Bare margin: -u; weight 1 forever, so nothing ever stops the push."
    needs_margin = False

    def value(self, u, beta):
        return -np.asarray(u, dtype=float)

    def weight(self, u, beta):
        return np.ones(np.shape(u))

    def pair_terms(self, u, beta):
        u = np.asarray(u, dtype=float)
        one = np.ones(u.shape)
        return -u, u.copy(), one, one

    def pair_weights(self, u, beta, out=None):
        if out is None:
            one = np.ones(np.shape(u))
        else:
            one = out[0]
            one.fill(1.0)
        return one, one


SIGMOID = Sigmoid()
BARE_MARGIN = BareMargin()

#: The losses a scenario may name as ``loss_type`` (TRL's names).
LOSS_TYPES: dict[str, Loss] = {"sigmoid": SIGMOID}


def objective(loss_type: str, adaptive_weight: bool) -> Loss:
    """The per-judgement loss in force.

    ``adaptive_weight=False`` replaces the loss, whatever ``loss_type`` names, by the bare
    margin ``-u``: the toggle asks "what if every judgement kept pulling at full strength
    forever?", a question about the weight, not about one loss. The run's records say
    which loss was in force (``Record.adaptive_weight``)."""
    if loss_type not in LOSS_TYPES:
        raise KeyError(f"unknown loss_type {loss_type!r}; known: {', '.join(LOSS_TYPES)}")
    return LOSS_TYPES[loss_type] if adaptive_weight else BARE_MARGIN
