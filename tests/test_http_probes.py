"""The HTTP layer's probe table: raw requests against the real server on a socket.

Each probe is a framing defect a parser may get wrong (request smuggling, CVE-2022-24761's
class of chunk sizes, header injection). The server must answer 4xx/5xx, close the
connection, and never read a second request out of what it refused.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator

import pytest

from fakemms.server import ServerThread


def echo(environ: dict, start_response: Callable) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    out = json.dumps({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                      "body": body.decode("latin-1")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(echo, max_body=1024) as s:
        yield s


def exchange(server: ServerThread, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection; everything that came back until the close."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
H = b"Host: x\r\n"

# (id, request bytes, expected status)
PROBES = [
    ("content-length-and-chunked", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, 400),
    ("chunked-and-content-length", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Content-Length: 40\r\n\r\n0\r\n\r\n" + SMUGGLED, 400),
    ("differing-content-lengths", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n"
     b"Content-Length: 37\r\n\r\n" + SMUGGLED, 400),
    ("content-length-superscript", b"POST / HTTP/1.1\r\n" + H + "Content-Length: ²\r\n\r\nx"
     .encode(), 400),
    ("content-length-plus", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +1\r\n\r\nx", 400),
    ("content-length-negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("content-length-hex", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x1\r\n\r\nx", 400),
    ("space-before-colon", b"POST / HTTP/1.1\r\n" + H + b"Content-Length : 37\r\n\r\n"
     + SMUGGLED, 400),
    ("tab-before-colon", b"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400),
    ("bare-lf-hides-content-length", b"POST / HTTP/1.1\r\n" + H + b"X-A: 1\nContent-Length: 37"
     b"\r\n\r\n" + SMUGGLED, 400),
    ("bare-cr-in-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\rX-B: 2\r\n\r\n", 400),
    ("nul-in-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("control-char-in-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("obsolete-line-folding", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n", 400),
    ("folding-first-line", b"GET / HTTP/1.1\r\n folded: x\r\n" + H + b"\r\n", 400),
    ("no-colon", b"GET / HTTP/1.1\r\n" + H + b"No colon here\r\n\r\n", 400),
    ("chunk-size-0x", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"0x4\r\nabcd\r\n0\r\n\r\n", 400),
    ("chunk-size-plus", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"+4\r\nabcd\r\n0\r\n\r\n", 400),
    ("chunk-size-leading-space", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked"
     b"\r\n\r\n 4\r\nabcd\r\n0\r\n\r\n", 400),
    ("chunk-size-underscore", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked"
     b"\r\n\r\n4_0\r\n" + b"a" * 64 + b"\r\n0\r\n\r\n", 400),
    ("chunk-size-garbage", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked"
     b"\r\n\r\nzz\r\n", 400),
    ("chunk-data-then-lf-lf", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked"
     b"\r\n\r\n4\r\nabcd\n\n0\r\n\r\n", 400),
    ("chunk-longer-than-size", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked"
     b"\r\n\r\n2\r\nabcd\r\n0\r\n\r\n", 400),
    ("transfer-encoding-http-1.0", b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, 400),
    ("transfer-encoding-gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n",
     501),
    ("transfer-encoding-chunked-gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: "
     b"chunked, gzip\r\n\r\n", 501),
    ("lower-case-method", b"get / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request-line-garbage", b"NONSENSE\r\n\r\n", 400),
    ("request-line-extra-space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("http-2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("http-0.9", b"GET /\r\n\r\n", 505),
    ("head-too-large", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n",
     431),
    ("body-too-large", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2048\r\n\r\n"
     + b"x" * 2048, 413),
    ("chunked-body-too-large", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked"
     b"\r\n\r\n800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n", 413),
]


@pytest.mark.parametrize("request_bytes, status", [p[1:] for p in PROBES],
                         ids=[p[0] for p in PROBES])
def test_ambiguous_or_malformed_framing_is_refused_and_closed(server, request_bytes, status):
    out = exchange(server, request_bytes)
    head = out.partition(b"\r\n\r\n")[0]
    assert head.split(b" ", 2)[1] == str(status).encode(), out[:300]
    assert b"\r\nConnection: close" in head
    assert len(re.findall(rb"HTTP/1\.[01] \d{3} ", out)) == 1  # one answer: nothing read
    assert b"smuggled" not in out  # out of a body


def test_unknown_methods_reach_the_app_as_they_are(server):
    out = exchange(server, b"FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert json.loads(out.partition(b"\r\n\r\n")[2])["method"] == "FOO"


def test_a_well_formed_chunked_body_beside_the_probes(server):
    """The control: the probes fail for their defect, not for chunking itself."""
    out = exchange(server, b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           b"Connection: close\r\n\r\n4;ext=1\r\nabcd\r\n0\r\nX-T: y\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and json.loads(
        out.partition(b"\r\n\r\n")[2])["body"] == "abcd"
