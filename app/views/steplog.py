"""The log: the latest step's numbers on one line, then every event of this run, newest
first: the scenario loaded or reset, each flip, each setting changed (once per settled
value), each scripted event. Events are what matter, so they are all kept and shown (a
link to step 150 of fix-label shows its step-100 flip); the steps themselves are in the
charts and the CSV."""

from __future__ import annotations

from ..state import SimState
from ..theme import FONT, MONO, Palette
from .util import HtmlView, esc

INVITATION = ("Nothing has happened yet. Press Step (or the → key) to take one gradient "
              "step, move a slider, or press a row's Flip button: every change is listed "
              "here, newest first, and marked on the charts over time.")


def log_css(p: Palette) -> str:
    return f"""
.dpo-log {{ color: {p.text}; }}
.dpo-log .now {{ font-family: {MONO}; font-size: 14px; color: {p.muted}; margin: 2px 0 6px 0;
  white-space: pre-wrap; }}
.dpo-log .events {{ max-height: 260px; overflow-y: auto; border: 1px solid {p.border};
  border-radius: 6px; background: {p.surface}; }}
.dpo-log ol {{ list-style: none; margin: 0; padding: 6px 10px; }}
.dpo-log li {{ font-family: {MONO}; font-size: 14px; font-weight: 700; padding: 2px 0 2px 8px;
  margin: 2px 0; border-left: 4px solid {p.ref_tick}; white-space: pre-wrap; }}
.dpo-log li.load, .dpo-log li.reset {{ border-left-color: {p.muted}; font-weight: 400; }}
.dpo-log .invite {{ font-family: {FONT}; font-size: 16px; margin: 6px 0; }}
"""


class StepLog(HtmlView):
    def __init__(self, state: SimState, pal: Palette, **params):
        super().__init__(state, pal, **params)
        self.pane.stylesheets = self.pane.stylesheets + [log_css(pal)]

    def _html(self) -> str:
        st = self.state
        events = st.events
        if events:
            items = "".join(f'<li class="{esc(e.kind)}">{esc(e.line)}</li>'
                            for e in reversed(events))
            body = (f'<div role="log" aria-label="Events of this run, newest first" '
                    f'tabindex="0" class="events" data-testid="step-log"><ol>{items}</ol></div>')
        else:
            body = (f'<p class="invite" data-testid="step-log">{esc(INVITATION)}</p>')
        return (f'<div class="dpo-card dpo-log"><div class="dpo-h">Events</div>'
                f'<div class="now" data-testid="step-line">{esc(st.step_line)}</div>'
                f'{body}</div>')
