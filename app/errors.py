"""The one error type for a bad command-line option (the scenario loader has its own,
``ScenarioError``, which names the file and the field)."""

from __future__ import annotations


class UsageError(Exception):
    """A bad option: printed by the CLI as one line ``dpo-sim: --option: rule``, exit 2."""

    def __init__(self, option: str, rule: str):
        self.option, self.rule = option, rule
        super().__init__(f"{option}: {rule}")
