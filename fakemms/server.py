"""The fake's HTTP/1.1 server: a small threaded WSGI server that starts on any port (0 = a free
one) and says when it is ready. Standard library only.

One thread per open connection (threads are reused for later connections): the thread that
reads a request also runs the app and writes the answer, so a request costs no hand-off between
threads. That, and parsing little, is what makes it cheaper per request than werkzeug's
development server, waitress, cheroot or gunicorn on the send path (bench/send.py,
docs/benchmarks.md). It speaks: persistent connections when ``keep_alive`` (HTTP/1.1, and
HTTP/1.0 ``Connection: keep-alive``) with pipelining, ``Content-Length`` and chunked request
bodies, ``Expect: 100-continue``, streamed answers (chunked when the app gives no length: the
event stream), HEAD, 4xx/5xx for malformed requests, and a lingering close when a request body
was left unread (a 413 reaches the client instead of a reset).

The app's ``close()`` (Flask's ``call_on_close``, which the fake takes as "answered") runs once
the client has shown it has the answer: its next request or its close, 20 ms at most.
"""

from __future__ import annotations

import errno
import heapq
import io
import itertools
import queue
import select
import selectors
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

MAX_HEAD = 64 * 1024  # request line and headers
EAGER_BODY = 1024 * 1024  # a body up to this size is read before the app runs
MAX_CHUNKED_BODY = 256 * 1024 * 1024  # a chunked body is decoded before the app runs
DRAIN_LIMIT = 1024 * 1024  # an unread rest up to this size is read to keep the connection
LINGER_SECONDS = 2.0  # how long a lingering close reads what the client still sends
ANSWERED_GRACE_MS = 20  # at most this long before the app's close() after an answer
ANSWERED_SETTLE_SECONDS = 0.01  # and this long after the client closed its connection
WORKER_IDLE_SECONDS = 10.0  # a connection thread with nothing to do for this long ends

_REASONS = {400: "Bad Request", 413: "Content Too Large", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented",
            505: "HTTP Version Not Supported"}


class _HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Closed(ConnectionError):
    """The client went away (or never sent a whole request)."""


