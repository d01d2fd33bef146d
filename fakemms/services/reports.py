"""Delivery reports: scheduled from a decision (or asked for through the control API), fired
when due: recorded on the message, then sent to the MT configuration's DLR URL."""

from __future__ import annotations

import functools
from typing import Any

from fakemms import errors, outbound
from fakemms.models import Message, Report
from fakemms.scenario import ReportPlan
from fakemms.services.core import Core


class ReportService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def schedule(self, message: Message, plans: list[ReportPlan]) -> None:
        """The reports a decision planned for a new MT: early ones now, the rest when due."""
        core = self.core
        message_id, account = message.id, message.account  # jobs hold ids, not the message
        durable = core.store.durable  # off: no record built (the fast path)
        for plan in plans:
            if plan.early:
                self.fire(message_id, plan, sync=True)
            else:
                core.scheduler.at(message.created_at + plan.offset,
                                  functools.partial(self._fire_due, message_id, plan),
                                  f"report {plan.status} for {message_id}",
                                  key=message_id, account=account,
                                  record=report_record(message_id, plan) if durable else None)

    def fire(self, message_id: str, plan: ReportPlan, sync: bool = False) -> Report | None:
        """The report is due: record it on the message and send the DLR callback. None when
        the message is gone (evicted or forgotten) by then: the report is dropped."""
        core = self.core
        message = core.store.get_message(message_id)
        if message is None:
            core.scheduler.note_dropped()
            return None
        now = core.clock.now()
        # a duplicate or reordered report carries the date it happened at, not when it is sent
        date = now if plan.event_offset is None else message.created_at + plan.event_offset
        report = Report(status=plan.status, date=date, outcome_id=plan.outcome_id,
                        description=plan.description, user_agent=plan.user_agent)
        account = core.store.account(message.account)
        mt = account.mt_configs.get(message.mt_config or "") if account else None
        callbacks = []
        if mt is not None and not plan.dropped and message.status != "Cancelled":
            callbacks = outbound.report_callbacks(new_id=core.new_callback_id, message=message,
                                                  report=report, mt=mt, rng=core.rng, now=now,
                                                  settings=core.outbound)
        for callback in callbacks:
            callback.decision = message.decision
            callback.note = plan.fault
            if core.decision_header and message.decision:
                callback.headers["X-Fake-Decision"] = message.decision
            if not sync:
                callback.gate = message.answered
        if core.store.add_report(message_id, report, callbacks, fault=plan.fault,
                                 dropped=plan.dropped) is None:
            core.scheduler.note_dropped()
            return None
        for callback in callbacks:
            if sync:
                core.dispatcher.send_now(callback)
            else:
                core.dispatcher.submit(callback)
        return report

    def _fire_due(self, message_id: str, plan: ReportPlan) -> None:
        """A scheduled report's job."""
        self.fire(message_id, plan)

    def send(self, message_id: str, *, status: str, outcome_id: int | None = None,
             description: str | None = None, user_agent: str | None = None,
             after: float = 0.0) -> dict[str, Any]:
        """A report now (or ``after`` seconds on the clock), from the control API."""
        from fakemms.scenario.engine import STATUS_TABLE

        core = self.core
        message = core.store.get_message(message_id)
        if message is None:
            raise errors.NotFound(f"no message with id {message_id!r}")
        if message.direction != "mt":
            raise errors.ControlError("delivery reports are for MT messages")
        default_outcome, default_text = STATUS_TABLE.get(status, (None, None))
        plan = ReportPlan(status=status, offset=after,
                          outcome_id=default_outcome if outcome_id is None else outcome_id,
                          description=description or default_text, user_agent=user_agent)
        message.answered.set()
        message_id = message.id
        if after > 0:
            core.scheduler.after(after, functools.partial(self._fire_due, message_id, plan),
                                 f"report {status} for {message_id}", key=message_id,
                                 account=message.account,
                                 record=report_record(message_id, plan))
            return {"message_id": message_id, "status": status, "scheduled_in": after}
        report = self.fire(message_id, plan)
        if report is None:
            raise errors.NotFound(f"no message with id {message_id!r}")
        return {"message_id": message_id, **report.to_dict()}


def report_record(message_id: str, plan: ReportPlan) -> tuple[str, dict[str, Any]]:
    """What a pending report job is kept as (persistence): its message and plan."""
    return "report", {"message_id": message_id, "plan": dict(vars(plan))}  # flat: no asdict
