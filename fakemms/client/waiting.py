"""Waiting and asserting on the fake: ``wait_for_*`` block until something matching the
filters exists (event-driven: subscribed before looking, re-looking only on a relevant event);
on timeout they list the near misses, each with why it did not match."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from fakemms.client.errors import UNSET, FakeMmsClientError, WaitTimeout
from fakemms.client.events import EventStream
from fakemms.client.models import Callback, Message, MessageSummary, Report

if TYPE_CHECKING:
    from fakemms.client.transport import Transport

T = TypeVar("T")
WAIT_TIMEOUT = 5.0
NEAR_MISSES = 20  # how many of what did arrive a timeout lists

MESSAGE_EVENTS = frozenset({"message", "report", "message.cancelled", "message.replaced",
                            "message.withdrawn", "reset"})
CALLBACK_EVENTS = frozenset({"callback.created", "callback.attempt", "callback.delivered",
                             "callback.failed", "reset"})
REPORT_EVENTS = frozenset({"report", "reset"})


class Waiting:
    """The wait and assert helpers of ``Client`` (they use its list and get operations)."""

    account: str | None
    transport: Transport

    if TYPE_CHECKING:  # what the helpers use of ``Client``
        def _account(self, account: Any) -> str | None: ...

        def get_message(self, message_id: str = "latest") -> Message: ...

        def list_messages(self, *, direction: str | None = None, account: Any = UNSET,
                          number: str | None = None, status: str | None = None,
                          interface: str | None = None, limit: int | None = None
                          ) -> list[MessageSummary]: ...

        def get_callback(self, callback_id: str) -> Callback: ...

        def list_callbacks(self, *, message_id: str | None = None, kind: str | None = None,
                           state: str | None = None, account: Any = UNSET
                           ) -> list[Callback]: ...

    # --- waiting ----------------------------------------------------------------------------
    def _wait(self, what: str, check: Callable[[], T | None], triggers: frozenset[str],
              timeout: float, misses: Callable[[], str]) -> T:
        __tracebackhide__ = True  # a failing test shows the message, not this
        deadline = time.monotonic() + timeout
        found: T | None = None
        since: int | None = None
        while found is None and time.monotonic() < deadline:
            with EventStream(self.transport, since=since) as stream:  # subscribed before the check
                found = check()
                while found is None:
                    event = stream.next(deadline)
                    if event is None:
                        break
                    if event.type in triggers:
                        found = check()
                since = stream.last_seq
                if not stream.ended:
                    break  # the deadline passed
            if found is None:
                time.sleep(0.05)  # the stream ended early (a restart?): reopen it soon
        if found is None:
            found = check()
        if found is None:
            raise WaitTimeout(f"{what}: nothing within {timeout:g} s. {misses()}")
        return found

    def wait_for_message(self, *, id: str | None = None, direction: str | None = None,
                         account: Any = UNSET, number: str | None = None,
                         status: str | None = None, interface: str | None = None,
                         timeout: float = WAIT_TIMEOUT) -> Message:
        """The first message (oldest) matching every filter given, as soon as there is one
        (it may be there already). Raises ``WaitTimeout`` listing what did arrive."""
        __tracebackhide__ = True  # a failing test shows the message, not this
        return self.wait_for_messages(1, id=id, direction=direction, account=account,
                                      number=number, status=status, interface=interface,
                                      timeout=timeout)[0]

    def wait_for_messages(self, count: int, *, id: str | None = None,
                          direction: str | None = None, account: Any = UNSET,
                          number: str | None = None, status: str | None = None,
                          interface: str | None = None, timeout: float = WAIT_TIMEOUT
                          ) -> list[Message]:
        """The first ``count`` messages (oldest first) matching the filters."""
        __tracebackhide__ = True  # a failing test shows the message, not this
        filters = {"id": id, "direction": direction, "account": self._account(account),
                   "number": number, "status": status, "interface": interface}

        def check() -> list[Message] | None:
            found = self._matching_messages(filters)
            if len(found) < count:
                return None
            return [self.get_message(m.id) for m in found[:count]]

        what = f"wait_for_message({_describe(filters)})"
        if count != 1:
            what = f"wait_for_messages({count}, {_describe(filters)})"
        return self._wait(what, check, MESSAGE_EVENTS, timeout,
                          lambda: self._message_misses(filters))

    def _matching_messages(self, filters: dict[str, Any]) -> list[MessageSummary]:
        """Oldest first."""
        if filters.get("id"):
            try:
                message = self.get_message(filters["id"]).summary()
            except FakeMmsClientError as exc:
                if exc.status == 404:
                    return []
                raise
            return [message] if not _message_mismatches(message, filters) else []
        server_side = {k: filters[k] for k in ("direction", "number", "status", "interface")}
        found = self.list_messages(account=filters["account"], **server_side)
        return list(reversed(found))

    def _message_misses(self, filters: dict[str, Any]) -> str:
        arrived = self.list_messages(account=filters.get("account"), limit=NEAR_MISSES)
        return _near_misses(arrived, filters, _message_mismatches, "No message arrived",
                            "What did arrive")

    def wait_for_callback(self, *, id: str | None = None, message_id: str | None = None,
                          kind: str | None = None, state: str | None = None,
                          account: Any = UNSET, number: str | None = None,
                          direction: str | None = None, timeout: float = WAIT_TIMEOUT
                          ) -> Callback:
        """The first callback (oldest) matching the filters that has been attempted at least
        once, or that is in ``state`` (delivered, failed, retrying, ...) when given.
        ``kind`` report|mo (``direction`` mt|mo says the same); ``number``: the message's
        source or destination."""
        __tracebackhide__ = True  # a failing test shows the message, not this
        if direction and not kind:
            kind = {"mt": "report", "mo": "mo"}.get(direction, direction)
        filters = {"id": id, "message_id": message_id, "kind": kind, "state": state,
                   "account": self._account(account), "number": number}

        def check() -> Callback | None:
            found = self._matching_callbacks(filters)
            return found[0] if found else None

        return self._wait(f"wait_for_callback({_describe(filters)})", check, CALLBACK_EVENTS,
                          timeout, lambda: self._callback_misses(filters))

    def _matching_callbacks(self, filters: dict[str, Any]) -> list[Callback]:
        """Oldest first."""
        if filters.get("id"):
            try:
                callbacks = [self.get_callback(filters["id"])]
            except FakeMmsClientError as exc:
                if exc.status == 404:
                    return []
                raise
        else:
            callbacks = list(reversed(self.list_callbacks(
                message_id=filters.get("message_id"), kind=filters.get("kind"),
                state=filters.get("state"), account=filters.get("account"))))
        if filters.get("number"):
            ids = {m.id for m in self.list_messages(number=filters["number"],
                                                    account=filters.get("account"))}
            callbacks = [c for c in callbacks if c.message_id in ids]
        return [c for c in callbacks if not _callback_mismatches(c, filters)]

    def _callback_misses(self, filters: dict[str, Any]) -> str:
        arrived = self.list_callbacks(account=filters.get("account"))[:NEAR_MISSES]
        return _near_misses(arrived, filters, _callback_mismatches, "No callback was made",
                            "Callbacks")

    def wait_for_report(self, *, message_id: str | None = None, status: str | None = None,
                        account: Any = UNSET, number: str | None = None,
                        timeout: float = WAIT_TIMEOUT) -> Report:
        """The first delivery report (on the oldest MT first) matching the filters, as soon
        as the fake has recorded one. ``report.message_id`` names its message."""
        __tracebackhide__ = True  # a failing test shows the message, not this
        filters = {"message_id": message_id, "status": status,
                   "account": self._account(account), "number": number}

        def check() -> Report | None:
            for message in self._reported_messages(filters):
                for report in message.reports:
                    if not status or report.status.lower() == status.lower():
                        return report
            return None

        return self._wait(f"wait_for_report({_describe(filters)})", check, REPORT_EVENTS,
                          timeout, lambda: self._report_misses(filters))

    def _reported_messages(self, filters: dict[str, Any]) -> list[Message]:
        if filters.get("message_id"):
            try:
                return [self.get_message(filters["message_id"])]
            except FakeMmsClientError as exc:
                if exc.status == 404:
                    return []
                raise
        summaries = self.list_messages(direction="mt", account=filters.get("account"),
                                       number=filters.get("number"), limit=50)
        return [self.get_message(m.id) for m in reversed(summaries) if m.status != "accepted"]

    def _report_misses(self, filters: dict[str, Any]) -> str:
        scope = f" in account {filters['account']!r}" if filters.get("account") else ""
        if filters.get("message_id"):
            try:
                messages = [self.get_message(filters["message_id"])]
            except FakeMmsClientError:
                return f"There is no message {filters['message_id']!r}."
        else:
            messages = [self.get_message(m.id) for m in self.list_messages(
                direction="mt", account=filters.get("account"), limit=NEAR_MISSES)]
        if not messages:
            return f"No MT message arrived{scope}."
        lines = [f"MT messages{scope} and their reports (newest first):"]
        for m in messages:
            reports = ", ".join(r.status for r in m.reports) or "no report yet"
            lines.append(f"  {m.summary().line()}  reports: {reports}")
        return "\n".join(lines)

    # --- assertions -------------------------------------------------------------------------
    def assert_callback_acked(self, *, message_id: str | None = None, kind: str | None = None,
                              id: str | None = None, account: Any = UNSET,
                              number: str | None = None, within_ms: float = 1000.0,
                              timeout: float = WAIT_TIMEOUT) -> Callback:
        """The application answered the first attempt of the (first) matching callback with
        success (what the callback's protocol calls success: OpenMarket HTTP 200, MM7 a
        StatusCode 1000 response, legacy 200 with a body) within ``within_ms``
        milliseconds. Waits up to ``timeout`` for the attempt; returns the callback."""
        __tracebackhide__ = True  # a failing test shows the message, not this
        callback = self.wait_for_callback(id=id, message_id=message_id, kind=kind,
                                          account=account, number=number, timeout=timeout)
        first = callback.attempts[0]
        problems = []
        if not first.ok:
            problems.append(f"the answer was not a success: {first.line()}")
        if first.latency_ms is not None and first.latency_ms > within_ms:
            problems.append(f"the answer took {first.latency_ms:g} ms (more than "
                            f"{within_ms:g} ms)")
        if problems:
            body = f"; the application answered {first.body[:300]!r}" if first.body else ""
            raise AssertionError(
                f"callback {callback.id} ({callback.kind} for message {callback.message_id}, "
                f"{callback.protocol} {callback.method} {callback.url}) was not acked: "
                + "; ".join(problems) + body)
        return callback

    def assert_no_messages(self, *, direction: str | None = None, account: Any = UNSET,
                           number: str | None = None, status: str | None = None,
                           interface: str | None = None, within: float = 0.0) -> None:
        """No message matches the filters now (and, with ``within`` seconds, none arrives
        in that time: watched on the event stream)."""
        __tracebackhide__ = True  # a failing test shows the message, not this
        filters: dict[str, Any] = {"direction": direction, "account": self._account(account),
                   "number": number, "status": status, "interface": interface}

        def check() -> list[MessageSummary] | None:
            found = self.list_messages(**filters)
            return found or None

        found = None
        if within > 0:
            try:
                found = self._wait("", check, MESSAGE_EVENTS, within, lambda: "")
            except WaitTimeout:
                found = None
        else:
            found = check()
        if found:
            lines = "\n".join(f"  {m.line()}" for m in found[:NEAR_MISSES])
            raise AssertionError(f"expected no messages ({_describe(filters)}), found "
                                 f"{len(found)}:\n{lines}")


def _describe(filters: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in filters.items() if v is not None)


def _message_mismatches(m: MessageSummary, f: Mapping[str, Any]) -> list[str]:
    out = []
    if f.get("id") and m.id != f["id"]:
        out.append(f"id {m.id}")
    if f.get("direction") and m.direction != f["direction"]:
        out.append(f"direction {m.direction}")
    if f.get("account") and m.account != f["account"]:
        out.append(f"account {m.account}")
    if f.get("number") and f["number"] != m.source and f["number"] not in m.destinations:
        out.append(f"number: {m.source} -> {','.join(m.destinations)}")
    if f.get("status") and m.status.lower() != str(f["status"]).lower():
        out.append(f"status {m.status}")
    if f.get("interface") and m.interface != f["interface"]:
        out.append(f"interface {m.interface}")
    return out


def _callback_mismatches(c: Callback, f: Mapping[str, Any]) -> list[str]:
    out = []
    if f.get("id") and c.id != f["id"]:
        out.append(f"id {c.id}")
    if f.get("message_id") and c.message_id != f["message_id"]:
        out.append(f"message {c.message_id}")
    if f.get("kind") and c.kind != f["kind"]:
        out.append(f"kind {c.kind}")
    if f.get("account") and c.account != f["account"]:
        out.append(f"account {c.account}")
    if f.get("state") and c.state != f["state"]:
        out.append(f"state {c.state}")
    elif not f.get("state") and not c.attempts:
        out.append("not attempted yet")
    return out


def _near_misses(arrived: list, filters: dict[str, Any], mismatches: Any, empty: str,
                 heading: str) -> str:
    """What did arrive, each with why it did not match: a failing wait explains itself."""
    scope = f" in account {filters['account']!r}" if filters.get("account") else ""
    if not arrived:
        return f"{empty}{scope}."
    lines = [f"{heading}{scope} (newest first, at most {NEAR_MISSES}):"]
    for item in arrived:
        differs = mismatches(item, filters)
        lines.append(f"  {item.line()}" + (f"  [{'; '.join(differs)}]" if differs else ""))
    return "\n".join(lines)