class _Reader:
    """Buffered reads from one socket."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def head(self) -> bytes | None:
        """The bytes up to the blank line that ends the headers; None on a clean close."""
        buf = self.buf
        while True:
            if buf[:1] in (b"\r", b"\n"):  # empty lines before a request line are ignored
                buf = buf.lstrip(b"\r\n")
            end = buf.find(b"\r\n\r\n")
            size = 4
            if end < 0:
                end = buf.find(b"\n\n")
                size = 2
            if end > MAX_HEAD or (end < 0 and len(buf) > MAX_HEAD):
                self.buf = b""
                raise _HttpError(431, "request headers too large")
            if end >= 0:
                self.buf = buf[end + size:]
                return buf[:end]
            data = self.sock.recv(65536)
            if not data:
                self.buf = b""
                if buf.strip():
                    raise _Closed()
                return None
            buf += data

    def exactly(self, n: int) -> bytes:
        buf = self.buf
        if len(buf) >= n:
            self.buf = buf[n:]
            return buf[:n]
        pieces = [buf]
        have = len(buf)
        self.buf = b""
        while have < n:
            data = self.sock.recv(min(n - have, 1024 * 1024))
            if not data:
                raise _Closed()
            pieces.append(data)
            have += len(data)
        return b"".join(pieces)

    def line(self, limit: int = MAX_HEAD) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line, self.buf = self.buf[:end + 1], self.buf[end + 1:]
                return line
            if len(self.buf) > limit:
                raise _HttpError(400, "line too long in a chunked body")
            data = self.sock.recv(65536)
            if not data:
                raise _Closed()
            self.buf += data

    def into(self, b: Any, limit: int) -> int:
        """Up to ``limit`` bytes into ``b``: what is buffered first, else one recv."""
        view = memoryview(b).cast("B")
        n = min(len(view), limit)
        if self.buf:
            n = min(n, len(self.buf))
            view[:n] = self.buf[:n]
            self.buf = self.buf[n:]
            return n
        return self.sock.recv_into(view, n)


class _SocketBody(io.RawIOBase):
    """``wsgi.input`` for a large body or one behind ``Expect: 100-continue``: read from the
    socket only when the app asks (so a 413 or 401 need not wait for the body)."""

    def __init__(self, reader: _Reader, length: int, send_continue: Callable[[], None] | None):
        self.reader = reader
        self.remaining = length
        self.send_continue = send_continue

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.remaining <= 0:
            return 0
        if self.send_continue is not None:
            self.send_continue()
            self.send_continue = None
        n = self.reader.into(b, self.remaining)
        if n <= 0:
            raise _Closed()
        self.remaining -= n
        return n

    def read(self, size: int | None = -1) -> bytes:
        """Like a buffered file: ``size`` bytes unless the body ends first."""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            got += self.readinto(view[got:])
        return bytes(buf)

    def readall(self) -> bytes:
        return self.read()


def _peer_closed(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except OSError:  # nothing to read after all, or the connection is gone
        return False


def _call(fn: Callable[[], None] | None) -> None:
    if fn is not None:
        try:
            fn()
        except Exception:
            traceback.print_exc()


class _Answered:
    """One answer's close(), to run once: by its connection's thread or by the closer."""

    __slots__ = ("fns", "done")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fns = [fn]  # list.pop() claims it atomically
        self.done: threading.Event | None = None  # set by the closer when it ran it


class _Closer:
    """Runs an answer's close() ANSWERED_GRACE_MS after the answer unless its connection's
    thread claimed it first (the client came back with its next request, or closed): the
    connection's thread then waits for the next request in one blocking recv."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, fn: Callable[[], None]) -> _Answered:
        item = _Answered(fn)
        due = time.monotonic() + ANSWERED_GRACE_MS / 1000
        with self._cond:
            if self._stopped:  # the server stopped: run it now, start no thread
                item.fns.pop()
                _call(fn)
                return item
            heapq.heappush(self._heap, (due, next(self._seq), item))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fakemms-http-answered",
                                                daemon=True)
                self._thread.start()
            elif len(self._heap) == 1:
                self._cond.notify()
        return item

    @staticmethod
    def claim(item: _Answered, settle: bool = False) -> None:
        try:
            fn = item.fns.pop()
        except IndexError:  # the closer has it: let it finish first (close N before N+1)
            if item.done is not None:
                item.done.wait(5)
            return
        if settle:
            time.sleep(ANSWERED_SETTLE_SECONDS)
        _call(fn)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        heap = self._heap
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    while heap and not heap[0][2].fns:
                        heapq.heappop(heap)  # claimed by its connection
                    if not heap:
                        self._cond.wait()
                        continue
                    delay = heap[0][0] - time.monotonic()
                    if delay <= 0:
                        item = heapq.heappop(heap)[2]
                        break
                    self._cond.wait(delay)
            item.done = threading.Event()
            try:
                fn = item.fns.pop()
            except IndexError:
                continue
            _call(fn)
            item.done.set()


_date_cache: list = [0, ""]


def _date() -> str:
    """The Date header's value, formatted once a second."""
    now = int(time.time())
    cache = _date_cache
    if cache[0] != now:
        cache[1] = formatdate(now, usegmt=True)
        cache[0] = now
    return cache[1]


