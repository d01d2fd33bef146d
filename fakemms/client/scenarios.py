"""The scenario operations of ``Client``: list, replace, add, clear and remove the loaded
scenarios; and ``scenario_dict``, how a file, YAML text or a dict becomes one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakemms.client.errors import FakeMmsClientError


class Scenarios:
    """``/_fakemms/api/scenarios``: what the fake decides for each message."""

    if TYPE_CHECKING:  # what the operations use of ``Client``
        def _json(self, method: str, path: str, **kw: Any) -> Any: ...

    def list_scenarios(self) -> list[dict[str, Any]]:
        """The loaded scenarios, as dicts in the scenario file's shape."""
        return self._json("GET", "/_fakemms/api/scenarios")["scenarios"]

    def replace_scenarios(self, *scenarios: Any) -> list[dict[str, Any]]:
        """Load these scenarios instead of the current ones. Each: a file path (``.yaml``,
        ``.yml``, ``.json``), YAML text, or a dict."""
        return self._json("PUT", "/_fakemms/api/scenarios",
                          json_body=[scenario_dict(s) for s in scenarios])["scenarios"]

    def add_scenario(self, *scenarios: Any) -> list[dict[str, Any]]:
        """Add scenarios after the loaded ones (first match wins, in load order)."""
        return self._json("POST", "/_fakemms/api/scenarios",
                          json_body=[scenario_dict(s) for s in scenarios])["scenarios"]

    def clear_scenarios(self) -> None:
        """Unload every scenario (``DELETE /_fakemms/api/scenarios``)."""
        self._json("DELETE", "/_fakemms/api/scenarios")

    def remove_scenario(self, name: str) -> list[dict[str, Any]]:
        """Unload the scenario with this name."""
        return self._json("DELETE", f"/_fakemms/api/scenarios/{name}")["scenarios"]


def scenario_dict(scenario: Any) -> dict[str, Any]:
    """A scenario as a dict: from a dict, a file (``.yaml``, ``.yml``, ``.json`` path or a
    ``Path``) or YAML text."""
    import yaml

    if isinstance(scenario, Mapping):
        return dict(scenario)
    source = "<text>"
    if isinstance(scenario, os.PathLike) or (
            isinstance(scenario, str) and "\n" not in scenario
            and scenario.strip().lower().endswith((".yaml", ".yml", ".json"))):
        source = os.fspath(scenario)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise FakeMmsClientError(f"{source}: cannot read: {exc.strerror or exc}") from None
    else:
        text = str(scenario)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FakeMmsClientError(f"{source}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FakeMmsClientError(f"{source}: a scenario must be a mapping")
    return data
