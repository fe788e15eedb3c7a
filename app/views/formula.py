"""The formula strip: one row's numbers worked out, with the current values plugged in
(the row looked at or flipped last): its implicit rewards, its margin and sigma(u), the
two pulls on the pair and the net pull, and where the row ends (``rest_text``: what
``sim.rest`` decides, in words, with the margin it claims in ``data-u``)."""

from __future__ import annotations

import math

import numpy as np

from ...sim.dpo import row_pulls
from ...sim.numerics import sigmoid
from ...sim.rest import RowRest
from .. import texts as T
from ..numfmt import minus as _num
from ..texts import WEIGHT_NAMES
from .bars import letter, short
from .util import HtmlView, esc, fixed, small

_n = fixed


def _g(v: float) -> str:
    return f"{v:g}"


def _net_at(loss, beta: float, a: float, b: float, u: float) -> float:
    """The row's own net pull, a·w(u) − b·w(−u), at margin u."""
    w = np.asarray(loss.weight(np.array([u, -u]), beta), dtype=float)
    return float(a * w[0] - b * w[1])


def _at(loss, beta: float, u: float) -> str:
    """What a margin means: σ(u) for DPO's family, the log-ratio margin h for IPO."""
    if loss.name == "ipo":
        return f" (h = {_num(u / beta, 3, sign=True)})"
    return f" (σ(u) = {_num(float(sigmoid(np.array([u]))[0]))})"


def rest_text(rr: RowRest, a: float, b: float, loss, beta: float,
              learning_rate: float) -> str:
    """Where a row with votes a (chosen side) : b ends, in words (``texts.REST_*``), from
    ``sim.rest``'s ``RowRest`` for it under ``loss`` (the loss in force, weight toggle
    applied) at this beta and learning rate."""
    name = loss.name
    n = a + b
    p = a / n if n else math.nan
    eps = getattr(loss, "label_smoothing", 0.0) if name == "robust" else 0.0
    kind, how = rr.kind, rr.how
    u = _num(rr.u, 3, sign=True) if math.isfinite(rr.u) else ""
    where = T.REST_WHERE_OWN if how == "own" else T.REST_WHERE_SHARED
    if kind == "rests":
        if how == "still":
            return (T.REST_STILL_OFF if name == "bare_margin" else T.REST_STILL).format(u=u)
        if how == "own":
            q = (p - eps) / (1 - 2 * eps)
            return T.REST_OWN[name].format(u=u, a=_g(a), b=_g(b), q=_num(q), p=_num(p),
                                           eps=_g(eps), h=_num(rr.u / beta, 3, sign=True))
        if rr.cycle:
            why = T.REST_WHY_CYCLE
        elif rr.via >= 0:
            why = T.REST_WHY_CARRIED.format(via=rr.via)
        else:
            why = T.REST_WHY_OTHER
        net = _net_at(loss, beta, a, b, rr.u)
        return T.REST_SHARED.format(u=u, at=_at(loss, beta, rr.u),
                                    net=_num(net, 3, sign=True), why=why)
    if kind == "approaches":
        return T.REST_APPROACHES.format(u=u, at=_at(loss, beta, rr.u), where=where,
                                        via=rr.via)
    if kind == "drifts":
        if how == "":
            return T.REST_DRIFT_SHAKEN
        up = rr.u > 0
        side = "+∞" if up else "−∞"
        if name == "bare_margin":
            why = T.REST_WHY_OFF
        elif how == "slowing" and (b == 0 or a == 0) and eps == 0:
            why = T.REST_WHY_UNANIMOUS.format(
                side="chosen" if b == 0 else "rejected", n=_g(a if b == 0 else b),
                w="σ(−u)" if b == 0 else "σ(u)")
        elif name == "robust" and how == "slowing" and abs(max(p, 1 - p) - (1 - eps)) < 1e-9:
            why = T.REST_WHY_ROBUST_EDGE.format(p=_num(p), eps=_g(eps),
                                                side="chosen" if p > 0.5 else "rejected")
        elif name == "robust" and how == "steady" and max(p, 1 - p) > 1 - eps + 1e-9:
            floor = eps / (1 - 2 * eps)
            limit = (a * floor - b * (1 + floor)) if up else (a * (1 + floor) - b * floor)
            why = T.REST_WHY_ROBUST_BEYOND.format(p=_num(p), edge=_num(1 - eps),
                                                  floor=_num(floor),
                                                  net=_num(limit, 3, sign=True))
        elif how == "slowing":
            why = T.REST_WHY_GROUP
        else:
            why = T.REST_WHY_DRAGGED
        if how == "steady":
            return T.REST_DRIFT_STEADY.format(side=side, pace=_num(rr.pace, 4, sign=True),
                                              why=why)
        return T.REST_DRIFT_SLOWING.format(side=side, why=why)
    if kind == "swings":
        up = rr.u > 0
        return T.REST_SWINGS.format(where="below 1" if up else "above −1", a=_g(a), b=_g(b),
                                    d=_num(a - b, 0, sign=True), edge="1" if up else "−1",
                                    after=_num(-b, 0) if up else f"+{_g(a)}")
    if kind == "stops":
        up = rr.u > 0
        return T.REST_STOPS.format(side="chosen" if up else "rejected",
                                   edge="1" if up else "−1")
    if kind == "idle":
        return T.REST_IDLE.format(a=_g(a), b=_g(b))
    if kind == "overshoots":
        return T.REST_OVERSHOOTS.format(u=u, lr=_g(learning_rate),
                                        limit=_num(rr.lr_limit, 3),
                                        ipo=T.REST_OVERSHOOTS_IPO if name == "ipo" else "")
    if kind == "heads":
        return T.REST_HEADS.format(u=u, where=where, lr=_g(learning_rate),
                                   limit=_num(rr.lr_limit, 3))
    if kind == "halts":
        return T.REST_HALTS.format(u=u, via=rr.via)
    return T.REST_OPEN_HINGE if name == "hinge" else T.REST_OPEN


