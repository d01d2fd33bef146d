"""What the fake sends over the OpenMarket HTTP API (openmarket-mms-receive.txt, the
documented REPORT and MO callbacks in fixtures/openmarket-http/): JSON REPORTs and multipart
MOs, each with an X-Request-Id; HTTP 200 is success."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fakemms.models import HTTP_200, Callback, Message, Report
from fakemms.protocols.openmarket import codec as om
from fakemms.rng import Rng


def success_reason(status: int) -> str | None:
    """OpenMarket HTTP: exactly HTTP 200, the body ignored ("a non-200 response" is retried,
    openmarket-mms-receive.txt). None when it is, else why not."""
    return None if status == 200 else f"HTTP {status}"


def iso_seconds(ts: float) -> str:
    """``YYYY-MM-DDThh:mm:ssTZD`` (openmarket-mms-receive.txt, date)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def report_callback(callback_id: str, message: Message, report: Report, rng: Rng,
                    common: dict[str, Any]) -> Callback:
    """The REPORT JSON (provider-notes.md, dlr_report_rejected.http)."""
    body = om.encode_report(mt_id=message.id, date=iso_seconds(report.date),
                            status=report.status, outcome_id=report.outcome_id,
                            description=report.description, user_agent=report.user_agent)
    return Callback(id=callback_id, headers={"Content-Type": "application/json",
                                             "X-Request-Id": rng.request_id()},
                    body=body, success=HTTP_200, **common)


def mo_callback(message: Message, rng: Rng, common: dict[str, Any]) -> Callback:
    """The MO: multipart/mixed, the JSON part first (openmarket-mms-receive.txt)."""
    boundary = f"mimeboundary{rng.hex(8)}"
    body, content_type = om.encode_mo(
        mo_id=int(message.id), source=message.source, destinations=message.destinations,
        ccs=message.ccs, bccs=message.bccs, date=iso_seconds(message.created_at),
        mobile_operator_id=message.mobile_operator_id or 0, subject=message.subject,
        user_agent=message.extra.get("user_agent"), parts=message.parts, boundary=boundary,
    )
    return Callback(headers={"Content-Type": content_type, "X-Request-Id": rng.request_id()},
                    body=body, success=HTTP_200, **common)
