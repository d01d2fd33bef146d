"""What the fake sends over the legacy MX Telecom gateway (legacy-mms-gateway-receive.txt,
provider-notes.md): MO notifications by GET or multipart POST with mms.zip, report GETs, and
the gateway's success rule (200 with a non-empty body)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakemms.models import Callback, Message, MoConfig, MtConfig, Report, Success
from fakemms.protocols.legacy import codec as legacy
from fakemms.rng import Rng

SUCCESS = Success("legacy")


def success_reason(status: int, body: bytes) -> str | None:
    """Legacy gateway: "an HTTP 200 response with a non-empty body" within 10 s. None when
    the answer is that, else why not."""
    if legacy.callback_succeeded(status, body):
        return None
    if status != 200:
        return f"HTTP {status}"
    return "HTTP 200 with an empty body (the legacy gateway wants a non-empty one)"


def report_callbacks(new_id: Callable[[], str], message: Message, report: Report,
                    mt: MtConfig, common: dict[str, Any], timeout: float) -> list[Callback]:
    """Legacy delivery/read report GETs (provider-notes.md), one per recipient, as the
    SendMMS flags asked: ``deliveryreport`` for delivery statuses, ``readreport`` for reads."""
    read = report.status in ("Read", "Deleted")
    wanted = message.extra.get("read_report" if read else "delivery_report", True)
    if not wanted:
        return []
    try:
        legacy.legacy_status(report.status, read=read)
    except ValueError:
        return []
    return [Callback(id=new_id(), headers={}, body=b"", success=SUCCESS,
                     params=legacy.report_query(
                         message_id=message.id, destination=recipient, source=message.source,
                         date=report.date, status=report.status, read=read,
                         request_id=message.request_id, user_agent=report.user_agent,
                         region=mt.region),
                     timeout=timeout, **{**common, "method": "GET"})
            for recipient in message.recipients()]


def mo_callback(message: Message, mo: MoConfig, rng: Rng, common: dict[str, Any], *,
                timeout: float, expiry: float) -> Callback:
    """legacy-mms-gateway-receive.txt: a GET whose ``id`` the application retrieves the zip
    with, or a multipart POST carrying ``mms.zip``; an SMS (type 6) carries ``message``."""
    sms = message.extra.get("type") == "sms"
    text = next((p.data.decode("utf-8", "replace") for p in message.parts
                 if p.content_type.lower().startswith("text/plain")), "")
    fields = legacy.mo_query(
        message_id=message.id, source=message.source, destinations=message.destinations,
        date=message.created_at, region=mo.region,
        message_type=legacy.SMS if sms else legacy.MMS, network=message.mobile_operator_id,
        ccs=[] if sms else message.ccs, subject=None if sms else (message.subject or ""),
        expiry=None if sms else message.created_at + expiry,
        message=text if sms else None)
    base = {**common, "timeout": timeout, "success": SUCCESS}
    if mo.format == "legacy-get":
        return Callback(headers={}, body=b"", params=fields, **{**base, "method": "GET"})
    # the POST form carries the same fields; an SMS has no mms.zip
    body, content_type = legacy.mo_post(fields, boundary=f"----fakemms{rng.hex(12)}",
                                        mms_zip=None if sms else mms_zip(message.parts))
    return Callback(headers={"Content-Type": content_type}, body=body, **base)


def mms_zip(parts: list) -> bytes:
    """The message's contents as the legacy gateway's mms.zip (its SMIL, when it has one)."""
    smil = next((p for p in parts if p.content_type.lower().startswith("application/smil")),
                None)
    return legacy.build_zip([p for p in parts if p is not smil],
                            smil.data if smil is not None else None)
