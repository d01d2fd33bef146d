"""The fake's HTTP server: waitress, embedded in process, behind a small wrapper that starts on
any port (0 = a free one), says when it is listening, and stops gracefully.

waitress does the HTTP/1.1 (docs/benchmarks.md has the comparison that chose it): a strict
parser, requests read asynchronously by one I/O thread (so idle and slow clients hold no worker
thread), large bodies spooled to disk, a fixed pool of worker threads. The wrapper adds:
- framing guards waitress leaves open: Content-Length together with chunked, Transfer-Encoding
  on HTTP/1.0 and folded header lines are refused with 400 and the connection closed;
- a deadline for a whole request to arrive (``request_timeout``) and a minimum rate for its
  body (``min_rate`` bytes/s once past its first ``MIN_RATE_GRACE`` seconds), beside
  waitress's inactivity timeout (``idle_timeout``): a body read by the app too slowly is
  answered 408, one still arriving in the I/O thread is closed;
- at most half the worker threads reading bodies (the large ones and those behind
  ``Expect: 100-continue`` are read by the app, see below); past that, the body is read by
  the I/O thread first, as waitress does, so a few slow clients cannot take every thread;
- at ``connection_limit`` the oldest idle keep-alive connections are closed to make room
  (as nginx does), where waitress would stop accepting; the default limit follows the
  file-descriptor limit (``default_connection_limit``);
- a chunk size beyond ``max_body`` is answered 413 at once;
- answers sent from the worker thread as soon as they are written, and the app's ``close()``
  (Flask's ``call_on_close``, which the fake takes as "answered": reports wait for it) only
  once the whole answer is in the socket: a delivery report never overtakes its 202;
- ``Expect: 100-continue`` with a Content-Length: the app runs on the headers and the 100 is
  sent when it first reads the body, so a request refused unread (401, 413) gets no 100;
- one more worker thread for each open event stream (``text/event-stream``), so streams never
  take the threads that answer sends;
- an access log unless ``quiet``; ``keep_alive=False`` answers every request with a close.

It subclasses waitress's internals (``HTTPRequestParser``, ``ChunkedReceiver``, ``WSGITask``,
``HTTPChannel``, ``TcpWSGIServer``, ``ThreadedTaskDispatcher`` and their attributes), so
waitress is pinned to the one version this was written and tested against (pyproject.toml;
``tests/test_server.py`` fails on another).
"""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask

from fakemms.config import HTTP_DEFAULTS as DEFAULTS
from fakemms.http_framing import (
    MIN_RATE_GRACE,
    ContinueBody,
    Request,
    Slots,
    TooSlow,
)
from fakemms.logs import redact_target

LINGER_SECONDS = 2.0  # a closing connection reads (and drops) what still arrives this long
MAX_HEAD = 64 * 1024  # request line and headers; more is answered 431
_ANSWERED = "fakemms.answered"  # environ key: the app's close(), run once the answer is out
WAITRESS_VERSION = "3.0.2"  # the version whose internals this module subclasses (pinned)


class _Quiet:
    """A logger stand-in: waitress warns on every queued task under load."""

    def warning(self, *args: Any, **kw: Any) -> None:
        pass


class _Dispatcher(ThreadedTaskDispatcher):
    """waitress's worker pool, with its threads kept so ``stop()`` can join them, and one
    extra thread while each event stream is open."""

    queue_logger = _Quiet()

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.base = threads
        self.streams = 0
        self.stream_lock = threading.Lock()
        self.thread_objects: list[threading.Thread] = []

    def start_new_thread(self, target: Any, thread_no: int) -> None:
        t = threading.Thread(target=target, name=f"fakemms-http-{thread_no}",
                             args=(thread_no,), daemon=True)
        self.thread_objects = [x for x in self.thread_objects if x.is_alive()] + [t]
        t.start()

    def streaming(self, delta: int) -> None:
        with self.stream_lock:
            self.streams += delta
            if self.base:  # 0 once stopping
                self.set_thread_count(self.base + self.streams)


