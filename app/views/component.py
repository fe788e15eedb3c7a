"""The base of the page's own browser components (``pn.custom.JSComponent``).

Two costs of Panel's update path, measured (cProfile and timing of the play loop's
screen updates, every view subscribed), are cut here:

- Panel asks the page's design for its style parameters on every property change of a
  component (about 9 times per screen update) and uses the answer only when the change
  is to ``stylesheets``: 12 % of the server's CPU per update. It is asked only then.
- A change through Panel's parameter machinery cost 0.4–0.8 ms; putting the value
  straight on the served page's model costs 0.1–0.2 ms. ``send(**values)`` does that for
  the values the play loop changes every update (an HTML fragment, the rows, the frame
  number): nothing on the server watches them, and the browser never changes them.
"""

from __future__ import annotations

import panel as pn
import param
from panel.io.state import state as pn_state


class Component(pn.custom.JSComponent):
    """A JSComponent with a direct path for per-update values, whose property changes
    skip Panel's design lookup unless they change its stylesheets."""

    def _update_properties(self, *events, doc):
        if any(e.name == "stylesheets" for e in events):
            return super()._update_properties(*events, doc=doc)
        return self._process_param_change({e.name: e.new for e in events})

    def send(self, **values) -> None:
        """Set these parameters, and on a served page put them straight on its model
        (inside the caller's ``pn.io.hold``, so they go out in the same message as the
        rest of the update, in order). Elsewhere (a notebook, no page yet) it is a plain
        parameter update. Only for parameters nothing on the server watches."""
        changed = {k: v for k, v in values.items() if getattr(self, k) != v}
        if not changed:
            return
        served = []
        for ref, (model, _) in list(self._models.items()):
            view = pn_state._views.get(ref)
            if view is None or view[3] is not None or view[2].session_context is None:
                self.param.update(changed)          # a notebook's comm: Panel's own path
                return
            served.append(model)
        with param.parameterized.discard_events(self):
            self.param.update(changed)
        for model in served:
            for k, v in changed.items():
                setattr(model.data, k, v)
