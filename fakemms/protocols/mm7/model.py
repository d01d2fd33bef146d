"""The MM7 codec's dataclasses: what ``parse`` returns and what the encoders take.

Every parsed message derives from ``Mm7Message`` (operation, namespace as sent, MM7Version,
TransactionID, warnings about sloppy but accepted input). Addresses keep what was sent
(``raw``) beside the normalised value the fake stores (``value``: no ``/TYPE=PLMN``, no ``+``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from fakemms.models import Part


class Encoded(NamedTuple):
    """An encoded MM7 message: HTTP body, its Content-Type, and further HTTP headers."""

    body: bytes
    content_type: str
    headers: dict[str, str]


@dataclass
class Address:
    kind: str  # "Number" | "ShortCode" | "RFC2822Address"
    value: str  # normalised: "/TYPE=PLMN" and a leading "+" removed
    raw: str = ""  # the element text as sent (stripped)
    plus: bool = False  # the number was written with a leading "+"
    display_only: bool = False  # displayOnly="true" (3GPP: shown, not delivered to)

    def __str__(self) -> str:
        return self.value


@dataclass
class Recipients:
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)

    def all(self) -> list[Address]:
        return [*self.to, *self.cc, *self.bcc]

    def __bool__(self) -> bool:
        return bool(self.to or self.cc or self.bcc)


@dataclass
class Status:
    code: int
    text: str | None = None
    details: str | None = None

    @property
    def ok(self) -> bool:
        """1000 Success and 1100 Partial success."""
        return 1000 <= self.code < 2000


@dataclass
class Mm7Part:
    """One leaf content part, transfer-decoded."""

    content_type: str  # the header value as sent, parameters included
    media_type: str  # lower-cased type/subtype
    data: bytes
    content_id: str | None = None  # without angle brackets
    content_location: str | None = None
    transfer_encoding: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def is_smil(self) -> bool:
        return self.media_type == "application/smil"

    @property
    def filename(self) -> str | None:
        return self.content_location or self.params.get("name") or self.params.get("filename")

    def to_part(self) -> Part:
        """The shared ``models.Part`` (Content-Location, else the name parameter, as filename)."""
        return Part(content_type=self.content_type, data=self.data, content_id=self.content_id,
                    transfer_encoding=self.transfer_encoding, filename=self.filename)


@dataclass
class Content:
    """The ``Content`` element and the parts its ``href`` resolved to, flattened in order."""

    href: str | None = None
    allow_adaptations: bool | None = None
    content_type: str | None = None  # of the referenced MIME part (often a multipart)
    parts: list[Mm7Part] = field(default_factory=list)
    smil: Mm7Part | None = None  # the presentation among ``parts``, when there is one


@dataclass(kw_only=True)
class Mm7Message:
    operation: str  # local name of the Body element: "SubmitReq", "Fault", ...
    namespace: str  # the MM7 namespace as sent (answer in it)
    mm7_version: str | None = None
    transaction_id: str | None = None  # stripped; None when the header had none
    warnings: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class SubmitReq(Mm7Message):
    vasp_id: str | None = None
    vas_id: str | None = None  # "" when sent empty (<VASID/>)
    sender: Address | None = None  # SenderAddress
    recipients: Recipients = field(default_factory=Recipients)
    service_code: str | None = None
    linked_id: str | None = None
    message_class: str | None = None
    timestamp: str | None = None  # xs:dateTime as sent
    expiry_date: str | None = None  # absolute dateTime or relative duration, as sent
    earliest_delivery_time: str | None = None
    delivery_report: bool | None = None
    read_reply: bool | None = None
    priority: str | None = None  # "High" | "Normal" | "Low"
    subject: str | None = None
    charged_party: str | None = None
    content: Content | None = None


@dataclass(kw_only=True)
class DeliverReq(Mm7Message):
    mms_relay_server_id: str | None = None
    vasp_id: str | None = None
    vas_id: str | None = None
    linked_id: str | None = None
    sender: Address | None = None
    recipients: Recipients = field(default_factory=Recipients)
    timestamp: str | None = None
    priority: str | None = None
    subject: str | None = None
    ua_prof: str | None = None  # UACapabilities/@UAProf
    content: Content | None = None


@dataclass(kw_only=True)
class DeliveryReportReq(Mm7Message):
    mms_relay_server_id: str | None = None
    message_id: str | None = None
    recipient: Address | None = None
    sender: Address | None = None
    date: str | None = None
    mm_status: str | None = None
    status_text: str | None = None
    ua_prof: str | None = None


@dataclass(kw_only=True)
class ReadReplyReq(Mm7Message):
    mms_relay_server_id: str | None = None
    message_id: str | None = None
    recipient: Address | None = None
    sender: Address | None = None
    timestamp: str | None = None
    mm_status: str | None = None  # "Read" | "Deleted" | "Indeterminate"
    status_text: str | None = None


@dataclass(kw_only=True)
class CancelReq(Mm7Message):
    vasp_id: str | None = None
    vas_id: str | None = None
    sender: Address | None = None
    message_id: str | None = None


@dataclass(kw_only=True)
class ReplaceReq(Mm7Message):
    vasp_id: str | None = None
    vas_id: str | None = None
    sender: Address | None = None
    message_id: str | None = None
    service_code: str | None = None
    timestamp: str | None = None
    earliest_delivery_time: str | None = None
    read_reply: bool | None = None
    content: Content | None = None


@dataclass(kw_only=True)
class Mm7Response(Mm7Message):
    """Any ``...Rsp``, and RSErrorRsp / VASPErrorRsp (also when found inside a Fault)."""

    status: Status
    message_id: str | None = None  # SubmitRsp


@dataclass(kw_only=True)
class SoapFault(Mm7Message):
    """``operation`` is "Fault"; ``error`` is the RSErrorRsp / VASPErrorRsp in ``detail``."""

    fault_code: str  # as sent, e.g. "env:Client" or "Client"
    fault_string: str | None = None
    error: Mm7Response | None = None

    @property
    def status(self) -> Status | None:
        return self.error.status if self.error else None
