"""What the fake sends: the callback request for a delivery report or an MO, per protocol.

Each builder returns a ``Callback`` ready for the dispatcher: URL, method, headers, body, the
Basic auth the configuration gives, and the protocol's success rule.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fakemms.callbacks import Callback, http_200
from fakemms.models import Account, Message, MoConfig, MtConfig, Report
from fakemms.protocols.openmarket import codec as om
from fakemms.rng import Rng


def iso_seconds(ts: float) -> str:
    """``YYYY-MM-DDThh:mm:ssTZD`` (openmarket-mms-receive.txt, date)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _auth(username: str | None, password: str | None) -> tuple[str, str] | None:
    return (username, password or "") if username else None


def report_callback(*, callback_id: str, message: Message, report: Report, mt: MtConfig,
                    rng: Rng, now: float) -> Callback | None:
    """The delivery report for an MT, in its MT configuration's ``dlr_protocol``."""
    if not mt.dlr_url:
        return None
    body = om.encode_report(mt_id=message.id, date=iso_seconds(report.date),
                            status=report.status, outcome_id=report.outcome_id,
                            description=report.description, user_agent=report.user_agent)
    return Callback(
        id=callback_id, kind="report", message_id=message.id, account=message.account,
        url=mt.dlr_url, method="POST", protocol=mt.dlr_protocol, created_at=now,
        headers={"Content-Type": "application/json", "X-Request-Id": rng.request_id()},
        body=body, success=http_200, auth=_auth(mt.username, mt.password),
    )


def mo_callback(*, callback_id: str, message: Message, account: Account, mo: MoConfig,
                rng: Rng, now: float) -> Callback | None:
    """The MO notification in the MO configuration's ``format``."""
    if not mo.url:
        return None
    boundary = f"mimeboundary{rng.hex(8)}"
    body, content_type = om.encode_mo(
        mo_id=int(message.id), source=message.source, destinations=message.destinations,
        ccs=message.ccs, bccs=message.bccs, date=iso_seconds(message.created_at),
        mobile_operator_id=message.mobile_operator_id or 0, subject=message.subject,
        user_agent=message.extra.get("user_agent"), parts=message.parts, boundary=boundary,
    )
    return Callback(
        id=callback_id, kind="mo", message_id=message.id, account=account.username,
        url=mo.url, method="POST", protocol=mo.format, created_at=now,
        headers={"Content-Type": content_type, "X-Request-Id": rng.request_id()},
        body=body, success=http_200, auth=_auth(mo.username, mo.password),
    )
