"""The store's messages: kept, evicted oldest first past ``max_messages``, changed in units
of change, read as snapshots (a part of ``Store``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from fakemms.models import Callback, Message, Part, Report
from fakemms.store.change import Change, mutation
from fakemms.store.part import StorePart

if TYPE_CHECKING:
    pass


class MessageRecords(StorePart):
    if TYPE_CHECKING:  # from CallbackRecords
        def _add_callback(self, callback: Callback, message: Message) -> None: ...

        def _forget_callbacks(self, ids: Iterable[str]) -> None: ...

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
    def replace_content(self, tx: Change, message_id: str, parts: list[Part],
                        warnings: Iterable[str]) -> None:
        """An MM7 ReplaceReq: new parts (when any), its warnings, one more replacement."""
        message = self._messages.get(message_id)
        if message is None:
            return
        if parts:
            message.parts = parts
            tx.parts(message)
        message.warnings.extend(warnings)
        message.extra["replaced"] = message.extra.get("replaced", 0) + 1
        tx.message(message)
        self.events.publish("message.replaced", {"id": message.id,
                                                 "account": message.account})

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
                   callbacks: list[Callback], *, fault: str | None = None,
                   dropped: bool = False) -> str | None:
        """Record a report that became due, with the callbacks that carry it. A cancelled
        message keeps its status (the report is recorded, not sent). Returns the message's
        status before, or None if the message is gone (evicted, forgotten). ``fault`` and
        ``dropped``: what a scenario did to it, for the event."""
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
        self.events.publish("report", {"message_id": message.id, "status": report.status,
                                       "account": message.account, "fault": fault,
                                       "dropped": dropped})
        for callback in callbacks:
            self.events.publish("callback.created", _created(callback))
        return before


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


def _created(callback: Callback) -> dict[str, Any]:
    return {"id": callback.id, "kind": callback.kind, "message_id": callback.message_id,
            "account": callback.account}
