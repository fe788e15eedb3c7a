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

The losses, by TRL's ``loss_type`` names (TRL 1.x), with ``x = h`` (not scaled by beta)
and ``u = beta * x``:

========== ===================================================== ========================
loss_type  value                                                 weight = -d value / d u
========== ===================================================== ========================
sigmoid    ``-log sigma(u)`` (DPO)                               ``sigma(-u)``
ipo        ``(x - 1/(2 beta))^2``                                ``(1 - 2u) / beta^2``
hinge      ``max(0, 1 - u)``                                     1 if ``u < 1``, else 0
robust     ``(-(1-eps) log sigma(u) + eps log sigma(-u))         ``sigma(-u) + eps/(1-2eps)``
           / (1 - 2 eps)`` (rDPO; ``eps = label_smoothing``)
========== ===================================================== ========================

``robust`` rewritten: ``-log sigma(-u) = -log sigma(u) + u``, so its value is
``-log sigma(u) - eps/(1-2eps) * u``: DPO plus ``eps/(1-2eps)`` of the bare margin. Its
weight never fades below ``eps/(1-2eps)``; that constant pull is what lets it undo the
expected share ``eps`` of flipped labels. A loss that needs ``label_smoothing`` takes it
at construction; ``objective`` hands out one cached instance per value.

Conservative DPO (older TRL: ``loss_type="sigmoid"`` with ``label_smoothing = eps``,
``-(1-eps) log sigma(u) - eps log sigma(-u)``) is not a loss of its own here: it says "a
share eps of the annotators voted the other way", which is exactly what a row's votes
say. A 10:0 row under conservative DPO with eps = 0.1 has the same loss, gradient and run
as a 9:1 row under ``sigmoid`` (``tests/test_losses.py``), so write the row 9:1.

