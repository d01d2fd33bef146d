"""fakemms.server.ServerThread: the HTTP/1.1 server every fake and test receiver runs on."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakemms.server import ServerThread


def echo_app(environ: dict, start_response: Callable) -> list[bytes]:
    """Answers with what it was sent: method, path, query, selected headers, body."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    out = json.dumps({
        "method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"], "length": environ.get("CONTENT_LENGTH"),
        "body": body.decode("latin-1"), "remote": environ["REMOTE_ADDR"],
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def start(app: Callable = echo_app, **kw: Any) -> ServerThread:
        server = ServerThread(app, **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def raw(server: ServerThread, data: bytes, *, until_close: bool = True,
        timeout: float = 5.0) -> bytes:
    """Send bytes on a fresh connection; what came back (until the server closes)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if until_close:
                    raise
                break
            if not chunk:
                break
            out += chunk
        return out


def test_starts_on_a_free_port_and_stops(serve):
    server = serve()
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/x?a=1")
    r = conn.getresponse()
    assert r.status == 200 and json.loads(r.read())["query"] == "a=1"
    assert r.getheader("Connection") is None  # kept alive by default
    conn.close()
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_without_keep_alive_each_answer_closes_its_connection(serve):
    server = serve(keep_alive=False)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/")
    r = conn.getresponse()
    r.read()
    assert r.getheader("Connection") == "close"
    conn.close()


def test_keep_alive_serves_many_requests_on_one_connection(serve):
    server = serve(keep_alive=True)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        ports = set()
        for i in range(5):
            conn.request("POST", f"/n/{i}", body=b"x" * i)
            r = conn.getresponse()
            got = json.loads(r.read())
            assert (r.status, got["path"], got["body"]) == (200, f"/n/{i}", "x" * i)
            assert r.getheader("Connection") is None
            ports.add(conn.sock.getsockname()[1])
        assert len(ports) == 1
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(serve):
    server = serve(keep_alive=True)
    data = (b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = raw(server, data)
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert out.index(b'"/one"') < out.index(b'"/two"') < out.index(b'"/three"')
    assert b'"body": "abc"' in out


def test_chunked_request_body_is_decoded(serve):
    server = serve()
    out = raw(server, b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: close\r\n\r\n"
                      b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n")
    body = json.loads(out.partition(b"\r\n\r\n")[2])
    assert body["body"] == "hello world" and body["length"] == "11"
    assert "HTTP_TRANSFER_ENCODING" not in body["headers"]


def test_expect_100_continue_is_answered_when_the_body_is_read(serve):
    server = serve()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    assert out.startswith(b"HTTP/1.1 200 OK") and b'"body": "data"' in out


def test_expect_100_continue_is_not_sent_when_the_app_refuses_unread(serve):
    def refuse(environ, start_response):
        start_response("401 Unauthorized", [("Content-Length", "0")])
        return [b""]

    server = serve(refuse, keep_alive=True)
    out = raw(server, b"POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                      b"Expect: 100-continue\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 401 Unauthorized") and b"100 Continue" not in out


def test_a_refused_large_body_still_gets_its_answer(serve):
    def refuse(environ, start_response):
        start_response("413 Content Too Large", [("Content-Length", "2")])
        return [b"no"]

    server = serve(refuse, keep_alive=True)
    out = raw(server, b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
                      + b"x" * 100_000)
    assert out.startswith(b"HTTP/1.1 413") and out.endswith(b"\r\n\r\nno")


def test_a_body_larger_than_the_eager_limit_is_read_as_the_app_asks(serve):
    server = serve()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = bytes(range(256)) * (3 * 4096)  # 3 MiB
    conn.request("PUT", "/big", body=body)
    got = json.loads(conn.getresponse().read())
    conn.close()
    assert got["body"].encode("latin-1") == body


def test_a_streamed_answer_is_chunked_and_flushed_as_it_goes(serve):
    release = threading.Event()

    def stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream")])

        def gen():
            yield b"first\n"
            release.wait(5)
            yield b"second\n"

        return gen()

    server = serve(stream, keep_alive=True)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/events")
    r = conn.getresponse()
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert r.readline() == b"first\n"  # before the generator goes on
    release.set()
    assert r.read() == b"second\n"
    conn.close()


def test_http_1_0_gets_an_answer_that_ends_with_the_connection(serve):
    def stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"a", b"b"])

    server = serve(stream, keep_alive=True)
    out = raw(server, b"GET / HTTP/1.0\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"chunked" not in head and body == b"ab"


def test_http_1_0_keep_alive_when_asked(serve):
    server = serve(keep_alive=True)
    out = raw(server, b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", until_close=False,
              timeout=0.5)
    assert b"Connection: keep-alive" in out


def test_head_answer_has_headers_but_no_body(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"hello"]

    server = serve(app, keep_alive=True)
    out = raw(server, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK") == 2 and out.endswith(b"\r\n\r\nhello")


@pytest.mark.parametrize("request_bytes, status", [
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\n folded: header\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
])
def test_malformed_requests_get_a_4xx_or_5xx_and_a_close(serve, request_bytes, status):
    server = serve()
    out = raw(server, request_bytes)
    assert out.startswith(f"HTTP/1.1 {status} ".encode()), out[:200]
    assert b"Connection: close" in out


def test_path_is_percent_decoded_and_headers_are_mapped(serve):
    server = serve()
    out = raw(server, b"GET /a%20b/%C3%BC?x=%20 HTTP/1.1\r\nHost: h\r\nX-One: 1\r\n"
                      b"X-One: 2\r\nX_Under: dropped\r\nConnection: close\r\n\r\n")
    got = json.loads(out.partition(b"\r\n\r\n")[2])
    assert got["path"] == "/a b/\u00c3\u00bc"  # bytes as latin-1, as PEP 3333 says
    assert got["query"] == "x=%20"
    assert got["headers"]["HTTP_X_ONE"] == "1, 2"
    assert "HTTP_X_UNDER" not in got["headers"]
    assert got["remote"] == "127.0.0.1"


def test_an_app_that_fails_gets_a_500(serve, capsys):
    def broken(environ, start_response):
        raise RuntimeError("boom")

    server = serve(broken)
    out = raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 500 ")
    assert "RuntimeError: boom" in capsys.readouterr().err


def test_close_runs_after_the_client_has_read_the_answer(serve):
    """The app's close() (Flask's call_on_close: "answered") runs once the client is back
    with its next request, before that request is served."""
    events: list[str] = []

    class Body:
        def __init__(self, n: str) -> None:
            self.n = n

        def __iter__(self):
            yield self.n.encode()

        def close(self) -> None:
            events.append(f"close {self.n}")

    def app(environ, start_response):
        n = environ["PATH_INFO"].strip("/")
        events.append(f"app {n}")
        start_response("200 OK", [("Content-Length", str(len(n)))])
        return Body(n)

    server = serve(app, keep_alive=True)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for n in "123":
        conn.request("GET", f"/{n}")
        assert conn.getresponse().read() == n.encode()
    conn.close()
    deadline = time.monotonic() + 5
    while len(events) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert events == ["app 1", "close 1", "app 2", "close 2", "app 3", "close 3"]


def test_stop_ends_idle_keep_alive_connections(serve):
    server = serve(keep_alive=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        server.stop()
        assert sock.recv(65536) == b""


def test_serve_forever_returns_after_stop(serve):
    server = serve()
    waiter = threading.Thread(target=server.serve_forever)
    waiter.start()
    server.stop()
    waiter.join(5)
    assert not waiter.is_alive()


def test_ipv6_loopback(serve):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = serve(host="::1")
    except OSError:
        pytest.skip("::1 not available")
    assert server.url == f"http://[::1]:{server.port}"
    with socket.create_connection(("::1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    assert json.loads(out.partition(b"\r\n\r\n")[2])["remote"] == "::1"


def test_access_log_unless_quiet(serve, capsys):
    server = serve(quiet=False)
    raw(server, b"GET /logged?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    time.sleep(0.05)
    assert '"GET /logged?q=1 HTTP/1.1" 200' in capsys.readouterr().err
