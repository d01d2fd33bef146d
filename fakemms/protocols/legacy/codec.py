"""Legacy MX Telecom gateway codec: MO notifications and report callbacks out, ``SendMMS`` and
retrieval requests in. Pure: no I/O, no Flask, no clock (times are passed in).

References: legacy-mms-gateway-receive.txt (MO by GET or multipart POST, the date format, the
customer's answer) and provider-notes.md, legacy section (region date formats, ``SendMMS``,
report callbacks, ``RetrieveMMS``). The zip lives in ``archive.py``, the errors in
``errors.py``; both are re-exported here so callers need only this module.

Outbound (the fake calls the customer)::

    pairs = mo_query(message_id="123", source="447700900001", destinations=["88600"],
                     date=clock.now(), region="UK", subject="Hi", expiry=clock.now() + 86400)
    requests.get(url, params=pairs)                                  # format legacy-get
    body, ctype = mo_post(pairs, mms_zip=build_zip(parts, smil), boundary=b)  # legacy-post
    ok = callback_succeeded(resp.status_code, resp.content)
    requests.get(dlr_url, params=report_query(message_id=..., request_id=..., ...,
                                              status="Retrieved"))

Inbound (the customer calls the fake)::

    req = parse_send_mms(request.query_string, request.get_data(), request.content_type)
    # req.parts from mms.zip, or req.url to fetch (RemoteFetcher) and read_zip()
    body, ctype = send_answer(message_id)        # 200, the message id as the body
    status, body, ctype = render_error(err)      # any LegacyError, as plain text
    ask = parse_retrieve(request.query_string)   # user, password, id

Choices where the documents are silent:
- Dates: UK ``2010-08-21 17:32:21 +0000`` (the receive document); US without the space
  (provider-notes.md); IE and AU follow the UK pages (MX Telecom published UK and US pages
  only). Times are rendered in UTC. ``expiry`` uses the same format as ``date``.
- SMS (type 6) carries ``message`` and none of the MMS-only fields (cc, subject, expiry);
  passing them is a programming error (``ValueError``).
- ``SendMMS``: ``to`` may be repeated and/or comma separated; numbers may carry a leading
  ``+`` (dropped); ``from`` is required; ``deliveryreport``/``readreport`` take 1/0, true/false,
  yes/no, on/off; content is exactly one of ``url=`` or an ``mms.zip`` part (a form part named
  ``mms.zip``, or any file part with filename ``mms.zip``, or a body sent as
  ``application/zip``); unknown parameters are ignored with a warning. Parameters may come from
  the query string, the form, or both.
- Report callbacks: ``requestid`` and ``useragent`` are left out when unknown; statuses map by
  ``STATUS_TABLE``; any callback answer other than 200 with a non-empty body is a failure.
"""

from __future__ import annotations

import codecs
import email.message
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from fakemms.errors import FakeMmsError
from fakemms.models import Part
from fakemms.protocols.legacy.archive import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_TOTAL_BYTES,
    build_zip,
    entry_names,
    read_zip,
)
from fakemms.protocols.legacy.errors import (
    BadCredentials,
    InvalidParameter,
    InvalidZip,
    LegacyError,
    MessageExpired,
    MissingParameter,
    NoMmsContent,
    UnknownMessageId,
    ZipTooLarge,
)
from fakemms.protocols.mime import build_multipart, content_type_params, parse_multipart

__all__ = [
    "AU", "BadCredentials", "DATE_FORMATS", "DELIVERY", "IE", "InvalidParameter", "InvalidZip",
    "LegacyError", "LegacyMo", "MMS", "MessageExpired", "MissingParameter", "NoMmsContent",
    "READ", "RETRIEVE_PATHS", "RetrieveRequest", "SMS", "STATUS_NAMES", "STATUS_TABLE",
    "SendMmsRequest", "UK", "US", "UnknownMessageId", "ZipTooLarge", "build_zip",
    "callback_succeeded", "entry_names", "format_date", "legacy_status", "mo_post", "mo_query",
    "parse_date", "parse_form", "parse_mo", "parse_retrieve", "parse_send_mms", "read_zip",
    "render_error", "report_query", "send_answer",
]

Pairs = list[tuple[str, str]]
QueryInput = str | bytes | Mapping[str, str] | Iterable[tuple[str, str]]

