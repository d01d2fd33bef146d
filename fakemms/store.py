"""The one store: every message, callback, counter and event; thread-safe, resettable, dumpable."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from fakemms.models import Account, Message


class Store:
    def __init__(self, max_messages: int = 10_000, max_events: int = 1_000) -> None:
        self._lock = threading.RLock()
        self.max_messages = max_messages
        self.max_events = max_events
        self.accounts: dict[str, Account] = {}
        self._subscribers: list[queue.Queue] = []
        self._listeners: list[Callable[[dict], None]] = []
        self.reset()

    # --- lifecycle --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all messages, callbacks, counters and events; accounts stay."""
        with self._lock:
            self.messages: OrderedDict[str, Message] = OrderedDict()
            self.callbacks: OrderedDict[str, Any] = OrderedDict()
            self.fetches: list[dict] = []
            self.evicted = 0
            self.usage: dict[str, dict[str, int]] = {}  # account -> {"day:..": n, "month:..": n}
            self.credit_used: dict[str, int] = {}
            self.buckets: dict[str, tuple[float, float]] = {}  # account -> (tokens, stamp)
            self.events: list[dict] = []
            self._event_seq = 0
        self.publish("reset", {})

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    # --- messages ---------------------------------------------------------------------------
    def add_message(self, message: Message) -> Message:
        with self._lock:
            if message.id in self.messages:
                raise KeyError(f"duplicate message id {message.id}")
            self.messages[message.id] = message
            while len(self.messages) > self.max_messages:
                self.messages.popitem(last=False)
                self.evicted += 1
        self.publish("message", {"id": message.id, "direction": message.direction,
                                 "account": message.account, "status": message.status})
        return message

    def unique_id(self, make: Callable[[], str]) -> str:
        """An id from ``make`` that no stored message has (retries on a collision)."""
        with self._lock:
            while True:
                candidate = make()
                if candidate not in self.messages:
                    return candidate

    def get_message(self, message_id: str) -> Message | None:
        with self._lock:
            if message_id == "latest":
                return next(reversed(self.messages.values()), None)
            return self.messages.get(message_id)

    def list_messages(self, **filters: Any) -> list[Message]:
        """Newest first; filters: direction, account, number, status, interface."""
        with self._lock:
            items = list(reversed(self.messages.values()))
        return [m for m in items if _matches(m, filters)]

    # --- accounts ---------------------------------------------------------------------------
    def set_accounts(self, accounts: Iterable[Account]) -> None:
        with self._lock:
            self.accounts = {a.username: a for a in accounts}

    def account(self, username: str) -> Account | None:
        return self.accounts.get(username)

    # --- events -----------------------------------------------------------------------------
    def publish(self, kind: str, data: dict) -> dict:
        with self._lock:
            self._event_seq += 1
            event = {"seq": self._event_seq, "type": kind, "data": data}
            self.events.append(event)
            if len(self.events) > self.max_events:
                del self.events[: len(self.events) - self.max_events]
            subscribers = list(self._subscribers)
        for q in subscribers:
            q.put(event)
        for listener in list(self._listeners):
            listener(event)
        return event

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue()
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def add_listener(self, listener: Callable[[dict], None]) -> None:
        self._listeners.append(listener)

    # --- dump -------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accounts": [a.to_dict() for a in self.accounts.values()],
                "messages": [m.dump() for m in self.messages.values()],
                "callbacks": [c.to_dict() for c in self.callbacks.values()],
                "fetches": list(self.fetches),
                "evicted": self.evicted,
                "usage": {k: dict(v) for k, v in self.usage.items()},
                "credit_used": dict(self.credit_used),
            }

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"messages": len(self.messages), "evicted": self.evicted,
                    "max_messages": self.max_messages, "callbacks": len(self.callbacks)}


def _matches(m: Message, f: dict[str, Any]) -> bool:
    if f.get("direction") and m.direction != f["direction"]:
        return False
    if f.get("account") and m.account != f["account"]:
        return False
    if f.get("status") and m.status.lower() != str(f["status"]).lower():
        return False
    if f.get("interface") and m.interface != f["interface"]:
        return False
    number = f.get("number")
    return not number or number == m.source or number in m.destinations
