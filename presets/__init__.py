"""The preset scenarios, one TOML file each (see README.md in this folder).

A package (not a plain folder) so ``importlib.resources`` finds the files in an editable
install and in an installed wheel alike; load them with ``sim.scenario_io.load_scenario``.
"""
