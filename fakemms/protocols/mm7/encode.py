"""MM7 out: responses and Faults the fake answers with, DeliverReq and DeliveryReportReq
callbacks it sends. Each encoder returns ``Encoded(body, content_type, headers)``. No I/O.

Shapes: responses as mm7-api.txt's SubmitRsp (``env:`` prefix, TransactionID echoed with
``mustUnderstand="1"``, default-namespace MM7 elements); Faults as fixtures/mm7/fault_02.xml;
callbacks as OpenMarket documents them (provider-notes.md, "OpenMarket MM7 specifics") with
the MIME layout of the Nokia capture fixtures/mm7/deliver-req3.txt. Boundaries default to a
digest of the content, so the same input always gives the same bytes (no randomness here).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from fakemms.errors import FakeMmsError
from fakemms.models import Part
from fakemms.protocols.mime import build_multipart
from fakemms.protocols.mm7 import tables
from fakemms.protocols.mm7.model import Address, Encoded, Recipients
from fakemms.protocols.mm7.smil import SMIL_MEDIA_TYPE, find_smil, with_smil

XML_CONTENT_TYPE = 'text/xml; charset="utf-8"'
SOAP_START = "soap-start"  # OpenMarket's DeliverReq: start="soap-start" (provider-notes.md)
DEFAULT_CONTENT_ID = "mm7-content"
DEFAULT_ERROR_VERSION = "5.3.0"  # the version mm7-api.txt recommends; used when none is known
USER_AGENT = "OpenMarket"


# --- XML helpers ----------------------------------------------------------------------------
def format_time(value: str | datetime) -> str:
    """xs:dateTime with milliseconds, UTC written ``Z`` (a naive datetime is taken as UTC);
    strings pass through as the caller formatted them."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.utcoffset() == timedelta(0):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{value.microsecond // 1000:03d}Z"
    return value.isoformat(timespec="milliseconds")


def _el(name: str, value: object, indent: str) -> list[str]:
    if value is None:
        return []
    return [f"{indent}<{name}>{escape(str(value))}</{name}>"]


def _address_xml(name: str, addresses: Sequence[Address | str], indent: str) -> list[str]:
    if not addresses:
        return []
    lines = [f"{indent}<{name}>"]
    for a in addresses:
        addr = as_address(a)
        attr = ' displayOnly="true"' if addr.display_only else ""
        lines.append(f"{indent}  <{addr.kind}{attr}>{escape(addr.value)}</{addr.kind}>")
    return lines + [f"{indent}</{name}>"]


def as_address(value: Address | str) -> Address:
    """A string becomes an RFC2822Address when it has an ``@``, else a Number without ``+``
    (OpenMarket writes numbers without ``+``, provider-notes.md)."""
    if isinstance(value, Address):
        return value
    text = value.strip()
    if "@" in text:
        return Address("RFC2822Address", text, text)
    return Address("Number", text.lstrip("+"), text, plus=text.startswith("+"))


def _envelope(prefix: str, namespace: str, transaction_id: str | None, body: list[str],
              *, standalone: bool = False) -> bytes:
    decl = '<?xml version="1.0" encoding="UTF-8"' + (' standalone="yes"' if standalone else "")
    lines = [decl + "?>",
             f'<{prefix}:Envelope xmlns:{prefix}="{tables.SOAP_ENV}">']
    if transaction_id is not None:
        lines += [f"  <{prefix}:Header>",
                  f"    <TransactionID xmlns={quoteattr(namespace)} "
                  f'{prefix}:mustUnderstand="1">{escape(transaction_id)}</TransactionID>',
                  f"  </{prefix}:Header>"]
    lines += [f"  <{prefix}:Body>", *body, f"  </{prefix}:Body>", f"</{prefix}:Envelope>", ""]
    return "\n".join(lines).encode("utf-8")


def _status_xml(code: int, text: str | None, details: str | None, indent: str) -> list[str]:
    return [f"{indent}<Status>",
            *_el("StatusCode", code, indent + "  "),
            *_el("StatusText", text if text is not None else tables.status_text(code),
                 indent + "  "),
            *_el("Details", details, indent + "  "),
            f"{indent}</Status>"]