def rest_html(rr: RowRest, text: str) -> str:
    """The rest statement as the page shows it: ``data-testid="rest"`` with ``data-u`` the
    margin it says the row rests at, ``none`` where it says the row never rests, and no
    ``data-u`` where it claims neither."""
    claim = rr.claim
    if claim is None:
        attr = ""
    elif math.isnan(claim):
        attr = ' data-u="none"'
    else:
        attr = f' data-u="{claim!r}"'
    return f'<span data-testid="rest" data-kind="{rr.kind}"{attr}>{esc(text)}</span>'


class FormulaStrip(HtmlView):
    def _html(self) -> str:
        st = self.state
        rec, pairs, spec = st.record, st.pairs, st.spec
        if not spec.rows:
            return ""
        i = st.focus_row
        x = int(pairs.prompt[i])
        c, l = int(pairs.chosen[i]), int(pairs.rejected[i])
        replies = spec.prompts[x].replies
        pi, ref = rec.probs[x], st.pi_ref[x]
        b = rec.beta
        rc, rr = float(rec.rewards[x, c]), float(rec.rewards[x, l])
        u = float(rec.row_margin[i])
        s = float(rec.row_sigma[i])
        a_votes, b_votes = float(pairs.votes_chosen[i]), float(pairs.votes_rejected[i])
        on = rec.adaptive_weight
        loss = st.loss
        p_for, p_against, net = (float(v[i]) for v in row_pulls(rec.row_margin, pairs,
                                                                  loss, b))
        w = WEIGHT_NAMES.get(loss.name, "w(u)")
        w_for = w if on else "1"
        w_against = ("σ(u)" if loss.name == "sigmoid" else "w(−u)") if on else "1"
        rest = st.rest[i]
        said = rest_text(rest, a_votes, b_votes, loss, b, rec.learning_rate)
        F = T.FORMULA
        head = F["head"].format(i=i, c=letter(c), chosen=short(replies[c], 40), l=letter(l),
                                rejected=short(replies[l], 40), a=_g(a_votes), b=_g(b_votes))
        return (
            '<div class="dpo-card dpo-formula">'
            f'<div class="dpo-h">{esc(head)}</div>'
            f'<p>{esc(F["reward"])}<span class="eq">{esc(F["reward_eq"])}</span></p>'
            f'<p>{esc(F["chosen"])}<span class="eq">{b:.3g} × log({small(pi[c])} / '
            f'{small(ref[c])}) = {_n(rc, sign=True)}</span> &nbsp; {esc(F["rejected"])}'
            f'<span class="eq">{b:.3g} × log({small(pi[l])} / {small(ref[l])}) = '
            f'{_n(rr, sign=True)}</span> &nbsp; {esc(F["margin"])}'
            f'<span class="eq">u = {_n(u, sign=True)}, σ(u) = {_n(s)}</span></p>'
            f'<p>{esc(F["pull_for"])}<span class="eq">'
            f'{_g(a_votes)} × {w_for} = {_n(p_for)}</span>{esc(F["pull_against"])}'
            f'<span class="eq">{_g(b_votes)} × {w_against} = {_n(p_against)}</span>'
            f'{esc(F["net"])}<span class="eq" data-testid="net-pull" data-value="{net!r}">'
            f'{_n(net, sign=True)}</span>.</p>'
            f'<p>{rest_html(rest, said)}</p><p class="dpo-note">{esc(T.REST_RUN)}</p></div>')
