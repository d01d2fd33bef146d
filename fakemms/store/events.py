"""The event bus: what happened, in order, for the event stream (``/_fakemms/api/events``),
the client's waits and the UI. A bounded buffer of recent events and one bounded queue per
subscriber; a subscriber that falls too far behind is ended (the client resumes with
``?since=SEQ``) rather than growing without bound. Not kept by a journal: after a restart the
sequence starts again."""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any

# One subscriber's queue of undelivered events; a stream that falls this far behind is ended.
SUBSCRIBER_BACKLOG = 10_000
CLOSED = {"type": "closed"}  # put on every subscription when the bus closes


class EventBus:
    def __init__(self, max_events: int = 1_000) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[dict[str, Any]]] = []
        self._seq = 0  # never reset: a client resuming with ?since= misses nothing
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)

    def publish(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            event = {"seq": self._seq, "type": kind, "data": data}
            self._events.append(event)
            subscribers = list(self._subscribers)
        for q in subscribers:
            if not _offer(q, event):
                self.unsubscribe(q)
                _offer(q, CLOSED, force=True)
        return event

    def subscribe(self, since: int | None = None
                  ) -> tuple[queue.Queue[dict[str, Any]], list[dict[str, Any]]]:
        """A subscription and the buffered events after ``since`` (none when None), taken
        together so no event falls between them."""
        q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=SUBSCRIBER_BACKLOG)
        with self._lock:
            self._subscribers.append(q)
            backlog = [e for e in self._events if since is not None and e["seq"] > since]
        return q, backlog

    def unsubscribe(self, q: queue.Queue[dict[str, Any]]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        """Forget the buffered events (reset); the sequence goes on."""
        with self._lock:
            self._events.clear()

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"events": len(self._events), "event_seq": self._seq,
                    "subscribers": len(self._subscribers)}

    def close(self) -> None:
        """End every subscription (each gets CLOSED)."""
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for q in subscribers:
            _offer(q, CLOSED, force=True)  # even to a subscriber whose queue is full


def _offer(q: queue.Queue[dict[str, Any]], item: dict[str, Any], force: bool = False) -> bool:
    try:
        q.put_nowait(item)
        return True
    except queue.Full:
        if force:  # make room for the closing marker
            try:
                q.get_nowait()
                q.put_nowait(item)
            except (queue.Empty, queue.Full):
                pass
        return False
