"""Accepting an MT from any interface: the scenario's decision, the message kept (durably,
when a journal keeps state: all of it before the answer, or a refusal), its reports
scheduled; cancel and replace (MM7)."""

from __future__ import annotations

from typing import Any

from fakemms import errors
from fakemms.clock import Clock
from fakemms.models import Account, Message, Part
from fakemms.remote_content import needs_fetch
from fakemms.scenario import Decision
from fakemms.services.core import Core
from fakemms.services.reports import ReportService


class MtService:
    def __init__(self, core: Core, reports: ReportService) -> None:
        self.core = core
        self.reports = reports
        settings = core.config.get("persistence") or {}
        self.retry_after: int = settings.get("retry_after", 5)

    def submit(self, *, account: Account, interface: str, source: str,
               destinations: list[str], mt_config: str, parts: list[Part],
               subject: str | None = None, mobile_operator_id: int | None = None,
               warnings: list[str] | None = None, request_id: str | None = None,
               protocol: str | None = None, extra: dict[str, Any] | None = None,
               message_id: str | None = None, ccs: list[str] | None = None,
               bccs: list[str] | None = None, raw_request: bytes = b"") -> Message:
        """Accept an MT (or raise the error a scenario decided). Reports are scheduled; each
        waits for ``message.answered`` so none overtakes the answer."""
        core = self.core
        if mt_config not in account.mt_configs:
            raise errors.InvalidMtConfig(
                f"mtConfig {mt_config!r} is not configured for account {account.username}")
        first = next(iter([*destinations, *(ccs or []), *(bccs or [])]), "")
        decision = core.engine.decide({
            "account": account.username, "mt_config": mt_config, "source": source,
            "destination": first, "subject": subject, "protocol": protocol or interface,
        })
        if decision.error is not None or decision.mm7_status is not None:
            Clock.sleep_wall(decision.latency)
            raise _refusal(decision)
        message = Message(
            id=message_id or core.new_message_id(), direction="mt", interface=interface,
            account=account.username, source=source, destinations=list(destinations),
            ccs=list(ccs or []), bccs=list(bccs or []),
            created_at=core.clock.now(), mt_config=mt_config, subject=subject,
            mobile_operator_id=mobile_operator_id, parts=parts, warnings=list(warnings or []),
            request_id=request_id, decision=decision.label, extra=dict(extra or {}),
            raw_request=raw_request,
        )
        evicted: list[str] = []
        try:
            with core.store.atomic():  # the message and its report jobs: one commit
                evicted = self._accept(message, decision)
        except errors.StateNotDurable as exc:
            self._withdraw(message, evicted)  # refused: what the API shows, a restart shows
            exc.retry_after = self.retry_after  # type: ignore[misc]
            raise
        # a request thread fires up to two reports already due: it keeps them closer to their
        # due time under load, at no measurable cost in sends/s (bench/scheduler_help.py)
        core.scheduler.help()
        # the answer is slow, the message already accepted: its reports still wait for it
        Clock.sleep_wall(decision.latency)
        return message

    def _accept(self, message: Message, decision: Decision) -> list[str]:
        core = self.core
        evicted = core.store.add_message(message)
        if evicted:
            core.scheduler.cancel_keys(evicted)  # their jobs are dropped (counted)
        if needs_fetch(message):
            core.content.then(message, decision.reports, self.reports.schedule)
        else:
            self.reports.schedule(message, decision.reports)
        return evicted

    def _withdraw(self, message: Message, evicted: list[str]) -> None:
        """Undo an accepted MT whose rows the journal could not write: the message and its
        report jobs leave memory (the messages it evicted stay gone)."""
        self.core.scheduler.cancel_keys([message.id], dropped=False)
        self.core.store.withdraw_message(message.id, evicted)
        message.answered.set()  # nothing waits for an answer that refused it

    def own(self, account: Account, message_id: str | None) -> Message:
        """The account's MT message with this id, or MessageIDNotFound (MM7 2005)."""
        store = self.core.store
        message = store.get_message(message_id or "") if message_id != "latest" else None
        if message is None or message.direction != "mt" or message.account != account.username:
            raise errors.MessageIdNotFound(f"no message {message_id!r} for {account.username}")
        return message

    def cancel(self, account: Account, message_id: str | None) -> Message:
        """Cancel: reports not yet sent are recorded but never sent. A message no longer
        pending (not ``accepted`` or ``Deferred``) stays as it is: 3001 Not Possible."""
        core = self.core
        message = self.own(account, message_id)
        # checked and set in one step: a report firing meanwhile cannot be overwritten
        before = core.store.set_status_if(message.id, "Cancelled",
                                          when=("accepted", "Deferred"))
        if before not in ("accepted", "Deferred"):
            raise errors.NotPossible(f"message {message.id} is {before}: "
                                     "only a message not yet delivered can be cancelled")
        if core.store.cancel_callbacks(message.id):
            core.dispatcher.drop_cancelled()
        return message

    def replace(self, account: Account, message_id: str | None, parts: list[Part],
                warnings: list[str] | None = None) -> Message:
        message = self.own(account, message_id)
        self.core.store.replace_content(message.id, parts, warnings or [])
        return message


def _refusal(decision: Decision) -> errors.FakeMmsError:
    if decision.error is not None:
        error = errors.openmarket_error(decision.error, None)
    else:
        error = errors.InternalError("refused by scenario")
    if decision.mm7_status is not None:
        error.mm7_status = decision.mm7_status  # type: ignore[misc]
    error.decision = decision.label  # type: ignore[attr-defined]
    return error
