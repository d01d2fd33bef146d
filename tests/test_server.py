"""fakemms.server.ServerThread: the HTTP server (waitress in process) every fake and test
receiver runs on: lifecycle, what the wrapper adds, timeouts and limits. The framing probes are
in test_http_probes.py."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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


def test_a_body_over_max_body_gets_its_413_while_the_client_still_sends(serve):
    """Answered on the head; the close lingers, so the client reads the 413, not a reset."""
    server = serve(max_body=1000)
    out = raw(server, b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
                      + b"x" * 100_000)
    assert out.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in out


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
    assert b"connection: keep-alive" in out.lower()


def test_head_answer_has_headers_but_no_body(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"hello"]

    server = serve(app, keep_alive=True)
    out = raw(server, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK") == 2 and out.endswith(b"\r\n\r\nhello")


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


def test_an_app_that_fails_gets_a_500(serve, caplog):
    def broken(environ, start_response):
        raise RuntimeError("boom")

    server = serve(broken)
    out = raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 500 ")
    assert "RuntimeError: boom" in caplog.text  # waitress logs it


def test_close_runs_after_the_client_has_read_the_answer(serve):
    """The app's close() (Flask's call_on_close: "answered") runs once its whole answer is in
    the socket, and before the connection's next request is served."""
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
    err, deadline = "", time.monotonic() + 5
    while '"GET /logged?q=1 HTTP/1.1" 200' not in err and time.monotonic() < deadline:
        err += capsys.readouterr().err  # the line is written after the answer: poll for it
        time.sleep(0.01)
    assert '"GET /logged?q=1 HTTP/1.1" 200' in err


def test_close_waits_until_the_whole_answer_is_handed_to_the_socket(serve):
    """The rule reports depend on: close() runs once all of the answer is in the kernel's
    hands, not while part of it still waits in the server. An answer larger than the socket
    buffers cannot be handed over before the client reads."""
    body = b"x" * 8_000_000 + b"END"
    closed = threading.Event()

    class Answer:
        def __iter__(self):
            yield body

        def close(self) -> None:
            closed.set()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return Answer()

    server = serve(app)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert not closed.wait(0.3)  # the client has not read: most of the answer waits
        got = b""
        while chunk := sock.recv(1 << 20):
            got += chunk
    assert got.endswith(b"END") and closed.wait(5)


