"""Control API: the loaded scenarios (replace them all, add or replace one by name, unload)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from fakemms import errors
from fakemms.backend import backend
from fakemms.control.openapi import operation
from fakemms.control.operation import JSON
from fakemms.control.validate import refuse
from fakemms.scenario import Scenario
from fakemms.scenario.loader import scenario_from_dict

YAML = "application/yaml"
BODY: dict[str, Any] = {"body": "ScenariosIn", "body_types": (YAML, JSON)}


def _scenarios(body: Any) -> list[Scenario]:
    """Every scenario of the body (one, or a list), all checked before any is loaded."""
    items = [] if body is None else body if isinstance(body, list) else [body]
    names = [item["name"] for item in items]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise refuse(*[f"name: {n!r} is given twice" for n in twice])
    scenarios = [scenario_from_dict(item, "request") for item in items]
    service = backend().scenarios
    problems = [f"{s.name}: {p}" for s in scenarios for p in service.unknown_mo_accounts(s)]
    if problems:
        raise refuse(*problems)
    return scenarios


def _listing() -> dict[str, Any]:
    return {"scenarios": [s.to_dict() for s in backend().scenarios.loaded()]}


@operation("GET", "/api/scenarios", answer="ScenarioList")
def list_scenarios() -> Response:
    """Loaded scenarios, in match order"""
    return jsonify(_listing())


@operation("PUT", "/api/scenarios", answer="ScenarioList", body_required=False, **BODY)
def replace_scenarios(body: Any) -> Response:
    """Replace the loaded scenarios (an empty body unloads them all)"""
    backend().scenarios.replace(_scenarios(body))
    return jsonify(_listing())


@operation("POST", "/api/scenarios", answer="ScenarioList", status=201, **BODY)
def add_scenario(body: Any) -> tuple[Response, int]:
    """Add scenarios after the loaded ones; one with the name of a loaded scenario replaces
    it in place (keeping its match order)

    Adding the same scenario again is therefore harmless. MO scripts of a replaced scenario
    that are already scheduled still run until a reset.
    """
    for scenario in _scenarios(body):
        backend().scenarios.put(scenario)
    return jsonify(_listing()), 201


@operation("DELETE", "/api/scenarios", answer="ScenarioList")
def clear_scenarios() -> Response:
    """Unload every scenario"""
    backend().scenarios.replace([])
    return jsonify(_listing())


@operation("DELETE", "/api/scenarios/<name>", answer="ScenarioList")
def remove_scenario(name: str) -> Response:
    """Unload one scenario by name (MO scripts it already scheduled still run until a
    reset)"""
    if not backend().scenarios.remove(name):
        raise errors.NotFound(f"no scenario {name!r}")
    return jsonify(_listing())
