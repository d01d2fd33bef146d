"""What the fake sends: the callback request for a delivery report or an MO, per protocol.

Each builder returns a ``Callback`` ready for the dispatcher: URL, method, headers, body, the
Basic auth the configuration gives, and the protocol's success rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import requests

from fakemms.callbacks import Callback, http_200
from fakemms.errors import FakeMmsError
from fakemms.generate import OPERATORS
from fakemms.models import Account, Message, MoConfig, MtConfig, Report
from fakemms.protocols.legacy import codec as legacy
from fakemms.protocols.mm7 import codec as mm7
from fakemms.protocols.openmarket import codec as om
from fakemms.rng import Rng


def iso_seconds(ts: float) -> str:
    """``YYYY-MM-DDThh:mm:ssTZD`` (openmarket-mms-receive.txt, date)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _auth(username: str | None, password: str | None) -> tuple[str, str] | None:
    return (username, password or "") if username else None


def mm7_success(response: requests.Response) -> str | None:
    """MM7: HTTP 200 carrying a ``...Rsp`` with StatusCode 1000 (mm7-api.txt)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    ctype = response.headers.get("Content-Type") or ""
    media = ctype.split(";")[0]
    if not media.strip().lower().startswith("multipart/") and \
            response.content.lstrip()[:1] == b"<":
        # the label does not decide: a SOAP answer sent as text/plain (or unlabelled) counts
        ctype = "text/xml" + ctype[len(media):]
    try:
        answer = mm7.parse_response(response.content, ctype)
    except FakeMmsError as exc:
        return f"not an MM7 response: {exc.detail or exc.description}"
    if isinstance(answer, mm7.SoapFault):
        status = answer.error.status.code if answer.error else None
        return f"SOAP Fault {answer.fault_code} (status {status})"
    if answer.status.code != 1000:
        return f"StatusCode {answer.status.code} {answer.status.text or ''}".rstrip()
    return None


def mm7_version(protocol: str) -> str | None:
    """``mm7-6.8.0`` -> ``6.8.0``; None for the other protocols."""
    return protocol[4:] if protocol.startswith("mm7-") else None


def report_callbacks(*, new_id: Callable[[], str], message: Message, report: Report,
                     mt: MtConfig, rng: Rng, now: float) -> list[Callback]:
    """The delivery report for an MT, in its MT configuration's ``dlr_protocol``: one
    OpenMarket REPORT, or one MM7 DeliveryReportReq (ReadReplyReq for Read/Deleted) per
    recipient."""
    if not mt.dlr_url:
        return []
    common = dict(kind="report", message_id=message.id, account=message.account,
                  url=mt.dlr_url, method="POST", protocol=mt.dlr_protocol, created_at=now,
                  auth=_auth(mt.username, mt.password))
    if mt.dlr_protocol == "legacy" or message.interface == "legacy":
        return _legacy_reports(new_id, message, report, mt, common)
    version = mm7_version(mt.dlr_protocol)
    if version is None:
        body = om.encode_report(mt_id=message.id, date=iso_seconds(report.date),
                                status=report.status, outcome_id=report.outcome_id,
                                description=report.description, user_agent=report.user_agent)
        return [Callback(id=new_id(), headers={"Content-Type": "application/json",
                                               "X-Request-Id": rng.request_id()},
                         body=body, success=http_200, **common)]
    out = []
    date = datetime.fromtimestamp(report.date, UTC)
    for recipient in message.destinations:
        if report.status in mm7.READ_STATUSES and report.status != "Indeterminate":
            encoded = mm7.encode_read_reply_req(
                version=version, transaction_id=rng.hex(8), message_id=message.id,
                recipient=recipient, sender=message.source, timestamp=date,
                mm_status=report.status, status_text=report.description)
        else:
            status = report.status if report.status in mm7.MM_STATUSES else "Indeterminate"
            encoded = mm7.encode_delivery_report_req(
                version=version, transaction_id=rng.hex(8), message_id=message.id,
                recipient=recipient, sender=message.source, date=date, mm_status=status,
                carrier_id=message.mobile_operator_id or OPERATORS.get(mt.region, [77])[0])
        out.append(Callback(id=new_id(), headers={"Content-Type": encoded.content_type,
                                                  **encoded.headers},
                            body=encoded.body, success=mm7_success, **common))
    return out


def legacy_success(response: requests.Response) -> str | None:
    """Legacy gateway: "an HTTP 200 response with a non-empty body" within 10 s."""
    if legacy.callback_succeeded(response.status_code, response.content):
        return None
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    return "HTTP 200 with an empty body (the legacy gateway wants a non-empty one)"


def _legacy_reports(new_id: Callable[[], str], message: Message, report: Report,
                    mt: MtConfig, common: dict) -> list[Callback]:
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
    return [Callback(id=new_id(), headers={}, body=b"", success=legacy_success,
                     params=legacy.report_query(
                         message_id=message.id, destination=recipient, source=message.source,
                         date=report.date, status=report.status, read=read,
                         request_id=message.request_id, user_agent=report.user_agent,
                         region=mt.region),
                     timeout=LEGACY_TIMEOUT, **{**common, "method": "GET"})
            for recipient in message.destinations]


LEGACY_TIMEOUT = float(legacy.ANSWER_WITHIN_SECONDS)


def mo_callback(*, callback_id: str, message: Message, account: Account, mo: MoConfig,
                rng: Rng, now: float, expiry_seconds: float = legacy.MIN_EXPIRY_SECONDS
                ) -> Callback | None:
    """The MO notification in the MO configuration's ``format``."""
    if not mo.url:
        return None
    common = dict(id=callback_id, kind="mo", message_id=message.id, account=account.username,
                  url=mo.url, method="POST", protocol=mo.format, created_at=now,
                  auth=_auth(mo.username, mo.password))
    if mo.format in ("legacy-get", "legacy-post"):
        return _legacy_mo(message, mo, rng, common, expiry_seconds)
    version = mm7_version(mo.format)
    if version is not None:
        encoded = mm7.encode_deliver_req(
            version=version, transaction_id=rng.hex(8), sender=message.source,
            recipients=message.destinations, parts=message.parts, linked_id=message.id,
            timestamp=datetime.fromtimestamp(message.created_at, UTC), subject=message.subject,
            ua_prof=message.extra.get("ua_prof"), carrier_id=message.mobile_operator_id)
        return Callback(headers={"Content-Type": encoded.content_type, **encoded.headers},
                        body=encoded.body, success=mm7_success, **common)
    boundary = f"mimeboundary{rng.hex(8)}"
    body, content_type = om.encode_mo(
        mo_id=int(message.id), source=message.source, destinations=message.destinations,
        ccs=message.ccs, bccs=message.bccs, date=iso_seconds(message.created_at),
        mobile_operator_id=message.mobile_operator_id or 0, subject=message.subject,
        user_agent=message.extra.get("user_agent"), parts=message.parts, boundary=boundary,
    )
    return Callback(headers={"Content-Type": content_type, "X-Request-Id": rng.request_id()},
                    body=body, success=http_200, **common)


def _legacy_mo(message: Message, mo: MoConfig, rng: Rng, common: dict,
               expiry_seconds: float) -> Callback:
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
        expiry=None if sms else message.created_at + expiry_seconds,
        message=text if sms else None)
    base = {**common, "timeout": LEGACY_TIMEOUT, "success": legacy_success}
    if mo.format == "legacy-get" or sms:
        return Callback(headers={}, body=b"", params=fields, **{**base, "method": "GET"})
    body, content_type = legacy.mo_post(fields, boundary=f"----fakemms{rng.hex(12)}",
                                        mms_zip=mms_zip(message.parts))
    return Callback(headers={"Content-Type": content_type}, body=body, **base)


def mms_zip(parts: list) -> bytes:
    """The message's contents as the legacy gateway's mms.zip (its SMIL, when it has one)."""
    smil = next((p for p in parts if p.content_type.lower().startswith("application/smil")),
                None)
    return legacy.build_zip([p for p in parts if p is not smil],
                            smil.data if smil is not None else None)