class ServerThread:
    """Serve a WSGI app in a daemon thread; ``start()`` returns once the socket listens.

    ``keep_alive``: serve more than one request per connection (HTTP/1.1 persistence), the
    default. Off, every answer says ``Connection: close``, as werkzeug's development server (the
    fake's server before) always did; docs/benchmarks.md shows what keep-alive is worth. With it
    on, a test that leaves an ``http.client`` connection (or a ``requests.Session``) open holds a
    socket until it is collected: close it, or pytest's ResourceWarning filter may complain.
    """

    keep_alive = True

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 quiet: bool = True, keep_alive: bool | None = None) -> None:
        self.app = app
        if keep_alive is not None:
            self.keep_alive = keep_alive
        self.host = host
        self.requested_port = port
        self.quiet = quiet
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers = 0  # connection threads alive
        self._idle = 0  # of which waiting for a connection (less those one is on its way to)
        self._closer = _Closer()
        self._port = 0

    # --- lifecycle --------------------------------------------------------------------------
    def _bind(self) -> None:
        host = self.host
        if ":" in host:
            family = socket.AF_INET6
            dualstack = host.strip("[]") == "::" and socket.has_dualstack_ipv6()
            host = host.strip("[]")
        else:
            family, dualstack = socket.AF_INET, False
        listener = socket.create_server((host, self.requested_port), family=family,
                                        backlog=1024, dualstack_ipv6=dualstack)
        listener.setblocking(False)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._queue = queue.SimpleQueue()
        self._closer = _Closer()
        self._stopping.clear()

    def start(self) -> ServerThread:
        self._bind()
        self._thread = threading.Thread(target=self._accept_loop,
                                        name=f"fakemms-http-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._listener is not None or self._port, "server not started"
        return self._port

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host.strip('[]')}]"
        if host in ("0.0.0.0", "[::]", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Block in the calling thread until ``stop()`` (``fakemms serve``)."""
        if self._thread is not None:
            self._thread.join()
            return
        if self._listener is None:
            self._bind()
        self._accept_loop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, then close the app (``app.close(timeout)``, when it has one: the
        fake's backend stops and joins its threads)."""
        self._stop_serving()
        close = getattr(self.app, "close", None)
        if callable(close):
            close(timeout)

    def _stop_serving(self) -> None:
        self._stopping.set()
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = self._wake_r = self._wake_w = None
        with self._lock:
            connections = list(self._connections)
            workers, self._workers, self._idle = self._workers, 0, 0
        for _ in range(workers):
            self._queue.put(None)
        self._closer.stop()
        for conn in connections:  # wakes threads waiting in recv; they close their socket
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake_r
        assert listener is not None and wake is not None
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is wake or self._stopping.is_set():
                        return
                    try:
                        conn, addr = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:
                        if self._stopping.is_set():
                            return
                        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                                         errno.ENOMEM):
                            time.sleep(0.05)
                        continue
                    conn.setblocking(True)
                    try:
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    except OSError:
                        pass
                    self._dispatch(conn, addr)

    # --- connection threads: one per open connection, reused for the next ones -------------
    def _dispatch(self, conn: socket.socket, addr: Any) -> None:
        with self._lock:
            self._connections.add(conn)
            spawn = self._idle == 0
            if spawn:
                self._workers += 1
            else:
                self._idle -= 1  # that idle thread takes this connection
        self._queue.put((conn, addr))
        if spawn:
            threading.Thread(target=self._worker, args=(self._queue,),
                             name="fakemms-http-conn", daemon=True).start()

    def _worker(self, jobs: queue.SimpleQueue) -> None:
        while True:
            try:
                job = jobs.get(timeout=WORKER_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # no connection is on its way to an idle thread
                        self._idle -= 1
                        self._workers -= 1
                        return
                continue
            if job is None:  # stop()
                return
            self._connection(*job)
            with self._lock:
                self._idle += 1

    # --- one connection ---------------------------------------------------------------------
    def _connection(self, conn: socket.socket, addr: Any) -> None:
        try:
            self._serve_connection(conn, addr)
        except (_Closed, OSError):
            pass
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _serve_connection(self, conn: socket.socket, addr: Any) -> None:
        reader = _Reader(conn)
        poller = select.poll()
        poller.register(conn, select.POLLIN)
        base = {
            "SCRIPT_NAME": "",
            "SERVER_NAME": self.host,
            "SERVER_PORT": str(self.port),
            "REMOTE_ADDR": str(addr[0]),
            "REMOTE_PORT": str(addr[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        pending: _Answered | None = None  # the last answer's close(), until the client is back
        while True:
            head: bytes | None = None
            try:
                head = reader.head()
            except _HttpError as exc:
                self._simple_answer(conn, exc.status, exc.detail)
                self._linger(conn)
                return
            finally:
                if pending is not None:
                    # the client is back (its next request) or gone: the answer was read
                    self._closer.claim(pending, settle=head is None)
                    pending = None
            if head is None:
                return
            try:
                environ, keep_alive = self._parse(head, base, reader, conn)
            except _HttpError as exc:
                self._simple_answer(conn, exc.status, exc.detail)
                self._linger(conn)
                return
            may_keep, close_result = self._run_app(conn, environ, keep_alive)
            keep_alive = keep_alive and may_keep
            body = environ["wsgi.input"]
            if isinstance(body, _SocketBody) and body.remaining > 0:
                # The app left (part of) the body unread: read a small rest to keep the
                # connection, else say goodbye without resetting the client.
                if body.send_continue is None and body.remaining <= DRAIN_LIMIT:
                    try:
                        reader.exactly(body.remaining)
                    except BaseException:
                        _call(close_result)
                        raise
                else:
                    keep_alive = False
            if keep_alive:
                # The app's close() (Flask's call_on_close) says "answered": it runs when the
                # client shows it has read the answer (its next request, or its close), or
                # ANSWERED_GRACE_MS after the answer, so that nothing the app starts then (a
                # delivery report) reaches the client's side before the answer does.
                if close_result is not None:
                    if reader.buf:  # pipelined: the next request proves nothing
                        _call(close_result)
                    else:
                        pending = self._closer.add(close_result)
                continue
            peer_closed = False
            try:
                conn.shutdown(socket.SHUT_WR)
                if close_result is not None and not reader.buf:
                    # A close comes as the client reads the last byte, before it acts on
                    # the answer: give it a moment more then.
                    if poller.poll(ANSWERED_GRACE_MS) and _peer_closed(conn):
                        peer_closed = True
                        time.sleep(ANSWERED_SETTLE_SECONDS)
            finally:
                _call(close_result)
            if not peer_closed:
                self._linger(conn)
            return

    def _parse(self, head: bytes, base: dict, reader: _Reader, conn: socket.socket
               ) -> tuple[dict, bool]:
        """The WSGI environ of one request (its body read or ready to read) and whether the
        connection may stay open after the answer."""
        text = head.decode("latin-1")
        lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
        request_line = lines[0]
        parts = request_line.split(" ")
        if len(parts) != 3:
            raise _HttpError(400, f"bad request line {request_line[:100]!r}")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            if version.startswith("HTTP/") and version[5:6].isdigit():
                raise _HttpError(505, f"{version} is not supported")
            raise _HttpError(400, f"bad request line {request_line[:100]!r}")
        if not method.isascii() or not method.isprintable() or not target:
            raise _HttpError(400, f"bad request line {request_line[:100]!r}")

        environ = dict(base)
        if target[0] == "/":
            raw_path, _, query = target.partition("?")
        elif target == "*":
            raw_path, query = "*", ""
        else:  # absolute form, as sent to proxies
            split = urlsplit(target)
            if not split.scheme:
                raise _HttpError(400, f"bad request target {target[:100]!r}")
            raw_path, query = split.path or "/", split.query
        if "%" in raw_path:
            raw_path = unquote_to_bytes(raw_path.encode("latin-1")).decode("latin-1")
        environ["REQUEST_METHOD"] = method
        environ["PATH_INFO"] = raw_path
        environ["QUERY_STRING"] = query
        environ["REQUEST_URI"] = environ["RAW_URI"] = target
        environ["SERVER_PROTOCOL"] = version

        for line in lines[1:]:
            if not line:
                continue
            if line[0] in " \t":
                raise _HttpError(400, "obsolete line folding in the headers")
            name, sep, value = line.partition(":")
            if not sep or not name or name[-1] in " \t":
                raise _HttpError(400, f"bad header line {line[:100]!r}")
            if "_" in name:
                continue  # would be confused with a dash-named header in the environ
            key = name.upper().replace("-", "_")
            value = value.strip(" \t\r")
            if key != "CONTENT_TYPE" and key != "CONTENT_LENGTH":
                key = "HTTP_" + key
            if key in environ:
                if key == "CONTENT_LENGTH":
                    if environ[key] != value:
                        raise _HttpError(400, "conflicting Content-Length headers")
                    continue
                value = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + value
            environ[key] = value

        connection = environ.get("HTTP_CONNECTION", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection and self.keep_alive
        else:
            keep_alive = "keep-alive" in connection and self.keep_alive

        expect = environ.get("HTTP_EXPECT", "").lower() == "100-continue" \
            and version == "HTTP/1.1"

        def send_continue() -> None:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

        te = environ.get("HTTP_TRANSFER_ENCODING")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise _HttpError(501, f"Transfer-Encoding {te!r} is not supported")
            if expect:
                send_continue()
            framed_twice = "CONTENT_LENGTH" in environ
            data = self._read_chunked(reader)
            environ.pop("HTTP_TRANSFER_ENCODING")
            environ["CONTENT_LENGTH"] = str(len(data))
            environ["wsgi.input"] = io.BytesIO(data)
            # a body framed both ways is suspicious: answer, then close (RFC 9112, 6.3)
            return environ, keep_alive and not framed_twice
        length_text = environ.get("CONTENT_LENGTH")
        if length_text:
            if not length_text.isdigit():
                raise _HttpError(400, f"bad Content-Length {length_text[:30]!r}")
            length = int(length_text)
            if length <= EAGER_BODY and not expect:
                environ["wsgi.input"] = io.BytesIO(reader.exactly(length) if length else b"")
            else:
                environ["wsgi.input"] = _SocketBody(reader, length,
                                                    send_continue if expect else None)
        else:
            environ["wsgi.input"] = io.BytesIO(b"")
        return environ, keep_alive

    def _read_chunked(self, reader: _Reader) -> bytes:
        pieces: list[bytes] = []
        total = 0
        while True:
            line = reader.line()
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _HttpError(400, "bad chunk size in a chunked body") from None
            if size < 0:
                raise _HttpError(400, "bad chunk size in a chunked body")
            if size == 0:
                while reader.line().strip():  # trailers, ignored
                    pass
                return b"".join(pieces)
            total += size
            if total > MAX_CHUNKED_BODY:
                raise _HttpError(413, "chunked body too large")
            pieces.append(reader.exactly(size))
            if reader.exactly(2).strip(b"\r\n"):
                raise _HttpError(400, "chunk not followed by a line break")

    def _run_app(self, conn: socket.socket, environ: dict, keep_alive: bool
                 ) -> tuple[bool, Callable[[], None] | None]:
        """Call the app and write its answer. Whether the connection may stay open, and the
        close() of the app's iterable, for the caller to call."""
        method = environ["REQUEST_METHOD"]
        http10 = environ["SERVER_PROTOCOL"] == "HTTP/1.0"
        state: dict[str, Any] = {"status": None, "headers": None, "sent": False,
                                 "chunked": False, "close": not keep_alive, "no_body": False,
                                 "size": 0}

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info:
                try:
                    if state["sent"]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state["status"] is not None:
                raise AssertionError("start_response called twice without exc_info")
            state["status"] = status
            state["headers"] = headers
            return write

        def send_head(first: bytes, length_known: int | None) -> None:
            status = state["status"]
            if status is None:
                raise AssertionError("the app returned before calling start_response")
            code = int(status[:3])
            no_body = method == "HEAD" or code < 200 or code in (204, 304)
            has_length = has_te = has_date = has_connection = False
            for name, value in state["headers"]:
                lower = name.lower()
                if lower == "content-length":
                    has_length = True
                elif lower == "transfer-encoding":
                    has_te = True
                elif lower == "connection":
                    has_connection = True
                    if "close" in value.lower():
                        state["close"] = True
                elif lower == "date":
                    has_date = True
            out = [f"HTTP/1.1 {status}\r\n"]
            out.extend(f"{name}: {value}\r\n" for name, value in state["headers"])
            if not has_date:
                out.append(f"Date: {_date()}\r\n")
            if not no_body and not has_length and not has_te:
                if length_known is not None:
                    out.append(f"Content-Length: {length_known}\r\n")
                elif http10:
                    state["close"] = True  # the end of the body is the end of the connection
                else:
                    out.append("Transfer-Encoding: chunked\r\n")
                    state["chunked"] = True
            if has_connection:
                pass
            elif state["close"]:
                out.append("Connection: close\r\n")
            elif http10:
                out.append("Connection: keep-alive\r\n")
            out.append("\r\n")
            state["sent"] = True
            state["no_body"] = no_body
            head = "".join(out).encode("latin-1")
            if no_body or not first:
                conn.sendall(head)
            elif state["chunked"]:
                conn.sendall(head + b"%x\r\n" % len(first) + first + b"\r\n")
            else:
                conn.sendall(head + first)
            state["size"] += 0 if no_body else len(first)

        def write(data: bytes) -> None:
            if not state["sent"]:
                send_head(data, None)
                return
            if state["no_body"] or not data:
                return
            if state["chunked"]:
                conn.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                conn.sendall(data)
            state["size"] += len(data)

        result: Iterable[bytes] | None = None
        try:
            result = self.app(environ, start_response)
            if isinstance(result, (list, tuple)) and not state["sent"]:
                data = b"".join(result)
                send_head(data, len(data))
            else:
                for data in result:
                    if data:
                        write(data)
                if not state["sent"]:
                    send_head(b"", 0)
            if state["chunked"]:
                conn.sendall(b"0\r\n\r\n")
        except OSError:  # the client went away
            return False, getattr(result, "close", None)
        except Exception:
            print(f"fakemms: error on request {method} {environ.get('RAW_URI')}",
                  file=sys.stderr)
            traceback.print_exc()
            if not state["sent"]:
                state["status"] = "500 Internal Server Error"
                self._simple_answer(conn, 500, "Internal Server Error")
            return False, getattr(result, "close", None)
        finally:
            if not self.quiet:
                self._log(environ, state)
        return not state["close"], getattr(result, "close", None)

    # --- helpers ----------------------------------------------------------------------------
    def _simple_answer(self, conn: socket.socket, status: int, detail: str) -> None:
        body = f"{status} {_REASONS.get(status, '')}: {detail}\n".encode("latin-1", "replace")
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                f"Date: {_date()}\r\nConnection: close\r\n\r\n")
        try:
            conn.sendall(head.encode("latin-1") + body)
        except OSError:
            pass

    @staticmethod
    def _linger(conn: socket.socket) -> None:
        """Close without a reset: stop sending, read what the client still sends (briefly)."""
        try:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.settimeout(0.05)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline:
                if not conn.recv(1024 * 1024):
                    break
        except OSError:
            pass

    def _log(self, environ: dict, state: dict) -> None:
        status = (state["status"] or "-").split(" ", 1)[0]
        line = (f'{environ.get("REMOTE_ADDR", "-")} - - [{time.strftime("%d/%b/%Y %H:%M:%S")}] '
                f'"{environ.get("REQUEST_METHOD")} {environ.get("RAW_URI")} '
                f'{environ.get("SERVER_PROTOCOL")}" {status} {state["size"] or "-"}\n')
        try:
            sys.stderr.write(line)
        except (OSError, ValueError):
            pass
