"""Legacy gateway requests and answers out: MO notifications (GET query or multipart POST
with ``mms.zip``), report callbacks, ``SendMMS`` answers and errors, dates. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from fakemms.errors import FakeMmsError
from fakemms.protocols.legacy.model import (
    DATE_FORMATS,
    DELIVERY,
    MMS,
    READ,
    READ_STATUS_TABLE,
    SMS,
    STATUS_NAMES,
    STATUS_TABLE,
    UK,
    Pairs,
)
from fakemms.protocols.mime import build_multipart


def format_date(when: float | datetime, region: str = UK) -> str:
    """A legacy date in the region's format, in UTC (naive datetimes are taken as UTC)."""
    fmt = _date_format(region)
    if isinstance(when, datetime):
        dt = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(when, UTC)
    return dt.strftime(fmt)


def _date_format(region: str) -> str:
    try:
        return DATE_FORMATS[region.upper()]
    except KeyError:
        raise ValueError(f"unknown region {region!r}; one of {', '.join(DATE_FORMATS)}") from None


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


def send_answer(message_id: str) -> tuple[bytes, str]:
    """The ``SendMMS`` success answer: 200 with the message id as the body."""
    return str(message_id).encode("ascii"), "text/plain; charset=utf-8"


def render_error(error: FakeMmsError) -> tuple[int, bytes, str]:
    """Any error as the legacy interface answers it: (HTTP status, plain-text body, type)."""
    return error.http_status, error.text.encode("utf-8"), "text/plain; charset=utf-8"


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