UK, US, IE, AU = "UK", "US", "IE", "AU"
# yyyy-MM-dd HH:mm:ss Z (UK receive page) and yyyy-MM-dd HH:mm:ssZ (US page), provider-notes.md
DATE_FORMATS: dict[str, str] = {
    UK: "%Y-%m-%d %H:%M:%S %z", IE: "%Y-%m-%d %H:%M:%S %z", AU: "%Y-%m-%d %H:%M:%S %z",
    US: "%Y-%m-%d %H:%M:%S%z",
}
MMS, SMS = 2, 6  # MO ``type``
DELIVERY, READ = 1, 2  # report ``type``
STATUS_NAMES: dict[int, str] = {
    1: "Buffered", 2: "Indeterminate delivery", 3: "Delivered", 4: "Delivery expired",
    5: "Rejected", 6: "Forwarded", 7: "Read", 8: "Deleted", 9: "Indeterminate read",
    10: "Expired read",
}
# The fake's report statuses (OpenMarket / MM7 MMStatus names) -> legacy (type, status).
STATUS_TABLE: dict[str, tuple[int, int]] = {
    "Deferred": (DELIVERY, 1), "Buffered": (DELIVERY, 1),
    "Indeterminate": (DELIVERY, 2), "Unrecognised": (DELIVERY, 2),
    "Unreachable": (DELIVERY, 2),
    "Retrieved": (DELIVERY, 3), "Delivered": (DELIVERY, 3),
    "Expired": (DELIVERY, 4),
    "Rejected": (DELIVERY, 5), "NotSupported": (DELIVERY, 5),
    "DeliveryConditionNotMet": (DELIVERY, 5),
    "Forwarded": (DELIVERY, 6),
    "Read": (READ, 7), "Deleted": (READ, 8),
}
# The same names in a read report (MM7 ReadReplyReq: Read, Deleted, Indeterminate; + Expired).
READ_STATUS_TABLE: dict[str, tuple[int, int]] = {
    "Read": (READ, 7), "Deleted": (READ, 8), "Indeterminate": (READ, 9), "Expired": (READ, 10),
}
RETRIEVE_PATHS = ("/mms/v1/http/retrieve", "/RetrieveMMS")
MIN_EXPIRY_SECONDS = 24 * 3600  # "no less than 24 hours" (legacy-mms-gateway-receive.txt)
ANSWER_WITHIN_SECONDS = 10  # "a timely manner (sub 10 seconds)"
ABANDON_AFTER_SECONDS = 60  # "we do not abandon a request ... until 60 seconds"

_RECIPIENT = re.compile(r"^[1-9][0-9]{7,14}$")
_ORIGINATOR = re.compile(r"^([0-9]{3,8}|[1-9][0-9]{7,14})$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_SEND_PARAMS = ("user", "pass", "to", "from", "subject", "note", "subaccount",
                "deliveryreport", "readreport", "url")
_ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-zip")
_MAX_FIELDS = 1000


# --- dates ----------------------------------------------------------------------------------
def format_date(when: float | datetime, region: str = UK) -> str:
    """A legacy date in the region's format, in UTC (naive datetimes are taken as UTC)."""
    fmt = _date_format(region)
    if isinstance(when, datetime):
        dt = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(when, UTC)
    return dt.strftime(fmt)


def parse_date(text: str) -> datetime:
    """Either region's format back to an aware datetime."""
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S%z"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a legacy date (yyyy-MM-dd HH:mm:ss Z)")


def _date_format(region: str) -> str:
    try:
        return DATE_FORMATS[region.upper()]
    except KeyError:
        raise ValueError(f"unknown region {region!r}; one of {', '.join(DATE_FORMATS)}") from None


# --- MO notification (legacy-mms-gateway-receive.txt) ---------------------------------------
@dataclass
class LegacyMo:
    """An MO notification as the customer receives it (``parse_mo``)."""

    message_id: str
    source: str
    destinations: list[str]
    date: datetime
    message_type: int
    network: str | None = None
    ccs: list[str] = field(default_factory=list)
    subject: str | None = None
    expiry: datetime | None = None
    message: str | None = None


