"""What the fake sends: the callback request for a delivery report or an MO, in the protocol
the account's configuration names. Each protocol's encoding and success rule live beside its
codec (``protocols/<p>/callbacks.py``); this module picks one and adds what they share: the
URL, the Basic auth the configuration gives, the callback's identity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fakemms.models import Account, Callback, Message, MoConfig, MtConfig, Report, Success
from fakemms.protocols.legacy import callbacks as legacy_out
from fakemms.protocols.legacy import codec as legacy
from fakemms.protocols.mm7 import callbacks as mm7_out
from fakemms.protocols.openmarket import callbacks as om_out
from fakemms.rng import Rng

mms_zip = legacy_out.mms_zip  # the legacy retrieval answers with the same zip


@dataclass(frozen=True)
class Settings:
    """What the configuration says about callbacks' shapes (config: mm7, legacy)."""

    mm7_namespaces: dict[str, str] = field(default_factory=dict)  # version -> namespace
    legacy_timeout: float = float(legacy.ANSWER_WITHIN_SECONDS)
    legacy_expiry: float = float(legacy.MIN_EXPIRY_SECONDS)


DEFAULTS = Settings()


def judge(rule: Success, status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why an answer is not the application's success under ``rule`` (None: it is), by the
    rule of the protocol that made the callback."""
    if rule.kind == "legacy":
        return legacy_out.success_reason(status, body)
    if rule.kind == "mm7":
        return mm7_out.success_reason(rule.expected or "", rule.transaction_id, status,
                                      headers.get("Content-Type"), body)
    return om_out.success_reason(status)


def _auth(username: str | None, password: str | None) -> tuple[str, str] | None:
    return (username, password or "") if username else None


def report_callbacks(*, new_id: Callable[[], str], message: Message, report: Report,
                     mt: MtConfig, rng: Rng, now: float, settings: Settings = DEFAULTS
                     ) -> list[Callback]:
    """The delivery report for an MT, in its MT configuration's ``dlr_protocol``: one
    OpenMarket REPORT, or one MM7 DeliveryReportReq (ReadReplyReq for Read/Deleted) or legacy
    report GET per recipient."""
    if not mt.dlr_url:
        return []
    common = dict(kind="report", message_id=message.id, account=message.account,
                  url=mt.dlr_url, method="POST", protocol=mt.dlr_protocol, created_at=now,
                  auth=_auth(mt.username, mt.password))
    if mt.dlr_protocol == "legacy" or message.interface == "legacy":
        return legacy_out.report_callbacks(new_id, message, report, mt, common,
                                           settings.legacy_timeout)
    version = mm7_out.mm7_version(mt.dlr_protocol)
    if version is None:
        return [om_out.report_callback(new_id(), message, report, rng, common)]
    return mm7_out.report_callbacks(new_id, message, report, mt, rng, common, version,
                                    settings.mm7_namespaces.get(version))


def mo_callback(*, callback_id: str, message: Message, account: Account, mo: MoConfig,
                rng: Rng, now: float, settings: Settings = DEFAULTS) -> Callback | None:
    """The MO notification in the MO configuration's ``format``."""
    if not mo.url:
        return None
    common = dict(id=callback_id, kind="mo", message_id=message.id, account=account.username,
                  url=mo.url, method="POST", protocol=mo.format, created_at=now,
                  auth=_auth(mo.username, mo.password))
    if mo.format in ("legacy-get", "legacy-post"):
        return legacy_out.mo_callback(message, mo, rng, common,
                                      timeout=settings.legacy_timeout,
                                      expiry=settings.legacy_expiry)
    version = mm7_out.mm7_version(mo.format)
    if version is not None:
        return mm7_out.deliver_callback(message, rng, common, version,
                                        settings.mm7_namespaces.get(version))
    return om_out.mo_callback(message, rng, common)
