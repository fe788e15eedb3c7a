"""The step, in the page's header next to Play: always in view, even with the readouts
hidden (teacher mode)."""

from __future__ import annotations

from ..texts import TERMS
from .util import HtmlView, term


class StepBadge(HtmlView):
    _sizing = None
    def _html(self) -> str:
        t = int(self.state.record.step)
        return (f'<span class="dpo-readout dpo-card"><span class="k">'
                f'{term("step", "step", TERMS["step"], right=True)}</span>'
                f'<span class="v" data-testid="step" data-value="{t}">{t}</span></span>')
