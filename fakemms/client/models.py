"""What the Python client hands back: plain dataclasses built from the control API's JSON.

Each ``from_dict`` takes the document's fields it knows and ignores the rest, so a newer
server does not break an older client. Times are timezone-aware ``datetime`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (the control API's times) as a datetime; None stays None."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class Part:
    """One content part of a message (its bytes: ``Client.get_part(message_id, index)``)."""

    index: int
    content_type: str
    content_id: str | None = None
    size: int = 0
    transfer_encoding: str | None = None
    remote_url: str | None = None
    filename: str | None = None
    generated: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        return cls(**_known(cls, data))


@dataclass
class Report:
    """A delivery report the fake recorded on an MT (and sent, when a ``dlr_url`` is set)."""

    status: str
    date: datetime | None = None
    outcome_id: int | None = None
    description: str | None = None
    user_agent: str | None = None
    callback_id: str | None = None
    message_id: str | None = None
    scheduled_in: float | None = None  # a report asked for ``after`` seconds from now

    @classmethod
    def from_dict(cls, data: dict[str, Any], message_id: str | None = None) -> Report:
        out = cls(**_known(cls, data))
        out.date = parse_time(out.date)
        if message_id is not None:
            out.message_id = message_id
        return out


@dataclass
class MessageSummary:
    """A message as ``GET /_fakemms/api/messages`` lists it (part and warning counts)."""

    id: str
    direction: str  # mt | mo
    interface: str  # openmarket | mm7 | legacy
    account: str
    source: str
    destinations: list[str]
    status: str
    created_at: datetime | None = None
    mt_config: str | None = None
    subject: str | None = None
    parts: int = 0
    warnings: int = 0

    @property
    def destination(self) -> str:
        return self.destinations[0] if self.destinations else ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageSummary:
        out = cls(**_known(cls, data))
        out.created_at = parse_time(out.created_at)
        return out

    def line(self) -> str:
        """One line for people: id, direction, from -> to, status, subject."""
        to = ",".join(self.destinations)
        subject = f"  {self.subject!r}" if self.subject else ""
        return (f"{self.id}  {self.direction.upper()} {self.interface:<10} {self.account:<12} "
                f"{self.source} -> {to}  {self.status}{subject}")


@dataclass
class Message:
    """One message with its parts, warnings, reports and callback ids."""

    id: str
    direction: str
    interface: str
    account: str
    source: str
    destinations: list[str]
    status: str
    created_at: datetime | None = None
    mt_config: str | None = None
    subject: str | None = None
    mobile_operator_id: int | None = None
    ccs: list[str] = field(default_factory=list)
    bccs: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    request_id: str | None = None
    decision: str | None = None
    reports: list[Report] = field(default_factory=list)
    callback_ids: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def destination(self) -> str:
        return self.destinations[0] if self.destinations else ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        out = cls(**_known(cls, data))
        out.created_at = parse_time(out.created_at)
        out.parts = [Part.from_dict(p) for p in data.get("parts") or []]
        out.reports = [Report.from_dict(r, out.id) for r in data.get("reports") or []]
        return out

    def summary(self) -> MessageSummary:
        return MessageSummary(
            id=self.id, direction=self.direction, interface=self.interface,
            account=self.account, source=self.source, destinations=list(self.destinations),
            status=self.status, created_at=self.created_at, mt_config=self.mt_config,
            subject=self.subject, parts=len(self.parts), warnings=len(self.warnings))


@dataclass
class Attempt:
    """One try at delivering a callback: outcome success | rejected | timeout |
    connection-error | shed, the HTTP status, how long the application took, its answer, and
    what went wrong (``error``: refused, timeout, reset, status ...; None on success)."""

    number: int
    outcome: str
    at: datetime | None = None
    status: int | None = None
    latency_ms: float | None = None
    body: str | None = None
    reason: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        out = cls(**_known(cls, data))
        out.at = parse_time(out.at)
        return out

    def line(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no answer"
        latency = f" in {self.latency_ms:g} ms" if self.latency_ms is not None else ""
        reason = f" ({self.reason})" if self.reason and self.outcome != "success" else ""
        return f"attempt {self.number}: {self.outcome}, {status}{latency}{reason}"


@dataclass
class Callback:
    """A callback the fake made (or is making) to the application: a delivery report
    (``kind`` report) or an MO (``kind`` mo), with every attempt."""

    id: str
    kind: str
    message_id: str
    account: str
    url: str
    state: str  # pending | in-flight | retrying | delivered | failed
    method: str = "POST"
    protocol: str = "http"
    created_at: datetime | None = None
    next_attempt_at: datetime | None = None
    decision: str | None = None
    note: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: list[list[str]] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    body: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Callback:
        out = cls(**_known(cls, data))
        out.created_at = parse_time(out.created_at)
        out.next_attempt_at = parse_time(out.next_attempt_at)
        out.attempts = [Attempt.from_dict(a) for a in data.get("attempts") or []]
        return out

    def line(self) -> str:
        last = self.attempts[-1].line() if self.attempts else "no attempt yet"
        return (f"{self.id}  {self.kind:<6} message {self.message_id}  {self.state:<10} "
                f"{self.method} {self.url}  {len(self.attempts)} attempt(s); last: {last}")


@dataclass
class Account:
    """An account and its limits, as the configuration file describes one."""

    username: str
    password: str = ""
    allowed_ips: list[str] = field(default_factory=list)
    tps: float | None = None
    max_per_day: int | None = None
    max_per_month: int | None = None
    prepaid_credit: int | None = None
    closed: bool = False
    mt_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    mo: dict[str, Any] | None = None
    mm7_multiple_recipients: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        out = cls(**_known(cls, data))
        out.allowed_ips = list(out.allowed_ips or [])
        out.mt_configs = dict(out.mt_configs or {})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class ClockState:
    """The fake's clock: ``mode`` real or virtual, ``paused``, ``now`` (epoch seconds)."""

    mode: str
    paused: bool
    now: float
    iso: str | None = None
    pending_jobs: int | None = None
    fired: int | None = None  # jobs fired by the advance that answered this

    @property
    def datetime(self) -> datetime:
        parsed = parse_time(self.iso) if self.iso else None
        return parsed or datetime.fromtimestamp(self.now)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClockState:
        return cls(**_known(cls, data))


@dataclass
class Event:
    """One server-sent event: ``seq`` (restarts after a reset), ``type`` and ``data``."""

    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(seq=int(data.get("seq", 0)), type=str(data.get("type", "")),
                   data=dict(data.get("data") or {}))