class Task(WSGITask):
    """One request: the app's answer is sent from this thread as it is written; the app's
    close() runs once all of it is in the socket."""

    stream = False

    def get_environment(self) -> dict:
        environ = super().get_environment()
        request = self.request
        if request.deferred:
            environ["wsgi.input"] = ContinueBody(self, request)
        return environ

    def build_response_header(self) -> bytes:
        body = self.environ.get("wsgi.input") if self.environ else None
        if isinstance(body, ContinueBody) and (body.remaining or body.pending):
            self.set_close_on_finish()  # the rest of an unread body would be read as a request
        elif not self.channel.adj.keep_alive:
            self.set_close_on_finish()
        return super().build_response_header()

    def write(self, data: bytes) -> None:
        if not self.wrote_header and not self.stream:
            for name, value in self.response_headers:
                if name.lower() == "content-type" and value.startswith("text/event-stream"):
                    self.stream = self.channel.streaming = True
                    self.channel.server.task_dispatcher.streaming(+1)
        super().write(data)
        self.flush()

    def flush(self) -> bool:
        """Send what is buffered; whether all of it went."""
        channel = self.channel
        if channel.total_outbufs_len:
            with channel.outbuf_lock:
                channel._flush_exception(channel._flush_some, do_close=False)
        return not channel.total_outbufs_len

    def service(self) -> None:
        try:
            super().service()
            channel = self.channel
            deadline = time.monotonic() + channel.adj.channel_timeout
            while not self.flush() and channel.connected and time.monotonic() < deadline:
                select.select([], [channel.socket], [], 0.05)
        finally:
            if self.request.holds_slot:
                self.request.holds_slot = False
                self.channel.adj.body_slots.give()
            environ = self.environ or {}
            answered = environ.pop(_ANSWERED, None)
            if answered is not None:
                try:
                    answered()
                except Exception:
                    self.logger.exception("Exception closing the answer to %s", self.request.path)
            if self.stream:
                self.channel.streaming = False
                self.channel.server.task_dispatcher.streaming(-1)
            if not self.channel.server.quiet:
                self._log(environ)

    def _log(self, environ: dict) -> None:
        target = redact_target(environ.get("REQUEST_URI") or "")  # no password in a log line
        line = (f'{environ.get("REMOTE_ADDR", "-")} - - [{time.strftime("%d/%b/%Y %H:%M:%S")}] '
                f'"{environ.get("REQUEST_METHOD")} {target} '
                f'{environ.get("SERVER_PROTOCOL")}" {self.status.split(" ", 1)[0]} '
                f'{self.content_bytes_written or "-"}\n')
        try:
            sys.stderr.write(line)
        except (OSError, ValueError):
            pass


class _Channel(HTTPChannel):
    """One connection. Its close lingers: stop sending, read and drop what the client still
    sends for LINGER_SECONDS, so an answer that refused a request (400, 413, 431) reaches a
    client still sending instead of a reset (RFC 9112, 9.6)."""

    parser_class = Request
    task_class = Task
    streaming = False  # serving an event stream (stop() does not wait for it to end)
    lingering = 0.0  # monotonic deadline of the lingering close, once started
    reclaimed = False  # an idle keep-alive connection closed to make room: no linger
    connected: bool  # waitress's, untyped there

    def handle_close(self) -> None:
        if self.lingering or not self.connected or self.server.stopping or self.reclaimed:
            return super().handle_close()
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            return super().handle_close()
        self.lingering = time.monotonic() + LINGER_SECONDS
        with self.outbuf_lock:  # as waitress's close does, so tasks see a gone client
            for outbuf in self.outbufs:
                outbuf.close()
            self.total_outbufs_len = 0
            self.connected = False
            self.outbuf_lock.notify()

    def readable(self) -> bool:
        return True if self.lingering else super().readable()

    def writable(self) -> bool:
        return False if self.lingering else super().writable()

    def handle_read(self) -> None:
        if not self.lingering:
            return super().handle_read()
        try:
            self.recv(65536)  # dropped; on EOF or an error recv() calls handle_close()
        except OSError:
            super().handle_close()


