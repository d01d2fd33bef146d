"""MM7 in: an HTTP body and its Content-Type -> an ``Mm7Message`` dataclass. No I/O.

``attachments`` finds the SOAP part and the content, ``xmlvalues`` parses the XML safely and
reads element values; this module walks the envelope and builds one dataclass per operation.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from typing import Any

from fakemms.protocols.mime import DEFAULT_LIMITS, MimeLimits, MimePart
from fakemms.protocols.mm7 import tables
from fakemms.protocols.mm7.attachments import resolve_content, split_body
from fakemms.protocols.mm7.errors import (
    FormatCorrupt,
    Mm7Error,
    Mm7ValidationError,
    UnsupportedOperation,
    UnsupportedVersion,
)
from fakemms.protocols.mm7.model import (
    Address,
    CancelReq,
    DeliverReq,
    DeliveryReportReq,
    Mm7Message,
    Mm7Response,
    ReadReplyReq,
    ReplaceReq,
    SoapFault,
    Status,
    SubmitReq,
)
from fakemms.protocols.mm7.xmlvalues import (
    Scope,
    address_warnings,
    attr,
    check_time,
    parse_bool,
    parse_priority,
    parse_xml,
    recipients_of,
    single_address,
    split_tag,
    unknown_elements,
)


# --- entry points ---------------------------------------------------------------------------
def parse(body: bytes, content_type: str | None, *, strict: bool = True,
          allow_unknown_namespace: bool = False, limits: MimeLimits = DEFAULT_LIMITS
          ) -> Mm7Message:
    """Parse any MM7 message; raises an ``Mm7Error`` carrying the MM7 status code.

    ``strict``: a Content href that matches no part is 2004 (else the attachments are taken,
    with a warning). ``allow_unknown_namespace``: accept unpublished 23.140-shaped namespaces
    (e.g. REL-6-MM7-6-7) with a warning instead of 4002; meant for parsing responses.
    """
    warnings: list[str] = []
    xml, charset, attachments = split_body(body, content_type, warnings, limits)
    root = parse_xml(xml, charset)
    return _parse_envelope(root, attachments, warnings, strict, allow_unknown_namespace)


def parse_response(body: bytes, content_type: str | None) -> Mm7Response | SoapFault:
    """Parse a peer's answer (DeliverRsp, DeliveryReportRsp, a Fault ...), namespace-lenient."""
    msg = parse(body, content_type, strict=False, allow_unknown_namespace=True)
    if not isinstance(msg, Mm7Response | SoapFault):
        raise UnsupportedOperation(f"expected an MM7 response or a SOAP Fault, got {msg.operation}")
    return msg


# --- SOAP envelope --------------------------------------------------------------------------
def _parse_envelope(root: ET.Element, attachments: list[MimePart], warnings: list[str],
                    strict: bool, allow_unknown: bool) -> Mm7Message:
    env_ns, local = split_tag(root.tag)
    if local != "Envelope":
        raise FormatCorrupt(f"the root element is {local or root.tag!r}, not a SOAP Envelope")
    if env_ns not in tables.SOAP_ENV_ALIASES:
        warnings.append(f"the Envelope namespace {env_ns!r} is not SOAP 1.1's")
    elif env_ns != tables.SOAP_ENV:
        warnings.append("the SOAP namespace is written with https://")
    kids = {split_tag(c.tag)[1]: c for c in reversed(list(root))}
    header, body = kids.get("Header"), kids.get("Body")
    if body is None:
        raise FormatCorrupt("the SOAP Envelope has no Body")
    ops = [c for c in body if split_tag(c.tag)[1]]
    if not ops:
        raise FormatCorrupt("the SOAP Body is empty")
    if len(ops) > 1:
        warnings.append(f"the SOAP Body holds {len(ops)} elements; the first is used")
    txn_el = next((c for c in (header if header is not None else [])
                   if split_tag(c.tag)[1] == "TransactionID"), None)
    txn_ns = split_tag(txn_el.tag)[0] if txn_el is not None else ""
    txn = (txn_el.text or "").strip() if txn_el is not None else None
    op = ops[0]
    op_ns, op_name = split_tag(op.tag)
    if op_name == "Fault" and (op_ns in tables.SOAP_ENV_ALIASES or op_ns in (env_ns, "")):
        return _fault(op, txn, txn_ns, warnings)
    ns = op_ns
    if not ns:
        if not txn_ns:
            raise _with_request(UnsupportedVersion(f"{op_name} is in no namespace"),
                                op_name, "", None, txn)
        warnings.append(f"{op_name} is unqualified; the TransactionID's namespace is used")
        ns = txn_ns
    try:
        return _parse_operation(op, op_ns, op_name, ns, txn, attachments, warnings, strict,
                                allow_unknown)
    except Mm7Error as exc:
        version = Scope(op_ns, ns).text(op, "MM7Version")
        _with_request(exc, op_name, ns if tables.is_known_namespace(ns) else "", version, txn)
        raise