# --- responses and faults -------------------------------------------------------------------
def encode_response(operation: str, *, namespace: str, mm7_version: str,
                    transaction_id: str | None, status_code: int = 1000,
                    status_text: str | None = None, details: str | None = None,
                    message_id: str | None = None) -> Encoded:
    """``SubmitRsp``, ``DeliverRsp``, ``CancelRsp``, ``ReplaceRsp``, ``DeliveryReportRsp``,
    ``ReadReplyRsp`` (or a bare RSErrorRsp) in the request's namespace and MM7Version."""
    if operation not in tables.RESPONSES + tables.ERROR_RESPONSES:
        raise ValueError(f"{operation!r} is not an MM7 response")
    body = [f"    <{operation} xmlns={quoteattr(namespace)}>",
            *_el("MM7Version", mm7_version, "      "),
            *_status_xml(status_code, status_text, details, "      "),
            *_el("MessageID", message_id, "      "),
            f"    </{operation}>"]
    return Encoded(_envelope("env", namespace, transaction_id, body), XML_CONTENT_TYPE, {})


def encode_fault(*, status_code: int, namespace: str | None = None,
                 mm7_version: str | None = None, transaction_id: str | None = None,
                 status_text: str | None = None, details: str | None = None,
                 fault_code: str | None = None, fault_string: str | None = None,
                 error_element: str = "RSErrorRsp", qualified: bool = False) -> Encoded:
    """A SOAP Fault (send it with HTTP 500) whose ``detail`` holds RSErrorRsp.

    ``fault_code`` "Client"/"Server" defaults by status class; ``qualified=True`` writes
    ``env:faultcode``/``env:faultstring``/``env:detail`` as fixtures/mm7/fault_02.xml does;
    the default writes them unqualified, as SOAP 1.1 requires (fixtures/mm7/fault.xml).
    """
    version = mm7_version or DEFAULT_ERROR_VERSION
    ns = namespace or tables.VERSION_NAMESPACES.get(version) or \
        tables.VERSION_NAMESPACES[DEFAULT_ERROR_VERSION]
    code = fault_code or tables.fault_code_for(status_code)
    q = "env:" if qualified else ""
    body = ["    <env:Fault>",
            f"      <{q}faultcode>env:{escape(code)}</{q}faultcode>",
            f"      <{q}faultstring>{escape(fault_string or f'{code} error')}</{q}faultstring>",
            f"      <{q}detail>",
            f"        <{error_element} xmlns={quoteattr(ns)}>",
            *_el("MM7Version", version, "          "),
            *_status_xml(status_code, status_text, details, "          "),
            f"        </{error_element}>",
            f"      </{q}detail>",
            "    </env:Fault>"]
    return Encoded(_envelope("env", ns, transaction_id, body), XML_CONTENT_TYPE, {})


def encode_error(error: FakeMmsError, *, namespace: str | None = None,
                 mm7_version: str | None = None, transaction_id: str | None = None) -> Encoded:
    """The Fault for any ``FakeMmsError``: its ``mm7_status``, the standard text, and the
    error's detail (when it has one) as ``Details``."""
    return encode_fault(status_code=error.mm7_status, namespace=namespace,
                        mm7_version=mm7_version, transaction_id=transaction_id,
                        details=error.detail or None)


# --- callbacks ------------------------------------------------------------------------------
def _request_headers(carrier_id: str | int | None) -> dict[str, str]:
    headers = {"SOAPAction": '""'}
    if carrier_id is not None:
        headers["X-OpenMarket-Carrier-Id"] = str(carrier_id)
    return headers


def _sender_xml(sender: Address | str | None, indent: str) -> list[str]:
    """The report's Sender; left out when the submit named none (no SenderAddress, no
    ServiceCode, as in mm7-api.txt's example) rather than written as an empty Number."""
    return _address_xml("Sender", [sender] if sender else [], indent)


def _report_body(operation: str, namespace: str, version: str, fields: list[str]) -> list[str]:
    return [f"    <{operation} xmlns={quoteattr(namespace)}>",
            *_el("MM7Version", version, "      "), *fields, f"    </{operation}>"]


