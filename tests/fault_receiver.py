"""A raw-socket callback receiver on 127.0.0.1 that misbehaves on demand, attempt by attempt.

A well-behaved HTTP server cannot refuse, reset, hang or answer garbage; this one can. It
takes one request per connection (so each attempt of the fake is one connection), logs every
connection it accepted as a ``Hit``, and asks ``answer(hit)`` what to do with it:

``ok``                the protocol's success (``AppReceiver``'s well-behaved answer)
``slow``              the same, but only after ``slow_seconds`` (past the fake's timeout)
``hang``              read the request, never answer (until the client gives up)
``not-http``          bytes that are not HTTP at all
``bad-status``        a broken status line
``garbage-200``       HTTP 200 with a body of random bytes
``empty-200``         HTTP 200 with an empty body
``endless-200``       HTTP 200 with no length, then bytes until the client hangs up (64 MiB)
``bad-xml``           HTTP 200, ``text/xml`` declaring an encoding that does not exist
``redirect``          302 to the same URL
``400``, ``503``, ... that status, empty body
``rst``               read the request, then reset the connection (SO_LINGER 0)
``close``             read the request, then close the connection without a word
``close-mid-answer``  a 200 head promising 1000 bytes, 10 of them, then close
``trickle``           a 200 head, then one body byte every ``trickle_seconds``

``before(hit)`` may act before the request is read: ``rst`` (reset at once) or
``close-mid-request`` (read a part of the head, then close). Those hits have no ``key``.

``down()`` closes the listening socket (connections are then refused) and ``up()`` listens
again on the same port; the port is taken below the ephemeral range, so no client socket can
take it (or connect to itself) while the receiver is down.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from fakemms.testing.receiver import AppReceiver, ReceivedCallback

_WELL = AppReceiver()  # never started: only its well-behaved answers are used
HEAD_LIMIT = 64 * 1024


@dataclass
class Hit:
    """One accepted connection: what came in and what the receiver did."""

    index: int  # 1-based, in accept order
    at: float  # time.monotonic() at accept
    request: ReceivedCallback | None = None  # None: not read (a ``before`` action)
    key: tuple | None = None  # the callback it carried: method, path, query, body
    n: int = 0  # the how-many-th attempt of this key the receiver saw
    action: str = ""
    completed: bool = False  # the answer was written in full (for ``ok``: a delivery)
    head: bytes = b""  # the request line and headers as they came, up to the blank line


@dataclass
class FaultReceiver:
    answer: Callable[[Hit], str] = lambda hit: "ok"
    before: Callable[[Hit], str | None] = lambda hit: None
    slow_seconds: float = 1.0
    trickle_seconds: float = 0.1  # under the client's read timeout, so only a total bounds it
    port: int = 0
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = self.port or _stable_port()
        self._cond = threading.Condition()
        self._down = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._seen: Counter[tuple] = Counter()
        self._rng = random.Random(7)

    # --- lifecycle --------------------------------------------------------------------------
    def url(self, path: str = "/cb") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> FaultReceiver:
        """Listen (again) on the port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        self._down = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, args=(listener, self._down),
                                          name=f"fault-receiver-accept:{self.port}")
        self._acceptor.start()
        return self

    def down(self) -> None:
        """Stop listening: new connections are refused. Connections already accepted go on."""
        if self._acceptor is not None:
            self._down.set()  # the acceptor closes the listener itself (no fd reuse race)
            self._acceptor.join(5)
            self._acceptor = None

    def stop(self) -> None:
        """Down, then end every connection and join every thread."""
        self.down()
        self._stopping.set()
        with self._cond:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            _quiet(lambda c=conn: c.shutdown(socket.SHUT_RDWR))
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> FaultReceiver:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what it saw ------------------------------------------------------------------------
    def log(self) -> list[Hit]:
        with self._cond:
            return list(self.hits)

    def deliveries(self) -> Counter[tuple]:
        """Per callback key: how many ``ok`` answers were written in full."""
        return Counter(h.key for h in self.log() if h.action == "ok" and h.completed)

    # --- serving ----------------------------------------------------------------------------
    def _accept(self, listener: socket.socket, down: threading.Event) -> None:
        with listener:
            while not down.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                self._start(conn)

    def _start(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with self._cond:
            hit = Hit(index=len(self.hits) + 1, at=time.monotonic())
            self.hits.append(hit)
            self._conns.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn, hit),
                                      name=f"fault-receiver-conn:{hit.index}")
            self._threads.add(thread)
        thread.start()

    def _serve(self, conn: socket.socket, hit: Hit) -> None:
        try:
            action = self.before(hit)
            if action is not None:
                hit.action = action
                if action == "close-mid-request":
                    conn.recv(16)
                    conn.close()
                else:
                    _reset(conn)
                return
            read = _read_request(conn)
            if read is None:
                hit.action = "client-closed"
                return
            request, head = read
            with self._cond:
                hit.request, hit.head = request, head
                hit.key = key_of(request)
                self._seen[hit.key] += 1
                hit.n = self._seen[hit.key]
            hit.action = self.answer(hit)
            self._act(conn, hit)
        except OSError:
            pass  # the client went away: the hit says how far it got
        finally:
            _quiet(conn.close)
            with self._cond:
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())
                self._cond.notify_all()

    def _act(self, conn: socket.socket, hit: Hit) -> None:
        action = hit.action
        assert hit.request is not None
        if action in ("ok", "slow"):
            if action == "slow" and self._stopping.wait(self.slow_seconds):
                return
            status, body, ctype = _WELL._well_behaved(hit.request)
            conn.sendall(_response(status, body, ctype))
        elif action == "hang":
            while not self._stopping.is_set():
                try:
                    if conn.recv(1024) == b"":
                        return  # the client gave up
                except TimeoutError:
                    continue
            return
        elif action == "not-http":
            conn.sendall(b"this is not HTTP at all\r\n\r\n")
        elif action == "bad-status":
            conn.sendall(b"HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n")
        elif action == "garbage-200":
            conn.sendall(_response(200, self._rng.randbytes(300), "application/octet-stream"))
        elif action == "endless-200":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Connection: close\r\n\r\n")
            try:
                for _ in range(1024):  # 64 MiB at most: a fake that reads it all fails
                    if self._stopping.is_set():
                        return
                    conn.sendall(b"x" * 65536)
            except OSError:
                pass  # the client hung up: for an endless answer, the normal end
        elif action == "empty-200":
            conn.sendall(_response(200, b"", "text/plain"))
        elif action == "bad-xml":
            conn.sendall(_response(200, b'<?xml version="1.0" encoding="bogus"?><a/>',
                                   "text/xml"))
        elif action == "redirect":
            conn.sendall(_response(302, b"", "text/plain", {"Location": hit.request.path}))
        elif action.isdigit():
            conn.sendall(_response(int(action), b"", "text/plain"))
        elif action == "rst":
            _reset(conn)
            return
        elif action == "close":
            return  # closed by _serve
        elif action == "close-mid-answer":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        elif action == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                if self._stopping.wait(self.trickle_seconds):
                    return
                conn.sendall(b".")
        else:
            raise ValueError(f"unknown action {action!r}")
        hit.completed = True
        conn.shutdown(socket.SHUT_WR)