def _with_request(exc: Mm7Error, op_name: str, ns: str, version: str | None,
                  txn: str | None) -> Mm7Error:
    """Attach what could be read of the request (``exc.request``: operation, namespace when
    published, MM7Version when x.y.z, TransactionID) so the Fault answers in it."""
    exc.request = Mm7Message(  # type: ignore[attr-defined]
        operation=op_name, namespace=ns, transaction_id=txn,
        mm7_version=version if version and tables.version_tuple(version) else None)
    return exc


def _parse_operation(op: ET.Element, op_ns: str, op_name: str, ns: str, txn: str | None,
                     attachments: list[MimePart], warnings: list[str], strict: bool,
                     allow_unknown: bool) -> Mm7Message:
    _check_namespace(ns, allow_unknown, warnings)
    if op_name not in tables.OPERATIONS:
        raise UnsupportedOperation(f"{op_name} is not a supported MM7 operation")
    scope = Scope(op_ns, ns)
    version = scope.text(op, "MM7Version")
    _check_version(op_name, version, ns, warnings)
    if op_name in tables.REQUESTS and not txn:
        # TransactionID is mandatory (3GPP TS 23.140; skycore-mm7/mm7Submit.md "Mandatory:
        # Yes"); a missing mandatory element is 4004 Validation error (provider-notes.md)
        raise Mm7ValidationError(f"{op_name}: the SOAP Header has no TransactionID "
                                 "(mandatory in every MM7 request)")
    if op_name in tables.KNOWN_ELEMENTS:
        warnings.extend(unknown_elements(scope, op, tables.KNOWN_ELEMENTS))
    common = dict(operation=op_name, namespace=ns, mm7_version=version, transaction_id=txn,
                  warnings=warnings)
    if op_name.endswith("Rsp"):
        return _response(scope, op, common)
    return _REQUEST_PARSERS[op_name](scope, op, common, attachments, strict)


def _check_namespace(ns: str, allow_unknown: bool, warnings: list[str]) -> None:
    if tables.is_known_namespace(ns):
        if ns != tables.canonical_namespace(ns):
            warnings.append(f"namespace {ns!r} is written with https://; 3GPP's is http://")
        return
    if allow_unknown and tables.looks_like_mm7_namespace(ns):
        warnings.append(f"namespace {ns!r} was never published by 3GPP")
        return
    raise UnsupportedVersion(f"unsupported MM7 namespace {ns!r}")


def _check_version(op_name: str, version: str | None, ns: str, warnings: list[str]) -> None:
    if version is None or version == "":
        if op_name.endswith("Req"):
            raise Mm7ValidationError(f"{op_name} has no MM7Version")
        warnings.append(f"{op_name} has no MM7Version")
        return
    parsed = tables.version_tuple(version)
    if parsed is None:
        raise FormatCorrupt(f"MM7Version {version!r} is not of the form x.y.z")
    if parsed[0] not in (5, 6):
        raise UnsupportedVersion(f"MM7Version {version} is neither Release 5 nor 6")
    release = re.search(r"REL-(\d+)-MM7", ns)
    if release and int(release[1]) != parsed[0]:
        warnings.append(f"MM7Version {version} in a REL-{release[1]} namespace")


# --- operations -----------------------------------------------------------------------------
def _sender_identification(scope: Scope, op: ET.Element, warnings: list[str]
                           ) -> tuple[str | None, str | None, Address | None]:
    sid = scope.child(op, "SenderIdentification")
    if sid is None:
        if scope.child(op, "VASPID") is not None:
            warnings.append("VASPID outside SenderIdentification")
        sid = op
    sender = single_address(scope, scope.child(sid, "SenderAddress"), "SenderAddress")
    warnings.extend(address_warnings("SenderAddress", [sender] if sender else []))
    return scope.text(sid, "VASPID"), scope.text(sid, "VASID"), sender


