"""MM7 data tables: namespaces, versions, operations, status texts and MMStatus values.

Sources: provider-notes.md ("MM7 (3GPP TS 23.140)"), mm7-api.txt (status table; its 5.3.0
callbacks written in REL-6-MM7-1-4), skycore-mm7/ (accepted namespaces, vendor status codes).
"""

from __future__ import annotations

import re

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
# mm7-api.txt writes every namespace with https:// (an artefact of that page, provider-notes.md)
SOAP_ENV_ALIASES = frozenset({SOAP_ENV, "https://schemas.xmlsoap.org/soap/envelope/"})

SCHEMA_BASE = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
_HTTPS_BASE = "https://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"

# Every namespace 3GPP published (provider-notes.md, skycore-mm7/NAMESPACES__version-5.3.0.md).
KNOWN_NAMESPACES: tuple[str, ...] = tuple(
    [f"{SCHEMA_BASE}REL-5-MM7-1-{n}" for n in range(6)]
    + [f"{SCHEMA_BASE}REL-6-MM7-1-{n}" for n in range(5)]
)
_KNOWN = frozenset(KNOWN_NAMESPACES)
_SCHEMA_LIKE = re.compile(r"^https?://www\.3gpp\.org/ftp/Specs/archive/23_series/23\.140/schema/"
                          r"REL-\d+-MM7-\d+-\d+$")

# The versions the provider emits callbacks in (provider-notes.md: "6.8, 6.1, 5.6, 5.3") and the
# namespace each is written in. There is no official table (provider-notes.md); every callback
# the documents show is in REL-6-MM7-1-4: OpenMarket's DeliverReq with 6.8.0 (provider-notes.md)
# and mm7-api.txt's DeliverReq and DeliveryReportReq with 5.3.0. Configurable per version
# (config mm7.callback_namespaces).
VERSION_NAMESPACES: dict[str, str] = {
    "5.3.0": f"{SCHEMA_BASE}REL-6-MM7-1-4",
    "5.6.0": f"{SCHEMA_BASE}REL-6-MM7-1-4",
    "6.1.0": f"{SCHEMA_BASE}REL-6-MM7-1-4",
    "6.8.0": f"{SCHEMA_BASE}REL-6-MM7-1-4",
}
CALLBACK_VERSIONS: tuple[str, ...] = tuple(VERSION_NAMESPACES)

REQUESTS = ("SubmitReq", "DeliverReq", "CancelReq", "ReplaceReq", "DeliveryReportReq",
            "ReadReplyReq")
RESPONSES = ("SubmitRsp", "DeliverRsp", "CancelRsp", "ReplaceRsp", "DeliveryReportRsp",
             "ReadReplyRsp")
ERROR_RESPONSES = ("RSErrorRsp", "VASPErrorRsp")
OPERATIONS = frozenset(REQUESTS + RESPONSES + ERROR_RESPONSES)

# The children 3GPP TS 23.140 (Rel-5 and Rel-6 schemas) defines for the requests the provider
# receives, and of their containers (skycore-mm7/mm7Submit.md and its unsupported-elements page
# list the SubmitReq ones): anything else is ignored with a warning.
_COMMON_REQ = ("MM7Version", "SenderIdentification", "ApplicID", "ReplyApplicID",
               "AuxApplicInfo")
KNOWN_ELEMENTS: dict[str, frozenset[str]] = {
    "SubmitReq": frozenset(_COMMON_REQ + (
        "Recipients", "PreferredChannels", "ServiceCode", "LinkedID", "MessageClass",
        "TimeStamp", "ReplyCharging", "EarliestDeliveryTime", "ExpiryDate", "DeliveryReport",
        "ReadReply", "Priority", "Subject", "ChargedParty", "ChargedPartyID", "ThirdPartyPayer",
        "DistributionIndicator", "DeliveryCondition", "ContentClass", "DRMContent",
        "Content")),
    # Rel-5 CancelReq / ReplaceReq carry VASPID, VASID and SenderAddress unwrapped
    "CancelReq": frozenset(_COMMON_REQ + ("VASPID", "VASID", "SenderAddress", "MessageID")),
    "ReplaceReq": frozenset(_COMMON_REQ + (
        "VASPID", "VASID", "SenderAddress", "MessageID", "ServiceCode", "TimeStamp",
        "ReadReply", "EarliestDeliveryTime", "DistributionIndicator", "ContentClass",
        "DRMContent", "Content")),
    "SenderIdentification": frozenset({"VASPID", "VASID", "SenderAddress"}),
    "Recipients": frozenset({"To", "Cc", "Bcc"}),
}

