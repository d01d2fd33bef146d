"""OpenMarket HTTP MMS v2 codec: the send request in, callbacks out. No I/O, no clock.

Follows openmarket-mms-send.txt (request layout, JSON fields, error codes, Content-Id advice)
and openmarket-mms-receive.txt / provider-notes.md (MO and REPORT callbacks).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from fakemms import errors, nesting
from fakemms.models import Part
from fakemms.protocols.mime import (
    DEFAULT_LIMITS,
    MimeLimits,
    boundaries_without_blank_line,
    build_multipart,
    content_type_params,
    parse_multipart,
)

REMOTE_CONTENT = "application/vnd.openmarket.remoteContent"

# International format without "+" (openmarket-mms-send.txt, destination); a source may also
# be a short code (US: 5-6 digits, UK: 5 digits; 3-8 accepted).
# "$(?!\n)": jsonschema runs patterns with Python's re, whose "$" also matches before a
# trailing newline ("12515550130\n" would pass); ECMA-262 reads the pattern the same way.
INTERNATIONAL = r"^[1-9][0-9]{7,14}$(?!\n)"
SHORT_CODE_OR_INTERNATIONAL = r"^([0-9]{3,8}|[1-9][0-9]{7,14})$(?!\n)"

SEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "destination", "source", "mtConfig"],
    "properties": {
        "type": {"type": "string", "const": "MT"},
        "destination": {"type": "string", "pattern": INTERNATIONAL},
        "source": {"type": "string", "pattern": SHORT_CODE_OR_INTERNATIONAL},
        "mtConfig": {"type": "string", "minLength": 1},
        # "you cannot specify only whitespace"; 1-255 characters
        "subject": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
        "mobileOperatorId": {"type": "integer", "minimum": 1},
    },
}

# field -> (error when missing, error when invalid), in the order the codes are numbered
FIELD_ERRORS: dict[str, tuple[type[errors.FakeMmsError] | None, type[errors.FakeMmsError]]] = {
    "type": (errors.MissingType, errors.InvalidType),
    "destination": (errors.MissingDestination, errors.InvalidDestination),
    "source": (errors.MissingSource, errors.InvalidSource),
    "mtConfig": (errors.MissingMtConfig, errors.InvalidMtConfig),
    "subject": (None, errors.InvalidSubject),
    "mobileOperatorId": (None, errors.InvalidMobileOperatorId),
}

_DESTINATION = re.compile(INTERNATIONAL)
_SOURCE = re.compile(SHORT_CODE_OR_INTERNATIONAL)
_NOT_SPACE = re.compile(r"\S")


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator  # only when a request is not plainly valid

    return Draft202012Validator(SEND_SCHEMA)


def _plainly_valid(fields: dict[str, Any]) -> bool:
    """SEND_SCHEMA's checks for the usual valid request, by hand (jsonschema cost a tenth of
    a send). False is "let jsonschema look": it finds and names the problem."""
    subject = fields.get("subject")
    operator = fields.get("mobileOperatorId")
    destination, source, mt_config = (fields.get("destination"), fields.get("source"),
                                      fields.get("mtConfig"))
    return (fields.get("type") == "MT"
            and type(destination) is str and _DESTINATION.search(destination) is not None
            and type(source) is str and _SOURCE.search(source) is not None
            and type(mt_config) is str and len(mt_config) >= 1
            and (subject is None and "subject" not in fields
                 or type(subject) is str and 1 <= len(subject) <= 255
                 and _NOT_SPACE.search(subject) is not None)
            and (operator is None and "mobileOperatorId" not in fields
                 or type(operator) is int and operator >= 1))
_BASIC_ID = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass
class SendRequest:
    fields: dict[str, Any]
    parts: list[Part] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_send(body: bytes, content_type: str | None, *, strict: bool = True,
               limits: MimeLimits = DEFAULT_LIMITS) -> SendRequest:
    """Parse a ``POST /mms/v2/send`` body; validation of the JSON is ``validate_fields``."""
    root = parse_multipart(body, content_type, strip_blank_line=True, limits=limits)
    warnings: list[str] = []
    media, params = content_type_params(content_type)
    if media != "multipart/mixed":
        warnings.append(f"Content-Type is {media}; the document asks for multipart/mixed")
    late = boundaries_without_blank_line(body, params["boundary"])
    if late:
        where = ", ".join(map(str, late[:5]))
        detail = f"no blank line above the boundary delimiter on line {where}"
        if strict:
            raise errors.MalformedRequest(detail)
        warnings.append(f"lenient mode accepted a request with {detail}")

    first, *rest = root.children
    if first.media_type != "application/json":
        raise errors.MalformedRequest(
            f"the first MIME part must be the JSON sending details, not {first.media_type}"
        )
    fields = decode_json_object(first.data)
    parts: list[Part] = []
    for index, mp in enumerate(rest, start=1):
        if mp.children:
            raise errors.MalformedRequest(f"part {index} is a nested multipart")
        cid = mp.content_id
        warnings.extend(content_id_warnings(index, cid))
        if mp.media_type == REMOTE_CONTENT.lower():
            url = mp.data.decode("utf-8", "replace").strip()
            if not re.match(r"^https?://\S+$", url, re.IGNORECASE):
                raise errors.MalformedRequest(f"part {index}: remote content is not an http(s) URL")
            parts.append(Part(content_type=REMOTE_CONTENT, content_id=cid, remote_url=url,
                              transfer_encoding=mp.transfer_encoding))
        else:
            parts.append(Part(content_type=mp.content_type, data=mp.data, content_id=cid,
                              transfer_encoding=mp.transfer_encoding))
    if not parts:
        raise errors.NoContent(
            "at least one content part (an attachment or a remote link) is required"
        )
    return SendRequest(fields, parts, warnings)


def decode_json_object(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.MalformedRequest(f"the JSON part is not valid UTF-8 ({exc.reason})") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise errors.MalformedRequest("the JSON part is nested too deeply") from None
    except ValueError as exc:
        raise errors.MalformedRequest(f"the JSON part is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise errors.MalformedRequest("the JSON part must be an object")
    found = nesting.problem(value)
    if found:
        raise errors.MalformedRequest(f"the JSON part is refused: {found}")
    return value


def validate_fields(fields: dict[str, Any]) -> None:
    """Raise the documented error for the first violation, in code order."""
    if _plainly_valid(fields):
        return
    found: list[errors.FakeMmsError] = []
    for err in _validator().iter_errors(fields):
        if err.validator == "required":
            name = next((f for f in FIELD_ERRORS if f"'{f}'" in err.message), None)
            missing = FIELD_ERRORS.get(name or "", (None, None))[0]
            if missing is not None:
                found.append(missing())
            continue
        name = str(err.absolute_path[0]) if err.absolute_path else ""
        if name in FIELD_ERRORS:
            found.append(FIELD_ERRORS[name][1](f"{name}: {err.message}"))
    if found:
        raise min(found, key=lambda e: e.code)


def content_id_warnings(index: int, content_id: str | None) -> list[str]:
    """The document's Content-Id advice, as warnings (never rejections)."""
    if not content_id:
        return [f"part {index}: no Content-Id header"]
    out = []
    if content_id.startswith("<") or content_id.endswith(">"):
        out.append(f"part {index}: Content-Id {content_id!r} has angle brackets")
    if not _BASIC_ID.match(content_id.strip("<>")):
        out.append(f"part {index}: Content-Id {content_id!r} has characters other than "
                   "basic letters and numbers")
    if len(content_id) >= 20:
        out.append(f"part {index}: Content-Id {content_id!r} is not shorter than 20 characters")
    return out


