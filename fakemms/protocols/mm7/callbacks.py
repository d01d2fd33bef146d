"""What the fake sends over MM7 (mm7-api.txt, provider-notes.md): DeliveryReportReq and
ReadReplyReq for reports, DeliverReq for MOs, and what counts as the application's success."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fakemms.errors import FakeMmsError
from fakemms.generate import OPERATORS
from fakemms.models import Callback, Message, MtConfig, Report, Success
from fakemms.protocols.mm7 import codec as mm7
from fakemms.rng import Rng


def success(expected: str, transaction_id: str | None) -> Success:
    """MM7: HTTP 200 carrying the matching ``...Rsp`` (``expected``) with StatusCode 1000 and
    the TransactionID echoed (mm7-api.txt; skycore-mm7 README: "matching MM7 TransactionID
    and Status 1000"). A receiver that omits the TransactionID is let through."""
    return Success("mm7", expected, transaction_id)


def success_reason(expected: str, transaction_id: str | None, status: int,
                   content_type: str | None, body: bytes) -> str | None:
    """None when an answer is the MM7 success ``success`` describes, else why not."""
    if status != 200:
        return f"HTTP {status}"
    ctype = content_type or ""
    media = ctype.split(";")[0]
    if not media.strip().lower().startswith("multipart/") and body.lstrip()[:1] == b"<":
        # the label does not decide: a SOAP answer sent as text/plain (or unlabelled) counts
        ctype = "text/xml" + ctype[len(media):]
    try:
        answer = mm7.parse_response(body, ctype)
    except FakeMmsError as exc:
        return f"not an MM7 response: {exc.detail or exc.description}"
    if isinstance(answer, mm7.SoapFault):
        code = answer.error.status.code if answer.error else None
        return f"SOAP Fault {answer.fault_code} (status {code})"
    if answer.operation != expected:
        return f"{answer.operation} is not a {expected}"
    if answer.transaction_id is not None and answer.transaction_id != transaction_id:
        return (f"TransactionID {answer.transaction_id!r} does not match "
                f"{transaction_id!r}")
    if answer.status.code != 1000:
        return f"StatusCode {answer.status.code} {answer.status.text or ''}".rstrip()
    return None


# Rel-5 has no Deferred, Unrecognised, DeliveryConditionNotMet (provider-notes.md, MMStatus):
# a 5.x report carries the nearest Rel-5 value (None: the report is not sent).
REL5_MM_STATUS: dict[str, str | None] = {
    "Deferred": None, "Unrecognised": "Indeterminate", "Unrecognized": "Indeterminate",
    "Unreachable": "Indeterminate", "DeliveryConditionNotMet": "Rejected",
    "NotSupported": "Rejected",
}


def mm_status_for(status: str, version: str) -> str | None:
    """The MMStatus a report of ``status`` carries in MM7 ``version`` (None: not sent)."""
    mapped: str | None = REL5_MM_STATUS.get(status, status) if version.startswith("5.") \
        else status
    if mapped is None:
        return None
    return mapped if mapped in mm7.MM_STATUSES else "Indeterminate"


def mm7_version(protocol: str) -> str | None:
    """``mm7-6.8.0`` -> ``6.8.0``; None for the other protocols."""
    return protocol[4:] if protocol.startswith("mm7-") else None


def report_callbacks(new_id: Callable[[], str], message: Message, report: Report,
                     mt: MtConfig, rng: Rng, common: dict[str, Any], version: str,
                     namespace: str | None) -> list[Callback]:
    """One DeliveryReportReq (ReadReplyReq for Read/Deleted) per recipient, in ``version``."""
    out = []
    date = datetime.fromtimestamp(report.date, UTC)
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
    for recipient in message.recipients():
        txn = rng.hex(8)
        sender = message.source or ""
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
                            body=encoded.body, success=success(expected, txn), **common))
    return out


def deliver_callback(message: Message, rng: Rng, common: dict[str, Any], version: str,
                     namespace: str | None) -> Callback:
    """An MO as a DeliverReq in ``version``, laid out like a real MMSC's (fixtures)."""
    txn = rng.hex(8)
    recipients = mm7.Recipients(to=[mm7.as_address(d) for d in message.destinations],
                                cc=[mm7.as_address(c) for c in message.ccs],
                                bcc=[mm7.as_address(b) for b in message.bccs])
    encoded = mm7.encode_deliver_req(
        version=version, transaction_id=txn, sender=message.source,
        recipients=recipients, parts=message.parts, linked_id=message.id,
        timestamp=datetime.fromtimestamp(message.created_at, UTC), subject=message.subject,
        ua_prof=message.extra.get("ua_prof"), carrier_id=message.mobile_operator_id,
        namespace=namespace)
    return Callback(headers={"Content-Type": encoded.content_type, **encoded.headers},
                    body=encoded.body, success=success("DeliverRsp", txn), **common)
