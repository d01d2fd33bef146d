"""The request that created a message, as received, for a person to read (the UI's message
page): request line, headers (credentials redacted) and the body, cut at a bound."""

from __future__ import annotations

import re

from flask import request

RAW_LIMIT = 16 * 1024  # bytes of a request kept on its message; the parts are kept whole
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def raw_request(body: bytes, limit: int = RAW_LIMIT) -> bytes:
    """The current request's head and ``body``, at most ``limit`` bytes (0: keep nothing)."""
    if limit <= 0:
        return b""
    protocol = request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    target = request.full_path.rstrip("?")
    lines = [f"{request.method} {target} {protocol}"]
    for name, value in request.headers.items():
        shown = "(redacted)" if name.lower() in _SECRET_HEADERS else value
        lines.append(f"{name}: {shown}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    raw = (head + body)[:limit]
    # the legacy gateway's password travels in the query, a form or a multipart field
    return _PASS_FIELD.sub(rb"\1(redacted)", raw) if b"pass" in raw else raw


_PASS_FIELD = re.compile(rb'((?:[?&\s]|^)pass=|name="pass"\r?\n\r?\n)[^&\s]*')
