"""Scenarios: YAML scripts of what the provider does (schema, loader, engine; no I/O here
except the loader reading files)."""

from fakemms.scenario.engine import Decision, Engine, ReportPlan
from fakemms.scenario.loader import Scenario, load_scenario, parse_duration, scenario_from_dict

__all__ = ["Decision", "Engine", "ReportPlan", "Scenario", "load_scenario", "parse_duration",
           "scenario_from_dict"]
