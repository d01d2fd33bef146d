"""Header values HTTP can carry, for what fakemms itself puts in headers (callbacks, answers)."""

from __future__ import annotations

from urllib.parse import quote


def header_safe(value: str) -> str:
    """A header value HTTP can carry: printable ASCII as is; anything else (a scenario named
    in Japanese, a line break) percent-encoded as UTF-8, so the callback still goes out."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="".join(chr(c) for c in range(0x20, 0x7f) if chr(c) != "%"))
