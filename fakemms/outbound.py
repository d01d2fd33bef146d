"""What the fake sends: the callback request for a delivery report or an MO, per protocol.

Each builder returns a ``Callback`` ready for the dispatcher: URL, method, headers, body, the
Basic auth the configuration gives, and the protocol's success rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Settings:
    """What the configuration says about callbacks' shapes (config: mm7, legacy)."""

    mm7_namespaces: dict[str, str] = field(default_factory=dict)  # version -> namespace
    legacy_timeout: float = float(legacy.ANSWER_WITHIN_SECONDS)
    legacy_expiry: float = float(legacy.MIN_EXPIRY_SECONDS)


DEFAULTS = Settings()


def iso_seconds(ts: float) -> str:
    """``YYYY-MM-DDThh:mm:ssTZD`` (openmarket-mms-receive.txt, date)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _auth(username: str | None, password: str | None) -> tuple[str, str] | None:
    return (username, password or "") if username else None


def mm7_success(expected: str, transaction_id: str | None
                ) -> Callable[[requests.Response], str | None]:
    """MM7: HTTP 200 carrying the matching ``...Rsp`` (``expected``) with StatusCode 1000 and
    the TransactionID echoed (mm7-api.txt; skycore-mm7 README: "matching MM7 TransactionID
    and Status 1000"). A receiver that omits the TransactionID is let through."""

    def check(response: requests.Response) -> str | None:
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
        if answer.operation != expected:
            return f"{answer.operation} is not a {expected}"
        if answer.transaction_id is not None and answer.transaction_id != transaction_id:
            return (f"TransactionID {answer.transaction_id!r} does not match "
                    f"{transaction_id!r}")
        if answer.status.code != 1000:
            return f"StatusCode {answer.status.code} {answer.status.text or ''}".rstrip()
        return None

    return check


# Rel-5 has no Deferred, Unrecognised, DeliveryConditionNotMet (provider-notes.md, MMStatus):
# a 5.x report carries the nearest Rel-5 value (None: the report is not sent).
REL5_MM_STATUS: dict[str, str | None] = {
    "Deferred": None, "Unrecognised": "Indeterminate", "Unrecognized": "Indeterminate",
    "Unreachable": "Indeterminate", "DeliveryConditionNotMet": "Rejected",
    "NotSupported": "Rejected",
}


def mm_status_for(status: str, version: str) -> str | None:
    """The MMStatus a report of ``status`` carries in MM7 ``version`` (None: not sent)."""
    if version.startswith("5."):
        status = REL5_MM_STATUS.get(status, status)
    if status is None:
        return None
    return status if status in mm7.MM_STATUSES else "Indeterminate"


def mm7_version(protocol: str) -> str | None:
    """``mm7-6.8.0`` -> ``6.8.0``; None for the other protocols."""
    return protocol[4:] if protocol.startswith("mm7-") else None


def recipients(message: Message) -> list[str]:
    """Every recipient of an MT, To then Cc then Bcc: a report goes to each (3GPP TS 23.140
    sends a DeliveryReportReq per recipient, Cc and Bcc included)."""
    return [*message.destinations, *message.ccs, *message.bccs]


def report_callbacks(*, new_id: Callable[[], str], message: Message, report: Report,
                     mt: MtConfig, rng: Rng, now: float, settings: Settings = DEFAULTS
                     ) -> list[Callback]:
    """The delivery report for an MT, in its MT configuration's ``dlr_protocol``: one
    OpenMarket REPORT, or one MM7 DeliveryReportReq (ReadReplyReq for Read/Deleted) per
    recipient."""
    if not mt.dlr_url:
        return []
    common = dict(kind="report", message_id=message.id, account=message.account,
                  url=mt.dlr_url, method="POST", protocol=mt.dlr_protocol, created_at=now,
                  auth=_auth(mt.username, mt.password))
    if mt.dlr_protocol == "legacy" or message.interface == "legacy":
        return _legacy_reports(new_id, message, report, mt, common, settings.legacy_timeout)
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
    namespace = settings.mm7_namespaces.get(version)
    read = report.status in mm7.READ_STATUSES and report.status != "Indeterminate"
    # SubmitReq flags (3GPP TS 23.140): DeliveryReport absent counts as requested
    # (skycore-mm7 "Default to true"); a read-reply report only when ReadReply was true.
    if message.interface == "mm7" and (
            message.extra.get("read_reply") is not True if read
            else message.extra.get("delivery_report") is False):
        return []
    status = report.status if read else mm_status_for(report.status, version)
    if status is None:
        return []
    carrier = message.mobile_operator_id or (mt.operators[0] if mt.operators else None) \
        or OPERATORS.get(mt.region, [77])[0]
    for recipient in recipients(message):
        txn = rng.hex(8)
        sender = message.source or None
        if read:
            encoded = mm7.encode_read_reply_req(
                version=version, transaction_id=txn, message_id=message.id,
                recipient=recipient, sender=sender, timestamp=date, mm_status=status,
                status_text=report.description, namespace=namespace)
            expected = "ReadReplyRsp"
        else:
            encoded = mm7.encode_delivery_report_req(
                version=version, transaction_id=txn, message_id=message.id,
                recipient=recipient, sender=sender, date=date, mm_status=status,
                carrier_id=carrier, namespace=namespace)
            expected = "DeliveryReportRsp"
        out.append(Callback(id=new_id(), headers={"Content-Type": encoded.content_type,
                                                  **encoded.headers},
                            body=encoded.body, success=mm7_success(expected, txn), **common))
    return out


def legacy_success(response: requests.Response) -> str | None:
    """Legacy gateway: "an HTTP 200 response with a non-empty body" within 10 s."""
    if legacy.callback_succeeded(response.status_code, response.content):
        return None
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    return "HTTP 200 with an empty body (the legacy gateway wants a non-empty one)"


def _legacy_reports(new_id: Callable[[], str], message: Message, report: Report,
                    mt: MtConfig, common: dict, timeout: float) -> list[Callback]:
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
                     timeout=timeout, **{**common, "method": "GET"})
            for recipient in recipients(message)]


