"""The formula strip: one row's numbers worked out, with the current values plugged in
(the row looked at or flipped last): its implicit rewards, its margin and sigma(u), the
two pulls on the pair and the net pull, and what stops it (texts.REST_*)."""

from __future__ import annotations

import numpy as np

from ...sim.dpo import row_pulls
from ..texts import (
    REST_AT,
    REST_NEVER,
    REST_RUN,
    REST_SPLIT,
    REST_TIE,
    REST_UNANIMOUS,
    REST_WEIGHT_OFF,
    WEIGHT_NAMES,
)
from .bars import letter, short
from .pulls import rest_point
from .util import HtmlView, esc, fixed, small

_n = fixed


def _g(v: float) -> str:
    return f"{v:g}"


def rest_text(a: float, b: float, weight_on: bool, loss=None, beta: float = 1.0) -> str:
    """What stops a row with votes a (chosen side) : b (rejected side), under DPO's loss
    (``loss`` None or sigmoid) or another one (its rest point found numerically)."""
    if a == b:
        return REST_TIE
    if not weight_on:
        return REST_WEIGHT_OFF.format(a=_g(a), b=_g(b), net=_g(a - b))
    if loss is not None and loss.name != "sigmoid":
        u = rest_point(loss, beta, a, b)
        return (REST_AT.format(a=_g(a), b=_g(b), u=_n(u, sign=True)) if np.isfinite(u)
                else REST_NEVER)
    if b == 0:
        return REST_UNANIMOUS.format(side="chosen", n=_g(a), w="σ(−u)")
    if a == 0:
        return REST_UNANIMOUS.format(side="rejected", n=_g(b), w="σ(u)")
    return REST_SPLIT.format(a=_g(a), b=_g(b), share=f"{a / (a + b):.3g}")


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
        return (
            '<div class="dpo-card dpo-formula">'
            f'<div class="dpo-h">Row {i} worked out: “{letter(c)}: '
            f'{esc(short(replies[c], 40))}” over “{letter(l)}: {esc(short(replies[l], 40))}”,'
            f' votes {_g(a_votes)}:{_g(b_votes)}</div>'
            '<p>Implicit reward: β times the log of how much more likely the policy makes a '
            'reply than the reference does. '
            '<span class="eq">r̂(y) = β · log(π(y|x) / π_ref(y|x))</span></p>'
            f'<p>chosen: <span class="eq">{b:.3g} × log({small(pi[c])} / {small(ref[c])}) = '
            f'{_n(rc, sign=True)}</span> &nbsp; rejected: <span class="eq">{b:.3g} × log('
            f'{small(pi[l])} / {small(ref[l])}) = {_n(rr, sign=True)}</span> &nbsp; margin: '
            f'<span class="eq">u = {_n(u, sign=True)}, σ(u) = {_n(s)}</span></p>'
            '<p>The two pulls on this pair: for the chosen reply <span class="eq">'
            f'{_g(a_votes)} × {w_for} = {_n(p_for)}</span>, for the rejected reply '
            f'<span class="eq">{_g(b_votes)} × {w_against} = {_n(p_against)}</span>, net '
            f'<span class="eq" data-testid="net-pull" data-value="{net!r}">'
            f'{_n(net, sign=True)}</span>.</p>'
            f'<p>{esc(rest_text(a_votes, b_votes, on, loss, b))} {esc(REST_RUN)}</p></div>')
