"""MM7 in: an HTTP body and its Content-Type -> an ``Mm7Message`` dataclass. No I/O.

The body is SOAP 1.1 in ``multipart/related`` (the SOAP part is the ``start`` part, else the
first) or plain ``text/xml``. XML goes through defusedxml with DTDs forbidden, so entity
expansion and external entities never happen (a DOCTYPE alone is refused: 2007). Elements are
found by local name in the operation's namespace (or unqualified), so prefixed, default and
mixed namespace styles all parse alike. Lenient where real clients are sloppy (provider-notes.md):
booleans ``true/True/TRUE/1``, ``+`` and ``/TYPE=PLMN`` in numbers, empty VASID, Content-IDs
with or without angle brackets, ``cid: id`` with a space.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import defusedxml.ElementTree as SafeET
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from fakemms.errors import MalformedRequest
from fakemms.protocols.mime import MimePart, content_type_params, parse_multipart
from fakemms.protocols.mm7 import tables
from fakemms.protocols.mm7.errors import (
    AddressError,
    ContentRefused,
    FormatCorrupt,
    Mm7ValidationError,
    UnsupportedOperation,
    UnsupportedVersion,
)
from fakemms.protocols.mm7.model import (
    Address,
    CancelReq,
    Content,
    DeliverReq,
    DeliveryReportReq,
    Mm7Message,
    Mm7Part,
    Mm7Response,
    ReadReplyReq,
    Recipients,
    ReplaceReq,
    SoapFault,
    Status,
    SubmitReq,
)
from fakemms.protocols.mm7.smil import find_smil

XML_MEDIA_TYPES = ("text/xml", "application/xml", "application/soap+xml")
# mime.parse_multipart's wording for a part it could not transfer-decode
_DECODE_ERRORS = ("bad base64 content", "unsupported Content-Transfer-Encoding")


# --- entry points ---------------------------------------------------------------------------
def parse(body: bytes, content_type: str | None, *, strict: bool = True,
          allow_unknown_namespace: bool = False) -> Mm7Message:
    """Parse any MM7 message; raises an ``Mm7Error`` carrying the MM7 status code.

    ``strict``: a Content href that matches no part is 2004 (else the attachments are taken,
    with a warning). ``allow_unknown_namespace``: accept unpublished 23.140-shaped namespaces
    (e.g. REL-6-MM7-6-7) with a warning instead of 4002; meant for parsing responses.
    """
    warnings: list[str] = []
    xml, charset, attachments = split_body(body, content_type, warnings)
    root = parse_xml(xml, charset)
    return _parse_envelope(root, attachments, warnings, strict, allow_unknown_namespace)


def parse_response(body: bytes, content_type: str | None) -> Mm7Response | SoapFault:
    """Parse a peer's answer (DeliverRsp, DeliveryReportRsp, a Fault ...), namespace-lenient."""
    msg = parse(body, content_type, strict=False, allow_unknown_namespace=True)
    if not isinstance(msg, Mm7Response | SoapFault):
        raise UnsupportedOperation(f"expected an MM7 response or a SOAP Fault, got {msg.operation}")
    return msg


# --- MIME -----------------------------------------------------------------------------------
def split_body(body: bytes, content_type: str | None, warnings: list[str]
               ) -> tuple[bytes, str | None, list[MimePart]]:
    """The SOAP XML, its charset, and the other top-level MIME parts."""
    media, params = content_type_params(content_type)
    if media.startswith("multipart/"):
        if media != "multipart/related":
            warnings.append(f"Content-Type is {media}; MM7 uses multipart/related")
        try:
            root = parse_multipart(body, content_type)
        except MalformedRequest as exc:
            if (exc.detail or "").startswith(_DECODE_ERRORS):
                raise ContentRefused(f"cannot decode a MIME part: {exc.detail}") from None
            raise FormatCorrupt(f"unparseable multipart body: {exc.detail}") from None
        parts = root.children
        index = 0
        start = params.get("start")
        if start:
            found = [i for i, p in enumerate(parts) if same_cid(p.content_id, start)]
            if found:
                index = found[0]
            else:
                warnings.append(f"no part has the Content-ID of start={start!r}; "
                                "the first part is taken as the SOAP envelope")
        soap = parts[index]
        if soap.children:
            raise FormatCorrupt("the SOAP envelope part is itself a multipart")
        if soap.media_type not in XML_MEDIA_TYPES:
            warnings.append(f"the SOAP part is {soap.media_type}, not text/xml")
        return soap.data, soap.params.get("charset"), parts[:index] + parts[index + 1:]
    if media in XML_MEDIA_TYPES or (not media and body.lstrip()[:1] == b"<"):
        if not media:
            warnings.append("no Content-Type; the body was read as text/xml")
        return body, params.get("charset"), []
    raise FormatCorrupt(f"Content-Type {media or '(none)'} is neither multipart/related nor "
                        "text/xml")