def mo_query(*, message_id: str, source: str, destinations: Sequence[str],
             date: float | datetime, region: str = UK, message_type: int = MMS,
             network: str | int | None = None, ccs: Sequence[str] = (),
             subject: str | None = None, expiry: float | datetime | None = None,
             message: str | None = None) -> Pairs:
    """The MO parameters in wire order: id, from, to (one per recipient), date, type,
    [network], then cc (one each), [subject], [expiry] for MMS or message for SMS."""
    if message_type not in (MMS, SMS):
        raise ValueError(f"message_type must be {MMS} (MMS) or {SMS} (SMS), not {message_type}")
    if not destinations:
        raise ValueError("an MO needs at least one 'to' recipient")
    if message_type == SMS:
        if message is None:
            raise ValueError("an SMS MO (type 6) needs its message text")
        if ccs or subject is not None or expiry is not None:
            raise ValueError("cc, subject and expiry are MMS parameters, not for an SMS MO")
    elif message is not None:
        raise ValueError("'message' is the SMS text; an MMS carries its contents in mms.zip")
    pairs: Pairs = [("id", str(message_id)), ("from", source)]
    pairs += [("to", d) for d in destinations]
    pairs += [("date", format_date(date, region)), ("type", str(message_type))]
    if network is not None:
        pairs.append(("network", str(network)))
    if message_type == SMS:
        pairs.append(("message", message or ""))
        return pairs
    pairs += [("cc", c) for c in ccs]
    if subject is not None:
        pairs.append(("subject", subject))
    if expiry is not None:
        pairs.append(("expiry", format_date(expiry, region)))
    return pairs


def mo_post(fields: Iterable[tuple[str, str]], *, boundary: str,
            mms_zip: bytes | None = None) -> tuple[bytes, str]:
    """The multipart/form-data POST form: one part per field (``mo_query``'s pairs), then the
    zip as a file part named ``mms.zip``. Returns (body, Content-Type)."""
    parts: list[tuple[dict[str, str], bytes]] = [
        ({"Content-Disposition": f'form-data; name="{name}"'}, value.encode("utf-8"))
        for name, value in fields
    ]
    if mms_zip is not None:
        parts.append(({"Content-Disposition": 'form-data; name="mms.zip"; filename="mms.zip"',
                       "Content-Type": "application/zip"}, mms_zip))
    delimiter = b"--" + boundary.encode("ascii")
    if any(delimiter in data for _, data in parts):
        raise ValueError(f"the boundary {boundary!r} occurs in the content; choose another")
    return build_multipart(parts, boundary), f"multipart/form-data; boundary={boundary}"


def parse_mo(query: QueryInput) -> LegacyMo:
    """A GET notification's parameters (or ``parse_form``'s fields) back to a ``LegacyMo``."""
    pairs, _ = _pairs(query)
    values = _multi(pairs)
    missing = [n for n in ("id", "from", "to", "date", "type") if not values.get(n)]
    if missing:
        raise MissingParameter(", ".join(missing))
    try:
        message_type = int(values["type"][0])
        date = parse_date(values["date"][0])
        expiry = parse_date(values["expiry"][0]) if values.get("expiry") else None
    except ValueError as exc:
        raise InvalidParameter(str(exc)) from None
    return LegacyMo(message_id=values["id"][0], source=values["from"][0],
                    destinations=values["to"], date=date, message_type=message_type,
                    network=_first(values, "network"), ccs=values.get("cc", []),
                    subject=_first(values, "subject"), expiry=expiry,
                    message=_first(values, "message"))


def parse_form(body: bytes, content_type: str | None) -> tuple[Pairs, dict[str, tuple[str, bytes]]]:
    """A multipart/form-data body: text fields as pairs, and file parts by field name as
    (filename, bytes). Raises ``MalformedRequest`` (from ``mime``) when it is not multipart."""
    root = parse_multipart(body, content_type)
    fields: Pairs = []
    files: dict[str, tuple[str, bytes]] = {}
    for mp in root.children:
        disposition = mp.header("content-disposition") or ""
        name, filename = _disposition(disposition)
        if name is None and filename is None:
            continue
        if filename is not None:
            files[name or filename] = (filename, mp.data)
        else:
            charset = mp.params.get("charset", "utf-8")
            fields.append((name or "", _decode(mp.data, charset)))
    return fields, files


def _disposition(value: str) -> tuple[str | None, str | None]:
    msg = email.message.Message()
    msg["Content-Disposition"] = value
    name = msg.get_param("name", header="content-disposition")
    filename = msg.get_filename()
    return (name if isinstance(name, str) else None), filename


