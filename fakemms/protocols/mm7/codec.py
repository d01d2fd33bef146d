"""The MM7 codec's public API: bytes and headers in, dataclasses out, and back. No I/O.

Parsing (``parse.py``; ``attachments.py`` for MIME, ``xmlvalues.py`` for XML and values)::

    parse(body, content_type, *, strict=True, allow_unknown_namespace=False) -> Mm7Message
    parse_response(body, content_type) -> Mm7Response | SoapFault

``parse`` returns ``SubmitReq``, ``DeliverReq``, ``DeliveryReportReq``, ``ReadReplyReq``,
``CancelReq``, ``ReplaceReq``, ``Mm7Response`` (every ``...Rsp``, RSErrorRsp, VASPErrorRsp) or
``SoapFault`` (``model.py``), or raises an ``Mm7Error`` whose ``mm7_status`` is the StatusCode
to answer with: ``FormatCorrupt`` 2007, ``AddressError`` 2002, ``ContentRefused`` 2004,
``UnsupportedVersion`` 4002, ``UnsupportedOperation`` 4003, ``Mm7ValidationError`` 4004.
Accepted-but-sloppy input is reported in the message's ``warnings``. ``parse_response`` is for
a peer's answers to our callbacks: any 23.140-shaped namespace, href mismatches tolerated.

Encoding (``encode.py``), each returning ``Encoded(body, content_type, headers)``::

    encode_response(operation, *, namespace, mm7_version, transaction_id, status_code=1000,
                    status_text=None, details=None, message_id=None)
    encode_fault(*, status_code, namespace=None, mm7_version=None, transaction_id=None, ...)
    encode_error(error, *, namespace=None, mm7_version=None, transaction_id=None)
    encode_delivery_report_req(*, version, transaction_id, message_id, recipient, sender,
                               date, mm_status, status_text=None, ...)
    encode_read_reply_req(*, version, transaction_id, message_id, recipient, sender,
                          timestamp, mm_status, status_text=None, ...)
    encode_deliver_req(*, version, transaction_id, sender, recipients, parts, ...)

SMIL (``smil.py``): ``generate_smil(parts)``, ``with_smil(parts)`` (adds a generated SMIL
``models.Part`` when none is given), ``find_smil(parts, start)``, ``smil_references(data)``.

Tables (``tables.py``): ``VERSION_NAMESPACES`` (the callback versions and their namespaces),
``KNOWN_NAMESPACES``, ``STATUS_TEXTS`` / ``ALL_STATUS_TEXTS`` (3GPP plus vendor codes such as
3510), ``MM_STATUSES``, ``status_text(code)``, ``mm_status_text(mm_status)``,
``namespace_for_version(version)``, ``fault_code_for(code)``.

Decisions where the documents are silent:
- Namespaces: the 11 published REL-5-MM7-1-0..1-5 / REL-6-MM7-1-0..1-4, also written with
  ``https://`` (mm7-api.txt's artefact; warned). Anything else is 4002 in ``parse``;
  ``parse_response`` accepts unpublished ones such as REL-6-MM7-6-7 (fixtures' submit-rsp.xml).
- An unqualified operation element takes the TransactionID's namespace (skycore's example).
- Missing MM7Version in a request is 4004; not x.y.z is 2007; a major other than 5/6 is 4002.
- A malformed boolean, Priority or date is 2007; no recipients in SubmitReq is 4004.
- A Content href matching no part is 2004 (``strict=False`` takes every attachment, warned:
  deliver-req2.txt and deliver-req-post.txt have such mismatches); an attachment that cannot
  be transfer-decoded is 2004; any other multipart damage is 2007.
- Callback versions and namespaces (``VERSION_NAMESPACES``): every version (5.3.0, 5.6.0,
  6.1.0, 6.8.0) is written in REL-6-MM7-1-4, as every callback the documents show is
  (tables.py says why); any namespace can be passed explicitly (config
  ``mm7.callback_namespaces``).
- Faults are written with unqualified faultcode/faultstring/detail (SOAP 1.1, fault.xml);
  ``qualified=True`` gives fault_02.xml's qualified form.
"""

from __future__ import annotations

from fakemms.protocols.mm7.attachments import normalize_cid
from fakemms.protocols.mm7.encode import (
    SOAP_START,
    as_address,
    encode_deliver_req,
    encode_delivery_report_req,
    encode_error,
    encode_fault,
    encode_read_reply_req,
    encode_response,
    format_time,
)
from fakemms.protocols.mm7.errors import (
    AddressError,
    ContentRefused,
    FormatCorrupt,
    Mm7Error,
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
    Encoded,
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
from fakemms.protocols.mm7.parse import parse, parse_response
from fakemms.protocols.mm7.smil import find_smil, generate_smil, smil_references, with_smil
from fakemms.protocols.mm7.tables import (
    ALL_STATUS_TEXTS,
    CALLBACK_VERSIONS,
    KNOWN_NAMESPACES,
    MM_STATUSES,
    READ_STATUSES,
    STATUS_TEXTS,
    VENDOR_STATUS_TEXTS,
    VERSION_NAMESPACES,
    fault_code_for,
    is_known_namespace,
    mm_status_text,
    namespace_for_version,
    status_text,
)
from fakemms.protocols.mm7.xmlvalues import parse_address, parse_time

__all__ = [
    "ALL_STATUS_TEXTS", "CALLBACK_VERSIONS", "KNOWN_NAMESPACES", "MM_STATUSES", "READ_STATUSES",
    "SOAP_START", "STATUS_TEXTS", "VENDOR_STATUS_TEXTS", "VERSION_NAMESPACES",
    "Address", "AddressError", "CancelReq", "Content", "ContentRefused", "DeliverReq",
    "DeliveryReportReq", "Encoded", "FormatCorrupt", "Mm7Error", "Mm7Message", "Mm7Part",
    "Mm7Response", "Mm7ValidationError", "ReadReplyReq", "Recipients", "ReplaceReq",
    "SoapFault", "Status", "SubmitReq", "UnsupportedOperation", "UnsupportedVersion",
    "as_address", "encode_deliver_req", "encode_delivery_report_req", "encode_error",
    "encode_fault", "encode_read_reply_req", "encode_response", "fault_code_for",
    "find_smil", "format_time", "generate_smil", "is_known_namespace", "mm_status_text",
    "namespace_for_version", "normalize_cid", "parse", "parse_address", "parse_response",
    "parse_time", "smil_references", "status_text", "with_smil",
]
