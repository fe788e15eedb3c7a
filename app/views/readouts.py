"""The numbers in text, so they are readable without the charts: step, loss, KL per prompt
(with its ceiling log(1/min pi_ref)), reward margin, accuracy, rewards chosen/rejected."""

from __future__ import annotations

from .util import HtmlView, esc, num


class Readouts(HtmlView):
    def _html(self) -> str:
        st = self.state
        rec = st.record
        ceil = st.kl_ceiling
        parts = [
            '<span class="dpo-readout"><span class="k">step</span>'
            f'<span class="v" data-testid="step" data-value="{int(rec.step)}">{int(rec.step)}'
            '</span></span>',
            num("loss", rec.loss, f"{rec.loss:.4f}", "loss"),
        ]
        for x, k in enumerate(rec.kl):
            parts.append(num(f"kl-{x}", k, f"{k:.3f}", f"KL prompt {x + 1}",
                             f'<span class="ceil"> / {ceil[x]:.3f} max</span>'))
        parts += [
            num("margin", rec.rewards_margins, f"{rec.rewards_margins:+.3f}", "reward margin"),
            num("accuracy", rec.rewards_accuracies, f"{rec.rewards_accuracies:.0%}",
                "accuracy"),
            num("rewards-chosen", rec.rewards_chosen, f"{rec.rewards_chosen:+.3f}",
                "rewards/chosen"),
            num("rewards-rejected", rec.rewards_rejected, f"{rec.rewards_rejected:+.3f}",
                "rewards/rejected"),
        ]
        return (f'<div class="dpo-card dpo-readouts" role="status" aria-live="off" '
                f'aria-label="{esc("current numbers")}">' + "".join(parts) + "</div>")

