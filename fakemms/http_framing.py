"""How the server reads a request (a part of ``fakemms.server``): waitress's parser made
stricter where its framing is lenient, its chunked body bounded, and the body the app reads
itself (large, or behind ``Expect: 100-continue``) with the whole request's deadline and a
minimum rate. The subclassed internals are waitress 3.0.2's (pinned)."""

from __future__ import annotations

import io
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from waitress.adjustments import Adjustments
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.receiver import ChunkedReceiver
from waitress.utilities import BadRequest, Error, RequestEntityTooLarge
from werkzeug.exceptions import RequestTimeout

if TYPE_CHECKING:
    from fakemms.http_connections import Task

EAGER_BODY = 1024 * 1024  # larger Content-Length bodies are read as the app asks
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MIN_RATE_GRACE = 5.0  # s of a request before its body must average ``min_rate``
MAX_CHUNK_LINE = 4096  # bytes of a chunk-size line (with extensions); more is a 400


class BodyTooSlow(RequestTimeout):
    """The body did not arrive in time (the whole-request deadline, or below the minimum
    rate): each interface answers 408 in its own format (RFC 9110, 15.5.9)."""


class Slots:
    """How many bodies worker threads may read at once (half the pool)."""

    def __init__(self, count: int) -> None:
        self.free = count
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.free <= 0:
                return False
            self.free -= 1
            return True

    def give(self) -> None:
        with self.lock:
            self.free += 1


class _BoundedChunks(ChunkedReceiver):
    """waitress's chunked body, refusing a chunk larger than the body may be at once (it
    would otherwise wait for it until the connection idles out, answering nothing)."""

    limit = 0
    error: Any  # waitress's attributes, untyped there
    control_line: bytes
    chunk_remainder: int
    all_chunks_received: bool

    def received(self, s: bytes) -> int:
        n: int = super().received(s)
        if self.chunk_remainder >= self.limit and self.error is None:
            self.error = RequestEntityTooLarge(f"a chunk of {self.chunk_remainder} bytes "
                                               f"exceeds max_body of {self.limit}")
            self.all_chunks_received = True
        elif self.error is None and len(self.control_line) > MAX_CHUNK_LINE:
            # RFC 9112, 7.1; waitress would rebuild an endless line on every read
            self.error = BadRequest("chunk size line too long")
            self.all_chunks_received = True
        return n


class _VersionNotSupported(Error):
    code = 505
    reason = "HTTP Version Not Supported"


class TooSlow(Error):
    code = 408  # RFC 9110, 15.5.9: the server closes a connection a request was too slow on
    reason = "Request Timeout"


class Request(HTTPRequestParser):
    """waitress's parser, stricter where its framing is lenient, and with a deferred body
    behind ``Expect: 100-continue``."""

    deferred = 0  # body length the app reads from the socket (after a 100 Continue)
    wants_continue = False
    prefix = b""  # of that body, what arrived with the head
    holds_slot = False  # a worker thread reads its body: one of ``Slots`` taken
    error: Any  # waitress's attributes, untyped there
    body_rcv: Any
    expect_continue: bool

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()

    def parse_header(self, header_plus: bytes) -> None:
        if b"\n " in header_plus or b"\n\t" in header_plus:
            raise ParsingError("obsolete line folding in the headers")  # RFC 9112, 5.2
        super().parse_header(header_plus)
        headers = self.headers
        if self.chunked and "CONTENT_LENGTH" in headers:
            # RFC 9112, 6.1: a request framed both ways is a smuggling attempt
            raise ParsingError("both Transfer-Encoding and Content-Length")
        if self.version == "1.0" and "TRANSFER_ENCODING" in headers:
            raise ParsingError("Transfer-Encoding in an HTTP/1.0 request")  # RFC 9112, 6.1
        if isinstance(self.body_rcv, ChunkedReceiver):
            bounded = _BoundedChunks(self.body_rcv.buf)
            bounded.limit = self.adj.max_request_body_size
            self.body_rcv = bounded
        if ((self.expect_continue or self.content_length > EAGER_BODY) and not self.chunked
                and 0 < self.content_length < self.adj.max_request_body_size
                and self.adj.body_slots.take()):
            self.holds_slot = True
            self.wants_continue = self.expect_continue
            self.expect_continue = False  # the app's first read sends the 100
            self.deferred = self.content_length
            self.body_rcv = None

    def received(self, data: bytes) -> int:
        n = super().received(data)
        if self.error is not None:
            self.headers.pop("CONNECTION", None)  # an error answer always closes
        if self.headers_finished and self.error is None and self.version not in ("1.0", "1.1"):
            self.error = _VersionNotSupported(f"HTTP/{self.version or '0.9'}")
            self.completed = True
            return len(data)
        if self.deferred and self.completed and not self.prefix and n < len(data):
            self.prefix = data[n:n + self.deferred]  # sent without waiting for the 100
            n += len(self.prefix)
        return n


class ContinueBody(io.RawIOBase):
    """``wsgi.input`` of a large body or one behind ``Expect: 100-continue``: sends the 100
    on the first read, then reads the body from the socket in the worker thread (the I/O
    thread does not read a connection while one of its requests is being served). So the app
    can refuse it (401, the provider's 413) before it is sent or read."""

    def __init__(self, task: Task, request: Request) -> None:
        self.task = task
        self.pending = request.prefix
        self.remaining = request.deferred - len(self.pending)
        self.continued = not request.wants_continue
        self.started = request.started
        self.got = len(self.pending)  # body bytes arrived
        adj = task.channel.adj
        self.deadline = request.started + adj.request_timeout
        self.min_rate: float = adj.min_rate

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Like a buffered file: ``size`` bytes unless the body ends first."""
        left = self.remaining + len(self.pending)
        size = left if size is None or size < 0 or size > left else size
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            got += self.readinto(view[got:])
        return bytes(buf)

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self.pending:
            n = min(len(view), len(self.pending))
            view[:n] = self.pending[:n]
            self.pending = self.pending[n:]
            return n
        if self.remaining <= 0 or not len(view):
            return 0
        channel = self.task.channel
        if not self.continued:
            self.continued = True
            channel.write_soon(CONTINUE)
            self.task.flush()
        while True:
            try:
                n = channel.socket.recv_into(view, min(len(view), self.remaining))
            except BlockingIOError:
                self._wait(channel.socket)
                continue
            if n == 0:
                raise ConnectionError("client closed before the body ended")
            self.remaining -= n
            self.got += n
            return n

    def _wait(self, sock: socket.socket) -> None:
        """Until more of the body can be read, within the whole request's deadline and
        never below the minimum rate once past the grace period: else ``BodyTooSlow``."""
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                raise BodyTooSlow(f"the request did not arrive within {now - self.started:.0f} "
                                  "s (http.request_timeout)")
            elapsed = now - self.started
            if self.min_rate and elapsed > MIN_RATE_GRACE and \
                    self.got < self.min_rate * elapsed:
                raise BodyTooSlow(f"the body arrived at {self.got / elapsed:.0f} bytes/s, "
                                  f"below http.min_rate ({self.min_rate:g})")
            if select.select([sock], [], [], min(0.5, self.deadline - now))[0]:
                return