def key_of(request: ReceivedCallback) -> tuple:
    """What identifies a callback on the wire: a retry repeats it byte for byte (the body
    as the control API shows it: UTF-8, undecodable bytes replaced)."""
    return (request.method, request.path, tuple(sorted(request.query)),
            request.body.decode("utf-8", "replace"))


def key_of_record(record: dict) -> tuple:
    """The same key from the control API's record of a callback."""
    split = urlsplit(record["url"])
    query = [tuple(p) for p in record.get("params") or []]
    query += parse_qsl(split.query, keep_blank_values=True)
    return (record["method"], split.path or "/", tuple(sorted(query)), record["body"])


def _read_request(conn: socket.socket) -> tuple[ReceivedCallback, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > HEAD_LIMIT:
            raise OSError("head too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().title()] = value.strip()
    length = int(headers.get("Content-Length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    split = urlsplit(target)
    return ReceivedCallback(method=method, path=split.path, headers=headers, body=body[:length],
                            query=parse_qsl(split.query, keep_blank_values=True),
                            at=time.time()), head


def _response(status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Fault'}",
             f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _quiet(fn: Callable[[], object]) -> None:
    try:
        fn()
    except OSError:
        pass


def _stable_port() -> int:
    """A free port below the ephemeral range: while the receiver is down, no outgoing socket
    can be given it, so connecting to it is refused (never a self-connect)."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")
