"""Shared multipart helpers. No I/O.

``parse_multipart`` turns an HTTP body and its Content-Type into decoded parts, keeping the
headers as sent; nested multiparts are kept as parts of their own so a codec can walk them.
Bodies are split at their delimiter lines here; the ``email`` package reads only the header
blocks that are not plain ``Name: value`` lines (its feed parser over a whole body was a third
of a request's CPU: docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from functools import lru_cache

from fakemms.errors import ContentLimitExceeded, MalformedRequest

_POLICY = email.policy.compat32  # keeps headers as sent; decoding is done by get_payload()


@dataclass(frozen=True)
class MimeLimits:
    """Caps on a multipart body, checked while it is split (the config's ``content:`` section,
    docs/service.md "Hostile content"); past one: ``ContentLimitExceeded``. The documents give
    no figures; these are generous for an MMS (a handful of parts, two or three levels)."""

    max_parts: int = 100  # MIME parts in the whole body, nested ones included
    max_depth: int = 10  # multiparts inside multiparts
    max_part_headers: int = 100  # header lines of one part
    max_header_line: int = 8192  # bytes of one header line of a part


DEFAULT_LIMITS = MimeLimits()


@dataclass
class _Walk:
    limits: MimeLimits
    parts: int = 0


@dataclass
class MimePart:
    headers: dict[str, str]  # lower-cased names, values stripped
    content_type: str  # full header value as sent (parameters included)
    media_type: str  # lower-cased type/subtype
    params: dict[str, str]
    data: bytes  # transfer-decoded payload (empty for multiparts)
    transfer_encoding: str | None
    children: list[MimePart] = field(default_factory=list)

    @property
    def content_id(self) -> str | None:
        return self.headers.get("content-id")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def content_type_params(value: str | None) -> tuple[str, dict[str, str]]:
    """Media type (lower case) and parameters (names lower case) of a Content-Type value."""
    if not value:
        return "", {}
    media, params = _content_type_params(value)
    return media, dict(params)


@lru_cache(maxsize=1024)
def _content_type_params(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    # cached: clients send the same few Content-Type values again and again, and the email
    # package's parameter parser is a large share of a request's cost (docs/benchmarks.md)
    msg = EmailMessage()
    msg["Content-Type"] = value
    params = tuple((k.lower(), v) for k, v in (msg.get_params() or [])[1:])
    media = (value.split(";", 1)[0]).strip().lower()
    return media, params


def parse_multipart(body: bytes, content_type: str | None, *, strip_blank_line: bool = False,
                    limits: MimeLimits = DEFAULT_LIMITS) -> MimePart:
    """Parse a multipart body. Raises MalformedRequest with a clear reason when it is not one,
    ``ContentLimitExceeded`` when it is over one of ``limits``.

    ``strip_blank_line``: a part's content ends at the blank line before the next boundary
    (the OpenMarket layout), so one trailing line break is not content.
    """
    media, params = content_type_params(content_type)
    if not media:
        raise MalformedRequest("missing Content-Type header")
    if not media.startswith("multipart/"):
        raise MalformedRequest(f"Content-Type must be multipart, not {media}")
    boundary = params.get("boundary")
    if not boundary:
        raise MalformedRequest("multipart Content-Type without a boundary parameter")
    if not body:
        raise MalformedRequest("empty body")
    if f"--{boundary}".encode("latin-1", "replace") not in body:
        raise MalformedRequest(f"the body has no --{boundary} delimiter")
    children = _split(body, boundary, strip_blank_line, 0, _Walk(limits))
    if children is None:
        raise MalformedRequest("the body is not a multipart message")
    if not children:
        raise MalformedRequest("the multipart body has no parts")
    return MimePart({"content-type": content_type or ""}, content_type or "", media, params,
                    b"", None, children)


_LINE_END = re.compile(rb"(?:\r\n|\r|\n)\Z")


# after "--" boundary on a delimiter line: "--" after the last part, optional white space,
# the line's end (CR LF, LF or a lone CR, as the email package reads lines)
_DELIMITER_END = re.compile(rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")


def _split(body: bytes, boundary: str, strip_blank_line: bool, depth: int, walk: _Walk
           ) -> list[MimePart] | None:
    """The parts between the delimiter lines (RFC 2046, 5.1.1; None: no opening delimiter
    line); the preamble and epilogue are dropped; with no closing delimiter the last part runs
    to the end."""
    if depth >= walk.limits.max_depth:
        raise ContentLimitExceeded(f"multipart parts are nested too deeply (more than "
                                   f"{walk.limits.max_depth} levels)")
    token = b"--" + boundary.encode("latin-1", "replace")
    parts: list[MimePart] = []
    start = -1  # where the current part begins (after its delimiter line)
    at = body.find(token)
    while at >= 0:
        end = _DELIMITER_END.match(body, at + len(token))
        if end is None or (at and body[at - 1] not in b"\r\n"):
            at = body.find(token, at + 1)  # not a delimiter line
            continue
        if start >= 0:
            parts.append(_part(body[start:at], strip_blank_line, depth, walk))
        if end.group(1):  # the closing delimiter: the rest is the epilogue
            return parts if start >= 0 else None
        start = end.end()
        at = body.find(token, start)
    if start < 0:
        return None
    parts.append(_part(body[start:], strip_blank_line, depth, walk))  # no closing delimiter
    return parts


# a header field's first line (a name and a colon) or a folded continuation
_HEADER_LIKE = re.compile(rb"[!-9;-~]+[ \t]*:|[ \t]")
_SIMPLE_HEADER = re.compile(rb"([!-9;-~]+):[ \t]*([ -~\t]*?)\r?\n?\Z")


def _headers(chunk: bytes, limits: MimeLimits = DEFAULT_LIMITS
             ) -> tuple[list[tuple[str, object]], bytes, int]:
    """A part's header fields as the email package reads them (compat32), the lines of the
    header block it would take for content, and where the rest of the content starts."""
    items: list[tuple[str, object]] = []
    pos, n = 0, len(chunk)
    simple = True
    header_like = True  # the email package reads header lines until one that is not
    lines = 0
    while pos < n:
        end = chunk.find(b"\n", pos)
        end = n if end < 0 else end + 1
        line = chunk[pos:end]
        pos = end
        if line in (b"\r\n", b"\n"):  # the blank line that ends the headers
            break
        m = _SIMPLE_HEADER.match(line) if simple else None
        if header_like:
            header_like = m is not None or _HEADER_LIKE.match(line) is not None
            lines += header_like
            if lines > limits.max_part_headers:
                raise ContentLimitExceeded(f"a MIME part has more than "
                                           f"{limits.max_part_headers} header lines")
            if header_like and len(line) > limits.max_header_line + 2 \
                    and len(line.rstrip(b"\r\n")) > limits.max_header_line:
                raise ContentLimitExceeded(f"a MIME part has a header line longer than "
                                           f"{limits.max_header_line} bytes")
        if m and not line.startswith(b"From "):
            items.append((m.group(1).decode("ascii"), m.group(2).decode("ascii")))
        else:
            simple = False
    if simple:
        return items, b"", pos
    # anything unusual (folded or non-ASCII fields, a line that is not a field): the email
    # package reads the header block, so the fields are what it always made of them
    head = chunk[:pos]
    msg = BytesHeaderParser(policy=_POLICY).parsebytes(head)
    # the lines it took for content, as it holds them (get_payload() would decode them)
    leftover = msg._payload  # type: ignore[attr-defined]  # noqa: SLF001
    rest = leftover.encode("ascii", "surrogateescape") if isinstance(leftover, str) else b""
    return list(msg.items()), rest, pos


def _part(chunk: bytes, strip_blank_line: bool, depth: int, walk: _Walk) -> MimePart:
    walk.parts += 1
    if walk.parts > walk.limits.max_parts:
        raise ContentLimitExceeded(f"the body has more than {walk.limits.max_parts} MIME parts")
    raw_items, leftover, start = _headers(chunk, walk.limits)
    items, leading = _split_url_lines(raw_items)
    headers = {k.lower(): _header_str(v) for k, v in items}
    ctype = headers.get("content-type", "text/plain")
    media, params = content_type_params(ctype)
    cte = headers.get("content-transfer-encoding")
    content = leftover + chunk[start:]
    # as the email package does, the first Content-Type decides the structure (the headers
    # keep the last one)
    first = next((_header_str(v) for k, v in items if k.lower() == "content-type"), ctype)
    outer, outer_params = (media, params) if first == ctype else content_type_params(first)
    if outer.startswith("multipart/"):
        if outer_params.get("boundary"):
            children = _split(content, outer_params["boundary"], strip_blank_line, depth + 1,
                              walk)
            if children is not None:
                return MimePart(headers, ctype, media or "multipart/mixed", params, b"", cte,
                                children)
    else:  # the line break before the next delimiter is the delimiter's (RFC 2046, 5.1.1)
        eol = _LINE_END.search(content)
        content = content[:eol.start()] if eol else content
    encoding = (cte or "binary").strip().lower()
    if encoding == "base64":
        data = _decode_base64(content)
    elif encoding in _IDENTITY or encoding == "quoted-printable":
        data = quopri.decodestring(content) if encoding == "quoted-printable" else content
        if leading:
            data = leading + (b"\r\n\r\n" + data if data else b"")
        if strip_blank_line:
            data = _strip_one_newline(data)
    else:
        raise MalformedRequest(f"unsupported Content-Transfer-Encoding {cte!r}")
    return MimePart(headers, ctype, media or "text/plain", params, data, cte)


def _split_url_lines(items: list[tuple[str, object]]) -> tuple[list[tuple[str, object]], bytes]:
    """Headers, and the content lines the parser mistook for headers.

    openmarket-mms-send.txt puts a remote link straight under the part's headers, with no
    blank line between ("Content-Id: MMS-Demo.mp4" then "https://..."); ``email`` reads that
    line as a header named ``https``. From such a line on, the "headers" are content.
    """
    for i, (name, value) in enumerate(items):
        if name.lower() in ("http", "https") and str(value).startswith("//"):
            lines = [f"{n}:{v}" for n, v in items[i:]]
            return items[:i], "\r\n".join(lines).encode("utf-8", "surrogateescape")
    return items, b""


def _header_str(value: object) -> str:
    return str(value).strip()


def _strip_one_newline(data: bytes) -> bytes:
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


_IDENTITY = ("binary", "8bit", "7bit", "")


def _decode_base64(raw: bytes) -> bytes:
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", raw), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRequest(f"bad base64 content: {exc}") from None


def boundaries_without_blank_line(body: bytes, boundary: str) -> list[int]:
    """Line numbers (1-based) of delimiters with no blank line above them.

    openmarket-mms-send.txt: "Include a blank line above each --mimeboundary, or the request
    will fail with a 400 error." The first delimiter, on the body's first line, is exempt
    (the blank line that ends the HTTP headers stands above it).
    """
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    lines = body.split(b"\n")
    bad = []
    for i, line in enumerate(lines):
        text = line.rstrip(b"\r")
        if not text.startswith(delimiter):
            continue
        rest = text[len(delimiter):]
        if rest.strip(b" \t") not in (b"", b"--"):
            continue  # a longer token that merely starts with the boundary
        if i == 0:
            continue
        if lines[i - 1].rstrip(b"\r").strip(b" \t") != b"":
            bad.append(i + 1)
    return bad


def build_multipart(parts: list[tuple[dict[str, str], bytes]], boundary: str,
                    blank_line_before_boundary: bool = False) -> bytes:
    """Serialise parts (headers, raw bytes) as a multipart body with CRLF line ends."""
    out = bytearray()
    for headers, data in parts:
        out += f"--{boundary}\r\n".encode("ascii")
        for name, value in headers.items():
            out += f"{name}: {value}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
        if blank_line_before_boundary:
            out += b"\r\n"
    out += f"--{boundary}--\r\n".encode("ascii")
    return bytes(out)
