"""The formula strip: the implicit reward and the gradient weight of one row, with the
current numbers plugged in (the last flipped row, else the first row)."""

from __future__ import annotations

from ..state import SimState
from .bars import short
from .util import HtmlView, esc


def focus_row(state: SimState) -> int:
    return 0 if state.last_flip is None else state.last_flip


class FormulaStrip(HtmlView):
    def _html(self) -> str:
        st = self.state
        rec, pairs, spec = st.record, st.pairs, st.spec
        if not spec.rows:
            return ""
        i = focus_row(st)
        x = int(pairs.prompt[i])
        c, l = int(pairs.chosen[i]), int(pairs.rejected[i])
        replies = spec.prompts[x].replies
        pi, ref = rec.probs[x], st.pi_ref[x]
        b = rec.beta
        rc, rr = float(rec.rewards[x, c]), float(rec.rewards[x, l])
        u = float(rec.row_margin[i])
        w = float(rec.row_weight[i])
        on = rec.adaptive_weight
        wtxt = (f"σ(r̂(rejected) − r̂(chosen)) = σ({-u:+.3f}) = <b>{w:.3f}</b>" if on else
                "<b>1</b> (the sigma weight is off: every pair keeps pushing at full strength)")
        return (
            '<div class="dpo-card dpo-formula">'
            f'<div class="dpo-h">The numbers behind row {i}: “{esc(short(replies[c], 30))}”'
            f' &gt; “{esc(short(replies[l], 30))}”</div>'
            '<p>Implicit reward: how much more likely the policy makes a reply than the '
            'reference does, in units of β. '
            '<span class="eq">r̂(y) = β · log(π(y|x) / π_ref(y|x))</span></p>'
            f'<p>chosen: <span class="eq">{b:.3g} × log({pi[c]:.3f} / {ref[c]:.3f}) = '
            f'{rc:+.3f}</span> &nbsp; rejected: <span class="eq">{b:.3g} × log('
            f'{pi[l]:.3f} / {ref[l]:.3f}) = {rr:+.3f}</span></p>'
            f'<p>Gradient weight: how hard this pair still pulls. <span class="eq">{wtxt}'
            '</span> It shrinks toward 0 once the chosen reply is clearly ahead'
            f'{"" if on else " — but not now"}; the policy then has little reason to drift '
            'further from the reference.</p></div>')