def normalize_cid(value: str | None) -> str:
    """A Content-ID or ``cid:`` reference without ``cid:``, angle brackets or spaces."""
    text = (value or "").strip()
    if text[:4].lower() == "cid:":
        text = unquote(text[4:].strip())  # RFC 2392: cid URLs are %-encoded
    return text.strip().strip("<>").strip()


def same_cid(a: str | None, b: str | None) -> bool:
    na, nb = normalize_cid(a), normalize_cid(b)
    return bool(na) and na == nb


def unfold(value: str) -> str:
    """A header value with its folding (CRLF + whitespace) replaced by one space."""
    return re.sub(r"\r?\n[ \t]+", " ", value)


def _leaf(part: MimePart) -> Mm7Part:
    cid = normalize_cid(part.content_id) or None
    return Mm7Part(content_type=unfold(part.content_type), media_type=part.media_type,
                   data=part.data,
                   content_id=cid, content_location=part.header("content-location"),
                   transfer_encoding=part.transfer_encoding,
                   params={k: v for k, v in part.params.items() if k})


def flatten(part: MimePart) -> list[Mm7Part]:
    """Leaf parts of a MIME part in document order (nested multiparts walked)."""
    if not part.children:
        return [_leaf(part)]
    return [leaf for child in part.children for leaf in flatten(child)]


def _find_part(parts: list[MimePart], test) -> MimePart | None:
    for part in parts:
        if test(part):
            return part
        inner = _find_part(part.children, test)
        if inner is not None:
            return inner
    return None


def resolve_content(el: ET.Element | None, attachments: list[MimePart], strict: bool,
                    warnings: list[str]) -> Content | None:
    """The Content element and the parts its href points at (2004 when it points nowhere)."""
    if el is None:
        if not attachments:
            return None
        warnings.append("no Content element; every attachment is taken as content")
        return _content(None, None, attachments, None)
    href = _attr(el, "href")
    allow = _attr(el, "allowAdaptations")
    allow_b = _bool(allow, "allowAdaptations") if allow is not None else None
    if href is None or not href.strip():
        raise FormatCorrupt("the Content element has no href")
    if href.strip()[:4].lower() != "cid:":
        warnings.append(f"Content href {href!r} is not a cid: reference; it was not fetched")
        return Content(href=href, allow_adaptations=allow_b)
    cid = normalize_cid(href)
    part = _find_part(attachments, lambda p: normalize_cid(p.content_id) == cid)
    if part is None:
        part = _find_part(attachments, lambda p: normalize_cid(p.content_id).lower() == cid.lower()
                          or (p.header("content-location") or "").strip() == cid)
        if part is not None:
            warnings.append(f"Content href {href!r} matched a part only by case or "
                            "Content-Location")
    if part is None:
        ids = [p.content_id for p in attachments]
        if strict or not attachments:
            raise ContentRefused(f"Content href {href!r} matches no MIME part "
                                 f"(Content-IDs present: {ids})")
        warnings.append(f"Content href {href!r} matches no MIME part; every attachment is "
                        "taken as content")
        return _content(href, allow_b, attachments, None)
    return _content(href, allow_b, [part], part)


def _content(href: str | None, allow: bool | None, parts: list[MimePart],
             ref: MimePart | None) -> Content:
    leaves = [leaf for p in parts for leaf in flatten(p)]
    start = ref.params.get("start") if ref is not None else None
    index = find_smil(leaves, start)
    return Content(href=href, allow_adaptations=allow,
                   content_type=unfold(ref.content_type) if ref is not None else None,
                   parts=leaves, smil=leaves[index] if index is not None else None)


# --- XML ------------------------------------------------------------------------------------
def parse_xml(data: bytes, charset: str | None = None) -> ET.Element:
    """Well-formed XML without DTD, entities or external references, else 2007."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.lstrip(b" \t\r\n")
    if not data:
        raise FormatCorrupt("the SOAP part is empty")
    source: bytes | str = data
    if charset and charset.lower() not in ("utf-8", "utf8", "us-ascii", "ascii") \
            and not data.startswith(b"<?xml"):
        try:
            source = data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            source = data
    try:
        return SafeET.fromstring(source, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except DTDForbidden:
        raise FormatCorrupt("a DOCTYPE is not allowed in an MM7 message") from None
    except EntitiesForbidden:
        raise FormatCorrupt("entity declarations are not allowed in an MM7 message") from None
    except ExternalReferenceForbidden:
        raise FormatCorrupt("external references are not allowed in an MM7 message") from None
    except DefusedXmlException as exc:
        raise FormatCorrupt(f"refused XML: {exc}") from None
    except ET.ParseError as exc:
        raise FormatCorrupt(f"not well-formed XML: {exc}") from None


def split_tag(tag: object) -> tuple[str, str]:
    """``{ns}local`` -> (ns, local); comments and processing instructions give ("", "")."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


