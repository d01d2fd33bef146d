"""Legacy gateway requests in: ``SendMMS``, retrieval, MO notifications and forms, dates.
Pure: no I/O, no Flask, no clock."""

from __future__ import annotations

import codecs
import email.message
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakemms.errors import MalformedRequest
from fakemms.models import Part
from fakemms.protocols.legacy.archive import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_TOTAL_BYTES,
    read_zip,
)
from fakemms.protocols.legacy.errors import (
    InvalidParameter,
    LegacyError,
    MissingParameter,
    NoMmsContent,
)
from fakemms.protocols.legacy.model import (
    _FALSE,
    _MAX_FIELDS,
    _ORIGINATOR,
    _RECIPIENT,
    _SEND_PARAMS,
    _TRUE,
    _ZIP_TYPES,
    LegacyMo,
    Pairs,
    QueryInput,
    RetrieveRequest,
    SendMmsRequest,
)
from fakemms.protocols.mime import (
    DEFAULT_LIMITS,
    MimeLimits,
    content_type_params,
    parse_multipart,
)


def parse_date(text: str) -> datetime:
    """Either region's format back to an aware datetime."""
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S%z"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a legacy date (yyyy-MM-dd HH:mm:ss Z)")


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


def parse_form(body: bytes, content_type: str | None, limits: MimeLimits = DEFAULT_LIMITS
               ) -> tuple[Pairs, dict[str, tuple[str, bytes]]]:
    """A multipart/form-data body: text fields as pairs, and file parts by field name as
    (filename, bytes). Raises ``MalformedRequest`` (from ``mime``) when it is not multipart,
    ``ContentLimitExceeded`` past ``limits``."""
    root = parse_multipart(body, content_type, limits=limits)
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


def parse_send_mms(query: QueryInput = b"", body: bytes = b"", content_type: str | None = None,
                   *, max_zip_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
                   max_zip_entries: int = DEFAULT_MAX_ENTRIES,
                   max_recipients: int = 100, zip_limits: Mapping[str, Any] | None = None,
                   mime_limits: MimeLimits = DEFAULT_LIMITS) -> SendMmsRequest:
    """Parse a ``SendMMS`` request from its query string and body (urlencoded form, multipart
    form with an ``mms.zip`` part, or a raw ``application/zip`` body). Raises a
    ``LegacyError`` naming the first problem. ``zip_limits``: ``read_zip``'s keywords (they
    replace ``max_zip_bytes`` and ``max_zip_entries``)."""
    pairs, warnings = _pairs(query)
    form, more, mms_zip = _send_body(body, content_type, mime_limits)
    pairs += form
    warnings += more
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
    url = _content_url(values, mms_zip)
    parts: list[Part] = []
    if mms_zip is not None:
        limits = zip_limits or {"max_entries": max_zip_entries,
                                "max_total_bytes": max_zip_bytes}
        parts = read_zip(mms_zip, **limits)
        if not parts:
            raise NoMmsContent("mms.zip holds no files")
    return SendMmsRequest(
        user=user or "", password=password or "", destinations=destinations, source=source,
        subject=subject, note=_single(values, "note"), subaccount=_single(values, "subaccount"),
        delivery_report=_flag(values, "deliveryreport"), read_report=_flag(values, "readreport"),
        url=url, mms_zip=mms_zip, parts=parts, warnings=warnings,
    )


def _send_body(body: bytes, content_type: str | None, mime_limits: MimeLimits
               ) -> tuple[Pairs, list[str], bytes | None]:
    """A ``SendMMS`` body's form fields, its warnings and its ``mms.zip`` (None: none)."""
    media, params = content_type_params(content_type)
    if media == "application/x-www-form-urlencoded":
        form, warnings = _pairs(body, params.get("charset"))
        return form, warnings, None
    if media == "multipart/form-data":
        try:
            form_fields, files = parse_form(body, content_type, mime_limits)
        except MalformedRequest as exc:  # the gateway's own plain-text 400 (docs/legacy.md)
            raise LegacyError(f"the multipart form: {exc.detail}") from None
        zip_file = files.get("mms.zip") or next(
            (f for f in files.values() if f[0].lower() == "mms.zip"), None)
        warnings = [f"file part {n!r} ignored" for n, f in files.items() if f is not zip_file]
        return form_fields, warnings, None if zip_file is None else zip_file[1]
    if media in _ZIP_TYPES:
        return [], [], body
    if body:
        return [], [f"a body of type {media or 'unknown'} was ignored"], None
    return [], [], None


def _content_url(values: dict[str, list[str]], mms_zip: bytes | None) -> str | None:
    """The ``url=`` of the zipped contents, checked; None when the ``mms.zip`` is given."""
    url = _single(values, "url") or None
    if url is not None:
        split = urlsplit(url)
        if split.scheme.lower() not in ("http", "https") or not split.hostname:
            raise InvalidParameter(f"url: {url!r} is not an http or https URL")
        if mms_zip is not None:
            raise InvalidParameter("give either url= or an mms.zip part, not both")
    elif mms_zip is None:
        raise NoMmsContent("give the zipped contents as url= or as a part named mms.zip")
    return url


def parse_retrieve(query: QueryInput) -> RetrieveRequest:
    """``?user=&pass=&id=``; the views check them and answer ``BadCredentials``,
    ``UnknownMessageId`` or ``MessageExpired``."""
    values = _multi(_pairs(query)[0])
    user, password = _single(values, "user", True), _single(values, "pass", True)
    message_id = _single(values, "id", True)
    return RetrieveRequest(user or "", password or "", message_id or "")


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
