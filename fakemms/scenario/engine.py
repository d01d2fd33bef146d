"""The scenario engine: decide(message facts) -> what the provider does. No I/O, no clock;
randomness (fault probabilities) from the seeded generator it is given."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from fakemms.rng import Rng
from fakemms.scenario.loader import FaultSpec, ReportSpec, Rule, Scenario

# outcomeId and outcomeDescription per status. Documented: Retrieved 1, Deferred 4, Forwarded 5
# (provider-notes.md, test mode), Rejected 9 (dlr_report_rejected.http); the rest our choice.
STATUS_TABLE: dict[str, tuple[int, str]] = {
    "Retrieved": (1, "Message retrieved by the handset"),
    "Indeterminate": (2, "Delivery could not be determined"),
    "Unrecognised": (3, "The handset cannot download the MMS"),
    "Deferred": (4, "Message deferred: the handset has not downloaded it yet"),
    "Forwarded": (5, "Message forwarded without being retrieved"),
    "Expired": (6, "Message expired"),
    "DeliveryConditionNotMet": (7, "Delivery condition not met"),
    "NotSupported": (8, "Request is not supported"),
    "Rejected": (9, "Recipient not found on mobile operator"),
    "Unreachable": (10, "Server/Endpoint is Unreachable"),
    "Read": (11, "Message read"),
    "Deleted": (12, "Message deleted without being read"),
}
STATUS_TABLE["Unrecognized"] = STATUS_TABLE["Unrecognised"]

# Test numbers (provider-notes.md): 10000871000 Retrieved, 10360871000 Deferred, 10340871000
# Forwarded are the provider's; the pattern 10XX0871000 is extended to every status.
TEST_NUMBERS: dict[str, str] = {
    "10000871000": "Retrieved",
    "10310871000": "Expired",
    "10320871000": "Rejected",
    "10330871000": "Indeterminate",
    "10340871000": "Forwarded",
    "10350871000": "Unrecognised",
    "10360871000": "Deferred",
    "10370871000": "DeliveryConditionNotMet",
    "10380871000": "NotSupported",
    "10390871000": "Unreachable",
}


@dataclass
class ReportPlan:
    status: str
    offset: float  # seconds after acceptance
    outcome_id: int | None
    description: str | None
    user_agent: str | None = None
    early: bool = False  # sent before the answer to the request (fault)
    dropped: bool = False  # recorded, never sent (fault)
    fault: str | None = None
    # seconds after acceptance that the report's ``date`` says (None: when it is sent). A
    # duplicate repeats the original's date; reordered reports keep their own.
    event_offset: float | None = None

    @property
    def event_at(self) -> float:
        return self.offset if self.event_offset is None else self.event_offset


@dataclass
class Decision:
    rule: str  # the rule (or "default", "test-number") that decided
    error: int | None = None
    mm7_status: int | None = None
    latency: float = 0.0
    reports: list[ReportPlan] = field(default_factory=list)
    scenario: str | None = None

    @property
    def label(self) -> str:
        return f"{self.scenario}/{self.rule}" if self.scenario else self.rule


def plan_reports(specs: list[ReportSpec]) -> list[ReportPlan]:
    """Each report's ``after`` counts from the one before it (a sequence)."""
    plans, offset = [], 0.0
    for s in specs:
        offset += s.after
        outcome, description = STATUS_TABLE.get(s.status, (None, None))
        plans.append(ReportPlan(status=s.status, offset=offset,
                                outcome_id=s.outcome_id if s.outcome_id is not None else outcome,
                                description=s.description or description,
                                user_agent=s.user_agent))
    return plans


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def matches(pattern: str, value: str | None) -> bool:
    """Glob (``44*``), or a regular expression between slashes (``/^slow/``)."""
    value = value or ""
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return _regex(pattern[1:-1]).search(value) is not None
    return fnmatch.fnmatchcase(value, pattern)


class Engine:
    def __init__(self, rng: Rng, default_report: dict | None) -> None:
        self.rng = rng
        self.default_report = default_report
        self.scenarios: list[Scenario] = []

    def default_specs(self, destination: str) -> tuple[str, list[ReportSpec]]:
        status = TEST_NUMBERS.get(destination)
        if status:
            return "test-number", [ReportSpec(status=status, after=1.0)]
        if not self.default_report:
            return "default", []
        from fakemms.scenario.loader import parse_duration

        d = self.default_report
        return "default", [ReportSpec(status=d.get("status", "Retrieved"),
                                      after=parse_duration(d.get("after", 1)),
                                      outcome_id=d.get("outcome_id"),
                                      description=d.get("description"))]

    def decide(self, facts: dict[str, str | None]) -> Decision:
        """facts: account, mt_config, source, destination, subject, protocol."""
        for scenario in self.scenarios:
            for rule in scenario.rules:
                if (all(matches(p, facts.get(k)) for k, p in rule.match.items())
                        and self._draw(rule.probability)):
                    return self._apply(rule, scenario, facts)
        label, specs = self.default_specs(facts.get("destination") or "")
        faults = [f for s in self.scenarios for f in s.faults]
        return Decision(rule=label, reports=self._faults(plan_reports(specs), faults))

    def _draw(self, probability: float) -> bool:
        """True with ``probability``; a certain rule draws nothing, so ids stay as they were."""
        return probability >= 1 or self.rng.random() < probability

    def _apply(self, rule: Rule, scenario: Scenario, facts: dict[str, str | None]) -> Decision:
        if rule.reports is None:
            _, specs = self.default_specs(facts.get("destination") or "")
        else:
            specs = rule.reports
        refused = rule.error is not None or rule.mm7_status is not None
        reports = [] if refused else self._faults(plan_reports(specs),
                                                   [*rule.faults, *scenario.faults])
        return Decision(rule=rule.name, error=rule.error, mm7_status=rule.mm7_status,
                        latency=rule.latency, reports=reports, scenario=scenario.name)

    def _faults(self, plans: list[ReportPlan], faults: list[FaultSpec]) -> list[ReportPlan]:
        for fault in faults:
            targets = [i for i, p in enumerate(plans)
                       if (fault.status is None or p.status == fault.status) and not p.fault]
            if not targets or self.rng.random() >= fault.probability:
                continue
            i = targets[0]
            if fault.kind == "duplicate":
                plans.insert(i + 1, replace(plans[i], offset=plans[i].offset + fault.delay,
                                            event_offset=plans[i].event_at, fault="duplicate"))
            elif fault.kind == "drop":
                plans[i] = replace(plans[i], dropped=True, fault="drop")
            elif fault.kind == "early":
                plans[i] = replace(plans[i], early=True, offset=0.0, fault="early")
            elif fault.kind == "reorder" and i + 1 < len(plans):
                a, b = plans[i], plans[i + 1]
                # delivered in the other order; each keeps the date it happened at
                plans[i] = replace(b, offset=a.offset, event_offset=b.event_at, fault="reorder")
                plans[i + 1] = replace(a, offset=max(b.offset, a.offset + 0.001),
                                       event_offset=a.event_at, fault="reorder")
        return plans
