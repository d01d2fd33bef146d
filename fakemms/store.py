"""The one store: every message, callback, fetch, counter and event; thread-safe, bounded,
resettable, dumpable; optionally durable.

The store owns its state: every change goes through one of its methods, under its lock; readers
get snapshots (dicts, or copies of lists) taken under that lock. Everything it keeps is bounded:
``max_messages`` messages (the oldest evicted first, its callbacks with it), the attempts kept
per callback, the fetch records and the event buffer. Objects it hands to the backend (a
``Message``, a ``Callback``) are for reading identity and immutable fields; their mutable fields
change only here.

With a journal (``persistence``, fakemms/persistence.py) every change is also written through
to it: its rows are queued under the same lock (so they follow the order of change) and
committed before the method returns, after the lock is let go (so one commit can carry many
threads' changes). Without one that is a ``None`` check per change, and the in-memory store
is the whole story.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from fakemms.models import Account, Attempt, Callback, Message, Part, Report

if TYPE_CHECKING:
    from fakemms.persistence import Loaded, SqliteJournal

# One subscriber's queue of undelivered events; a stream that falls this far behind is ended
# (the client resumes with ?since=SEQ) rather than growing without bound.
SUBSCRIBER_BACKLOG = 10_000
CLOSED = {"type": "closed"}  # put on every subscription when the store closes
MAX_FETCHES = 1000
MAX_ATTEMPTS = 50  # attempts kept per callback: the first and the latest

# A TPS rule: the account's bucket (tokens, stamp) or None -> (taken, the bucket to keep)
TokenRule = Callable[[tuple[float, float] | None], tuple[bool, tuple[float, float]]]


class Store:
    def __init__(self, max_messages: int = 10_000, max_events: int = 1_000,
                 max_fetches: int = MAX_FETCHES, max_attempts: int = MAX_ATTEMPTS,
                 journal: SqliteJournal | None = None) -> None:
        self._lock = threading.RLock()
        self.journal: SqliteJournal | None = None  # set after the first reset: it keeps the file
        self.max_messages = max_messages
        self.max_events = max_events
        self.max_fetches = max_fetches
        self.max_attempts = max(2, max_attempts)
        self._accounts: dict[str, Account] = {}
        self._subscribers: list[queue.Queue] = []
        self._event_seq = 0  # never reset: a client resuming with ?since= misses nothing
        self._events: deque[dict] = deque(maxlen=max_events)
        self.reset()
        self.journal = journal
        if journal is not None:  # only then: off, the methods stay as they are
            for name in _DURABLE:
                setattr(self, name, _flushing(getattr(self, name), journal))

    # --- lifecycle --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all messages, callbacks, fetches, counters and buffered events; accounts
        stay. Every callback forgotten is marked cancelled, so an attempt under way is fenced."""
        with self._lock:
            for callback in getattr(self, "_callbacks", {}).values():
                callback.cancelled = True
            self._messages: OrderedDict[str, Message] = OrderedDict()
            self._callbacks: OrderedDict[str, Callback] = OrderedDict()
            self._fetches: deque[dict] = deque(maxlen=self.max_fetches)
            self.evicted = 0
            self.evicted_callbacks = 0
            self._usage: dict[str, dict[str, int]] = {}  # account -> {"day:..": n, "month:..": n}
            self._credit_used: dict[str, int] = {}
            self._buckets: dict[str, tuple[float, float]] = {}  # account -> (tokens, stamp)
            self._events.clear()
            if self.journal is not None:
                self.journal.enqueue(self.journal.clear_ops())
        self.publish("reset", {})

    def close(self) -> None:
        """End every event stream (each subscription gets CLOSED); close the journal."""
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
            if self.journal is not None:
                self.journal.close()
        for q in subscribers:
            _offer(q, CLOSED)

    def restore(self, loaded: Loaded) -> None:
        """Take back what a journal held (at start, before any request): the messages in
        their arrival order, each callback on its message. Nothing is written."""
        with self._lock:
            for message in loaded.messages[-self.max_messages:]:
                self._messages[message.id] = message
            over = loaded.messages[:-self.max_messages]  # max_messages was lowered since
            if over and self.journal is not None:
                self.journal.apply(self.journal.drop_messages_ops(m.id for m in over))
            for callback in loaded.callbacks:
                if callback.message_id in self._messages:
                    self._callbacks[callback.id] = callback

    def _write_message(self, message: Message) -> None:
        # under the lock: the row follows the object's order of change
        if self.journal is not None:
            self.journal.enqueue(self.journal.message_ops(message))

    def _write_callbacks(self, callbacks: Iterable[Callback]) -> None:
        if self.journal is not None:
            self.journal.enqueue(self.journal.callback_ops(callbacks))

    # --- messages ---------------------------------------------------------------------------
    def add_message(self, message: Message) -> list[str]:
        """Keep a new message; returns the ids of the messages evicted to make room (their
        callbacks are evicted and cancelled with them)."""
        evicted: list[str] = []
        with self._lock:
            if message.id in self._messages:
                raise KeyError(f"duplicate message id {message.id}")
            self._messages[message.id] = message
            while len(self._messages) > self.max_messages:
                _, old = self._messages.popitem(last=False)
                self._forget_callbacks(old.callback_ids)
                evicted.append(old.id)
                self.evicted += 1
            if self.journal is not None:
                self.journal.enqueue(self.journal.message_ops(message, new=True, evicted=evicted))
        self.publish("message", {"id": message.id, "direction": message.direction,
                                 "account": message.account, "status": message.status})
        return evicted

    def withdraw_message(self, message_id: str, evicted: Iterable[str] = ()) -> None:
        """Forget a message whose acceptance was refused after all (its rows never reached
        the journal), with its callbacks. The messages it evicted stay evicted: their rows
        leave the journal with its next write."""
        with self._lock:
            message = self._messages.pop(message_id, None)
            if message is not None:
                self._forget_callbacks(message.callback_ids)
            if self.journal is not None:
                self.journal.enqueue(self.journal.drop_messages_ops(evicted))
        if self.journal is not None:
            self.journal.flush()
        if message is not None:
            self.publish("message.withdrawn", {"id": message_id, "account": message.account})

    def unique_id(self, make: Callable[[], str]) -> str:
        """An id from ``make`` that no stored message has (retries on a collision)."""
        with self._lock:
            while True:
                candidate = make()
                if candidate not in self._messages:
                    return candidate

    def get_message(self, message_id: str) -> Message | None:
        """The live message (for the backend); readers outside it use ``message_dict``."""
        with self._lock:
            if message_id == "latest":
                return next(reversed(self._messages.values()), None)
            return self._messages.get(message_id)

    def latest(self, **filters: Any) -> Message | None:
        """The newest message matching the filters (``latest`` in a path)."""
        with self._lock:
            for message in reversed(self._messages.values()):
                if _matches(message, filters):
                    return message
        return None

    def message_dict(self, message_id: str, dump: bool = False) -> dict[str, Any] | None:
        with self._lock:
            message = self.get_message(message_id)
            if message is None:
                return None
            return message.dump() if dump else message.to_dict()

    def raw_request(self, message_id: str) -> bytes | None:
        """The request that created the message as received (bounded), if one was kept."""
        with self._lock:
            message = self.get_message(message_id)
            return message.raw_request if message is not None and message.raw_request else None

    def list_messages(self, **filters: Any) -> list[Message]:
        """Newest first; filters: direction, account, number, status, interface."""
        with self._lock:
            items = list(reversed(self._messages.values()))
        return [m for m in items if _matches(m, filters)]

    def summaries(self, limit: int | None = None, **filters: Any) -> tuple[int, list[dict]]:
        """(how many match, the first ``limit`` summaries), newest first."""
        with self._lock:
            found = [m for m in reversed(self._messages.values()) if _matches(m, filters)]
            shown = found if limit is None else found[:limit]
            return len(found), [m.summary() for m in shown]

    def part(self, message_id: str, index: int) -> Part | None:
        with self._lock:
            message = self.get_message(message_id)
            if message is None or not 0 <= index < len(message.parts):
                return None
            return message.parts[index]

    def update_message(self, message_id: str, **changes: Any) -> Message | None:
        """Set fields of a stored message (status, parts, ...); None if it is gone."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is None:
                return None
            for key, value in changes.items():
                setattr(message, key, value)
            if self.journal is not None:
                parts = self.journal.parts_ops(message) if "parts" in changes else []
                self.journal.enqueue([*parts, *self.journal.message_ops(message)])
            return message

    def set_status_if(self, message_id: str, status: str, *, when: tuple[str, ...]
                      ) -> str | None:
        """Set the status only if the current one is in ``when``, atomically; returns the
        status it had (None: no such message)."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is None:
                return None
            before = message.status
            if before in when:
                message.status = status
                self._write_message(message)
            return before

    def add_warnings(self, message_id: str, warnings: Iterable[str]) -> None:
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None:
                message.warnings.extend(warnings)
                self._write_message(message)

    def bump_extra(self, message_id: str, key: str) -> None:
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None:
                message.extra[key] = message.extra.get(key, 0) + 1
                self._write_message(message)

    def record_message_fetch(self, message_id: str, record: dict[str, Any]) -> None:
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None:
                message.extra.setdefault("fetches", []).append(record)
                self._write_message(message)

    def fill_part(self, message_id: str, index: int, data: bytes,
                  content_type: str | None) -> None:
        """A remote part's fetched bytes."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None and 0 <= index < len(message.parts):
                part = message.parts[index]
                part.data = data
                part.content_type = content_type or part.content_type
                if self.journal is not None:
                    self.journal.enqueue(self.journal.parts_ops(message, index))

    def add_report(self, message_id: str, report: Report,
                   callbacks: list[Callback]) -> str | None:
        """Record a report that became due, with the callbacks that carry it. A cancelled
        message keeps its status (the report is recorded, not sent). Returns the message's
        status before, or None if the message is gone (evicted, forgotten)."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is None:
                return None
            before = message.status
            if before == "Cancelled":
                report.description = "not sent: the message was cancelled"
            else:
                message.status = report.status
            message.reports.append(report)
            if callbacks:
                report.callback_id = callbacks[0].id
            for callback in callbacks:
                self._add_callback(callback, message)
            if self.journal is not None:
                self.journal.enqueue([*self.journal.message_ops(message),
                                    *self.journal.callback_ops(callbacks, new=True)])
            return before

    # --- callbacks --------------------------------------------------------------------------
    def add_callback(self, callback: Callback) -> bool:
        """Keep a new callback (on its message, if stored); False if its message is gone."""
        with self._lock:
            message = self._messages.get(callback.message_id)
            if message is None:
                callback.cancelled = True
                return False
            self._add_callback(callback, message)
            if self.journal is not None:
                self.journal.enqueue([*self.journal.message_ops(message),
                                    *self.journal.callback_ops([callback], new=True)])
            return True

    def _add_callback(self, callback: Callback, message: Message) -> None:
        self._callbacks[callback.id] = callback
        message.callback_ids.append(callback.id)

    def _forget_callbacks(self, ids: Iterable[str]) -> None:
        # Evicted with their message: the record goes, but a callback queued or under way is
        # still sent and counted (the application is owed its report); it is not retried.
        for callback_id in ids:
            if self._callbacks.pop(callback_id, None) is not None:
                self.evicted_callbacks += 1

    def start_attempt(self, callback: Callback) -> bool:
        """Mark the callback in flight; False when it was cancelled (reset, eviction, its
        account deleted, its message cancelled) or already ended."""
        with self._lock:
            if callback.cancelled or callback.state in ("delivered", "failed"):
                return False
            callback.state = "in-flight"
            return True

    def record_attempt(self, callback: Callback, attempt: Attempt, state: str,
                       next_attempt_at: float | None) -> bool:
        """Record an attempt and the callback's new state; False (nothing recorded) when the
        callback was cancelled while the attempt was under way: the reset fence."""
        with self._lock:
            if callback.cancelled:
                return False
            callback.attempt_count += 1
            callback.attempts.append(attempt)
            if len(callback.attempts) > self.max_attempts:
                del callback.attempts[1]  # keep the first attempt and the latest ones
                callback.attempts_dropped += 1
            callback.state = state
            callback.next_attempt_at = next_attempt_at
            self._write_callbacks([callback])
            return True

    def end_callback(self, callback: Callback, state: str) -> bool:
        """End a callback without another attempt (a retry due past the give-up time); False
        when it was cancelled or had already ended."""
        with self._lock:
            if callback.cancelled or callback.state in ("delivered", "failed"):
                return False
            callback.state = state
            callback.next_attempt_at = None
            self._write_callbacks([callback])
            return True

    def set_callback_state(self, callback: Callback, state: str,
                           next_attempt_at: float | None = None) -> None:
        with self._lock:
            callback.state = state
            callback.next_attempt_at = next_attempt_at
            self._write_callbacks([callback])

    def cancel_callbacks(self, message_id: str) -> list[str]:
        """Cancel a message's callbacks that have not ended (MM7 CancelReq)."""
        with self._lock:
            message = self._messages.get(message_id)
            ids = list(message.callback_ids) if message else []
            cancelled = []
            for callback_id in ids:
                callback = self._callbacks.get(callback_id)
                if callback is not None and callback.state not in ("delivered", "failed"):
                    callback.cancelled = True
                    callback.state = "cancelled"
                    callback.next_attempt_at = None
                    cancelled.append(callback_id)
            self._write_callbacks(self._callbacks[i] for i in cancelled)
            return cancelled

    def get_callback(self, callback_id: str) -> Callback | None:
        with self._lock:
            return self._callbacks.get(callback_id)

    def callback_dict(self, callback_id: str) -> dict[str, Any] | None:
        with self._lock:
            callback = self._callbacks.get(callback_id)
            return callback.to_dict() if callback is not None else None

    def callback_dicts(self, *, message_id: str | None = None, kind: str | None = None,
                       state: str | None = None, account: str | None = None) -> list[dict]:
        """Snapshots of the matching callbacks, newest first."""
        with self._lock:
            if message_id:
                message = self._messages.get(message_id)
                ids = reversed(message.callback_ids) if message else []
                items = [self._callbacks[i] for i in ids if i in self._callbacks]
            else:
                items = list(reversed(self._callbacks.values()))
            return [c.to_dict() for c in items
                    if (not kind or c.kind == kind) and (not state or c.state == state)
                    and (not account or c.account == account)]

    def message_callback_dicts(self, message_id: str) -> list[dict]:
        """A message's callbacks in the order they were made."""
        with self._lock:
            message = self._messages.get(message_id)
            ids = message.callback_ids if message else []
            return [self._callbacks[i].to_dict() for i in ids if i in self._callbacks]

    # --- fetches ----------------------------------------------------------------------------
    def record_fetch(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._fetches.append(record)
        self.publish("fetch", {"url": record.get("url"), "status": record.get("status"),
                               "cached": record.get("cached"), "error": record.get("error")})

    def fetch_dicts(self) -> list[dict]:
        """Fetch records, newest first."""
        with self._lock:
            return [dict(f) for f in reversed(self._fetches)]

    # --- accounts ---------------------------------------------------------------------------
    def set_accounts(self, accounts: Iterable[Account]) -> None:
        with self._lock:
            self._accounts = {a.username: a for a in accounts}

    def account(self, username: str) -> Account | None:
        with self._lock:
            return self._accounts.get(username)

    def accounts(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())

    def put_account(self, account: Account) -> None:
        with self._lock:
            self._accounts[account.username] = account
        self.publish("account", {"username": account.username})

    def remove_account(self, username: str) -> list[str] | None:
        """Forget an account and its counters; returns the ids of its messages (None: no such
        account). The messages stay readable (until evicted); every callback of the account
        that has not ended is cancelled, so nothing more reaches its application."""
        with self._lock:
            if self._accounts.pop(username, None) is None:
                return None
            owned = [m.id for m in self._messages.values() if m.account == username]
            ended = []
            for callback in self._callbacks.values():
                if callback.account == username and callback.state not in ("delivered",
                                                                           "failed"):
                    callback.cancelled = True
                    callback.state, callback.next_attempt_at = "cancelled", None
                    ended.append(callback)
            self._write_callbacks(ended)
            self._usage.pop(username, None)
            self._credit_used.pop(username, None)
            self._buckets.pop(username, None)
        self.publish("account.deleted", {"username": username})
        return owned

    # --- limits (guards.py decides; the store keeps the counts) -----------------------------
    def reserve(self, username: str, periods: tuple[str, str], *,
                max_per_day: int | None, max_per_month: int | None,
                prepaid_credit: int | None, take_token: TokenRule | None = None) -> str | None:
        """Count one message against the account's limits, atomically. ``take_token`` gets
        the account's TPS bucket (None at first) and returns (taken, the bucket to keep).
        Returns what refused the message ("day", "month", "credit", "tps"), or None."""
        day, month = periods
        with self._lock:
            usage = self._usage.setdefault(username, {})
            if max_per_day is not None and usage.get(day, 0) >= max_per_day:
                return "day"
            if max_per_month is not None and usage.get(month, 0) >= max_per_month:
                return "month"
            used = self._credit_used.get(username, 0)
            if prepaid_credit is not None and used >= prepaid_credit:
                return "credit"
            if take_token is not None:
                taken, bucket = take_token(self._buckets.get(username))
                self._buckets[username] = bucket
                if not taken:
                    return "tps"
            # only the current periods are kept: the counts cannot grow over a long run
            self._usage[username] = {day: usage.get(day, 0) + 1,
                                     month: usage.get(month, 0) + 1}
            self._credit_used[username] = used + 1
            return None

    def release(self, username: str, periods: tuple[str, str]) -> None:
        """Give back one message ``reserve`` counted (the request was refused after all)."""
        with self._lock:
            usage = self._usage.setdefault(username, {})
            for key in periods:
                if usage.get(key, 0) > 0:
                    usage[key] -= 1
            used = self._credit_used.get(username, 0)
            if used > 0:
                self._credit_used[username] = used - 1

    # --- events -----------------------------------------------------------------------------
    def publish(self, kind: str, data: dict) -> dict:
        with self._lock:
            self._event_seq += 1
            event = {"seq": self._event_seq, "type": kind, "data": data}
            self._events.append(event)
            subscribers = list(self._subscribers)
        for q in subscribers:
            if not _offer(q, event):
                self.unsubscribe(q)
                _offer(q, CLOSED, force=True)
        return event

    def subscribe(self, since: int | None = None) -> tuple[queue.Queue, list[dict]]:
        """A subscription and the buffered events after ``since`` (none when None), taken
        together so no event falls between them."""
        q: queue.Queue = queue.Queue(maxsize=SUBSCRIBER_BACKLOG)
        with self._lock:
            self._subscribers.append(q)
            backlog = [e for e in self._events if since is not None and e["seq"] > since]
        return q, backlog

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def events(self) -> list[dict]:
        with self._lock:
            return list(self._events)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._event_seq

    # --- dump -------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accounts": [a.to_dict() for a in self._accounts.values()],
                "messages": [m.dump() for m in self._messages.values()],
                "callbacks": [c.to_dict() for c in self._callbacks.values()],
                "fetches": [dict(f) for f in self._fetches],
                "evicted": self.evicted,
                "usage": {k: dict(v) for k, v in self._usage.items()},
                "credit_used": dict(self._credit_used),
            }

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"messages": len(self._messages), "evicted": self.evicted,
                    "max_messages": self.max_messages, "callbacks": len(self._callbacks),
                    "evicted_callbacks": self.evicted_callbacks,
                    "fetches": len(self._fetches), "events": len(self._events),
                    "event_seq": self._event_seq, "subscribers": len(self._subscribers)}


# The methods that change what a journal keeps: with one, each commits before it returns.
_DURABLE = ("reset", "add_message", "update_message", "set_status_if", "add_warnings",
            "bump_extra", "record_message_fetch", "fill_part", "add_report", "add_callback",
            "record_attempt", "set_callback_state", "end_callback", "cancel_callbacks",
            "remove_account")


def _flushing(method: Callable[..., Any], journal: SqliteJournal) -> Callable[..., Any]:
    def durable(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        finally:
            journal.flush()  # outside the store's lock: others queue meanwhile

    return durable


def _offer(q: queue.Queue, item: dict, force: bool = False) -> bool:
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
    return (not number or number == m.source or number in m.destinations
            or number in m.ccs or number in m.bccs)
