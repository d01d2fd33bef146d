"""Names from message content made safe for HTTP headers and downloads. No I/O.

A part's filename and Content-Id come from whoever sent the message: ``../../etc/passwd``,
``C:\\boot.ini``, NUL, CR LF, right-to-left overrides, 10,000 characters. The control API and
the UI hand them back as ``Content-Disposition`` (RFC 6266: a plain ASCII ``filename`` and an
RFC 5987 ``filename*`` for the rest) and as header values that cannot split a header.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_NAME = 100
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")  # controls, format, unassigned, breaks


def base_name(name: str) -> str:
    """The last path segment (``/``, ``\\`` and ``C:`` dropped), without control or format
    characters, leading dots or spaces, at most ``MAX_NAME`` characters (keeping a short
    extension); "" when nothing is left."""
    name = name.strip().strip("<>").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"^[A-Za-z]:", "", name)
    name = "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE)
    return shorten(name.strip().lstrip(". "))


def shorten(name: str, limit: int = MAX_NAME) -> str:
    """At most ``limit`` characters, keeping a short extension."""
    if len(name) <= limit:
        return name
    dot = name.rfind(".", len(name) - 10)
    ext = name[dot:] if dot > 0 else ""
    return name[:limit - len(ext)] + ext


def download_name(filename: str | None, content_id: str | None, index: int) -> str:
    """The name a part is downloaded under: its filename, else its Content-Id, else
    ``partN``, made a safe base name."""
    for candidate in (filename, content_id):
        name = base_name(candidate or "")
        if name:
            return name
    return f"part{index}"


def content_disposition(kind: str, name: str) -> str:
    """``attachment``/``inline`` with an ASCII ``filename`` and, when the name is not plain
    ASCII, its UTF-8 form as ``filename*`` (RFC 6266, RFC 5987)."""
    plain = _ASCII_UNSAFE.sub("_", name).lstrip(".") or "part"
    value = f'{kind}; filename="{plain}"'
    if plain != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def header_value(text: str, limit: int = 998) -> str:
    """``text`` fit for a response header: printable ASCII as is, anything else (CR, LF, NUL,
    non-ASCII) %-encoded as in a ``cid:`` URL (RFC 2392); at most ``limit`` characters (RFC
    5322's line length)."""
    return "".join(c if " " <= c <= "~" else quote(c, safe="") for c in text)[:limit]