def encode_delivery_report_req(*, version: str, transaction_id: str, message_id: str,
                               recipient: Address | str, sender: Address | str,
                               date: str | datetime, mm_status: str,
                               status_text: str | None = None, namespace: str | None = None,
                               mms_relay_server_id: str | None = None,
                               ua_prof: str | None = None,
                               carrier_id: str | int | None = None) -> Encoded:
    """A DeliveryReportReq in plain ``text/xml``.

    ``X-OpenMarket-Carrier-Id`` only when delivered (MMStatus Retrieved, provider-notes.md);
    ``UACapabilities`` only at 6.8.0 (skycore-mm7/mm7DeliveryReport.md).
    """
    if mm_status not in tables.MM_STATUSES:
        raise ValueError(f"MMStatus {mm_status!r} is not one of {sorted(tables.MM_STATUSES)}")
    ns = namespace or tables.namespace_for_version(version)
    i = "      "
    ua = [f"{i}<UACapabilities UAProf={quoteattr(ua_prof)}/>"] \
        if ua_prof and (tables.version_tuple(version) or (0,)) >= (6, 8, 0) else []
    fields = [*_el("MMSRelayServerID", mms_relay_server_id, i), *_el("MessageID", message_id, i),
              *_address_xml("Recipient", [recipient], i), *_sender_xml(sender, i),
              *_el("Date", format_time(date), i), *_el("MMStatus", mm_status, i),
              *_el("StatusText", status_text if status_text is not None
                   else tables.mm_status_text(mm_status), i), *ua]
    body = _envelope("soap-env", ns, transaction_id,
                     _report_body("DeliveryReportReq", ns, version, fields), standalone=True)
    return Encoded(body, XML_CONTENT_TYPE,
                   _request_headers(carrier_id if mm_status == "Retrieved" else None))


def encode_read_reply_req(*, version: str, transaction_id: str, message_id: str,
                          recipient: Address | str, sender: Address | str,
                          timestamp: str | datetime, mm_status: str,
                          status_text: str | None = None, namespace: str | None = None,
                          mms_relay_server_id: str | None = None) -> Encoded:
    """A ReadReplyReq (MMStatus Read, Deleted or Indeterminate) in plain ``text/xml``."""
    if mm_status not in tables.READ_STATUSES:
        raise ValueError(f"read-reply MMStatus {mm_status!r} is not one of "
                         f"{sorted(tables.READ_STATUSES)}")
    ns = namespace or tables.namespace_for_version(version)
    i = "      "
    fields = [*_el("MMSRelayServerID", mms_relay_server_id, i), *_el("MessageID", message_id, i),
              *_address_xml("Recipient", [recipient], i), *_sender_xml(sender, i),
              *_el("TimeStamp", format_time(timestamp), i), *_el("MMStatus", mm_status, i),
              *_el("StatusText", status_text, i)]
    body = _envelope("soap-env", ns, transaction_id,
                     _report_body("ReadReplyReq", ns, version, fields), standalone=True)
    return Encoded(body, XML_CONTENT_TYPE, _request_headers(None))


def _header_value(value: str) -> str:
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")


def _content_ids(parts: Sequence[Part]) -> list[str | None]:
    """Each part's Content-ID without brackets. A part known only by its filename keeps
    just its Content-Location (as in the Nokia capture), except the first (the SMIL, which
    ``start`` names); a part with neither gets a unique ``partN``."""
    given = [_header_value(p.content_id).strip("<>") if p.content_id else "" for p in parts]
    taken = set(given)
    out: list[str | None] = []
    for n, (cid, part) in enumerate(zip(given, parts, strict=True), start=1):
        if not cid and (n == 1 or not part.filename):
            cid, k = f"part{n}", 1
            while cid in taken:
                cid, k = f"part{n}-{k}", k + 1
            taken.add(cid)
        out.append(cid or None)
    return out


def _boundary(tag: str, digest: str) -> str:
    return f"----=_Part_{tag}_{digest}"


def _smil_first(parts: Sequence[Part], generate_smil: bool) -> list[Part]:
    """A DeliverReq's content: a SMIL generated when none is given (and ``generate_smil``),
    the presentation first, as in the Nokia capture."""
    content_parts = with_smil(parts) if generate_smil else list(parts)
    smil_index = find_smil(content_parts)
    if smil_index is not None:
        content_parts.insert(0, content_parts.pop(smil_index))
    return content_parts


def _recipients_xml(recipients: Recipients | Sequence[Address | str] | Address | str,
                    indent: str) -> list[str]:
    """``<Recipients>`` with its To, Cc and Bcc (nothing when there is none)."""
    if isinstance(recipients, str | Address):
        recipients = [recipients]
    if not isinstance(recipients, Recipients):
        recipients = Recipients(to=[as_address(r) for r in recipients])
    if not recipients:
        return []
    return [f"{indent}<Recipients>",
            *_address_xml("To", recipients.to, indent + "  "),
            *_address_xml("Cc", recipients.cc, indent + "  "),
            *_address_xml("Bcc", recipients.bcc, indent + "  "), f"{indent}</Recipients>"]