# --- legacy send (provider-notes.md, SendMMS) -----------------------------------------------
@dataclass
class SendMmsRequest:
    """A parsed ``SendMMS``. ``parts`` come from ``mms_zip``; with ``url`` they are empty
    until the caller fetches the zip and runs ``read_zip`` on it."""

    user: str
    password: str
    destinations: list[str]
    source: str
    subject: str | None = None
    note: str | None = None
    subaccount: str | None = None
    delivery_report: bool = False
    read_report: bool = False
    url: str | None = None
    mms_zip: bytes | None = None
    parts: list[Part] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_send_mms(query: QueryInput = b"", body: bytes = b"", content_type: str | None = None,
                   *, max_zip_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
                   max_zip_entries: int = DEFAULT_MAX_ENTRIES,
                   max_recipients: int = 100) -> SendMmsRequest:
    """Parse a ``SendMMS`` request from its query string and body (urlencoded form, multipart
    form with an ``mms.zip`` part, or a raw ``application/zip`` body). Raises a
    ``LegacyError`` naming the first problem."""
    pairs, warnings = _pairs(query)
    media, params = content_type_params(content_type)
    mms_zip: bytes | None = None
    if media == "application/x-www-form-urlencoded":
        form, more = _pairs(body, params.get("charset"))
        pairs += form
        warnings += more
    elif media == "multipart/form-data":
        form_fields, files = parse_form(body, content_type)
        pairs += form_fields
        zip_file = files.get("mms.zip") or next(
            (f for f in files.values() if f[0].lower() == "mms.zip"), None)
        if zip_file is not None:
            mms_zip = zip_file[1]
        warnings += [f"file part {n!r} ignored" for n, f in files.items()
                     if f is not zip_file]
    elif media in _ZIP_TYPES:
        mms_zip = body
    elif body:
        warnings.append(f"a body of type {media or 'unknown'} was ignored")
    values = _multi(pairs)
    warnings += [f"unknown parameter {n!r} ignored" for n in values if n not in _SEND_PARAMS]

    user, password = _single(values, "user", True), _single(values, "pass", True)
    source = _number(_single(values, "from", True) or "", "from", _ORIGINATOR)
    destinations = [_number(d, "to", _RECIPIENT) for v in values.get("to", [])
                    for d in v.split(",") if d.strip()]
    if not destinations:
        raise MissingParameter("to")
    if len(destinations) > max_recipients:
        raise InvalidParameter(f"to: {len(destinations)} recipients; at most {max_recipients}")
    subject = _single(values, "subject")
    if subject is not None and len(subject) > 255:
        raise InvalidParameter("subject: longer than 255 characters")
    url = _single(values, "url") or None
    if url is not None:
        split = urlsplit(url)
        if split.scheme.lower() not in ("http", "https") or not split.hostname:
            raise InvalidParameter(f"url: {url!r} is not an http or https URL")
        if mms_zip is not None:
            raise InvalidParameter("give either url= or an mms.zip part, not both")
    elif mms_zip is None:
        raise NoMmsContent("give the zipped contents as url= or as a part named mms.zip")
    parts: list[Part] = []
    if mms_zip is not None:
        parts = read_zip(mms_zip, max_entries=max_zip_entries, max_total_bytes=max_zip_bytes)
        if not parts:
            raise NoMmsContent("mms.zip holds no files")
    return SendMmsRequest(
        user=user or "", password=password or "", destinations=destinations, source=source,
        subject=subject, note=_single(values, "note"), subaccount=_single(values, "subaccount"),
        delivery_report=_flag(values, "deliveryreport"), read_report=_flag(values, "readreport"),
        url=url, mms_zip=mms_zip, parts=parts, warnings=warnings,
    )


def send_answer(message_id: str) -> tuple[bytes, str]:
    """The ``SendMMS`` success answer: 200 with the message id as the body."""
    return str(message_id).encode("ascii"), "text/plain; charset=utf-8"


def render_error(error: FakeMmsError) -> tuple[int, bytes, str]:
    """Any error as the legacy interface answers it: (HTTP status, plain-text body, type)."""
    return error.http_status, error.text.encode("utf-8"), "text/plain; charset=utf-8"


# --- retrieval (legacy-mms-gateway-receive.txt; RetrieveMMS in provider-notes.md) -----------
@dataclass
class RetrieveRequest:
    user: str
    password: str
    message_id: str


