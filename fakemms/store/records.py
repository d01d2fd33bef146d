"""Messages and their callbacks, fetch records and accounts: the state a journal keeps.

The store owns its state: every change goes through one of its methods, under its lock; readers
get snapshots (dicts, or copies of lists) taken under that lock. Everything it keeps is bounded:
``max_messages`` messages (the oldest evicted first, its callbacks with it), the attempts kept
per callback, the fetch records. Objects it hands to the backend (a ``Message``, a
``Callback``) are for reading identity and immutable fields; their mutable fields change only
here. A change of kept state is a ``mutation`` (fakemms.store.change): one unit of change that
memory and the journal (``persistence``, when configured) both see.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fakemms.models import Account, Attempt, Callback, Message, Part, Report, StoredJob
from fakemms.store.change import Change, mutation, transient
from fakemms.store.events import EventBus
from fakemms.store.quotas import Quotas

if TYPE_CHECKING:
    from fakemms.persistence import Loaded, SqliteJournal

MAX_FETCHES = 1000
MAX_ATTEMPTS = 50  # attempts kept per callback: the first and the latest
_OFF = Change(None)  # without a journal every unit of change is this one (it writes nothing)


class Store:
    def __init__(self, max_messages: int = 10_000, max_events: int = 1_000,
                 max_fetches: int = MAX_FETCHES, max_attempts: int = MAX_ATTEMPTS,
                 journal: SqliteJournal | None = None) -> None:
        self._lock = threading.RLock()
        self.journal = journal
        self.events = EventBus(max_events)
        self.quotas = Quotas()
        self.max_messages = max_messages
        self.max_fetches = max_fetches
        self.max_attempts = max(2, max_attempts)
        self._accounts: dict[str, Account] = {}
        self._empty()

    # --- units of change ----------------------------------------------------------------------
    @contextmanager
    def change(self) -> Iterator[Change]:
        """One unit of change (fakemms.store.change): the lock held while the caller changes
        memory and names the rows; those rows queued in order at the end, then committed
        after the lock is let go. A unit that raises writes nothing."""
        journal = self.journal
        with self._lock:
            tx = _OFF if journal is None else Change(journal)
            yield tx
            if tx.ops:
                journal.enqueue(tx.ops)  # type: ignore[union-attr]
        if journal is not None:
            journal.flush()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """The units of change made inside commit together when the block ends, or are taken
        back and ``StateNotDurable`` raised (an accepted MT and its report jobs: all, before
        the answer, or none). Without a journal, nothing to do."""
        if self.journal is None:
            yield
        else:
            with self.journal.held():
                yield

    @property
    def durable(self) -> bool:
        """Whether a journal keeps the state (a restart finds it)."""
        return self.journal is not None

    # --- lifecycle --------------------------------------------------------------------------
    def _empty(self) -> None:
        self._messages: OrderedDict[str, Message] = OrderedDict()
        self._callbacks: OrderedDict[str, Callback] = OrderedDict()
        self._fetches: deque[dict[str, Any]] = deque(maxlen=self.max_fetches)
        self.evicted = 0
        self.evicted_callbacks = 0

    @mutation
    def reset(self, tx: Change) -> None:
        """Forget all messages, callbacks, fetches, counters and buffered events; accounts
        stay. Every callback forgotten is marked cancelled, so an attempt under way is fenced."""
        for callback in self._callbacks.values():
            callback.cancelled = True
        self._empty()
        self.quotas.clear()
        self.events.clear()
        tx.cleared()
        self.events.publish("reset", {})

    def close(self) -> None:
        """End every event stream (each subscription gets CLOSED); close the journal."""
        with self._lock:
            if self.journal is not None:
                self.journal.close()
        self.events.close()

    @mutation
    def restore(self, tx: Change, loaded: Loaded) -> None:
        """Take back what a journal held (at start, before any request): the messages in
        their arrival order, each callback on its message. Only the rows of messages over
        ``max_messages`` (lowered since) are written: they go."""
        for message in loaded.messages[-self.max_messages:]:
            self._messages[message.id] = message
        tx.dropped(m.id for m in loaded.messages[:-self.max_messages])
        for callback in loaded.callbacks:
            if callback.message_id in self._messages:
                self._callbacks[callback.id] = callback

    @mutation
    def set_meta(self, tx: Change, key: str, value: Any) -> None:
        """Keep a value of the fake's own (the clock, the scenarios armed) with the state."""
        tx.meta(key, value)

    # --- pending jobs (the scheduler's, kept while pending) ---------------------------------
    @mutation
    def keep_job(self, tx: Change, job: StoredJob) -> None:
        tx.job(job)

    @mutation
    def drop_jobs(self, tx: Change, *, seqs: Iterable[int] = (), keys: Iterable[str] = (),
                  account: str | None = None) -> None:
        tx.jobs_dropped(seqs=seqs, keys=keys, account=account)

    @contextmanager
    def firing(self, seq: int) -> Iterator[None]:
        """A kept job fires: its row leaves with the first unit of change the block makes
        (the report it records), so after a crash a job has either fired and left, or
        neither."""
        if self.journal is None:
            yield
        else:
            with self.journal.deferred([self.journal.drop_job_op(seq)]):
                yield

    def durability(self) -> dict[str, Any]:
        """Whether a journal keeps the state, and whether its file takes writes now."""
        journal = self.journal
        if journal is None:
            return {"status": "off"}
        out: dict[str, Any] = {"status": "failing" if journal.failure else "ok",
                               "path": str(journal.path), "unwritten": journal.unwritten()}
        if journal.failure:
            out["reason"] = journal.failure
        return out

    # --- messages ---------------------------------------------------------------------------
    @mutation
    def add_message(self, tx: Change, message: Message) -> list[str]:
        """Keep a new message; returns the ids of the messages evicted to make room (their
        callbacks are evicted and cancelled with them)."""
        evicted: list[str] = []
        if message.id in self._messages:
            raise KeyError(f"duplicate message id {message.id}")
        self._messages[message.id] = message
        while len(self._messages) > self.max_messages:
            _, old = self._messages.popitem(last=False)
            self._forget_callbacks(old.callback_ids)
            evicted.append(old.id)
            self.evicted += 1
        tx.message(message, new=True, evicted=evicted)
        self.events.publish("message", {"id": message.id, "direction": message.direction,
                                        "account": message.account, "status": message.status})
        return evicted

    @mutation
    def withdraw_message(self, tx: Change, message_id: str, evicted: Iterable[str] = ()
                         ) -> None:
        """Forget a message whose acceptance was refused after all, with its callbacks. Its
        rows (none, when the journal refused them) and those of the messages it evicted
        (they stay evicted) leave the journal with this unit."""
        message = self._messages.pop(message_id, None)
        if message is not None:
            self._forget_callbacks(message.callback_ids)
            self.events.publish("message.withdrawn", {"id": message_id,
                                                      "account": message.account})
        tx.dropped([message_id, *evicted])

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

    def summaries(self, limit: int | None = None, **filters: Any
                  ) -> tuple[int, list[dict[str, Any]]]:
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

    @mutation
    def update_message(self, tx: Change, message_id: str, **changes: Any) -> Message | None:
        """Set fields of a stored message (status, parts, ...); None if it is gone."""
        message = self._messages.get(message_id)
        if message is None:
            return None
        for key, value in changes.items():
            setattr(message, key, value)
        if "parts" in changes:
            tx.parts(message)
        tx.message(message)
        return message

    @mutation
    def set_status_if(self, tx: Change, message_id: str, status: str, *,
                      when: tuple[str, ...]) -> str | None:
        """Set the status only if the current one is in ``when``, atomically; returns the
        status it had (None: no such message)."""
        message = self._messages.get(message_id)
        if message is None:
            return None
        before = message.status
        if before in when:
            message.status = status
            tx.message(message)
        return before

    @mutation
    def add_warnings(self, tx: Change, message_id: str, warnings: Iterable[str]) -> None:
        message = self._messages.get(message_id)
        if message is not None:
            message.warnings.extend(warnings)
            tx.message(message)

    @mutation
    def bump_extra(self, tx: Change, message_id: str, key: str) -> None:
        message = self._messages.get(message_id)
        if message is not None:
            message.extra[key] = message.extra.get(key, 0) + 1
            tx.message(message)

    @mutation
    def record_message_fetch(self, tx: Change, message_id: str, record: dict[str, Any]
                             ) -> None:
        message = self._messages.get(message_id)
        if message is not None:
            message.extra.setdefault("fetches", []).append(record)
            tx.message(message)

    @mutation
    def fill_part(self, tx: Change, message_id: str, index: int, data: bytes,
                  content_type: str | None) -> None:
        """A remote part's fetched bytes."""
        message = self._messages.get(message_id)
        if message is not None and 0 <= index < len(message.parts):
            part = message.parts[index]
            part.data = data
            part.content_type = content_type or part.content_type
            tx.parts(message, index)

    @mutation
    def add_report(self, tx: Change, message_id: str, report: Report,
                   callbacks: list[Callback]) -> str | None:
        """Record a report that became due, with the callbacks that carry it. A cancelled
        message keeps its status (the report is recorded, not sent). Returns the message's
        status before, or None if the message is gone (evicted, forgotten)."""
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
        tx.message(message)
        tx.callbacks(callbacks, new=True)
        return before

    # --- callbacks --------------------------------------------------------------------------
    @mutation
    def add_callback(self, tx: Change, callback: Callback) -> bool:
        """Keep a new callback (on its message, if stored); False if its message is gone."""
        message = self._messages.get(callback.message_id)
        if message is None:
            callback.cancelled = True
            return False
        self._add_callback(callback, message)
        tx.message(message)
        tx.callbacks([callback], new=True)
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

    @transient
    def start_attempt(self, callback: Callback) -> bool:
        """Mark the callback in flight; False when it was cancelled (reset, eviction, its
        account deleted, its message cancelled) or already ended. Not kept: an attempt under
        way at a crash is made again (docs/service.md)."""
        with self._lock:
            if callback.cancelled or callback.state in ("delivered", "failed"):
                return False
            callback.state = "in-flight"
            return True

    @mutation
    def record_attempt(self, tx: Change, callback: Callback, attempt: Attempt, state: str,
                       next_attempt_at: float | None) -> bool:
        """Record an attempt and the callback's new state; False (nothing recorded) when the
        callback was cancelled while the attempt was under way: the reset fence."""
        if callback.cancelled:
            return False
        callback.attempt_count += 1
        callback.attempts.append(attempt)
        if len(callback.attempts) > self.max_attempts:
            del callback.attempts[1]  # keep the first attempt and the latest ones
            callback.attempts_dropped += 1
        callback.state = state
        callback.next_attempt_at = next_attempt_at
        tx.callbacks([callback])
        return True

    @mutation
    def end_callback(self, tx: Change, callback: Callback, state: str) -> bool:
        """End a callback without another attempt (a retry due past the give-up time); False
        when it was cancelled or had already ended."""
        if callback.cancelled or callback.state in ("delivered", "failed"):
            return False
        callback.state = state
        callback.next_attempt_at = None
        tx.callbacks([callback])
        return True

    @mutation
    def set_callback_state(self, tx: Change, callback: Callback, state: str,
                           next_attempt_at: float | None = None) -> None:
        callback.state = state
        callback.next_attempt_at = next_attempt_at
        tx.callbacks([callback])

    @mutation
    def cancel_callbacks(self, tx: Change, message_id: str) -> list[str]:
        """Cancel a message's callbacks that have not ended (MM7 CancelReq)."""
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
        tx.callbacks(self._callbacks[i] for i in cancelled)
        return cancelled

    def get_callback(self, callback_id: str) -> Callback | None:
        with self._lock:
            return self._callbacks.get(callback_id)

    def callback_dict(self, callback_id: str) -> dict[str, Any] | None:
        with self._lock:
            callback = self._callbacks.get(callback_id)
            return callback.to_dict() if callback is not None else None

    def callback_dicts(self, *, message_id: str | None = None, kind: str | None = None,
                       state: str | None = None, account: str | None = None
                       ) -> list[dict[str, Any]]:
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

    def message_callback_dicts(self, message_id: str) -> list[dict[str, Any]]:
        """A message's callbacks in the order they were made."""
        with self._lock:
            message = self._messages.get(message_id)
            ids = message.callback_ids if message else []
            return [self._callbacks[i].to_dict() for i in ids if i in self._callbacks]

    # --- fetches ----------------------------------------------------------------------------
    @transient
    def record_fetch(self, record: dict[str, Any]) -> None:
        """A remote-content fetch, for the record (not kept: docs/service.md)."""
        with self._lock:
            self._fetches.append(record)
        self.events.publish("fetch", {"url": record.get("url"), "status": record.get("status"),
                               "cached": record.get("cached"), "error": record.get("error")})

    def fetch_dicts(self) -> list[dict[str, Any]]:
        """Fetch records, newest first."""
        with self._lock:
            return [dict(f) for f in reversed(self._fetches)]

    # --- accounts ---------------------------------------------------------------------------
    @transient
    def set_accounts(self, accounts: Iterable[Account]) -> None:
        with self._lock:
            self._accounts = {a.username: a for a in accounts}

    def account(self, username: str) -> Account | None:
        with self._lock:
            return self._accounts.get(username)

    def accounts(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())

    @transient
    def put_account(self, account: Account) -> None:
        """An account added or changed at run time (accounts come from the config at each
        start: not kept)."""
        with self._lock:
            self._accounts[account.username] = account
        self.events.publish("account", {"username": account.username})

    @mutation
    def remove_account(self, tx: Change, username: str) -> list[str] | None:
        """Forget an account and its counters; returns the ids of its messages (None: no such
        account). The messages stay readable (until evicted); every callback of the account
        that has not ended is cancelled, so nothing more reaches its application."""
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
        tx.callbacks(ended)
        self.quotas.forget(username)
        self.events.publish("account.deleted", {"username": username})
        return owned

    # --- dump -------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accounts": [a.to_dict() for a in self._accounts.values()],
                "messages": [m.dump() for m in self._messages.values()],
                "callbacks": [c.to_dict() for c in self._callbacks.values()],
                "fetches": [dict(f) for f in self._fetches],
                "evicted": self.evicted,
                **self.quotas.dump(),
            }

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"messages": len(self._messages), "evicted": self.evicted,
                    "max_messages": self.max_messages, "callbacks": len(self._callbacks),
                    "evicted_callbacks": self.evicted_callbacks,
                    "fetches": len(self._fetches), **self.events.stats()}


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
