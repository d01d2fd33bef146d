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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fakemms.models import Account, Callback, Message, StoredJob
from fakemms.store.callbacks import CallbackRecords
from fakemms.store.change import Change, mutation, transient
from fakemms.store.events import EventBus
from fakemms.store.messages import MessageRecords
from fakemms.store.quotas import Quotas

if TYPE_CHECKING:
    from fakemms.persistence import Loaded, SqliteJournal

MAX_FETCHES = 1000
MAX_ATTEMPTS = 50  # attempts kept per callback: the first and the latest
_OFF = Change(None)  # without a journal every unit of change is this one (it writes nothing)


class Store(MessageRecords, CallbackRecords):
    """The one store: messages (``MessageRecords``), callbacks (``CallbackRecords``), fetch
    records and accounts, with the quotas and the event bus beside them."""

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
