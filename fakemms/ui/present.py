"""How a handset would show each part, and a SMIL presentation as slides. No I/O, no Flask.

Everything here is hostile input: the templates escape what this returns, and decide how each
kind is embedded (images inline, HTML and SVG only in a sandboxed frame, text as text).
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from fakemms.protocols.mm7.smil import looks_like_smil, media_type_of

TEXT_LIMIT = 64 * 1024  # characters of a text part shown on the page
FRAMED = {"text/html", "application/xhtml+xml", "image/svg+xml"}  # scripts possible: sandboxed


class PartLike(Protocol):
    @property
    def content_type(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def content_id(self) -> str | None: ...
    @property
    def filename(self) -> str | None: ...


@dataclass
class PartView:
    index: int
    kind: str  # image | framed | text | audio | video | smil | other
    media_type: str
    text: str | None = None  # for text and smil: the decoded content, to show as text
    truncated: bool = False


@dataclass
class SlideItem:
    element: str  # img | text | audio | video | ref | ...
    src: str
    region: str | None
    part: PartView | None  # None: the SMIL names a part the message does not have


@dataclass
class Slide:
    number: int
    duration: str | None
    items: list[SlideItem] = field(default_factory=list)


@dataclass
class Presentation:
    smil_index: int | None
    slides: list[Slide]
    error: str | None = None


def charset_of(content_type: str) -> str:
    match = re.search(r';\s*charset\s*=\s*"?([\w.:-]+)', content_type, re.IGNORECASE)
    name = match.group(1) if match else "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def decode_text(content_type: str, data: bytes) -> tuple[str, bool]:
    """The text of a part (its charset, else UTF-8; undecodable bytes replaced), capped."""
    text = data.decode(charset_of(content_type), "replace")
    return text[:TEXT_LIMIT], len(text) > TEXT_LIMIT


def view_part(index: int, part: PartLike) -> PartView:
    media = media_type_of(part.content_type)
    if looks_like_smil(media, part.data):
        text, cut = decode_text(part.content_type, part.data)
        return PartView(index, "smil", media, text, cut)
    if media in FRAMED:
        return PartView(index, "framed", media)
    if media.startswith("image/"):
        return PartView(index, "image", media)
    if media.startswith("audio/"):
        return PartView(index, "audio", media)
    if media.startswith("video/"):
        return PartView(index, "video", media)
    if media.startswith("text/") or media in ("application/json", "application/xml"):
        text, cut = decode_text(part.content_type, part.data)
        return PartView(index, "text", media, text, cut)
    return PartView(index, "other", media)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _resolve(src: str, parts: Sequence[PartLike]) -> int | None:
    """The part a SMIL ``src`` names: ``cid:`` by Content-ID, else by Content-ID or filename."""
    wanted = src.strip()
    by_cid = wanted.lower().startswith("cid:")
    if by_cid:
        wanted = wanted[4:]
    wanted = wanted.strip("<>")
    for i, p in enumerate(parts):
        if (p.content_id or "").strip().strip("<>") == wanted:
            return i
    if not by_cid:
        for i, p in enumerate(parts):
            if p.filename and p.filename == wanted:
                return i
    return None


def presentation(parts: Sequence[PartLike]) -> Presentation | None:
    """The message's SMIL as slides (one per ``<par>``), or None when it has no SMIL."""
    views = [view_part(i, p) for i, p in enumerate(parts)]
    smil = next((v for v in views if v.kind == "smil"), None)
    if smil is None:
        return None
    try:
        root = SafeET.fromstring(parts[smil.index].data.lstrip(), forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        return Presentation(smil.index, [], f"the SMIL does not parse: {exc}")
    body = next((el for el in root.iter() if _local(el.tag) == "body"), root)
    pars = [el for el in body.iter() if _local(el.tag) == "par"] or [body]
    slides = []
    for number, par in enumerate(pars, 1):
        slide = Slide(number, par.attrib.get("dur"))
        for el in par.iter():
            if el is par or "src" not in el.attrib:
                continue
            index = _resolve(el.attrib["src"], parts)
            slide.items.append(SlideItem(_local(el.tag), el.attrib["src"],
                                         el.attrib.get("region"),
                                         None if index is None else views[index]))
        slides.append(slide)
    return Presentation(smil.index, slides)