def mo_callback(*, callback_id: str, message: Message, account: Account, mo: MoConfig,
                rng: Rng, now: float, settings: Settings = DEFAULTS) -> Callback | None:
    """The MO notification in the MO configuration's ``format``."""
    if not mo.url:
        return None
    common = dict(id=callback_id, kind="mo", message_id=message.id, account=account.username,
                  url=mo.url, method="POST", protocol=mo.format, created_at=now,
                  auth=_auth(mo.username, mo.password))
    if mo.format in ("legacy-get", "legacy-post"):
        return _legacy_mo(message, mo, rng, common, settings)
    version = mm7_version(mo.format)
    if version is not None:
        txn = rng.hex(8)
        recipients = mm7.Recipients(to=[mm7.as_address(d) for d in message.destinations],
                                    cc=[mm7.as_address(c) for c in message.ccs],
                                    bcc=[mm7.as_address(b) for b in message.bccs])
        encoded = mm7.encode_deliver_req(
            version=version, transaction_id=txn, sender=message.source,
            recipients=recipients, parts=message.parts, linked_id=message.id,
            timestamp=datetime.fromtimestamp(message.created_at, UTC), subject=message.subject,
            ua_prof=message.extra.get("ua_prof"), carrier_id=message.mobile_operator_id,
            namespace=settings.mm7_namespaces.get(version))
        return Callback(headers={"Content-Type": encoded.content_type, **encoded.headers},
                        body=encoded.body, success=mm7_success("DeliverRsp", txn), **common)
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
               settings: Settings) -> Callback:
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
        expiry=None if sms else message.created_at + settings.legacy_expiry,
        message=text if sms else None)
    base = {**common, "timeout": settings.legacy_timeout, "success": legacy_success}
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
