"""MM7 attachments: find the SOAP part of a body, resolve the Content href to its parts.

The body is ``multipart/related`` (the SOAP part is the ``start`` part, else the first) or
plain ``text/xml``. Content-IDs match with or without angle brackets and ``cid:`` references
with a space after the colon (fixtures/mm7/deliver-req4.txt, deliver-req5.txt); nested
multiparts are flattened in document order.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import unquote

from fakemms.errors import ContentLimitExceeded, MalformedRequest
from fakemms.protocols.mime import (
    DEFAULT_LIMITS,
    MimeLimits,
    MimePart,
    content_type_params,
    parse_multipart,
)
from fakemms.protocols.mm7.errors import ContentRefused, FormatCorrupt
from fakemms.protocols.mm7.model import Content, Mm7Part
from fakemms.protocols.mm7.smil import find_smil
from fakemms.protocols.mm7.xmlvalues import attr, parse_bool

XML_MEDIA_TYPES = ("text/xml", "application/xml", "application/soap+xml")
# mime.parse_multipart's wording for a part it could not transfer-decode
_DECODE_ERRORS = ("bad base64 content", "unsupported Content-Transfer-Encoding")


def split_body(body: bytes, content_type: str | None, warnings: list[str],
               limits: MimeLimits = DEFAULT_LIMITS) -> tuple[bytes, str | None, list[MimePart]]:
    """The SOAP XML, its charset, and the other top-level MIME parts."""
    media, params = content_type_params(content_type)
    if media.startswith("multipart/"):
        if media != "multipart/related":
            warnings.append(f"Content-Type is {media}; MM7 uses multipart/related")
        try:
            root = parse_multipart(body, content_type, limits=limits)
        except ContentLimitExceeded as exc:  # too many parts, too deep: content refused
            raise ContentRefused(exc.detail) from None
        except MalformedRequest as exc:
            if (exc.detail or "").startswith(_DECODE_ERRORS):
                raise ContentRefused(f"cannot decode a MIME part: {exc.detail}") from None
            raise FormatCorrupt(f"unparseable multipart body: {exc.detail}") from None
        parts = root.children
        index = 0
        start = params.get("start")
        if start:
            found = [i for i, p in enumerate(parts) if same_cid(p.content_id, start)]
            if found:
                index = found[0]
            else:
                warnings.append(f"no part has the Content-ID of start={start!r}; "
                                "the first part is taken as the SOAP envelope")
        soap = parts[index]
        if soap.children:
            raise FormatCorrupt("the SOAP envelope part is itself a multipart")
        if soap.media_type not in XML_MEDIA_TYPES:
            warnings.append(f"the SOAP part is {soap.media_type}, not text/xml")
        return soap.data, soap.params.get("charset"), parts[:index] + parts[index + 1:]
    if media in XML_MEDIA_TYPES or (not media and body.lstrip()[:1] == b"<"):
        if not media:
            warnings.append("no Content-Type; the body was read as text/xml")
        return body, params.get("charset"), []
    raise FormatCorrupt(f"Content-Type {media or '(none)'} is neither multipart/related nor "
                        "text/xml")


def normalize_cid(value: str | None) -> str:
    """A Content-ID or ``cid:`` reference without ``cid:``, angle brackets or spaces."""
    text = (value or "").strip()
    if text[:4].lower() == "cid:":
        text = unquote(text[4:].strip())  # RFC 2392: cid URLs are %-encoded
    return text.strip().strip("<>").strip()


def same_cid(a: str | None, b: str | None) -> bool:
    na, nb = normalize_cid(a), normalize_cid(b)
    return bool(na) and na == nb


def unfold(value: str) -> str:
    """A header value with its folding (CRLF + whitespace) replaced by one space."""
    return re.sub(r"\r?\n[ \t]+", " ", value)


def _leaf(part: MimePart) -> Mm7Part:
    cid = normalize_cid(part.content_id) or None
    return Mm7Part(content_type=unfold(part.content_type), media_type=part.media_type,
                   data=part.data,
                   content_id=cid, content_location=part.header("content-location"),
                   transfer_encoding=part.transfer_encoding,
                   params={k: v for k, v in part.params.items() if k})


def flatten(part: MimePart) -> list[Mm7Part]:
    """Leaf parts of a MIME part in document order (nested multiparts walked)."""
    if not part.children:
        return [_leaf(part)]
    return [leaf for child in part.children for leaf in flatten(child)]


def _find_part(parts: list[MimePart], test: Callable[[MimePart], bool]
               ) -> MimePart | None:
    for part in parts:
        if test(part):
            return part
        inner = _find_part(part.children, test)
        if inner is not None:
            return inner
    return None


def resolve_content(el: ET.Element | None, attachments: list[MimePart], strict: bool,
                    warnings: list[str]) -> Content | None:
    """The Content element and the parts its href points at (2004 when it points nowhere)."""
    if el is None:
        if not attachments:
            return None
        warnings.append("no Content element; every attachment is taken as content")
        return _content(None, None, attachments, None)
    href = attr(el, "href")
    allow = attr(el, "allowAdaptations")
    allow_b = parse_bool(allow, "allowAdaptations") if allow is not None else None
    if href is None or not href.strip():
        raise FormatCorrupt("the Content element has no href")
    if href.strip()[:4].lower() != "cid:":
        warnings.append(f"Content href {href!r} is not a cid: reference; it was not fetched")
        return Content(href=href, allow_adaptations=allow_b)
    cid = normalize_cid(href)
    part = _find_part(attachments, lambda p: normalize_cid(p.content_id) == cid)
    if part is None:
        part = _find_part(attachments, lambda p: normalize_cid(p.content_id).lower() == cid.lower()
                          or (p.header("content-location") or "").strip() == cid)
        if part is not None:
            warnings.append(f"Content href {href!r} matched a part only by case or "
                            "Content-Location")
    if part is None:
        ids = [p.content_id for p in attachments]
        if strict or not attachments:
            raise ContentRefused(f"Content href {href!r} matches no MIME part "
                                 f"(Content-IDs present: {ids})")
        warnings.append(f"Content href {href!r} matches no MIME part; every attachment is "
                        "taken as content")
        return _content(href, allow_b, attachments, None)
    return _content(href, allow_b, [part], part)


def _content(href: str | None, allow: bool | None, parts: list[MimePart],
             ref: MimePart | None) -> Content:
    leaves = [leaf for p in parts for leaf in flatten(p)]
    start = ref.params.get("start") if ref is not None else None
    index = find_smil(leaves, start)
    return Content(href=href, allow_adaptations=allow,
                   content_type=unfold(ref.content_type) if ref is not None else None,
                   parts=leaves, smil=leaves[index] if index is not None else None)
