"""MT content as the provider takes it, before a message is accepted: MM7's limits, media
policy and generated SMIL; the legacy gateway's mms.zip, uploaded or fetched from ``url=``.
Backend work, so the views only parse, call and render."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakemms.models import Part
from fakemms.protocols.legacy import codec as legacy
from fakemms.protocols.mm7 import codec as mm7
from fakemms.protocols.mm7 import media
from fakemms.remote_content import RemoteFetcher


def mm7_parts(content: mm7.Content | None, settings: Mapping[str, Any]
              ) -> tuple[list[Part], list[str]]:
    """An MM7 submission's parts as stored, and the warnings: size and media type checked,
    a SMIL generated when the client sent none (mm7-api.txt: "Our system will automatically
    generate a SMIL file"). ``settings``: the config's ``mm7`` section."""
    parts = [p.to_part() for p in (content.parts if content else [])]
    # content parts are the leaves of the MIME tree: a multipart here is one that did not parse
    broken = [p.content_type for p in parts if media.media_type(p.content_type)
              .startswith("multipart/")]
    if broken:
        raise mm7.ContentRefused(f"unparseable MIME content: {broken[0]!r} has no parts")
    size = sum(len(p.data) for p in parts)
    if size > settings["max_content_bytes"]:
        raise mm7.ContentRefused(f"content is {size} bytes; the limit is "
                                   f"{settings['max_content_bytes']}")
    bad = media.unsupported([p.content_type for p in parts])
    warnings = []
    if bad and settings["strict_media_types"]:
        raise mm7.ContentRefused(f"unsupported media type {', '.join(bad)}")
    if bad:
        warnings.append(f"unsupported media type accepted (lenient): {', '.join(bad)}")
    with_smil = mm7.with_smil(parts)
    if len(with_smil) > len(parts):
        warnings.append("no SMIL presentation was sent: the fake generated one")
    return with_smil, warnings


def legacy_parts(req: legacy.SendMmsRequest, fetcher: RemoteFetcher,
                 zip_limits: Mapping[str, Any]) -> list[Part]:
    """A SendMMS request's parts: its mms.zip, or the zip at its ``url=`` (fetched with the
    remote-content rules, read with ``zip_limits``: ``read_zip``'s keywords); an empty zip is
    refused."""
    parts = req.parts
    if req.url:
        fetched = fetcher.fetch(req.url)
        if not fetched.ok:
            raise legacy.InvalidParameter(f"url: {fetched.error}")
        parts = legacy.read_zip(fetched.data, **zip_limits)
    if not parts:
        raise legacy.NoMmsContent("the zip holds no files")
    return parts
