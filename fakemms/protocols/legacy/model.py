"""The legacy gateway's shapes and constants: region date formats, MO and report types,
status tables, limits, and the requests it parses (legacy-mms-gateway-receive.txt,
provider-notes.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from fakemms.models import Part

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


@dataclass
class RetrieveRequest:
    user: str
    password: str
    message_id: str
