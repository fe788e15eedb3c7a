"""Entry file for ``panel serve app/main.py``: each session runs this and gets its own
dashboard (the installed package's; run ``./scripts/start`` once to install it)."""

from dpo_sim.app.dashboard import create_dashboard
from dpo_sim.app.server import skip_bokeh_diagnostics

skip_bokeh_diagnostics()

create_dashboard().servable(title="dpo-sim")
