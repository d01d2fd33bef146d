"""The store's callbacks and their attempts: each on its message, ended delivered, failed or
cancelled, changed in units of change (a part of ``Store``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fakemms.models import Attempt, Callback, Message
from fakemms.store.change import Change, mutation, transient
from fakemms.store.part import StorePart

if TYPE_CHECKING:
    pass


# the event an attempt recorded publishes, by the state it leaves the callback in
_ATTEMPT_EVENTS = {"delivered": "callback.delivered", "failed": "callback.failed"}


class CallbackRecords(StorePart):

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
        self.events.publish("callback.created", {
            "id": callback.id, "kind": callback.kind, "message_id": callback.message_id,
            "account": callback.account})
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
        self.events.publish(_ATTEMPT_EVENTS.get(state, "callback.attempt"),
                            callback.event(attempt))
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
        self.events.publish(f"callback.{state}", callback.event())
        return True

    @mutation
    def set_callback_state(self, tx: Change, callback: Callback, state: str,
                           next_attempt_at: float | None = None) -> None:
        callback.state = state
        callback.next_attempt_at = next_attempt_at
        tx.callbacks([callback])

    @mutation
    def cancel_callbacks(self, tx: Change, message_id: str) -> list[str]:
        """The message was cancelled (MM7 CancelReq): its callbacks that have not ended are
        too."""
        message = self._messages.get(message_id)
        if message is not None:
            self.events.publish("message.cancelled", {"id": message.id,
                                                      "account": message.account})
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
