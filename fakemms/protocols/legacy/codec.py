"""Legacy MX Telecom gateway codec: MO notifications and report callbacks out, ``SendMMS`` and
retrieval requests in. Pure: no I/O, no Flask, no clock (times are passed in).

References: legacy-mms-gateway-receive.txt (MO by GET or multipart POST, the date format, the
customer's answer) and provider-notes.md, legacy section (region date formats, ``SendMMS``,
report callbacks, ``RetrieveMMS``). Requests in are parsed in ``parse.py``; requests and
answers out are built in ``encode.py``; their shapes and tables are in ``model.py``, the zip
in ``archive.py``, the errors in ``errors.py``; all are re-exported here so callers need only
this module.

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

from fakemms.protocols.legacy.archive import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_TOTAL_BYTES,
    build_zip,
    entry_names,
    read_zip,
)
from fakemms.protocols.legacy.encode import (
    callback_succeeded,
    format_date,
    legacy_status,
    mo_post,
    mo_query,
    render_error,
    report_query,
    send_answer,
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
from fakemms.protocols.legacy.model import (
    ABANDON_AFTER_SECONDS,
    ANSWER_WITHIN_SECONDS,
    AU,
    DATE_FORMATS,
    DELIVERY,
    IE,
    MIN_EXPIRY_SECONDS,
    MMS,
    READ,
    READ_STATUS_TABLE,
    RETRIEVE_PATHS,
    SMS,
    STATUS_NAMES,
    STATUS_TABLE,
    UK,
    US,
    LegacyMo,
    RetrieveRequest,
    SendMmsRequest,
)
from fakemms.protocols.legacy.parse import (
    parse_date,
    parse_form,
    parse_mo,
    parse_retrieve,
    parse_send_mms,
)

__all__ = [
    "ABANDON_AFTER_SECONDS", "ANSWER_WITHIN_SECONDS", "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_TOTAL_BYTES", "MIN_EXPIRY_SECONDS", "READ_STATUS_TABLE",
    "AU", "BadCredentials", "DATE_FORMATS", "DELIVERY", "IE", "InvalidParameter", "InvalidZip",
    "LegacyError", "LegacyMo", "MMS", "MessageExpired", "MissingParameter", "NoMmsContent",
    "READ", "RETRIEVE_PATHS", "RetrieveRequest", "SMS", "STATUS_NAMES", "STATUS_TABLE",
    "SendMmsRequest", "UK", "US", "UnknownMessageId", "ZipTooLarge", "build_zip",
    "callback_succeeded", "entry_names", "format_date", "legacy_status", "mo_post", "mo_query",
    "parse_date", "parse_form", "parse_mo", "parse_retrieve", "parse_send_mms", "read_zip",
    "render_error", "report_query", "send_answer",
]
