"""The server's connections and tasks (a part of ``fakemms.server``): waitress's worker pool
with joinable threads and one more per event stream, a task that sends the answer as it is
written and runs the app's close() once all of it is in the socket, a channel whose close
lingers, and a server that enforces request deadlines and reclaims idle connections at its
limit. The subclassed internals are waitress 3.0.2's (pinned)."""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask

from fakemms.http_framing import MIN_RATE_GRACE, ContinueBody, Request, TooSlow
from fakemms.logs import redact_target

LINGER_SECONDS = 2.0  # a closing connection reads (and drops) what still arrives this long
ANSWERED = "fakemms.answered"  # environ key: the app's close(), run once the answer is out


class _Quiet:
    """A logger stand-in: waitress warns on every queued task under load."""

    def warning(self, *args: Any, **kw: Any) -> None:
        pass


class WorkerPool(ThreadedTaskDispatcher):
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
            answered = environ.pop(ANSWERED, None)
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


class Channel(HTTPChannel):
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


class Server(TcpWSGIServer):
    channel_class = Channel
    quiet = True
    stopping = False

    closed_now = False  # maintenance closed a connection during this poll turn

    def readable(self) -> bool:
        if self.accepting and len(self._map) >= self.adj.connection_limit:
            self._reclaim(len(self._map) - self.adj.connection_limit + 1)
        self.closed_now = False
        ready = bool(super().readable())  # runs maintenance() when its interval is up
        # a connection closed while this turn's poll is being set up frees its fd number; an
        # accept in the same turn could take it and be handed the old socket's poll events
        # (a hang-up), closing the new connection unanswered: accept on the next turn instead
        return ready and not self.closed_now

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
                    self.closed_now = True
                continue
            request = channel.request  # the request still arriving, if any
            if request is None or request.completed or channel.requests:
                continue
            elapsed = mono - request.started
            arrived = len(request.header_plus or b"") + request.body_bytes_received
            if request.started < cutoff or (min_rate and elapsed > MIN_RATE_GRACE
                                             and arrived < min_rate * elapsed):
                self._too_slow(channel, request)

    def _too_slow(self, channel: Channel, request: Request) -> None:
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


class NoClose:
    """The app's answer, with its close() left to the task (run once the answer is out)."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def __iter__(self) -> Any:
        return iter(self.result)
