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

import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments

from fakemms.config import HTTP_DEFAULTS as DEFAULTS
from fakemms.http_connections import ANSWERED, NoClose, Server, WorkerPool
from fakemms.http_framing import Slots

MAX_HEAD = 64 * 1024  # request line and headers; more is answered 431
WAITRESS_VERSION = "3.0.2"  # the version whose internals this module subclasses (pinned)


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
        self._server: Server | None = None
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
        dispatcher = WorkerPool(s["threads"])
        server = Server(self._wrap, map=self._map, dispatcher=dispatcher, adj=adj)
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
        environ[ANSWERED] = close
        return NoClose(result)

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
        dispatcher: WorkerPool = server.task_dispatcher
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
