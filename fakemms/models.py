"""Plain dataclasses for accounts, messages, parts, reports and callbacks."""

from __future__ import annotations

import base64
import copy
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class MtConfig:
    name: str
    dlr_url: str | None = None
    dlr_protocol: str = "http"  # http | mm7-5.3.0 | mm7-5.6.0 | mm7-6.1.0 | mm7-6.8.0
    region: str = "US"
    operators: list[int] = field(default_factory=list)
    routing: str = "on-net"
    username: str | None = None  # Basic auth presented to the DLR receiver
    password: str | None = None
    short_code: str | None = None  # the sender when an MM7 SubmitReq names none


@dataclass
class MoConfig:
    url: str | None = None
    format: str = "http"
    username: str | None = None
    password: str | None = None
    region: str = "US"


@dataclass
class Account:
    username: str
    password: str
    allowed_ips: list[str] = field(default_factory=list)
    tps: float | None = None
    max_per_day: int | None = None
    max_per_month: int | None = None
    prepaid_credit: int | None = None
    closed: bool = False
    mt_configs: dict[str, MtConfig] = field(default_factory=dict)
    mo: MoConfig | None = None
    mm7_multiple_recipients: bool = True

    def to_dict(self, secrets: bool = True) -> dict[str, Any]:
        out = asdict(self)
        out["mt_configs"] = {k: asdict(v) for k, v in self.mt_configs.items()}
        for cfg in out["mt_configs"].values():
            cfg.pop("name", None)
        return out if secrets else mask_passwords(out)


MASK = "********"  # a password the control API does not reveal (a null one stays null)


def mask_passwords(account: dict[str, Any]) -> dict[str, Any]:
    """An account's dict with its password and its callback credentials masked: what the
    control API and the UI show unless asked for them (``?reveal=passwords``)."""
    out = {**account, "password": MASK if account.get("password") is not None else None}
    out["mt_configs"] = {name: _masked(cfg) for name, cfg in
                         (account.get("mt_configs") or {}).items()}
    if account.get("mo"):
        out["mo"] = _masked(account["mo"])
    return out


