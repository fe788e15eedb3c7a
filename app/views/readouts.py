"""The numbers in text, so they are readable without the charts: KL per prompt (with its
ceiling log(1/min pi_ref)), and the metrics TRL logs twice over: as means over every
annotator judgement (this simulator's numbers) and as TRL's DPOTrainer would log them on
the rows as stored (each row once, votes not seen). Every term explains itself on hover,
focus or tap. (The step is in the page's header, so hiding these keeps it.)"""

from __future__ import annotations

import numpy as np

from ...sim.engine import stored_row_metrics
from ..texts import LOSS_TERMS, TERMS
from .util import HtmlView, esc, fixed, small, term

#: (TRL name, Record field, test id, label, format)
COLUMNS = (
    ("loss", "loss", "loss", "loss", ".4f"),
    ("rewards/margins", "rewards_margins", "margin", "margin", "+.3f"),
    ("rewards/accuracies", "rewards_accuracies", "accuracy", "accuracy", ".0%"),
    ("rewards/chosen", "rewards_chosen", "rewards-chosen", "rewards/\u200bchosen", "+.3f"),
    ("rewards/rejected", "rewards_rejected", "rewards-rejected", "rewards/\u200brejected",
     "+.3f"),
)


_small = small


def fmt(v: float, spec: str) -> str:
    """A number as shown; what rounds to zero reads 0.000, never -0.000 or +0.000, and
    a huge one (a run that diverges) reads in powers of ten."""
    if spec.endswith("f"):
        return fixed(v, int(spec[-2]), sign=spec.startswith("+"))
    text = format(v, spec)
    return text.lstrip("+-") if float(text.rstrip("%")) == 0 else text


class Readouts(HtmlView):
    def _html(self) -> str:
        st = self.state
        rec = st.record
        ceil = st.kl_ceiling
        kls = [f'<span class="dpo-readout"><span class="k">'
               f'{term(f"kl{x}", f"KL prompt {x + 1}", TERMS["kl"])}</span>'
               f'<span class="v" data-testid="kl-{x}" data-value="{float(k)!r}">{k:.3f}</span>'
               f'<span class="ceil"> / {ceil[x]:.3f}</span></span>'
               for x, k in enumerate(rec.kl)]
        loss = st.loss
        rows = stored_row_metrics(rec, st.pairs, loss)
        weight_off = not rec.adaptive_weight
        labels = []
        for name, _, _, label, _ in COLUMNS:
            if name == "loss" and weight_off:
                labels.append(("loss (−u)", TERMS["loss_off"]))
            elif name == "loss" and loss.name != "sigmoid":
                labels.append((f"loss ({loss.name})", LOSS_TERMS[loss.name]))
            else:
                labels.append((label, TERMS[{
                    "loss": "loss", "rewards/margins": "margin",
                    "rewards/accuracies": "accuracy", "rewards/chosen": "chosen",
                    "rewards/rejected": "rejected"}[name]]))
        head = ['<td></td>']
        for i, (label, tip) in enumerate(labels):
            head.append(f'<th scope="col">{term(f"m{i}", label, tip, right=i >= 3)}</th>')
        judge = [f'<th scope="row">{term("pj", "per judgement", TERMS["per_judgement"])}</th>']
        per_row = [f'<th scope="row">{term("pr", "per row (TRL)", TERMS["per_row"])}</th>']
        for name, field, testid, _, spec in COLUMNS:
            v = float(getattr(rec, field))
            judge.append(f'<td data-testid="{testid}" data-value="{v!r}">{esc(fmt(v, spec))}'
                         '</td>')
            r = float(rows[name])
            per_row.append(f'<td data-testid="rows-{testid}" data-value="{r!r}">'
                           f'{esc(fmt(r, spec))}</td>')
        table = ('<table class="dpo-metrics wide" aria-label="the metrics TRL logs, per '
                 'judgement and per stored row"><thead><tr>' + "".join(head) + '</tr></thead>'
                 '<tbody><tr class="judge">' + "".join(judge) + '</tr><tr class="rows">'
                 + "".join(per_row) + '</tr></tbody></table>')
        # narrow screens: the same numbers with the metrics down the side
        lines = []
        for i, (name, field, _, label, spec) in enumerate(COLUMNS):
            label, tip = labels[i]
            lines.append(f'<tr><th scope="row">{term(f"n{i}", label.replace(chr(0x200b), ""), tip)}'
                         f'</th><td>{esc(fmt(float(getattr(rec, field)), spec))}</td>'
                         f'<td class="r">{esc(fmt(float(rows[name]), spec))}</td></tr>')
        narrow = ('<table class="dpo-metrics narrow" aria-label="the metrics TRL logs, per '
                  'judgement and per stored row"><thead><tr><td></td><th scope="col">'
                  f'{term("npj", "per judgement", TERMS["per_judgement"], right=True)}</th>'
                  f'<th scope="col">{term("npr", "per row (TRL)", TERMS["per_row"], right=True)}'
                  '</th></tr></thead><tbody>' + "".join(lines) + '</tbody></table>')
        table += narrow
        star = self._optimum_line()
        # numbers in powers of ten (a run that diverged) do not fit five across: the
        # metrics go down the side, as on a phone
        texts = [fmt(float(getattr(rec, f)), spec) for _, f, _, _, spec in COLUMNS]
        texts += [fmt(float(rows[n]), spec) for n, _, _, _, spec in COLUMNS]
        big = " dpo-big" if any("e" in t for t in texts) else ""
        return (f'<div class="dpo-card{big}" role="group" aria-label="{esc("current numbers")}">'
                f'<div class="dpo-readouts">{"".join(kls)}</div>{star}{table}</div>')

    def _optimum_line(self) -> str:
        """KL to pi* (the RLHF optimum) and beta log Z(x), per prompt; "none" where a
        prompt has no finite optimum."""
        st = self.state
        opt = st.optimum
        kl = st.kl_to_optimum()
        parts = []
        for x in range(len(kl)):
            if opt.finite[x]:
                parts.append(f'<span data-testid="kl-rlhf-{x}" data-value="{float(kl[x])!r}">'
                             f'{esc(_small(kl[x]))}</span>')
            else:
                parts.append(f'<span data-testid="kl-rlhf-{x}" data-value="nan">none</span>')
        logz = [esc(fixed(v, sign=True)) if np.isfinite(v) else "none" for v in opt.beta_log_z]
        return (f'<div class="dpo-note dpo-star">{term("klr", "KL to RLHF’s π*", TERMS["kl_rlhf"])}'
                f': {" · ".join(parts)} &nbsp; '
                f'{term("blz", "β·log Z", TERMS["beta_log_z"])}: {" · ".join(logz)}</div>')