# --- callbacks (openmarket-mms-receive.txt, provider-notes.md) ------------------------------
def encode_report(*, mt_id: str, date: str, status: str, outcome_id: int | None,
                  description: str | None, user_agent: str | None = None) -> bytes:
    """The REPORT callback body; ``mtId`` is a JSON string here (provider-notes.md)."""
    body: dict[str, Any] = {"type": "REPORT", "mtId": str(mt_id), "date": date, "status": status}
    if outcome_id is not None:
        body["outcomeId"] = outcome_id
    if description is not None:
        body["outcomeDescription"] = description
    if user_agent:
        body["userAgent"] = user_agent
    return pretty_flat(body, 2)


_encode_str = json.encoder.encode_basestring_ascii


def pretty_flat(obj: dict[str, Any], indent: int) -> bytes:
    """``json.dumps(obj, indent=indent)``, byte for byte: with an indent json.dumps skips
    its C encoder, and that was most of a REPORT's cost on the scheduler's thread. A flat
    object of scalars is written here; a nested one goes to json.dumps."""
    items = []
    for key, value in obj.items():
        if type(value) is str:
            text = _encode_str(value)
        elif type(value) is int:
            text = int.__repr__(value)
        elif value is None or type(value) in (bool, float):
            text = json.dumps(value)
        else:  # nested: json.dumps indents it
            return json.dumps(obj, indent=indent).encode("utf-8")
        items.append(f"{_encode_str(key)}: {text}")
    if not items:
        return b"{}"
    pad = "\n" + " " * indent
    return ("{" + pad + ("," + pad).join(items) + "\n}").encode("utf-8")


def encode_mo(*, mo_id: int, source: str, destinations: list[str], ccs: list[str],
              bccs: list[str], date: str, mobile_operator_id: int, subject: str | None,
              user_agent: str | None, parts: list[Part], boundary: str) -> tuple[bytes, str]:
    """The MO callback: multipart/mixed, JSON part ``Content-Id: main`` then the content."""
    details: dict[str, Any] = {
        "type": "MO", "moId": mo_id, "source": source, "destinations": destinations,
        "ccs": ccs, "bccs": bccs, "date": date, "mobileOperatorId": mobile_operator_id,
        "subject": subject or "",
    }
    if user_agent:
        details["userAgent"] = user_agent
    mime_parts = [({"Content-Type": "application/json", "Content-Id": "main"},
                   json.dumps(details, indent=3).encode("utf-8"))]
    for p in parts:
        headers = {"Content-Type": p.content_type}
        if p.content_id:
            headers["Content-Id"] = p.content_id
        data = p.data
        if not p.content_type.lower().startswith(("text/", "application/smil")):
            # openmarket-mms-receive.txt, Quick facts: "Encoding Base64"
            headers["Content-Transfer-Encoding"] = "base64"
            data = base64.encodebytes(p.data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
        mime_parts.append((headers, data))
    body = build_multipart(mime_parts, boundary)
    return body, f"multipart/mixed; boundary={boundary}"