class _Scope:
    """Child lookups by local name in the MM7 namespace (or unqualified)."""

    def __init__(self, *namespaces: str) -> None:
        self.ns = frozenset(namespaces) | {""}

    def children(self, el: ET.Element | None, name: str) -> list[ET.Element]:
        if el is None:
            return []
        return [c for c in el if split_tag(c.tag) in {(n, name) for n in self.ns}]

    def child(self, el: ET.Element | None, name: str) -> ET.Element | None:
        found = self.children(el, name)
        return found[0] if found else None

    def text(self, el: ET.Element | None, name: str) -> str | None:
        c = self.child(el, name)
        return None if c is None else (c.text or "").strip()


def _attr(el: ET.Element, name: str) -> str | None:
    """An attribute by local name, qualified or not (``mm7:href`` is seen, deliver-req5)."""
    for key, value in el.attrib.items():
        if split_tag(key)[1] == name:
            return value
    return None


def _bool(value: str | None, name: str) -> bool | None:
    if value is None or not value.strip():
        return None
    v = value.strip().lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise FormatCorrupt(f"{name}: {value!r} is not a boolean")


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
_DURATION = re.compile(r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?"
                       r"(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def parse_time(value: str) -> datetime | timedelta:
    """An MM7 time: absolute xs:dateTime (aware; UTC when no offset) or relative duration.

    Durations count a year as 365 days and a month as 30 (23.140 leaves "relative" to xs:duration).
    """
    v = value.strip()
    if _DATETIME.match(v):
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    m = _DURATION.match(v)
    if not m:
        raise FormatCorrupt(f"{value!r} is neither an xs:dateTime nor a duration")
    def num(g: str | None) -> float:
        return float(g[:-1]) if g else 0.0
    days = num(m[1]) * 365 + num(m[2]) * 30 + num(m[3]) * 7 + num(m[4])
    return timedelta(days=days, hours=num(m[6]), minutes=num(m[7]), seconds=num(m[8]))


def _time(value: str | None, name: str, relative_ok: bool = False) -> str | None:
    if value is None or value == "":
        return None
    parsed = _parse_time_named(value, name)
    if isinstance(parsed, timedelta) and not relative_ok:
        raise FormatCorrupt(f"{name}: {value!r} must be an absolute date and time")
    return value


def _parse_time_named(value: str, name: str) -> datetime | timedelta:
    try:
        return parse_time(value)
    except (FormatCorrupt, ValueError):
        raise FormatCorrupt(f"{name}: {value!r} is not an MM7 date/time") from None


_PRIORITIES = {"high": "High", "normal": "Normal", "low": "Low"}


def _priority(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _PRIORITIES[value.lower()]
    except KeyError:
        raise FormatCorrupt(f"Priority: {value!r} is not High, Normal or Low") from None


# --- addresses ------------------------------------------------------------------------------
ADDRESS_KINDS = ("Number", "ShortCode", "RFC2822Address")
_NUMBER = re.compile(r"^\d{3,15}$")
_SHORT_CODE = re.compile(r"^[0-9A-Za-z]{3,15}$")
_PLMN = re.compile(r"/TYPE=PLMN$", re.IGNORECASE)


def parse_address(kind: str, raw: str, *, display_only: bool = False,
                  coded: bool = False) -> Address:
    """Normalise one address; 2002 when it is empty or malformed.

    Numbers lose ``/TYPE=PLMN`` (Nokia, deliver-req3) and a leading ``+`` (noted in ``plus``).
    ``coded``: addressCoding="encrypted"/"obfuscated", kept as sent.
    """
    text = raw.strip()
    if not text:
        raise AddressError(f"empty {kind}")
    if coded:
        return Address(kind, text, text, display_only=display_only)
    value = _PLMN.sub("", text)
    plus = value.startswith("+")
    numeric = re.fullmatch(r"\+?\d+", value) is not None
    if kind in ("Number", "ShortCode") or (kind == "RFC2822Address" and numeric):
        value = value.lstrip("+")
        pattern = _NUMBER if kind != "ShortCode" else _SHORT_CODE
        if not pattern.match(value):
            raise AddressError(f"{kind} {text!r} is not a valid {kind}")
        return Address(kind, value, text, plus=plus, display_only=display_only)
    if not re.search(r"[^@\s<>]+@[^@\s<>]+", text):
        raise AddressError(f"RFC2822Address {text!r} is not an e-mail address")
    return Address(kind, text, text, display_only=display_only)


def _addresses(scope: _Scope, container: ET.Element | None) -> list[Address]:
    out = []
    for child in container if container is not None else []:
        ns, local = split_tag(child.tag)
        if local in ADDRESS_KINDS and ns in scope.ns:
            display = _bool(_attr(child, "displayOnly"), "displayOnly") or False
            out.append(parse_address(local, child.text or "", display_only=display,
                                     coded=_attr(child, "addressCoding") is not None))
    return out


def _single(scope: _Scope, container: ET.Element | None, name: str) -> Address | None:
    if container is None:
        return None
    found = _addresses(scope, container)
    if not found:
        raise AddressError(f"{name} holds no Number, ShortCode or RFC2822Address")
    return found[0]


def _recipients(scope: _Scope, el: ET.Element | None) -> Recipients:
    return Recipients(*(
        [a for c in scope.children(el, name) for a in _addresses(scope, c)]
        for name in ("To", "Cc", "Bcc")
    ))


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
    if op_name == "Fault" and (op_ns in tables.SOAP_ENV_ALIASES or op_ns == env_ns):
        return _fault(op, txn, txn_ns, warnings)
    ns = op_ns
    if not ns:
        if not txn_ns:
            raise UnsupportedVersion(f"{op_name} is in no namespace")
        warnings.append(f"{op_name} is unqualified; the TransactionID's namespace is used")
        ns = txn_ns
    _check_namespace(ns, allow_unknown, warnings)
    if op_name not in tables.OPERATIONS:
        raise UnsupportedOperation(f"{op_name} is not a supported MM7 operation")
    scope = _Scope(op_ns, ns)
    version = scope.text(op, "MM7Version")
    _check_version(op_name, version, ns, warnings)
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
def _sender_identification(scope: _Scope, op: ET.Element, warnings: list[str]
                           ) -> tuple[str | None, str | None, Address | None]:
    sid = scope.child(op, "SenderIdentification")
    if sid is None:
        if scope.child(op, "VASPID") is not None:
            warnings.append("VASPID outside SenderIdentification")
        sid = op
    sender_el = scope.child(sid, "SenderAddress")
    return (scope.text(sid, "VASPID"), scope.text(sid, "VASID"),
            _single(scope, sender_el, "SenderAddress"))


def _submit(scope: _Scope, op: ET.Element, common: dict, attachments: list[MimePart],
            strict: bool) -> SubmitReq:
    t = lambda name: scope.text(op, name)  # noqa: E731
    vasp_id, vas_id, sender = _sender_identification(scope, op, common["warnings"])
    recipients = _recipients(scope, scope.child(op, "Recipients"))
    if not recipients:
        raise Mm7ValidationError("SubmitReq has no recipients")
    return SubmitReq(
        **common, vasp_id=vasp_id, vas_id=vas_id, sender=sender, recipients=recipients,
        service_code=t("ServiceCode"), linked_id=t("LinkedID"), message_class=t("MessageClass"),
        timestamp=_time(t("TimeStamp"), "TimeStamp"),
        expiry_date=_time(t("ExpiryDate"), "ExpiryDate", relative_ok=True),
        earliest_delivery_time=_time(t("EarliestDeliveryTime"), "EarliestDeliveryTime",
                                     relative_ok=True),
        delivery_report=_bool(t("DeliveryReport"), "DeliveryReport"),
        read_reply=_bool(t("ReadReply"), "ReadReply"), priority=_priority(t("Priority")),
        subject=t("Subject"), charged_party=t("ChargedParty"),
        content=resolve_content(scope.child(op, "Content"), attachments, strict,
                                common["warnings"]),
    )


def _ua_prof(scope: _Scope, op: ET.Element) -> str | None:
    ua = scope.child(op, "UACapabilities")
    return _attr(ua, "UAProf") if ua is not None else None


def _deliver(scope: _Scope, op: ET.Element, common: dict, attachments: list[MimePart],
             strict: bool) -> DeliverReq:
    t = lambda name: scope.text(op, name)  # noqa: E731
    return DeliverReq(
        **common, mms_relay_server_id=t("MMSRelayServerID"), vasp_id=t("VASPID"),
        vas_id=t("VASID"), linked_id=t("LinkedID"),
        sender=_single(scope, scope.child(op, "Sender"), "Sender"),
        recipients=_recipients(scope, scope.child(op, "Recipients")),
        timestamp=_time(t("TimeStamp"), "TimeStamp"), priority=_priority(t("Priority")),
        subject=t("Subject"), ua_prof=_ua_prof(scope, op),
        content=resolve_content(scope.child(op, "Content"), attachments, strict,
                                common["warnings"]),
    )


def _report_fields(scope: _Scope, op: ET.Element, common: dict, known: frozenset[str]
                   ) -> dict:
    t = lambda name: scope.text(op, name)  # noqa: E731
    if not t("MessageID"):
        raise Mm7ValidationError(f"{common['operation']} has no MessageID")
    status = t("MMStatus")
    if not status:
        raise Mm7ValidationError(f"{common['operation']} has no MMStatus")
    if status not in known:
        common["warnings"].append(f"MMStatus {status!r} is not a known value")
    return dict(mms_relay_server_id=t("MMSRelayServerID"), message_id=t("MessageID"),
                recipient=_single(scope, scope.child(op, "Recipient"), "Recipient"),
                sender=_single(scope, scope.child(op, "Sender"), "Sender"),
                mm_status=status, status_text=t("StatusText"))


def _delivery_report(scope: _Scope, op: ET.Element, common: dict, attachments: list[MimePart],
                     strict: bool) -> DeliveryReportReq:
    fields = _report_fields(scope, op, common, tables.MM_STATUSES)
    return DeliveryReportReq(**common, **fields, date=_time(scope.text(op, "Date"), "Date"),
                             ua_prof=_ua_prof(scope, op))


def _read_reply(scope: _Scope, op: ET.Element, common: dict, attachments: list[MimePart],
                strict: bool) -> ReadReplyReq:
    fields = _report_fields(scope, op, common, tables.READ_STATUSES)
    return ReadReplyReq(**common, **fields,
                        timestamp=_time(scope.text(op, "TimeStamp"), "TimeStamp"))


def _message_id(scope: _Scope, op: ET.Element, name: str) -> str:
    mid = scope.text(op, "MessageID")
    if not mid:
        raise Mm7ValidationError(f"{name} has no MessageID")
    return mid


def _cancel(scope: _Scope, op: ET.Element, common: dict, attachments: list[MimePart],
            strict: bool) -> CancelReq:
    vasp_id, vas_id, sender = _sender_identification(scope, op, common["warnings"])
    return CancelReq(**common, vasp_id=vasp_id, vas_id=vas_id, sender=sender,
                     message_id=_message_id(scope, op, "CancelReq"))


def _replace(scope: _Scope, op: ET.Element, common: dict, attachments: list[MimePart],
             strict: bool) -> ReplaceReq:
    t = lambda name: scope.text(op, name)  # noqa: E731
    vasp_id, vas_id, sender = _sender_identification(scope, op, common["warnings"])
    return ReplaceReq(
        **common, vasp_id=vasp_id, vas_id=vas_id, sender=sender,
        message_id=_message_id(scope, op, "ReplaceReq"), service_code=t("ServiceCode"),
        timestamp=_time(t("TimeStamp"), "TimeStamp"),
        earliest_delivery_time=_time(t("EarliestDeliveryTime"), "EarliestDeliveryTime",
                                     relative_ok=True),
        read_reply=_bool(t("ReadReply"), "ReadReply"),
        content=resolve_content(scope.child(op, "Content"), attachments, strict,
                                common["warnings"]),
    )


_REQUEST_PARSERS = {
    "SubmitReq": _submit, "DeliverReq": _deliver, "DeliveryReportReq": _delivery_report,
    "ReadReplyReq": _read_reply, "CancelReq": _cancel, "ReplaceReq": _replace,
}


def _status(scope: _Scope, el: ET.Element) -> Status:
    status = scope.child(el, "Status")
    code = scope.text(status, "StatusCode")
    if status is None or not code:
        raise FormatCorrupt(f"{split_tag(el.tag)[1]} has no Status/StatusCode")
    if not code.isdigit():
        raise FormatCorrupt(f"StatusCode {code!r} is not a number")
    return Status(int(code), scope.text(status, "StatusText"), scope.text(status, "Details"))


def _response(scope: _Scope, op: ET.Element, common: dict) -> Mm7Response:
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
        scope = _Scope(split_tag(err_el.tag)[0], ns)
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
