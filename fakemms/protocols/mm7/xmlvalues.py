"""XML for MM7: defusedxml parsing, namespace-tolerant lookups, element values, addresses.

``parse_xml`` forbids DTDs, so entity expansion and external entities never happen (a DOCTYPE
alone is refused: 2007). ``Scope`` finds children by local name in the MM7 namespace or
unqualified, so prefixed, default and mixed namespace styles read alike. Values are lenient
where real clients are sloppy (provider-notes.md): booleans ``true/True/TRUE/1``, ``+`` and
``/TYPE=PLMN`` in numbers (Nokia, fixtures/mm7/deliver-req3.txt).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import defusedxml.ElementTree as SafeET
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from fakemms.protocols.mm7.errors import AddressError, FormatCorrupt
from fakemms.protocols.mm7.model import Address, Recipients


def parse_xml(data: bytes, charset: str | None = None) -> ET.Element:
    """Well-formed XML without DTD, entities or external references, else 2007."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.lstrip(b" \t\r\n")
    if not data:
        raise FormatCorrupt("the SOAP part is empty")
    source: bytes | str = data
    if charset and charset.lower() not in ("utf-8", "utf8", "us-ascii", "ascii") \
            and not data.startswith(b"<?xml"):
        try:
            source = data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            source = data
    try:
        root = SafeET.fromstring(source, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except DTDForbidden:
        raise FormatCorrupt("a DOCTYPE is not allowed in an MM7 message") from None
    except EntitiesForbidden:
        raise FormatCorrupt("entity declarations are not allowed in an MM7 message") from None
    except ExternalReferenceForbidden:
        raise FormatCorrupt("external references are not allowed in an MM7 message") from None
    except DefusedXmlException as exc:
        raise FormatCorrupt(f"refused XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # expat: an unknown or multi-byte encoding="..."
        raise FormatCorrupt(f"unsupported XML encoding: {exc}") from None
    except ET.ParseError as exc:
        raise FormatCorrupt(f"not well-formed XML: {exc}") from None
    if too_deep(root, MAX_XML_DEPTH):
        raise FormatCorrupt(f"the XML is nested more than {MAX_XML_DEPTH} elements deep")
    return root  # type: ignore[no-any-return]  # defusedxml is untyped


MAX_XML_DEPTH = 100  # an MM7 envelope is about 6 deep; deeper is refused, not walked


def too_deep(root: ET.Element, limit: int) -> bool:
    """Whether any element lies more than ``limit`` levels below ``root`` (iterative: a deep
    tree must not exhaust the stack of whoever walks it)."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def split_tag(tag: object) -> tuple[str, str]:
    """``{ns}local`` -> (ns, local); comments and processing instructions give ("", "")."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


@lru_cache(maxsize=1024)
def _tags(namespaces: frozenset[str], name: str) -> frozenset[str]:
    """ElementTree's tags for ``name`` in these namespaces (built once: a SubmitReq looks up
    dozens, each request in a Scope of its own)."""
    return frozenset(f"{{{n}}}{name}" if n else name for n in namespaces)


class Scope:
    """Child lookups by local name in the MM7 namespace (or unqualified)."""

    def __init__(self, *namespaces: str) -> None:
        self.ns = frozenset(namespaces) | {""}

    def children(self, el: ET.Element | None, name: str) -> list[ET.Element]:
        if el is None:
            return []
        wanted = _tags(self.ns, name)
        return [c for c in el if c.tag in wanted]

    def child(self, el: ET.Element | None, name: str) -> ET.Element | None:
        found = self.children(el, name)
        return found[0] if found else None

    def text(self, el: ET.Element | None, name: str) -> str | None:
        c = self.child(el, name)
        return None if c is None else (c.text or "").strip()


def attr(el: ET.Element, name: str) -> str | None:
    """An attribute by local name, qualified or not (``mm7:href`` is seen, deliver-req5)."""
    for key, value in el.attrib.items():
        if split_tag(key)[1] == name:
            return value
    return None


def parse_bool(value: str | None, name: str, warnings: list[str] | None = None) -> bool | None:
    """``true/True/TRUE/1`` and the falses; a spelling outside xsd:boolean's lexical space
    (``true``, ``false``, ``1``, ``0``) is noted in ``warnings`` when given."""
    if value is None or not value.strip():
        return None
    v = value.strip().lower()
    if v not in ("true", "1", "false", "0"):
        raise FormatCorrupt(f"{name}: {value!r} is not a boolean")
    if warnings is not None and value.strip() != v:
        warnings.append(f"{name}: {value.strip()!r} is not an xsd:boolean (true, false, 1, 0); "
                        f"taken as {v}; a strict MMSC refuses it with 2007 Message format "
                        "corrupt")
    return v in ("true", "1")


def unknown_elements(scope: Scope, el: ET.Element, known: dict[str, frozenset[str]]
                     ) -> list[str]:
    """Warnings for children of ``el`` (and of its children named in ``known``) that the
    schema does not define (a misspelling such as ``EarlistDeliveryTime``, or an element of a
    foreign namespace): the fake ignores them."""
    parent = split_tag(el.tag)[1]
    out = []
    for child in el:
        ns, local = split_tag(child.tag)
        if not local:
            continue
        if ns in scope.ns and local in known[parent]:
            if local in known:
                out += unknown_elements(scope, child, known)
            continue
        name = local if ns in scope.ns else f"{{{ns}}}{local}"
        out.append(f"{parent}: unknown element {name} was ignored; a strict MMSC validating "
                   "against the MM7 schema refuses it with 4004 Validation error")
    return out


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
_DURATION = re.compile(r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?"
                       r"(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def parse_time(value: str) -> datetime | timedelta:
    """An MM7 time: absolute xs:dateTime (aware; UTC when no offset) or relative duration.

    Durations count a year as 365 days and a month as 30 (23.140 leaves "relative" to xs:duration).
    """
    v = value.strip()
    if _DATETIME.match(v):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError as exc:
            raise FormatCorrupt(f"{value!r} is not a valid xs:dateTime ({exc})") from None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    m = _DURATION.match(v)
    if not m:
        raise FormatCorrupt(f"{value!r} is neither an xs:dateTime nor a duration")
    y, mo, w, d, h, mi, sec = (float(g[:-1]) if g else 0.0
                               for g in (m[1], m[2], m[3], m[4], m[6], m[7], m[8]))
    return timedelta(days=y * 365 + mo * 30 + w * 7 + d, hours=h, minutes=mi, seconds=sec)


def check_time(value: str | None, name: str, relative_ok: bool = False) -> str | None:
    """The value as sent once it parses (2007 otherwise); None when absent or empty."""
    if value is None or value == "":
        return None
    parsed = _parse_time_named(value, name)
    if isinstance(parsed, timedelta) and not relative_ok:
        raise FormatCorrupt(f"{name}: {value!r} must be an absolute date and time")
    return value


def _parse_time_named(value: str, name: str) -> datetime | timedelta:
    try:
        return parse_time(value)
    except FormatCorrupt:
        raise FormatCorrupt(f"{name}: {value!r} is not an MM7 date/time") from None


_PRIORITIES = {"high": "High", "normal": "Normal", "low": "Low"}


def parse_priority(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _PRIORITIES[value.lower()]
    except KeyError:
        raise FormatCorrupt(f"Priority: {value!r} is not High, Normal or Low") from None


# --- addresses ------------------------------------------------------------------------------
ADDRESS_KINDS = ("Number", "ShortCode", "RFC2822Address")
_NUMBER = re.compile(r"^\d{3,15}$")
_SHORT_CODE = re.compile(r"^[0-9A-Za-z]{3,15}$")
_PLMN = re.compile(r"/TYPE=PLMN$", re.IGNORECASE)


def parse_address(kind: str, raw: str, *, display_only: bool = False,
                  coded: bool = False) -> Address:
    """Normalise one address; 2002 when it is empty or malformed.

    Numbers lose ``/TYPE=PLMN`` (Nokia, deliver-req3) and a leading ``+`` (noted in ``plus``).
    ``coded``: addressCoding="encrypted"/"obfuscated", kept as sent.
    """
    text = raw.strip()
    if not text:
        raise AddressError(f"empty {kind}")
    if coded:
        return Address(kind, text, text, display_only=display_only)
    value = _PLMN.sub("", text)
    plus = value.startswith("+")
    numeric = re.fullmatch(r"\+?\d+", value) is not None
    if kind in ("Number", "ShortCode") or (kind == "RFC2822Address" and numeric):
        value = value.lstrip("+")
        pattern = _NUMBER if kind != "ShortCode" else _SHORT_CODE
        if not pattern.match(value):
            raise AddressError(f"{kind} {text!r} is not a valid {kind}")
        return Address(kind, value, text, plus=plus, display_only=display_only)
    if not re.search(r"[^@\s<>]+@[^@\s<>]+", text):
        raise AddressError(f"RFC2822Address {text!r} is not an e-mail address")
    return Address(kind, text, text, display_only=display_only)


def address_list(scope: Scope, container: ET.Element | None) -> list[Address]:
    out = []
    for child in container if container is not None else []:
        ns, local = split_tag(child.tag)
        if local in ADDRESS_KINDS and ns in scope.ns:
            display = parse_bool(attr(child, "displayOnly"), "displayOnly") or False
            out.append(parse_address(local, child.text or "", display_only=display,
                                     coded=attr(child, "addressCoding") is not None))
    return out


def single_address(scope: Scope, container: ET.Element | None, name: str) -> Address | None:
    if container is None:
        return None
    found = address_list(scope, container)
    if not found:
        raise AddressError(f"{name} holds no Number, ShortCode or RFC2822Address")
    return found[0]


def recipients_of(scope: Scope, el: ET.Element | None) -> Recipients:
    return Recipients(*(
        [a for c in scope.children(el, name) for a in address_list(scope, c)]
        for name in ("To", "Cc", "Bcc")
    ))


def address_warnings(where: str, addresses: list[Address]) -> list[str]:
    """Warnings for numbers accepted leniently: a leading ``+`` or the MM1 ``/TYPE=PLMN``
    suffix, both outside MM7's plain international format (skycore-mm7/mm7Submit.md:
    "without a leading + symbol")."""
    out = []
    for a in addresses:
        found = [what for what, hit in (("a leading '+'", a.plus),
                                        ("the MM1 suffix /TYPE=PLMN", bool(_PLMN.search(a.raw))))
                 if hit]
        if found:
            out.append(f"{where} {a.kind} {a.raw!r}: {' and '.join(found)} taken off "
                       f"({a.value}); a strict MMSC refuses it with 2002 Address Error")
    return out