def test_settings_are_keywords_with_documented_defaults(serve):
    from fakemms.server import DEFAULTS, default_connection_limit

    server = serve(threads=3, connection_limit=50, idle_timeout=2.5, request_timeout=4.0,
                   max_body=10)
    assert server.settings == {"threads": 3, "connection_limit": 50, "idle_timeout": 2.5,
                               "request_timeout": 4.0, "max_body": 10,
                               "backlog": DEFAULTS["backlog"], "min_rate": DEFAULTS["min_rate"]}
    assert serve().settings == {**DEFAULTS, "connection_limit": default_connection_limit()}
    assert DEFAULTS["connection_limit"] is None  # the default follows the fd limit
    out = raw(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n" + b"x" * 11)
    assert out.startswith(b"HTTP/1.1 413 ")


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed ``sock`` (reading and dropping what it sends)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    while sock.recv(65536):
        pass
    return time.monotonic() - start


@pytest.mark.parametrize("sent", [
    b"",  # idle
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # idle after an answer (keep-alive)
    b"GET / HTTP/1.1\r\nHo",  # head stalled
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",  # body stalled
], ids=["idle", "keep-alive-idle", "head-stalled", "body-stalled"])
def test_idle_and_stalled_connections_are_closed(serve, sent):
    server = serve(idle_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(sent)
        assert closed_within(sock, 5) < 4


def test_a_request_that_drips_in_is_closed_at_request_timeout(serve):
    server = serve(idle_timeout=5, request_timeout=0.6)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        start = time.monotonic()
        for byte in b"GET / HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx":
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            if time.monotonic() - start > 4:
                break
            time.sleep(0.05)  # the slow client under test: a byte every 50 ms
        assert closed_within(sock, 5) + (time.monotonic() - start) < 4.5


def test_hundreds_of_idle_and_half_sent_connections_do_not_hold_up_a_send(serve):
    server = serve()
    threads_before = threading.active_count()
    held: list[socket.socket] = []
    try:
        for i in range(400):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"" if i % 2 else b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
            held.append(sock)
        start = time.monotonic()
        out = raw(server, b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                          b"Connection: close\r\n\r\nok")
        took = time.monotonic() - start
        threads_held = threading.active_count() - threads_before
    finally:
        for sock in held:
            sock.close()
    assert out.startswith(b"HTTP/1.1 200 ") and b'"body": "ok"' in out
    # a server holding a thread per connection would answer only after a read timeout (15 s+);
    # 2 s leaves room for a loaded 2-core machine running two test workers
    assert took < 2.0, took
    assert threads_held < 5  # connections hold no thread


def test_event_streams_do_not_take_the_threads_that_answer_sends(serve):
    """Each open event stream gets a worker thread of its own: with 2 threads and 6 streams
    open, a plain request is still answered at once, and every stream gets its event."""
    release = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/events":
            start_response("200 OK", [("Content-Type", "text/event-stream")])

            def gen():
                yield b": hello\n\n"
                release.wait(10)
                yield b"data: done\n\n"

            return gen()
        return echo_app(environ, start_response)

    server = serve(app, threads=2)
    streams = []
    try:
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", "/events")
            r = conn.getresponse()
            assert r.readline() == b": hello\n"
            streams.append((conn, r))
        start = time.monotonic()
        out = raw(server, b"GET /send HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 ") and time.monotonic() - start < 0.5
        release.set()
        for _conn, r in streams:
            assert r.readline() == b"\n" and r.readline() == b"data: done\n"
    finally:
        for conn, _r in streams:
            conn.close()


def test_stop_lets_a_request_in_flight_finish_and_joins_every_thread(serve):
    entered = threading.Event()

    def slow(environ, start_response):
        entered.set()
        time.sleep(0.3)  # the app under test is slow on purpose
        start_response("200 OK", [("Content-Length", "4")])
        return [b"done"]

    before = set(threading.enumerate())
    server = serve(slow, threads=3)
    result: list[bytes] = []
    client = threading.Thread(target=lambda: result.append(
        raw(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")))
    client.start()
    assert entered.wait(5)
    server.stop(timeout=5)
    client.join(5)
    assert result and result[0].endswith(b"\r\n\r\ndone")
    assert set(threading.enumerate()) <= before | {threading.current_thread()}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_stop_is_bounded_by_its_timeout(serve):
    hold = threading.Event()
    entered = threading.Event()

    def stuck(environ, start_response):
        entered.set()
        hold.wait(10)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    server = serve(stuck)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5)
        start = time.monotonic()
        server.stop(timeout=0.5)
        assert time.monotonic() - start < 1.5
    finally:
        hold.set()
        sock.close()


def test_the_config_files_http_section_reaches_the_server(tmp_path):
    """``fakemms serve`` and the plugin pass the config's ``http:`` settings to the server."""
    from fakemms.config import load_config

    path = tmp_path / "fakemms.yaml"
    path.write_text("http:\n  threads: 3\n  max_body: 100\n")
    config = load_config(path, env={})
    assert config["http"]["threads"] == 3 and config["http"]["idle_timeout"] == 15.0
    with ServerThread(echo_app, **config["http"]) as server:
        assert server.settings["threads"] == 3
        out = raw(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"
                          + b"x" * 101)
    assert out.startswith(b"HTTP/1.1 413 ")


def test_waitress_is_the_version_the_wrapper_was_written_for():
    """server.py subclasses waitress internals (its parser, chunked receiver, task, channel,
    server and dispatcher): only the pinned version is known to fit them."""
    from importlib.metadata import version

    from fakemms.server import WAITRESS_VERSION

    assert version("waitress") == WAITRESS_VERSION
    pinned = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert f'"waitress=={WAITRESS_VERSION}"' in pinned