def _submit(scope: Scope, op: ET.Element, common: dict[str, Any], attachments: list[MimePart],
            strict: bool) -> SubmitReq:
    t = functools.partial(scope.text, op)
    vasp_id, vas_id, sender = _sender_identification(scope, op, common["warnings"])
    recipients = recipients_of(scope, scope.child(op, "Recipients"))
    if not recipients:
        raise Mm7ValidationError("SubmitReq has no recipients")
    w = common["warnings"]
    for kind in ("To", "Cc", "Bcc"):
        w.extend(address_warnings(kind, getattr(recipients, kind.lower())))
    if vas_id == "":
        w.append("VASID is empty: the account's first MT configuration is used; an MMSC that "
                 "needs one refuses it with 2562 Invalid VASID (skycore-mm7)")
    return SubmitReq(
        **common, vasp_id=vasp_id, vas_id=vas_id, sender=sender, recipients=recipients,
        service_code=t("ServiceCode"), linked_id=t("LinkedID"), message_class=t("MessageClass"),
        timestamp=check_time(t("TimeStamp"), "TimeStamp"),
        expiry_date=check_time(t("ExpiryDate"), "ExpiryDate", relative_ok=True),
        earliest_delivery_time=check_time(t("EarliestDeliveryTime"), "EarliestDeliveryTime",
                                     relative_ok=True),
        delivery_report=parse_bool(t("DeliveryReport"), "DeliveryReport", w),
        read_reply=parse_bool(t("ReadReply"), "ReadReply", w),
        priority=parse_priority(t("Priority")),
        subject=t("Subject"), charged_party=t("ChargedParty"),
        content=resolve_content(scope.child(op, "Content"), attachments, strict,
                                common["warnings"]),
    )


def _ua_prof(scope: Scope, op: ET.Element) -> str | None:
    ua = scope.child(op, "UACapabilities")
    return attr(ua, "UAProf") if ua is not None else None


def _deliver(scope: Scope, op: ET.Element, common: dict[str, Any], attachments: list[MimePart],
             strict: bool) -> DeliverReq:
    t = functools.partial(scope.text, op)
    return DeliverReq(
        **common, mms_relay_server_id=t("MMSRelayServerID"), vasp_id=t("VASPID"),
        vas_id=t("VASID"), linked_id=t("LinkedID"),
        sender=single_address(scope, scope.child(op, "Sender"), "Sender"),
        recipients=recipients_of(scope, scope.child(op, "Recipients")),
        timestamp=check_time(t("TimeStamp"), "TimeStamp"), priority=parse_priority(t("Priority")),
        subject=t("Subject"), ua_prof=_ua_prof(scope, op),
        content=resolve_content(scope.child(op, "Content"), attachments, strict,
                                common["warnings"]),
    )


def _report_fields(scope: Scope, op: ET.Element, common: dict[str, Any], known: frozenset[str]
                   ) -> dict[str, Any]:
    t = functools.partial(scope.text, op)
    if not t("MessageID"):
        raise Mm7ValidationError(f"{common['operation']} has no MessageID")
    status = t("MMStatus")
    if not status:
        raise Mm7ValidationError(f"{common['operation']} has no MMStatus")
    if status not in known:
        common["warnings"].append(f"MMStatus {status!r} is not a known value")
    return dict(mms_relay_server_id=t("MMSRelayServerID"), message_id=t("MessageID"),
                recipient=single_address(scope, scope.child(op, "Recipient"), "Recipient"),
                sender=single_address(scope, scope.child(op, "Sender"), "Sender"),
                mm_status=status, status_text=t("StatusText"))


def _delivery_report(scope: Scope, op: ET.Element, common: dict[str, Any],
                     attachments: list[MimePart], strict: bool) -> DeliveryReportReq:
    fields = _report_fields(scope, op, common, tables.MM_STATUSES)
    return DeliveryReportReq(**common, **fields, date=check_time(scope.text(op, "Date"), "Date"),
                             ua_prof=_ua_prof(scope, op))