A new loss is one subclass plus one entry in ``LOSS_TYPES``. The loss in force (which loss,
its label smoothing, the weight toggle) travels as one value, ``LossSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache

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
    #: True when the loss reads ``label_smoothing`` (then ``smoothed`` gives the instance)
    uses_label_smoothing = False
    #: the label smoothing this instance was built with (0 for a loss that ignores it)
    label_smoothing = 0.0

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
        of them), for an allocation-free hot path. ``beta`` is a number or an array
        shaped like u (one beta per run of a stack)."""
        return self.weight(u, beta), self.weight(-u, beta)

    def smoothed(self, label_smoothing: float) -> Loss:
        """This loss with the given label smoothing (itself when it takes none)."""
        return self

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


class IPO(Loss):
    """IPO: ``(x - 1/(2 beta))^2`` with ``x = h = u / beta``, a squared distance to the
    target margin ``h = 1/(2 beta)``.

    TRL's ``loss_type="ipo"``. TRL divides each completion's log-ratio by its number of
    tokens first (IPO's per-token average); a table of logits has no tokens, so nothing
    is divided here. The weight ``(1 - 2u) / beta^2`` changes sign at ``u = 1/2``: past
    the target a judgement pulls back. A lone row a:b rests where its two sides balance,
    ``u = (2p - 1)/2`` with p = a/(a+b), i.e. ``h = (2p - 1)/(2 beta)``: a finite margin
    even for a unanimous row (``h = 1/(2 beta)``). On a table the loss is an exact
    quadratic in the logits (the normaliser cancels in h)."""

    name = "ipo"
    description = ("IPO: (h - 1/(2 beta))^2; pulls every pair to a fixed margin, even a "
                   "unanimous one.")

    @staticmethod
    def _gap(u, beta, out=None):
        """(1/2 - u) / beta = 1/(2 beta) - x, how far x is below the target."""
        g = np.subtract(0.5, u, out=out)
        g /= beta
        return g

    def value(self, u, beta):
        g = self._gap(np.asarray(u, dtype=float), beta)
        return g * g

    def weight(self, u, beta):
        g = self._gap(np.asarray(u, dtype=float), beta)
        g *= 2.0
        g /= beta
        return g

    def pair_terms(self, u, beta):
        u = np.asarray(u, dtype=float)
        return self.value(u, beta), self.value(-u, beta), *self.pair_weights(u, beta)

    def pair_weights(self, u, beta, out=None):
        u = np.asarray(u, dtype=float)
        a, b, e = out if out is not None else (None, None, None)
        fwd = self._gap(u, beta, out=a)
        fwd *= 2.0
        fwd /= beta
        neg = np.negative(u, out=e)
        bwd = self._gap(neg, beta, out=b)
        bwd *= 2.0
        bwd /= beta
        return fwd, bwd


class Hinge(Loss):
    """Hinge (SLiC): ``max(0, 1 - u)``: weight 1 until the margin reaches ``u = 1``, then 0.

    TRL's ``loss_type="hinge"``. At the kink the subgradient 0 is taken: a judgement
    with ``u >= 1`` exactly does not pull. Every row is driven to ``|u| = 1`` on its
    majority's side whatever its vote split (a 5:5 row does not move): below 1 the
    majority out-pulls the minority, at 1 the majority stops and the minority pulls back,
    so plain gradient steps make the row's margin oscillate about u = 1."""

    name = "hinge"
    description = "Hinge: max(0, 1 - u); full pull until the margin reaches 1, then none."

    def value(self, u, beta):
        return np.maximum(np.subtract(1.0, u), 0.0)

    def weight(self, u, beta):
        return self.pair_weights(u, beta)[0]

    def pair_terms(self, u, beta):
        u = np.asarray(u, dtype=float)
        return (self.value(u, beta), np.maximum(np.add(1.0, u), 0.0),
                *self.pair_weights(u, beta))

    def pair_weights(self, u, beta, out=None):
        u = np.asarray(u, dtype=float)
        a, b = (np.empty(u.shape), np.empty(u.shape)) if out is None else out[:2]
        np.less(u, 1.0, out=a)             # 1.0 below the kink, 0.0 from u = 1 on
        np.greater(u, -1.0, out=b)         # -u < 1  <=>  u > -1 (negation is exact)
        return a, b


class Robust(Loss):
    """Robust DPO (rDPO; Chowdhury, Kini and Natarajan 2024, "Provably Robust DPO"):
    ``(-(1-eps) log sigma(u) + eps log sigma(-u)) / (1 - 2 eps)``, an unbiased loss when
    each label is flipped with probability ``eps``.

    TRL's ``loss_type="robust"`` with ``label_smoothing = eps``, 0 <= eps < 1/2. Computed
    as ``softplus(-u) - c u`` with weight ``sigma(-u) + c``, ``c = eps/(1-2eps)``: the same
    function (``log sigma(-u) = log sigma(u) - u``), with the exact-in-both-tails softplus
    and sigmoid, and no difference of two large terms in the weight. With eps = 0 it is
    DPO to the bit. A lone row a:b (p = a/(a+b)) rests where
    ``sigma(u) = (p - eps)/(1 - 2 eps)``; once ``p >= 1 - eps`` (or ``p <= eps``) there is no
    finite rest point and the row drifts for ever: slower and slower at p = 1 - eps, at a
    steady speed beyond (``rest`` decides it for any rows)."""

    name = "robust"
    description = ("Robust DPO: DPO corrected for a share eps of flipped labels; its weight "
                   "never fades below eps/(1-2eps).")
    uses_label_smoothing = True

    def __init__(self, label_smoothing: float = 0.0):
        eps = float(label_smoothing)
        if not 0.0 <= eps < 0.5:
            raise ValueError(f"label_smoothing must be >= 0 and < 0.5, got {eps!r}")
        self.label_smoothing = eps
        #: the constant part of the weight, eps / (1 - 2 eps)
        self.c = eps / (1.0 - 2.0 * eps)

    def value(self, u, beta):
        u = np.asarray(u, dtype=float)
        return softplus_pair(u)[0] - self.c * u

    def weight(self, u, beta):
        w = sigmoid_pair(u)[1]
        return w + self.c

    def pair_terms(self, u, beta):
        sig_u, sig_neg, loss_fwd, loss_bwd = sigmoid_softplus(u)
        cu = self.c * u
        loss_fwd -= cu
        loss_bwd += cu
        sig_neg += self.c
        sig_u += self.c
        return loss_fwd, loss_bwd, sig_neg, sig_u

    def pair_weights(self, u, beta, out=None):
        sig_u, sig_neg = sigmoid_pair(u, out=out)
        sig_neg += self.c
        sig_u += self.c
        return sig_neg, sig_u

    def smoothed(self, label_smoothing: float) -> Robust:
        return _robust(float(label_smoothing))

    def __repr__(self) -> str:
        return f"<loss {self.name} eps={self.label_smoothing!r}>"


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
IPO_LOSS = IPO()
HINGE = Hinge()
ROBUST = Robust(0.0)
BARE_MARGIN = BareMargin()


@lru_cache(maxsize=256)
def _robust(label_smoothing: float) -> Robust:
    """One Robust instance per label smoothing (the engine's hot path builds none)."""
    return ROBUST if label_smoothing == 0.0 else Robust(label_smoothing)


#: The losses a scenario may name as ``loss_type`` (TRL's names), in a fixed order: the
#: run's history stores a loss type as its index here.
LOSS_TYPES: dict[str, Loss] = {"sigmoid": SIGMOID, "ipo": IPO_LOSS, "hinge": HINGE,
                               "robust": ROBUST}


def objective(loss_type: str, adaptive_weight: bool, label_smoothing: float = 0.0) -> Loss:
    """The per-judgement loss in force.

    ``label_smoothing`` (0 <= eps < 1/2) is read by the losses that use it (``robust``)
    and ignored by the others. ``adaptive_weight=False`` replaces the loss, whatever
    ``loss_type`` names, by the bare margin ``-u``: the toggle asks "what if every
    judgement kept pulling at full strength forever?", a question about the weight, not
    about one loss. The run's records say which loss was in force (``Record.loss_type``,
    ``Record.label_smoothing``, ``Record.adaptive_weight``)."""
    loss = LOSS_TYPES.get(loss_type)
    if loss is None:
        raise KeyError(f"unknown loss_type {loss_type!r}; known: {', '.join(LOSS_TYPES)}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be >= 0 and < 0.5, got {label_smoothing!r}")
    if not adaptive_weight:
        return BARE_MARGIN
    return loss.smoothed(label_smoothing) if loss.uses_label_smoothing else loss


@dataclass(frozen=True)
class LossSpec:
    """The loss in force, as one value: the settings that shape the per-judgement loss.

    Its fields are the rows of ``settings.SETTINGS`` marked ``shapes_loss`` (a test holds
    the two equal), in the table's order; ``loss`` is the ``Loss`` they give
    (``objective``), built once when the value is made, so the engine's hot path looks
    nothing up. Frozen and hashable: it keys caches (a stack reply, a rest plan) and
    travels whole through the engine, the stack, the sweep, the frontier and the history.
    A new setting of the maths is its row in the table, its field here and its use in
    ``objective``."""

    adaptive_weight: bool = True
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0
    #: the per-judgement loss these settings put in force
    loss: Loss = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "adaptive_weight", bool(self.adaptive_weight))
        object.__setattr__(self, "label_smoothing", float(self.label_smoothing))
        object.__setattr__(self, "loss", objective(self.loss_type, self.adaptive_weight,
                                                   self.label_smoothing))

    @classmethod
    def of(cls, holder) -> LossSpec:
        """The loss in force of anything holding the settings as attributes (a Scenario,
        a Simulation)."""
        return cls(**{f.name: getattr(holder, f.name) for f in fields(cls) if f.init})

    def to_dict(self) -> dict:
        """The settings, for a record or a reply (JSON-ready, the table's order)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}


#: DPO as the paper states it: sigmoid loss, adaptive weight on, no label smoothing
DPO = LossSpec()
