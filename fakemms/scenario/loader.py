"""Load scenario YAML into plain dataclasses; errors name the file, the path and the problem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakemms.config import read_yaml, validate
from fakemms.errors import OPENMARKET_ERRORS, ConfigError
from fakemms.scenario.schema import SCHEMA

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``500ms``, ``10s``, ``5m``, ``2h``, ``3d``."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 10s, 5m, 2h, 3d)")
    return float(m.group(1)) * _UNITS[m.group(2) or ""]


@dataclass
class ReportSpec:
    status: str
    after: float = 0.0
    outcome_id: int | None = None
    description: str | None = None
    user_agent: str | None = None


@dataclass
class FaultSpec:
    kind: str  # duplicate | reorder | drop | early
    status: str | None = None
    probability: float = 1.0
    delay: float = 0.0


@dataclass
class Rule:
    name: str
    match: dict[str, str] = field(default_factory=dict)
    probability: float = 1.0  # below 1: applies to that fraction of matching MTs (seeded)
    error: int | None = None
    mm7_status: int | None = None
    latency: float = 0.0
    reports: list[ReportSpec] | None = None  # None: the default reports
    faults: list[FaultSpec] = field(default_factory=list)


@dataclass
class MoScript:
    name: str
    account: str
    at: float = 0.0
    every: float | None = None
    count: int = 1
    source: str | None = None
    to: str | None = None
    subject: str | None = None
    format: str | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    description: str = ""
    rules: list[Rule] = field(default_factory=list)
    faults: list[FaultSpec] = field(default_factory=list)
    mo: list[MoScript] = field(default_factory=list)
    source: str = "<inline>"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source,
                "rules": [r.name for r in self.rules], "faults": len(self.faults),
                "mo": [m.name for m in self.mo]}


def load_scenario(path: str | Path) -> Scenario:
    return scenario_from_dict(read_yaml(path), str(path))


def scenario_from_text(text: str, source: str = "<request>") -> Scenario:
    import yaml  # loaded on first use (scenario text is rare)

    try:
        data = yaml.safe_load(text)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(source, ["invalid YAML: nested too deeply"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"invalid YAML: {getattr(exc, 'problem', None) or exc}"]
                          ) from None
    return scenario_from_dict(data, source)


def scenario_from_dict(data: Any, source: str = "<inline>") -> Scenario:
    validate(data, SCHEMA, source)
    reader = _Reader()
    rules = [reader.rule(i, r) for i, r in enumerate(data.get("rules") or [])]
    mos = [reader.mo(i, m) for i, m in enumerate(data.get("mo") or [])]
    if reader.problems:
        raise ConfigError(source, reader.problems)
    return Scenario(name=data["name"], description=data.get("description", ""), rules=rules,
                    faults=reader.faults(data.get("faults") or [], "faults"), mo=mos,
                    source=source)


class _Reader:
    """Reads the parts of a scenario that passed the schema, collecting every problem (each
    with where it is) instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def duration(self, value: Any, where: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problems.append(f"{where}: {exc}")
            return 0.0

    def faults(self, items: list[dict], where: str) -> list[FaultSpec]:
        return [FaultSpec(kind=f["kind"], status=f.get("status"),
                          probability=float(f.get("probability", 1.0)),
                          delay=self.duration(f.get("delay", 0), f"{where}[{i}].delay"))
                for i, f in enumerate(items)]

    def rule(self, i: int, r: dict[str, Any]) -> Rule:
        where = f"rules[{i}]"
        answer = r.get("answer") or {}
        if "error" in answer and answer["error"] not in OPENMARKET_ERRORS:
            self.problems.append(
                f"{where}.answer.error: {answer['error']} is not a documented "
                f"OpenMarket code ({', '.join(map(str, sorted(OPENMARKET_ERRORS)))})")
        reports = None
        if "reports" in r:
            reports = [ReportSpec(status=s["status"],
                                  after=self.duration(s.get("after", 0),
                                                      f"{where}.reports[{j}].after"),
                                  outcome_id=s.get("outcome_id"), description=s.get("description"),
                                  user_agent=s.get("user_agent"))
                       for j, s in enumerate(r["reports"])]
        match = {("mt_config" if k == "mtConfig" else k): str(v)
                 for k, v in (r.get("match") or {}).items()}
        for key, pattern in match.items():
            if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
                try:
                    re.compile(pattern[1:-1])
                except re.error as exc:
                    self.problems.append(f"{where}.match.{key}: bad regular expression: {exc}")
        return Rule(name=r["name"], match=match,
                    probability=float(r.get("probability", 1.0)), error=answer.get("error"),
                    mm7_status=answer.get("mm7_status"),
                    latency=self.duration(answer.get("latency", 0), f"{where}.answer.latency"),
                    reports=reports, faults=self.faults(r.get("faults") or [], f"{where}.faults"))

    def mo(self, i: int, m: dict[str, Any]) -> MoScript:
        where = f"mo[{i}]"
        script = MoScript(
            name=m.get("name") or f"mo-{i}", account=m["account"],
            at=self.duration(m.get("at", 0), f"{where}.at"),
            every=self.duration(m["every"], f"{where}.every") if "every" in m else None,
            count=int(m.get("count", 1)), source=m.get("from"),
            to=str(m["to"]) if "to" in m else None, subject=m.get("subject"),
            format=m.get("format"), parts=list(m.get("parts") or []),
        )
        for j, p in enumerate(m.get("parts") or []):
            if sum(k in p for k in ("text", "base64", "generate")) > 1:
                self.problems.append(f"{where}.parts[{j}]: give one of text, base64 or generate")
        return script
