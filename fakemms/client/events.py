"""The server-sent event stream of the control API (``GET /_fakemms/api/events``)."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from typing import TYPE_CHECKING

from fakemms.client.models import Event

if TYPE_CHECKING:
    from fakemms.client.transport import Transport


class EventStream:
    """One open ``GET /_fakemms/api/events``: the server has subscribed it once the
    constructor returns. ``next(deadline)`` gives the next event, or None when the deadline
    passes or the stream ends (``ended``).

    A reader thread takes the chunks off the connection into a queue, so ``next`` waits on
    the queue with the caller's deadline and the connection keeps its plain documented
    timeouts: a read timeout of a few keep-alive intervals (the server sends one every 2 s)
    tells a dead server from a quiet one."""

    READ_TIMEOUT = 10.0

    def __init__(self, transport: Transport, since: int | None = None) -> None:
        self._response = transport.request(
            "GET", "/_fakemms/api/events", params={"since": since} if since is not None
            else None, stream=True, timeout=(transport.timeout, self.READ_TIMEOUT))
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._buffer = b""
        self._data: list[str] = []
        self.last_seq = since
        self.ended = False
        self._reader = threading.Thread(target=self._read, name="fakemms-client-events",
                                        daemon=True)
        self._reader.start()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading. When the connection's socket is at hand (a keep-alive connection),
        shutting it down wakes the reader and it is joined; on a connection the server will
        close, the reader ends by itself at the stream's next chunk (a keep-alive comment
        every 2 s) and the caller does not wait for it."""
        self._closed.set()
        connection = getattr(self._response.raw, "connection", None)  # urllib3's, public
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._reader.join(5)
            self._response.close()

    def _read(self) -> None:
        try:
            for chunk in self._response.iter_content(chunk_size=None):
                if self._closed.is_set():
                    break
                self._chunks.put(chunk)
        except Exception:  # the server went away, or the stream was closed under the reader
            pass  # (http.client then fails in ways of its own); either way the stream ended
        finally:
            self._chunks.put(None)
            if self._closed.is_set():
                self._response.close()

    def _pop(self) -> Event | None:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return None
            line = self._buffer[:end].rstrip(b"\r").decode("utf-8", "replace")
            self._buffer = self._buffer[end + 1:]
            if line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
            elif not line and self._data:
                text, self._data = "\n".join(self._data), []
                try:
                    event = Event.from_dict(json.loads(text))
                except ValueError:
                    continue
                self.last_seq = event.seq
                return event

    def next(self, deadline: float | None = None) -> Event | None:
        while True:
            event = self._pop()
            if event is not None:
                return event
            if self.ended:
                return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                chunk = self._chunks.get(timeout=left)
            except queue.Empty:
                return None  # the deadline passed
            if chunk is None:
                self.ended = True  # the stream ended: the server closed it or went away
                return None
            self._buffer += chunk
