"""An MM7 submission as the provider takes it, before the message is accepted: the MT
configuration its VASID names, its content's limits and media policy, and a generated SMIL
(mm7-api.txt)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakemms import errors
from fakemms.models import Account, Part
from fakemms.protocols.mm7 import codec as mm7
from fakemms.protocols.mm7 import media


def mt_config_for_vasid(account: Account, vas_id: str | None) -> str:
    """MM7's VASID names the MT configuration (openmarket-mms-overview.txt); an empty or
    absent VASID takes the account's first configuration."""
    if vas_id:
        if vas_id not in account.mt_configs:
            raise errors.InvalidMtConfig(f"VASID {vas_id!r} names no MT configuration of "
                                         f"account {account.username}")
        return vas_id
    if not account.mt_configs:
        raise errors.InvalidMtConfig(f"account {account.username} has no MT configuration")
    return next(iter(account.mt_configs))


def parts(content: mm7.Content | None, settings: Mapping[str, Any]
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