def _masked(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    if not settings or settings.get("password") is None:
        return settings
    return {**settings, "password": MASK}


@dataclass
class Part:
    content_type: str
    data: bytes = b""
    content_id: str | None = None
    transfer_encoding: str | None = None  # as the client declared it
    remote_url: str | None = None  # application/vnd.openmarket.remoteContent link
    filename: str | None = None
    generated: bool = False  # e.g. a SMIL the fake generated

    def summary(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "content_type": self.content_type,
            "content_id": self.content_id,
            "transfer_encoding": self.transfer_encoding,
            "size": len(self.data),
            "remote_url": self.remote_url,
            "filename": self.filename,
            "generated": self.generated,
        }


@dataclass
class Report:
    """A delivery report the provider sent (or will send) about an MT."""

    status: str
    date: float
    outcome_id: int | None = None
    description: str | None = None
    user_agent: str | None = None
    callback_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["date"] = iso(self.date)
        return out


_GATE_LOCK = threading.Lock()


class AnswerGate:
    """``threading.Event``'s set/is_set/wait, with the Event made only when someone waits:
    most messages are answered long before any callback of theirs is due, and an Event per
    message was a tenth of a send's cost."""

    __slots__ = ("_done", "_event")

    def __init__(self) -> None:
        self._done = False
        self._event: threading.Event | None = None

    def set(self) -> None:
        self._done = True
        event = self._event
        if event is not None:
            event.set()

    def is_set(self) -> bool:
        return self._done

    def wait(self, timeout: float | None = None) -> bool:
        if self._done:
            return True
        with _GATE_LOCK:
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        if self._done:  # set() ran before the Event existed
            return True
        return event.wait(timeout)


@dataclass
class Message:
    id: str  # mtId / moId as a string of digits, or an MM7 MessageID
    direction: str  # "mt" | "mo"
    interface: str  # "openmarket" | "mm7" | "legacy"
    account: str
    source: str
    destinations: list[str]
    created_at: float
    mt_config: str | None = None
    subject: str | None = None
    mobile_operator_id: int | None = None
    ccs: list[str] = field(default_factory=list)
    bccs: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    status: str = "accepted"
    request_id: str | None = None
    decision: str | None = None  # the scenario rule that decided its fate
    reports: list[Report] = field(default_factory=list)
    callback_ids: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # interface-specific fields
    raw_request: bytes = field(default=b"", repr=False)  # as received, bounded (the UI)
    # Set once the answer to the request that created it has gone out; callbacks wait for it.
    answered: AnswerGate = field(default_factory=lambda: AnswerGate(), repr=False,
                                 compare=False)

    @property
    def destination(self) -> str:
        return self.destinations[0] if self.destinations else ""

    def recipients(self) -> list[str]:
        """Every recipient, To then Cc then Bcc: a report goes to each (3GPP TS 23.140 sends a
        DeliveryReportReq per recipient, Cc and Bcc included)."""
        return [*self.destinations, *self.ccs, *self.bccs]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": self.direction,
            "interface": self.interface,
            "account": self.account,
            "mt_config": self.mt_config,
            "source": self.source,
            "destinations": list(self.destinations),  # copies: a snapshot, not the live list
            "subject": self.subject,
            "status": self.status,
            "created_at": iso(self.created_at),
            "parts": len(self.parts),
            "warnings": len(self.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.summary()
        out.update(
            mobile_operator_id=self.mobile_operator_id,
            ccs=list(self.ccs),
            bccs=list(self.bccs),
            parts=[p.summary(i) for i, p in enumerate(self.parts)],
            warnings=list(self.warnings),
            request_id=self.request_id,
            decision=self.decision,
            reports=[r.to_dict() for r in self.reports],
            callback_ids=list(self.callback_ids),
            extra=copy.deepcopy(self.extra),
        )
        return out

    def dump(self) -> dict[str, Any]:
        """Everything, part bytes included (base64), for the state dump."""
        out = self.to_dict()
        for summary, part in zip(out["parts"], self.parts, strict=True):
            summary["base64"] = base64.b64encode(part.data).decode("ascii")
        return out


# --- callbacks: what the fake sends the application, and each attempt -----------------------
@dataclass(frozen=True)
class Success:
    """What counts as the application's success for a callback: a plain value (kept as it is
    in a persistence file), judged by ``fakemms.outbound.judge``. ``kind``: ``http_200``
    (OpenMarket: exactly HTTP 200), ``legacy`` (200 with a non-empty body) or ``mm7`` (the
    ``expected`` Rsp with StatusCode 1000 and the TransactionID echoed)."""

    kind: str = "http_200"
    expected: str | None = None
    transaction_id: str | None = None


HTTP_200 = Success()


@dataclass
class Attempt:
    number: int
    at: float
    outcome: str  # success | rejected | timeout | connection-error | shed
    status: int | None = None
    latency_ms: float | None = None
    body: str | None = None
    reason: str | None = None
    # None on success, else: refused | timeout | closed | reset | cut-short | bad-answer |
    # connection | status | content | shed | internal (docs/callbacks.md)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "at": iso(self.at), "outcome": self.outcome,
                "status": self.status, "latency_ms": self.latency_ms, "body": self.body,
                "reason": self.reason, "error": self.error}


@dataclass
class Callback:
    id: str
    kind: str  # report | mo
    message_id: str
    account: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    protocol: str  # http | mm7-x.y.z | legacy-get | legacy-post
    created_at: float
    success: Success = field(default_factory=lambda: HTTP_200, repr=False)
    auth: tuple[str, str] | None = None
    params: list[tuple[str, str]] | None = None  # query (legacy GET)
    state: str = "pending"  # pending | in-flight | retrying | delivered | failed | cancelled
    attempts: list[Attempt] = field(default_factory=list)  # the first and the latest
    attempt_count: int = 0  # every attempt made, also those no longer kept
    attempts_dropped: int = 0
    cancelled: bool = False  # forgotten (reset, eviction, account deleted): never retried
    next_attempt_at: float | None = None
    decision: str | None = None
    gate: AnswerGate | None = field(default=None, repr=False)  # the answer it must follow
    note: str | None = None
    timeout: float | None = None  # seconds to wait for the answer; None: the dispatcher's

    def event(self, attempt: Attempt | None = None) -> dict[str, Any]:
        """What the event stream says of this callback (and the attempt that changed it)."""
        return {"id": self.id, "kind": self.kind, "message_id": self.message_id,
                "account": self.account, "state": self.state,
                "attempt": attempt.to_dict() if attempt is not None else None}

    def to_dict(self, body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "message_id": self.message_id,
            "account": self.account, "url": self.url, "method": self.method,
            "protocol": self.protocol, "state": self.state, "created_at": iso(self.created_at),
            "next_attempt_at": iso(self.next_attempt_at), "decision": self.decision,
            "note": self.note, "headers": dict(self.headers),
            "params": [tuple(p) for p in self.params] if self.params is not None else None,
            "attempt_count": self.attempt_count, "attempts_dropped": self.attempts_dropped,
            "attempts": [a.to_dict() for a in self.attempts],
        }
        if body:
            out["body"] = self.body.decode("utf-8", "replace")
        return out


@dataclass
class StoredJob:
    """A pending scheduler job as a journal keeps it: what to re-arm (``kind``,
    ``payload``) and when."""

    seq: int
    due: float
    kind: str  # report | mo
    key: str | None
    account: str | None
    payload: dict[str, Any]
