"""Flow control, browser side: tell the server when an update has been drawn.

The server numbers each screen update (``seq``, set last inside the update's hold, so it
arrives with the update). Once the browser has applied the message and drawn the charts
(the next animation frame), it sends ``{ack: seq}`` back; the play loop sends nothing
new before that (see ``SimState.ack``), so updates can never queue up in the browser."""

from __future__ import annotations

import param

from .component import Component

ESM = r"""
export function render({ model }) {
  // In the frame that shows this update: Bokeh draws its canvases in animation-frame
  // callbacks requested while the message was applied, so they have run by the time
  // this one (requested last) does; the next update is built while the frame composites.
  function ack() {
    const seq = model.seq;
    requestAnimationFrame(() => model.send_msg({ ack: seq }));
  }
  model.on("seq", ack);
  ack();          // the first screenful, drawn with this component
}
"""


class FrameAck(Component):
    """Invisible; ``on_ack(seq)`` is called with every acknowledged update number. With a
    ``state``, it numbers that state's screen updates itself: it subscribes last, so the
    number travels after the data it acknowledges (see ``SimState.subscribe``)."""

    seq = param.Integer(default=0)

    _esm = ESM

    def __init__(self, on_ack=None, state=None, **params):
        params.setdefault("height", 0)
        params.setdefault("width", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)
        self._on_ack = on_ack
        if state is not None:
            state.subscribe(self._on_change, order=1)
            self._state = state

    def _on_change(self, kind: str, records) -> None:
        if kind == "step":
            self.send(seq=self._state.push_seq)

    def _handle_msg(self, msg):
        if isinstance(msg, dict) and isinstance(msg.get("ack"), int) and self._on_ack:
            self._on_ack(msg["ack"])
