"""SMIL presentations: detect a supplied one, generate one for parts that came without.

mm7-api.txt: "Our system will automatically generate a SMIL file for you if one is not
provided." The generated layout follows the samples (fixtures/mm7/smil-sample*.xml and the
skycore-mm7 submit example): an Image and a Text region, one ``<par>`` per media item, each
item referencing its part by ``cid:`` (or by Content-Location when the part has no Content-ID).
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Protocol
from xml.sax.saxutils import quoteattr

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from fakemms.models import Part

SMIL_MEDIA_TYPE = "application/smil"
DEFAULT_SMIL_CONTENT_ID = "presentation"  # the Content-ID of mm7-api.txt's SMIL example
DEFAULT_DURATION_MS = 5000  # smil-sample2.xml, deliver-req4/5 captures: dur="5000ms"


class PartLike(Protocol):
    content_type: str
    content_id: str | None


def media_type_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def looks_like_smil(media_type: str, data: bytes) -> bool:
    """A SMIL by its media type, or an XML-ish part whose root element is ``smil``."""
    if media_type == SMIL_MEDIA_TYPE:
        return True
    if media_type not in ("text/xml", "application/xml", "application/octet-stream",
                          "text/plain", "application/vnd.wap.mms-smil", ""):
        return False
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2:].lstrip()
    return head[:6].lower() in (b"<smil>", b"<smil ", b"<smil\n", b"<smil\r", b"<smil\t")


def find_smil(parts: Sequence[PartLike], start: str | None = None) -> int | None:
    """Index of the SMIL among ``parts``: the ``start`` part of a multipart/related if it is
    a SMIL, else the first ``application/smil``, else the first XML part rooted in ``<smil>``."""
    smil_like = [i for i, p in enumerate(parts)
                 if looks_like_smil(media_type_of(p.content_type), getattr(p, "data", b""))]
    if not smil_like:
        return None
    if start:
        wanted = start.strip().strip("<>").strip()
        for i in smil_like:
            if (parts[i].content_id or "").strip("<>") == wanted:
                return i
    typed = [i for i in smil_like if media_type_of(parts[i].content_type) == SMIL_MEDIA_TYPE]
    return (typed or smil_like)[0]


def smil_references(data: bytes) -> list[str]:
    """The ``src`` of every media element of a SMIL document, in order (no DTDs, no entities)."""
    try:
        root = SafeET.fromstring(data.lstrip(), forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        return []
    return [el.attrib["src"] for el in root.iter() if "src" in el.attrib]


def _element_for(media_type: str) -> tuple[str, str | None] | None:
    """SMIL element and region for a media type; None for parts a SMIL does not show."""
    if media_type == SMIL_MEDIA_TYPE:
        return None
    if media_type.startswith("image/"):
        return "img", "Image"
    if media_type.startswith("video/"):
        return "video", "Image"
    if media_type.startswith("audio/"):
        return "audio", None
    if media_type == "text/plain":
        return "text", "Text"
    return "ref", None


def _src(part: PartLike) -> str:
    if part.content_id:
        return "cid:" + part.content_id.strip().strip("<>")
    location = getattr(part, "content_location", None) or getattr(part, "filename", None)
    if location:
        return str(location)
    raise ValueError("a part needs a Content-ID or a Content-Location to be referenced by SMIL")


def generate_smil(parts: Sequence[PartLike], *, duration_ms: int = DEFAULT_DURATION_MS
                  ) -> bytes:
    """A SMIL presentation with one ``<par>`` per media part (SMIL parts are skipped)."""
    items = []
    for part in parts:
        kind = _element_for(media_type_of(part.content_type))
        if kind is not None:
            items.append((kind[0], kind[1], _src(part)))
    regions = {region for _, region, _ in items if region}
    if regions == {"Image", "Text"}:
        layout = [("Image", "0%", "70%", "meet"), ("Text", "70%", "30%", "scroll")]
    else:
        layout = [(r, "0%", "100%", "meet" if r == "Image" else "scroll") for r in sorted(regions)]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<smil>", "  <head>", "    <layout>",
             '      <root-layout width="100%" height="100%"/>']
    for region, top, height, fit in layout:
        lines.append(f'      <region id="{region}" top="{top}" left="0%" width="100%" '
                     f'height="{height}" fit="{fit}"/>')
    lines += ["    </layout>", "  </head>", "  <body>"]
    for element, where, src in items:
        region_attr = f' region="{where}"' if where else ""
        lines += [f'    <par dur="{duration_ms}ms">',
                  f"      <{element} src={quoteattr(src)}{region_attr}/>", "    </par>"]
    lines += ["  </body>", "</smil>", ""]
    return "\n".join(lines).encode("utf-8")


def with_smil(parts: Sequence[Part], *, content_id: str = DEFAULT_SMIL_CONTENT_ID
              ) -> list[Part]:
    """``parts`` unchanged when one is a SMIL (or there are none); else a generated SMIL
    (``generated=True``) first.

    Parts with neither Content-ID nor filename get the Content-ID ``partN`` (copies; the
    caller's parts are not modified) so the presentation can reference them.
    """
    if not parts or find_smil(parts) is not None:
        return list(parts)
    named = [p if (p.content_id or p.filename) else dataclasses.replace(p, content_id=f"part{i}")
             for i, p in enumerate(parts, start=1)]
    taken = {(p.content_id or "").strip("<>") for p in named}
    cid, n = content_id, 1
    while cid in taken:
        cid, n = f"{content_id}-{n}", n + 1
    smil = Part(content_type=f"{SMIL_MEDIA_TYPE}; charset=utf-8", data=generate_smil(named),
                content_id=cid,
                filename=None, generated=True)
    return [smil, *named]