def _content_mime(content_parts: Sequence[Part], content_id: str, content_boundary: str
                  ) -> tuple[dict[str, str], bytes]:
    """The DeliverReq's content as one MIME part: multipart/related with the SMIL as its
    start (multipart/mixed without one), every part base64 with its Content-ID and
    Content-Location."""
    cids = _content_ids(content_parts)
    inner = []
    for part, cid in zip(content_parts, cids, strict=True):
        headers = {"Content-Type": _header_value(part.content_type)}
        if cid:
            headers["Content-ID"] = f"<{cid}>"
        if part.filename:
            headers["Content-Location"] = _header_value(part.filename)
        headers["Content-Transfer-Encoding"] = "base64"
        inner.append((headers, _base64(part.data)))
    if find_smil(content_parts[:1]) == 0:
        ctype = (f'multipart/related; type="{SMIL_MEDIA_TYPE}"; start="<{cids[0]}>"; '
                 f'boundary="{content_boundary}"')
    else:
        ctype = f'multipart/mixed; boundary="{content_boundary}"'
    return ({"Content-Type": ctype, "Content-ID": f"<{content_id}>"},
            build_multipart(inner, content_boundary))


def encode_deliver_req(*, version: str, transaction_id: str, sender: Address | str,
                       recipients: Recipients | Sequence[Address | str], parts: Sequence[Part],
                       linked_id: str | None = None, timestamp: str | datetime | None = None,
                       priority: str | None = "Normal", subject: str | None = None,
                       mms_relay_server_id: str | None = None, namespace: str | None = None,
                       ua_prof: str | None = None, carrier_id: str | int | None = None,
                       user_agent: str | None = USER_AGENT, content_id: str = DEFAULT_CONTENT_ID,
                       generate_smil: bool = True, boundary: str | None = None,
                       content_boundary: str | None = None) -> Encoded:
    """An MO DeliverReq: ``multipart/related; start="soap-start"; type="text/xml"``.

    The SOAP part has ``Content-ID: <soap-start>``; the content is one nested
    multipart/related (SMIL first, generated when none is given and ``generate_smil``),
    every part base64 with its Content-ID and Content-Location (the part's filename).
    Headers: ``SOAPAction``, ``User-Agent``, ``X-OpenMarket-Carrier-Id`` when given, and
    ``UAProf`` below 6.8.0; at 6.8.0 ``ua_prof`` is written as ``UACapabilities`` instead.
    """
    ns = namespace or tables.namespace_for_version(version)
    at_68 = (tables.version_tuple(version) or (0,)) >= (6, 8, 0)
    content_parts = _smil_first(parts, generate_smil)
    i = "      "
    to = _recipients_xml(recipients, i)
    fields = [*_el("MMSRelayServerID", mms_relay_server_id, i), *_el("LinkedID", linked_id, i),
              *_address_xml("Sender", [sender], i), *to]
    fields += [*_el("TimeStamp", format_time(timestamp) if timestamp is not None else None, i),
               *_el("Priority", priority, i), *_el("Subject", subject, i)]
    if ua_prof and at_68:
        fields.append(f"{i}<UACapabilities UAProf={quoteattr(ua_prof)}/>")
    if content_parts:
        fields.append(f'{i}<Content href={quoteattr("cid:" + content_id)} '
                      'allowAdaptations="true"/>')
    xml = _envelope("soap-env", ns, transaction_id,
                    _report_body("DeliverReq", ns, version, fields), standalone=True)

    digest = hashlib.sha256(xml + b"".join(p.data for p in content_parts)).hexdigest()
    boundary = boundary or _boundary("0", digest[:20])
    content_boundary = content_boundary or _boundary("1", digest[20:40])
    mime = [({"Content-Type": XML_CONTENT_TYPE, "Content-ID": f"<{SOAP_START}>"}, xml)]
    if content_parts:
        mime.append(_content_mime(content_parts, content_id, content_boundary))
    body = build_multipart(mime, boundary)
    headers = _request_headers(carrier_id)
    if user_agent:
        headers["User-Agent"] = user_agent
    if ua_prof and not at_68:
        headers["UAProf"] = ua_prof  # provider-notes.md: "a UAProf header only below MM7 6.8"
    content_type = (f'multipart/related; start="{SOAP_START}"; type="text/xml"; '
                    f'boundary="{boundary}"')
    return Encoded(body, content_type, headers)