class _Server(TcpWSGIServer):
    channel_class = _Channel
    quiet = True
    stopping = False

    def readable(self) -> bool:
        if self.accepting and len(self._map) >= self.adj.connection_limit:
            self._reclaim(len(self._map) - self.adj.connection_limit + 1)
        return bool(super().readable())

    def _reclaim(self, wanted: int) -> None:
        """Close the oldest idle keep-alive connections (no request under way or arriving,
        no event stream), at least ``wanted`` and a twentieth of the limit at once, so a
        client that keeps every connection it opens cannot stop the server accepting."""
        idle = [ch for ch in self.active_channels.values()
                if not ch.requests and ch.request is None and not ch.streaming
                and not ch.lingering and not ch.will_close and ch.connected]
        idle.sort(key=lambda ch: ch.last_activity)
        for channel in idle[:max(wanted, self.adj.connection_limit // 20)]:
            channel.reclaimed = True
            channel.will_close = True  # closed by the loop's next pass (handle_write)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        mono = time.monotonic()
        cutoff = mono - self.adj.request_timeout
        min_rate: float = self.adj.min_rate
        for channel in list(self.active_channels.values()):
            if channel.lingering:
                if channel.lingering < mono:
                    HTTPChannel.handle_close(channel)
                continue
            request = channel.request  # the request still arriving, if any
            if request is None or request.completed or channel.requests:
                continue
            elapsed = mono - request.started
            arrived = len(request.header_plus or b"") + request.body_bytes_received
            if request.started < cutoff or (min_rate and elapsed > MIN_RATE_GRACE
                                             and arrived < min_rate * elapsed):
                self._too_slow(channel, request)

    def _too_slow(self, channel: _Channel, request: Request) -> None:
        """Answer 408 to a request arriving too slowly in the I/O thread, then close."""
        with channel.requests_lock:
            if channel.request is not request or channel.requests:
                return
            request.error = TooSlow("the request did not arrive in time "
                                     "(http.request_timeout, http.min_rate)")
            request.headers.pop("CONNECTION", None)
            request.completed = True
            channel.request = None
            channel.requests.append(request)
        self.add_task(channel)


class _NoClose:
    """The app's answer, with its close() left to the task (run once the answer is out)."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def __iter__(self) -> Any:
        return iter(self.result)


class ServerThread:
    """Serve a WSGI app with waitress in a thread; ``start()`` returns once the socket listens.

    Settings (keywords; defaults and the config file's ``http:`` section in fakemms.config):
    ``threads`` worker threads run the app (one more per open event stream);
    ``connection_limit`` open connections at most (None: ``default_connection_limit()``); at
    the limit the oldest idle ones are closed to make room; ``idle_timeout`` seconds without
    traffic close a connection (idle keep-alive, stalled head or body); ``request_timeout``
    seconds for a request to arrive in full; ``min_rate`` bytes/s a body must average after
    its first ``MIN_RATE_GRACE`` seconds (0: no minimum); ``max_body`` bytes of request body,
    more are answered 413. ``keep_alive=False`` closes every connection after its answer.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, quiet: bool = True,
                 keep_alive: bool | None = None, *, threads: int | None = None,
                 connection_limit: int | None = None, idle_timeout: float | None = None,
                 request_timeout: float | None = None, max_body: int | None = None,
                 backlog: int | None = None, min_rate: float | None = None) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.quiet = quiet
        self.keep_alive = True if keep_alive is None else keep_alive
        given = {"threads": threads, "connection_limit": connection_limit,
                 "idle_timeout": idle_timeout, "request_timeout": request_timeout,
                 "max_body": max_body, "backlog": backlog, "min_rate": min_rate}
        self.settings: dict[str, Any] = {k: DEFAULTS[k] if v is None else v
                                         for k, v in given.items()}
        if self.settings["connection_limit"] is None:
            self.settings["connection_limit"] = default_connection_limit()
        self._server: _Server | None = None
        self._map: dict = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._port = 0

    # --- lifecycle --------------------------------------------------------------------------
    def _bind(self) -> None:
        s = self.settings
        adj = Adjustments(
            host=self.host.strip("[]"), port=self.requested_port, threads=s["threads"],
            connection_limit=s["connection_limit"], channel_timeout=s["idle_timeout"],
            cleanup_interval=max(0.2, min(s["idle_timeout"], s["request_timeout"]) / 4),
            max_request_body_size=s["max_body"] + 1, backlog=s["backlog"],
            max_request_header_size=MAX_HEAD,
            asyncore_use_poll=True, ident="", server_name=self.host.strip("[]"),
            clear_untrusted_proxy_headers=False, log_socket_errors=False,
            expose_tracebacks=False)
        adj.request_timeout = s["request_timeout"]
        adj.min_rate = float(s["min_rate"])
        adj.body_slots = Slots(max(1, s["threads"] // 2))
        adj.keep_alive = self.keep_alive
        adj.send_bytes = 1 << 16  # the task flushes once per write: head and body in one send
        self._map = {}
        dispatcher = _Dispatcher(s["threads"])
        server = _Server(self._wrap, map=self._map, dispatcher=dispatcher, adj=adj)
        server.quiet = self.quiet
        dispatcher.set_thread_count(s["threads"])
        self._server = server
        self._port = int(server.effective_port)
        self._stopping.clear()
        self._stopped.clear()

    def _wrap(self, environ: dict, start_response: Any) -> Any:
        result = self.app(environ, start_response)
        close = getattr(result, "close", None)
        if close is None:
            return result
        environ[_ANSWERED] = close
        return _NoClose(result)

    def start(self) -> ServerThread:
        self._bind()
        self._thread = threading.Thread(target=self._loop, name=f"fakemms-http-io-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None or self._port, "server not started"
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
        if self._server is None:
            self._bind()
        self._loop()

    def _loop(self) -> None:
        """The I/O thread: waitress's event loop until ``stop()``."""
        server = self._server
        assert server is not None
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, use_poll=True,
                               map=self._map, count=1)
        finally:
            self._stopped.set()

    def _in_loop(self, fn: Any) -> None:
        """Run ``fn`` in the I/O thread (the socket map is its own)."""
        if self._server is not None and not self._stopped.is_set():
            self._server.trigger.pull_trigger(fn)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (``timeout`` seconds at most), close
        every connection, and join every thread the server started."""
        server = self._server
        if server is None:
            return
        deadline = time.monotonic() + timeout
        dispatcher: _Dispatcher = server.task_dispatcher
        server.stopping = True
        self._in_loop(lambda: wasyncore.dispatcher.close(server))  # the listener only
        running = self._thread is not None and self._thread.is_alive()
        while running and time.monotonic() < deadline and any(
                ch.requests and not ch.streaming for ch in list(server.active_channels.values())):
            time.sleep(0.01)

        # event streams notice a stop only at their next event or keep-alive: end them now
        end_streams = getattr(self.app, "end_streams", None)
        if callable(end_streams):
            end_streams()

        def close_all() -> None:
            for channel in list(server.active_channels.values()):
                channel.handle_close()

        self._in_loop(close_all)
        with dispatcher.stream_lock:
            dispatcher.base = 0
        dispatcher.shutdown(cancel_pending=True, timeout=max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        self._in_loop(lambda: None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(0.1, deadline - time.monotonic()))
        for t in dispatcher.thread_objects:
            if t is not threading.current_thread():
                t.join(max(0.1, deadline - time.monotonic()))
        wasyncore.close_all(self._map, ignore_all=True)
        self._thread = None
        self._server = None
        # then the app, when it has a close(): the fake's backend stops and joins its threads
        # (callback attempts in flight get what is left of ``timeout``)
        close = getattr(self.app, "close", None)
        if callable(close):
            close(max(0.1, deadline - time.monotonic()))

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_connection_limit() -> int:
    """Open connections the process can hold: the soft file-descriptor limit less headroom
    for the rest (the state file, callbacks, remote fetches, logs): a tenth, at least 64."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1000
    if soft == resource.RLIM_INFINITY or soft > 1 << 20:
        soft = 1 << 20
    return max(16, soft - max(64, soft // 10))


def raise_fd_limit() -> int:
    """Raise the soft file-descriptor limit to the hard one (``fakemms serve`` and the image:
    the in-process fixture leaves the test process's limits alone); the soft limit after."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, OSError, ValueError):
        return -1