# 3GPP status codes (provider-notes.md; 1000-3003 texts as mm7-api.txt writes them)
STATUS_TEXTS: dict[int, str] = {
    1000: "Success",
    1100: "Partial success",
    2000: "Client error",
    2001: "Operation restricted",
    2002: "Address Error",
    2003: "Address Not Found",
    2004: "Multimedia content refused",
    2005: "Message ID Not found",
    2006: "LinkedID not found",
    2007: "Message format corrupt",
    2008: "Application ID not found",
    2009: "Reply Application ID not found",
    3000: "Server Error",
    3001: "Not Possible",
    3002: "Message rejected",
    3003: "Multiple addresses not supported",
    3004: "Application Addressing not supported",
    4000: "General service error",
    4001: "Improper identification",
    4002: "Unsupported version",
    4003: "Unsupported operation",
    4004: "Validation error",
    4005: "Service error",
    4006: "Service unavailable",
    4007: "Service denied",
    4008: "Application denied",
}
# Vendor extensions of the same lineage (skycore-mm7/STATUSES__MmsStatuses.md); the 3GPP
# text wins where a vendor reuses a 3GPP code.
VENDOR_STATUS_TEXTS: dict[int, str] = {
    2500: "Missing or Invalid HTTP header Content-Length or Content-Type",
    2502: "Missing destination address",
    2503: "Multiple destination addresses not supported",
    2504: "Missing source address",
    2505: "Missing or unsupported MM7 Version",
    2506: "Missing XML element - Content",
    2507: "Unsupported namespace",
    2510: "Missing or Invalid SOAP header",
    2511: "Missing or Invalid SOAP body",
    2512: "Unsupported operation",
    2513: "Unable to parse attachment",
    2514: "Invalid SOAP attachment header Content-Type",
    2515: "Invalid SOAP body part Content-Type",
    2550: "Account disabled",
    2551: "Account not Provisioned for MM7",
    2560: "Content length exceeded maximum supported request size",
    2561: "Invalid sender identification",
    2562: "Invalid VASID",
    2563: "Invalid source address",
    2564: "Invalid VASPID",
    2565: "Message rejected, reply charging not supported",
    2566: "Invalid carrier",
    2567: "Missing carrier ID",
    2568: "Unable to authenticate",
    3500: "Timeout",
    3510: "Throughput exceeded",
    3520: "Provisioning issue",
}
ALL_STATUS_TEXTS: dict[int, str] = {**VENDOR_STATUS_TEXTS, **STATUS_TEXTS}

# MMStatus of DeliveryReportReq (provider-notes.md): Rel-5, Rel-6 additions, vendor values
# (skycore-mm7/STATUSES__DeliveryReportStatuses.md spells "Unrecognized").
MM_STATUSES_REL5 = ("Expired", "Retrieved", "Rejected", "Indeterminate", "Forwarded")
MM_STATUSES_REL6 = MM_STATUSES_REL5 + ("Deferred", "Unrecognised", "DeliveryConditionNotMet")
MM_STATUSES: frozenset[str] = frozenset(
    MM_STATUSES_REL6 + ("NotSupported", "Unreachable", "Unrecognized")
)
# MMStatus of ReadReplyReq (3GPP TS 23.140)
READ_STATUSES: frozenset[str] = frozenset({"Read", "Deleted", "Indeterminate"})


def status_text(code: int) -> str:
    """The standard text for a status code, or the text of its class (1xxx ... 4xxx)."""
    if code in ALL_STATUS_TEXTS:
        return ALL_STATUS_TEXTS[code]
    return STATUS_TEXTS.get(code // 1000 * 1000, "Unknown status")


def mm_status_text(mm_status: str) -> str:
    """The StatusText sent with an MMStatus: "Success" for Retrieved, else the status itself
    (skycore-mm7/STATUSES__DeliveryReportStatuses.md; mm7-api.txt's DeliveryReportReq)."""
    return "Success" if mm_status == "Retrieved" else mm_status


def fault_code_for(code: int) -> str:
    """SOAP faultcode local name: 3xxx are the server's fault, everything else the client's."""
    return "Server" if 3000 <= code < 4000 else "Client"


def canonical_namespace(ns: str) -> str:
    """The http:// form of a 3GPP MM7 namespace (the https:// artefact mapped back)."""
    if ns.startswith(_HTTPS_BASE):
        return SCHEMA_BASE + ns[len(_HTTPS_BASE):]
    return ns


def is_known_namespace(ns: str) -> bool:
    return canonical_namespace(ns) in _KNOWN


def looks_like_mm7_namespace(ns: str) -> bool:
    """A 23.140 schema namespace by shape, published or not (e.g. REL-6-MM7-6-7)."""
    return bool(_SCHEMA_LIKE.match(ns))


def namespace_for_version(version: str) -> str:
    """The namespace the provider writes a callback of this MM7Version in."""
    try:
        return VERSION_NAMESPACES[version]
    except KeyError:
        raise ValueError(
            f"MM7 version {version!r} is not one of {', '.join(CALLBACK_VERSIONS)}"
        ) from None


def version_tuple(version: str) -> tuple[int, int, int] | None:
    """``"6.8.0"`` -> ``(6, 8, 0)``; None when it is not x.y.z."""
    m = re.fullmatch(r"\s*(\d{1,3})\.(\d{1,3})\.(\d{1,3})\s*", version or "")
    return (int(m[1]), int(m[2]), int(m[3])) if m else None
