"""dpo-sim: an interactive teaching simulator of the DPO loss (Direct Preference
Optimization). The short public surface, for notebooks and scripts::

    import dpo_sim
    dpo_sim.scenarios()                                # the presets: [(id, title), ...]
    s = dpo_sim.load_scenario("align", beta=0.5)       # a preset id or a TOML file
    h = dpo_sim.run(s, steps=200)                      # steps 0..200, one record each
    h.columns()["loss"], h.columns()["kl/0"]           # the run as NumPy columns
    sim = dpo_sim.Simulation(s); sim.flip(1); sim.advance(10)   # step by step
    dpo_sim.create_dashboard(scenario="drop-sigma")    # the page, inline in Jupyter

Everything else lives in ``dpo_sim.sim`` (the engine, NumPy only: start with
``dpo_sim.sim.dpo``) and ``dpo_sim.app`` (the Panel dashboard, the CLI, the export).
"""

from __future__ import annotations

from .sim.history import History
from .sim.scenario import Scenario
from .sim.scenario_io import ScenarioError, list_presets
from .sim.scenario_io import apply_settings as _apply_settings
from .sim.scenario_io import load_scenario as _load_scenario
from .sim.settings import SETTINGS
from .sim.simulation import Simulation

__all__ = ["History", "SETTINGS", "Scenario", "ScenarioError", "Simulation",
           "create_dashboard", "load_scenario", "run", "scenarios"]


def scenarios() -> list[tuple[str, str]]:
    """(id, title) of every preset scenario that loads (the package ``dpo_sim.presets``
    holds their files)."""
    return [(pid, title) for pid, title, err in list_presets() if err is None]


def load_scenario(ref, **settings) -> Scenario:
    """A preset id (``"align"``) or a path to a TOML file, with some run settings replaced
    (``beta=0.5``, ``adaptive_weight=False``), each checked by the settings table's rule.
    Raises ScenarioError naming the file, the field and the rule."""
    scenario = ref if isinstance(ref, Scenario) else _load_scenario(ref)
    return _apply_settings(scenario, settings, file="load_scenario") if settings else scenario


def run(scenario, steps: int | None = None, **settings) -> History:
    """Run a scenario (a Scenario, a preset id or a TOML path) for ``steps`` updates
    (default: the scenario's own ``steps``) and return its History: one record per step
    0..steps; ``.columns()`` gives them as NumPy columns under TRL's names."""
    s = load_scenario(scenario, **settings)
    sim = Simulation(s)
    sim.advance(s.steps if steps is None else int(steps))
    return sim.history


def create_dashboard(**settings):
    """A fresh, independent dashboard: the page of ``dpo-sim serve``, as a Panel object.
    Keyword arguments pick the starting point as the page's address does
    (``scenario="drop-sigma"``, ``beta=0.5``, ``speed=40``). In Jupyter, Panel's extension
    is loaded first if it is not yet, with its JavaScript inline (no CDN)."""
    import sys

    import panel as pn

    from .app.dashboard import create_dashboard as _create

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    if type(shell).__name__ == "ZMQInteractiveShell" and not pn.extension._loaded:
        pn.extension(inline=True)
    return _create(**settings)