def _read_reply(scope: Scope, op: ET.Element, common: dict[str, Any], attachments: list[MimePart],
                strict: bool) -> ReadReplyReq:
    fields = _report_fields(scope, op, common, tables.READ_STATUSES)
    return ReadReplyReq(**common, **fields,
                        timestamp=check_time(scope.text(op, "TimeStamp"), "TimeStamp"))


def _message_id(scope: Scope, op: ET.Element, name: str) -> str:
    mid = scope.text(op, "MessageID")
    if not mid:
        raise Mm7ValidationError(f"{name} has no MessageID")
    return mid


def _cancel(scope: Scope, op: ET.Element, common: dict[str, Any], attachments: list[MimePart],
            strict: bool) -> CancelReq:
    vasp_id, vas_id, sender = _sender_identification(scope, op, common["warnings"])
    return CancelReq(**common, vasp_id=vasp_id, vas_id=vas_id, sender=sender,
                     message_id=_message_id(scope, op, "CancelReq"))


def _replace(scope: Scope, op: ET.Element, common: dict[str, Any], attachments: list[MimePart],
             strict: bool) -> ReplaceReq:
    t = functools.partial(scope.text, op)
    vasp_id, vas_id, sender = _sender_identification(scope, op, common["warnings"])
    return ReplaceReq(
        **common, vasp_id=vasp_id, vas_id=vas_id, sender=sender,
        message_id=_message_id(scope, op, "ReplaceReq"), service_code=t("ServiceCode"),
        timestamp=check_time(t("TimeStamp"), "TimeStamp"),
        earliest_delivery_time=check_time(t("EarliestDeliveryTime"), "EarliestDeliveryTime",
                                     relative_ok=True),
        read_reply=parse_bool(t("ReadReply"), "ReadReply", common["warnings"]),
        content=resolve_content(scope.child(op, "Content"), attachments, strict,
                                common["warnings"]),
    )


_REQUEST_PARSERS = {
    "SubmitReq": _submit, "DeliverReq": _deliver, "DeliveryReportReq": _delivery_report,
    "ReadReplyReq": _read_reply, "CancelReq": _cancel, "ReplaceReq": _replace,
}


def _status(scope: Scope, el: ET.Element) -> Status:
    status = scope.child(el, "Status")
    code = scope.text(status, "StatusCode")
    if status is None or not code:
        raise FormatCorrupt(f"{split_tag(el.tag)[1]} has no Status/StatusCode")
    if not code.isdigit():
        raise FormatCorrupt(f"StatusCode {code!r} is not a number")
    return Status(int(code), scope.text(status, "StatusText"), scope.text(status, "Details"))


def _response(scope: Scope, op: ET.Element, common: dict[str, Any]) -> Mm7Response:
    return Mm7Response(**common, status=_status(scope, op),
                       message_id=scope.text(op, "MessageID") or None)


def _fault(op: ET.Element, txn: str | None, txn_ns: str, warnings: list[str]) -> SoapFault:
    """SOAP Fault; faultcode etc. unqualified (SOAP 1.1) or qualified (fault_02.xml)."""
    by_name = {split_tag(c.tag)[1]: c for c in reversed(list(op))}
    code_el, detail = by_name.get("faultcode"), by_name.get("detail")
    if code_el is None:
        raise FormatCorrupt("the SOAP Fault has no faultcode")
    string_el = by_name.get("faultstring")
    error = None
    err_el = next((c for c in (detail if detail is not None else [])
                   if split_tag(c.tag)[1] in tables.ERROR_RESPONSES), None)
    ns = txn_ns
    if err_el is not None:
        ns = split_tag(err_el.tag)[0] or txn_ns
        scope = Scope(split_tag(err_el.tag)[0], ns)
        error = Mm7Response(operation=split_tag(err_el.tag)[1], namespace=ns,
                            mm7_version=scope.text(err_el, "MM7Version"), transaction_id=txn,
                            status=_status(scope, err_el))
    if ns and not tables.is_known_namespace(ns):
        warnings.append(f"namespace {ns!r} was never published by 3GPP")
    return SoapFault(operation="Fault", namespace=ns,
                     mm7_version=error.mm7_version if error else None, transaction_id=txn,
                     warnings=warnings, fault_code=(code_el.text or "").strip(),
                     fault_string=(string_el.text or "").strip() if string_el is not None
                     else None, error=error)