def parse_retrieve(query: QueryInput) -> RetrieveRequest:
    """``?user=&pass=&id=``; the views check them and answer ``BadCredentials``,
    ``UnknownMessageId`` or ``MessageExpired``."""
    values = _multi(_pairs(query)[0])
    user, password = _single(values, "user", True), _single(values, "pass", True)
    message_id = _single(values, "id", True)
    return RetrieveRequest(user or "", password or "", message_id or "")


# --- report callback (provider-notes.md) ----------------------------------------------------
def legacy_status(status: str | int, *, read: bool = False) -> tuple[int, int]:
    """(type, status) for a fake report status name or a legacy number 1-10.

    ``read=True`` reads Indeterminate/Expired as a read report's 9/10; Read and Deleted are
    read reports either way. Raises ValueError for a status with no legacy number.
    """
    if isinstance(status, int):
        if status not in STATUS_NAMES:
            raise ValueError(f"legacy report status must be 1-10, not {status}")
        return (READ if status >= 7 else DELIVERY), status
    key = status.strip().lower()
    tables = (READ_STATUS_TABLE, STATUS_TABLE) if read else (STATUS_TABLE,)
    for table in tables:
        for name, value in table.items():
            if name.lower() == key:
                return value
    raise ValueError(f"report status {status!r} has no legacy number; known: "
                     f"{', '.join(STATUS_TABLE)}")


def report_query(*, message_id: str, destination: str, source: str, date: float | datetime,
                 status: str | int, request_id: str | None = None, read: bool = False,
                 user_agent: str | None = None, region: str = UK) -> Pairs:
    """The report callback's GET parameters: id, [requestid], to (the MT's recipient), from
    (its originator), date, type (1 delivery, 2 read), status (1-10), [useragent]."""
    report_type, number = legacy_status(status, read=read)
    pairs: Pairs = [("id", str(message_id))]
    if request_id is not None:
        pairs.append(("requestid", str(request_id)))
    pairs += [("to", destination), ("from", source), ("date", format_date(date, region)),
              ("type", str(report_type)), ("status", str(number))]
    if user_agent:
        pairs.append(("useragent", user_agent))
    return pairs


def callback_succeeded(status_code: int | None, body: bytes | str | None) -> bool:
    """The document's rule: "an HTTP 200 response with a non-empty body"."""
    return status_code == 200 and bool(body)


# --- helpers --------------------------------------------------------------------------------
def _pairs(query: QueryInput, charset: str | None = None) -> tuple[Pairs, list[str]]:
    if isinstance(query, Mapping):
        return [(str(k), str(v)) for k, v in query.items()], []
    if not isinstance(query, str | bytes):
        return [(str(k), str(v)) for k, v in query], []
    encoding = charset or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InvalidParameter(f"unknown charset {encoding!r}") from None
    warnings: list[str] = []
    if isinstance(query, bytes):
        try:
            text = query.decode(encoding)
        except UnicodeDecodeError:
            text, encoding = query.decode("latin-1"), "latin-1"
            warnings.append("parameters are not valid UTF-8; read as ISO-8859-1")
    else:
        text = query
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="strict",
                          max_num_fields=_MAX_FIELDS)
    except UnicodeDecodeError:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="latin-1",
                          max_num_fields=_MAX_FIELDS)
        warnings.append(f"parameters are not valid {encoding}; read as ISO-8859-1")
    except ValueError as exc:  # more than _MAX_FIELDS parameters
        raise InvalidParameter(str(exc)) from None
    return pairs, warnings


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _first(values: dict[str, list[str]], name: str) -> str | None:
    return values[name][0] if values.get(name) else None


def _single(values: dict[str, list[str]], name: str, required: bool = False) -> str | None:
    given = values.get(name, [])
    if len(set(given)) > 1:
        raise InvalidParameter(f"{name}: given more than once with different values")
    if required and (not given or not given[0]):
        raise MissingParameter(name)
    return given[0] if given else None


def _number(value: str, name: str, pattern: re.Pattern[str]) -> str:
    number = value.strip().removeprefix("+")
    if not pattern.match(number):
        raise InvalidParameter(f"{name}: {value!r} is not a valid number")
    return number


def _flag(values: dict[str, list[str]], name: str) -> bool:
    value = (_single(values, name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidParameter(f"{name}: {value!r} is not 1 or 0")


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")
