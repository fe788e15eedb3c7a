"""The base of the page's own browser components (``pn.custom.JSComponent``).

Measured (a cProfile of the play loop's screen updates, every view subscribed): Panel
asks the page's design for its style parameters on every property change of a
component, about 9 times per screen update, and then uses them only when the change is
to ``stylesheets``. That lookup was 12 % of the server's CPU per update. Here it is made
only for a change of stylesheets, so every other change costs what it says.
"""

from __future__ import annotations

import panel as pn


class Component(pn.custom.JSComponent):
    """A JSComponent whose property changes skip Panel's design lookup unless they
    change its stylesheets (the only case in which that lookup's result is used)."""

    def _update_properties(self, *events, doc):
        if any(e.name == "stylesheets" for e in events):
            return super()._update_properties(*events, doc=doc)
        return self._process_param_change({e.name: e.new for e in events})
