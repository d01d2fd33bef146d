"""The backend: state and behaviour behind every interface (moto's ``models.py`` role).

Views parse with a codec, call the backend with keyword arguments and render; the backend
applies the guards, asks the scenario engine, stores messages, schedules what follows (reports,
MOs, retries) on the one scheduler, and hands callbacks to the dispatcher.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakemms import errors, generate, mt_content, outbound
from fakemms.callbacks import Dispatcher
from fakemms.clock import Clock
from fakemms.config import (
    ACCOUNT_SCHEMA,
    Config,
    account_from_dict,
    account_problems,
    validate,
)
from fakemms.errors import ConfigError
from fakemms.guards import Guards
from fakemms.models import Account, Message, Part, Report
from fakemms.protocols.mime import MimeLimits, content_type_params
from fakemms.protocols.mm7.tables import VERSION_NAMESPACES
from fakemms.remote_content import RemoteContent, needs_fetch
from fakemms.rng import Rng
from fakemms.scenario import Decision, Engine, ReportPlan, Scenario, load_scenario
from fakemms.scenario.loader import MoScript
from fakemms.scheduler import Job, Scheduler
from fakemms.store import Store

if TYPE_CHECKING:
    from fakemms.models import StoredJob
    from fakemms.persistence import Loaded, SqliteJournal

log = logging.getLogger(__name__)
ID_WIDTH = 15  # openmarket-mms-send.txt "mtId": 123456789012345; moId likewise


class Backend:
    def __init__(self, config: Config) -> None:
        self.config = config
        # scenarios first: a bad file refuses the config before any thread has started
        scenarios = [load_scenario(self._path(p)) for p in config["scenarios"]]
        usernames = {a.username for a in config.accounts()}
        for scenario in scenarios:
            problems = unknown_mo_accounts(scenario, usernames)
            if problems:
                raise ConfigError(scenario.source, problems)
        self.clock = Clock(config["clock"])
        self.rng = Rng(config["seed"])
        journal = self._open_journal()
        loaded = journal.load() if journal is not None else None
        self.store = Store(max_messages=config["max_messages"], journal=journal)
        self.store.set_accounts(config.accounts())
        self.guards = Guards(self.store, self.clock, config["trusted_proxies"])
        self.strict_mime: bool = config["strict_mime"]
        caps = config["content"]  # hostile content (docs/service.md)
        self.mime_limits = MimeLimits(**{k: caps[k] for k in MimeLimits.__dataclass_fields__})
        self.decision_header: bool = config["decision_header"]
        self.http_status: dict[int, int] = {int(k): v for k, v in config["http_status"].items()}
        self.scheduler = Scheduler(self.clock, self.store)
        cb = config["callbacks"]
        self.dispatcher = Dispatcher(
            self.store, self.clock, self.scheduler, timeout_seconds=cb["timeout_seconds"],
            retry_delays=cb["retry_delays"], give_up_after_seconds=cb["give_up_after_seconds"],
            per_destination=cb["workers"])
        self.engine = Engine(self.rng, config["default_report"])
        self.outbound = outbound.Settings(
            mm7_namespaces={**VERSION_NAMESPACES, **config["mm7"]["callback_namespaces"]},
            legacy_timeout=config["legacy"]["timeout_seconds"],
            legacy_expiry=config["legacy"]["expiry_seconds"])
        self.content = RemoteContent(self.store, self.clock, config["remote_content"],
                                     max_ratio=caps["max_ratio"])
        self._callback_seq = itertools.count(1)
        self._lock = threading.RLock()
        self._armed: set[str] = set()  # scenarios whose MO scripts were armed (persistence)
        if loaded is None:
            self.set_scenarios(scenarios)
        else:
            self._restore(loaded, scenarios)

    def _open_journal(self) -> SqliteJournal | None:
        settings = self.config.get("persistence") or {}
        path = settings.get("path")
        if not path:
            return None
        from fakemms.persistence import SqliteJournal  # only when asked: off is the fast path

        try:
            return SqliteJournal(self._path(path), settings.get("synchronous", "normal") or "off")
        except (OSError, ValueError, sqlite3.Error) as exc:
            raise ConfigError("persistence.path", [f"{path}: {exc}"]) from None

    def _path(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else self.config.base_dir / path

    # --- ids --------------------------------------------------------------------------------
    def new_message_id(self) -> str:
        return self.store.unique_id(lambda: str(self.rng.digits(ID_WIDTH)))

    def new_request_id(self) -> str:
        return self.rng.request_id()

    def new_callback_id(self) -> str:
        return f"cb-{next(self._callback_seq):06d}"

    def status_for(self, error: errors.FakeMmsError) -> int:
        """HTTP status of an OpenMarket error: the README table, with config overrides."""
        return self.http_status.get(error.code, error.http_status)

    # --- guards -----------------------------------------------------------------------------
    def authenticate(self, *, credentials: tuple[str, str] | None, remote_addr: str | None,
                     forwarded_for: str | None = None) -> Account:
        """IP allowlist and Basic auth."""
        ip = self.guards.client_ip(remote_addr, forwarded_for)
        return self.guards.authenticate(credentials, ip)

    def admit(self, *, credentials: tuple[str, str] | None, remote_addr: str | None,
              forwarded_for: str | None = None) -> Account:
        """Every guard: IP allowlist, Basic auth, account state and TPS."""
        account = self.authenticate(credentials=credentials, remote_addr=remote_addr,
                                    forwarded_for=forwarded_for)
        self.guards.admit(account)
        return account

    @contextmanager
    def reserved(self, account: Account) -> Iterator[None]:
        """Give the admitted message back to the account's limits if the request then fails."""
        try:
            yield
        except BaseException:
            self.guards.release(account)
            raise

    # --- MT ---------------------------------------------------------------------------------
    def submit_mt(self, *, account: Account, interface: str, source: str,
                  destinations: list[str], mt_config: str, parts: list[Part],
                  subject: str | None = None, mobile_operator_id: int | None = None,
                  warnings: list[str] | None = None, request_id: str | None = None,
                  protocol: str | None = None, extra: dict[str, Any] | None = None,
                  message_id: str | None = None, ccs: list[str] | None = None,
                  bccs: list[str] | None = None, raw_request: bytes = b"") -> Message:
        """Accept an MT (or raise the error a scenario decided). Reports are scheduled; each
        waits for ``message.answered`` so none overtakes the answer."""
        if mt_config not in account.mt_configs:
            raise errors.InvalidMtConfig(
                f"mtConfig {mt_config!r} is not configured for account {account.username}")
        first = next(iter([*destinations, *(ccs or []), *(bccs or [])]), "")
        decision = self.engine.decide({
            "account": account.username, "mt_config": mt_config, "source": source,
            "destination": first, "subject": subject,
            "protocol": protocol or interface,
        })
        if decision.error is not None or decision.mm7_status is not None:
            Clock.sleep_wall(decision.latency)
            raise self._refusal(decision)
        message = Message(
            id=message_id or self.new_message_id(), direction="mt", interface=interface,
            account=account.username, source=source, destinations=list(destinations),
            ccs=list(ccs or []), bccs=list(bccs or []),
            created_at=self.clock.now(), mt_config=mt_config, subject=subject,
            mobile_operator_id=mobile_operator_id, parts=parts, warnings=list(warnings or []),
            request_id=request_id, decision=decision.label, extra=dict(extra or {}),
            raw_request=raw_request,
        )
        evicted: list[str] = []
        try:
            with self.store.atomic():  # the message and its report jobs: one commit
                evicted = self._accept(message, decision)
        except errors.StateNotDurable as exc:
            self._withdraw(message, evicted)  # refused: what the API shows, a restart shows
            settings = self.config.get("persistence") or {}
            exc.retry_after = settings.get("retry_after", 5)  # type: ignore[misc]
            raise
        self.scheduler.help()  # fire what fell due meanwhile: firing keeps pace under load
        # the answer is slow, the message already accepted: its reports still wait for it
        Clock.sleep_wall(decision.latency)
        return message

    def _accept(self, message: Message, decision: Decision) -> list[str]:
        evicted = self._keep(message)
        if needs_fetch(message):
            self.content.then(message, decision.reports, self._schedule_reports)
        else:
            self._schedule_reports(message, decision.reports)
        return evicted

    def _withdraw(self, message: Message, evicted: list[str]) -> None:
        """Undo an accepted MT whose rows the journal could not write: the message and its
        report jobs leave memory (the messages it evicted stay gone, and leave the file when
        it takes writes again)."""
        self.scheduler.cancel_keys([message.id], dropped=False)
        self.store.withdraw_message(message.id, evicted)
        message.answered.set()  # nothing waits for an answer that refused it

    def mm7_parts(self, content: Any) -> tuple[list[Part], list[str]]:
        """An MM7 submission's parts as stored, and warnings (mt_content.mm7_parts)."""
        return mt_content.mm7_parts(content, self.config["mm7"])

    def legacy_parts(self, req: Any) -> list[Part]:
        """A SendMMS request's parts, its zip fetched when given by URL (mt_content)."""
        return mt_content.legacy_parts(req, self.content.fetcher, self.zip_limits())

    def zip_limits(self) -> dict[str, Any]:
        """``read_zip``'s caps for a legacy mms.zip, uploaded or fetched (docs/legacy.md)."""
        caps = self.config["content"]
        return {"max_total_bytes": self.config["legacy"]["max_zip_bytes"],
                "max_entries": caps["max_zip_entries"],
                "max_entry_bytes": caps["max_entry_bytes"], "max_ratio": caps["max_ratio"]}

    def mt_config_for_vasid(self, account: Account, vas_id: str | None) -> str:
        """MM7's VASID names the MT configuration (openmarket-mms-overview.txt); an empty or
        absent VASID takes the account's first configuration."""
        if vas_id:
            if vas_id not in account.mt_configs:
                raise errors.InvalidMtConfig(f"VASID {vas_id!r} names no MT configuration of "
                                             f"account {account.username}")
            return vas_id
        if not account.mt_configs:
            raise errors.InvalidMtConfig(f"account {account.username} has no MT configuration")
        return next(iter(account.mt_configs))

    def own_mt(self, account: Account, message_id: str | None) -> Message:
        """The account's MT message with this id, or MessageIDNotFound (MM7 2005)."""
        message = self.store.get_message(message_id or "") if message_id != "latest" else None
        if message is None or message.direction != "mt" or message.account != account.username:
            raise errors.MessageIdNotFound(f"no message {message_id!r} for {account.username}")
        return message

    def cancel_mt(self, account: Account, message_id: str | None) -> Message:
        """Cancel: reports not yet sent are recorded but never sent. A message no longer
        pending (not ``accepted`` or ``Deferred``) stays as it is: 3001 Not Possible."""
        message = self.own_mt(account, message_id)
        # checked and set in one step: a report firing meanwhile cannot be overwritten
        before = self.store.set_status_if(message.id, "Cancelled",
                                          when=("accepted", "Deferred"))
        if before not in ("accepted", "Deferred"):
            raise errors.NotPossible(f"message {message.id} is {before}: "
                                     "only a message not yet delivered can be cancelled")
        if self.store.cancel_callbacks(message.id):
            self.dispatcher.drop_cancelled()
        self.store.events.publish("message.cancelled",
                                  {"id": message.id, "account": account.username})
        return message

    def replace_mt(self, account: Account, message_id: str | None, parts: list[Part],
                   warnings: list[str] | None = None) -> Message:
        message = self.own_mt(account, message_id)
        if parts:
            self.store.update_message(message.id, parts=parts)
        self.store.add_warnings(message.id, warnings or [])
        self.store.bump_extra(message.id, "replaced")
        self.store.events.publish("message.replaced",
                                  {"id": message.id, "account": account.username})
        return message

    def _refusal(self, decision: Decision) -> errors.FakeMmsError:
        if decision.error is not None:
            error = errors.openmarket_error(decision.error, None)
        else:
            error = errors.InternalError("refused by scenario")
        if decision.mm7_status is not None:
            error.mm7_status = decision.mm7_status  # type: ignore[misc]
        error.decision = decision.label  # type: ignore[attr-defined]
        return error

    def _keep(self, message: Message) -> list[str]:
        """Store a new message; the jobs of the messages it evicts are dropped (counted)."""
        evicted = self.store.add_message(message)
        if evicted:
            self.scheduler.cancel_keys(evicted)
        return evicted

    def _schedule_reports(self, message: Message, plans: list[ReportPlan]) -> None:
        message_id, account = message.id, message.account  # jobs hold ids, not the message
        durable = self.store.durable  # off: no record built (the fast path)
        for plan in plans:
            if plan.early:
                self.fire_report(message_id, plan, sync=True)
            else:
                self.scheduler.at(message.created_at + plan.offset,
                                  lambda p=plan: self.fire_report(message_id, p),
                                  f"report {plan.status} for {message_id}",
                                  key=message_id, account=account,
                                  record=_report_record(message_id, plan) if durable else None)

    def fire_report(self, message_id: str, plan: ReportPlan, sync: bool = False
                    ) -> Report | None:
        """The report is due: record it on the message and send the DLR callback. None when
        the message is gone (evicted or forgotten) by then: the report is dropped."""
        message = self.store.get_message(message_id)
        if message is None:
            self.scheduler.dropped += 1
            return None
        now = self.clock.now()
        # a duplicate or reordered report carries the date it happened at, not when it is sent
        date = now if plan.event_offset is None else message.created_at + plan.event_offset
        report = Report(status=plan.status, date=date, outcome_id=plan.outcome_id,
                        description=plan.description, user_agent=plan.user_agent)
        account = self.store.account(message.account)
        mt = account.mt_configs.get(message.mt_config or "") if account else None
        callbacks = []
        if mt is not None and not plan.dropped and message.status != "Cancelled":
            callbacks = outbound.report_callbacks(new_id=self.new_callback_id, message=message,
                                                  report=report, mt=mt, rng=self.rng, now=now,
                                                  settings=self.outbound)
        for callback in callbacks:
            callback.decision = message.decision
            callback.note = plan.fault
            if self.decision_header and message.decision:
                callback.headers["X-Fake-Decision"] = message.decision
            if not sync:
                callback.gate = message.answered
        if self.store.add_report(message_id, report, callbacks) is None:
            self.scheduler.dropped += 1
            return None
        self.store.events.publish("report", {"message_id": message.id, "status": plan.status,
                                      "account": message.account, "fault": plan.fault,
                                      "dropped": plan.dropped})
        for callback in callbacks:
            if sync:
                self.dispatcher.send_now(callback)
            else:
                self.dispatcher.submit(callback)
        return report

    def send_report(self, message_id: str, *, status: str, outcome_id: int | None = None,
                    description: str | None = None, user_agent: str | None = None,
                    after: float = 0.0) -> dict[str, Any]:
        """A report now (or ``after`` seconds on the clock), from the control API."""
        from fakemms.scenario.engine import STATUS_TABLE

        message = self.store.get_message(message_id)
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
            self.scheduler.after(after, lambda: self.fire_report(message_id, plan),
                                 f"report {status} for {message_id}", key=message_id,
                                 account=message.account,
                                 record=_report_record(message_id, plan))
            return {"message_id": message_id, "status": status, "scheduled_in": after}
        report = self.fire_report(message_id, plan)
        if report is None:
            raise errors.NotFound(f"no message with id {message_id!r}")
        return {"message_id": message_id, **report.to_dict()}

    # --- MO ---------------------------------------------------------------------------------
    def inject_mo(self, *, account: str, source: str | None = None,
                  destination: str | None = None, subject: str | None = None,
                  parts: list[Part] | None = None, ccs: list[str] | None = None,
                  bccs: list[str] | None = None, mobile_operator_id: int | None = None,
                  user_agent: str | None = None, decision: str | None = None,
                  sms: bool = False, ua_prof: str | None = None,
                  format: str | None = None) -> Message:
        """An MO from a handset: stored, then sent to the account's MO configuration (in
        ``format`` instead of the configuration's, when given)."""
        acc = self.store.account(account)
        if acc is None:
            raise errors.NotFound(f"no account {account!r}")
        mo = acc.mo
        if format and mo is not None:
            mo = dataclasses.replace(mo, format=format)
        region = mo.region if mo else "US"
        if not destination:
            raise errors.ControlError("an MO needs a destination (the short code)")
        message = Message(
            id=self.new_message_id(), direction="mo",
            interface=_interface_of(mo.format if mo else "http"), account=account,
            source=source or generate.phone_number(self.rng, region),
            destinations=[str(destination)], created_at=self.clock.now(),
            subject=subject if subject is not None else generate.subject(self.rng),
            mobile_operator_id=mobile_operator_id
            or self.rng.choice(generate.OPERATORS.get(region, [77])),
            ccs=list(ccs or []), bccs=list(bccs or []),
            parts=_with_content_ids(parts) if parts
            else [Part("text/plain", generate.text(self.rng).encode(), "text.txt")],
            status="received", decision=decision,
            extra={k: v for k, v in (("user_agent", user_agent), ("ua_prof", ua_prof),
                                     ("type", "sms" if sms else None)) if v},
        )
        message.answered.set()
        self._keep(message)
        if mo is not None:
            callback = outbound.mo_callback(
                callback_id=self.new_callback_id(), message=message, account=acc, mo=mo,
                rng=self.rng, now=message.created_at, settings=self.outbound)
            if callback is not None:
                callback.decision = decision
                if decision and self.decision_header:  # as report callbacks do (README)
                    callback.headers["X-Fake-Decision"] = decision
                if self.store.add_callback(callback):
                    self.dispatcher.submit(callback)
        return message

    def generated_parts(self, specs: list[dict[str, Any]]) -> list[Part]:
        """MO parts from scenario/control specs: text, base64, or generated with faker."""
        import base64

        parts = []
        for spec in specs:
            ctype = spec["content_type"]
            media = ctype.split(";")[0].strip().lower()
            if "text" in spec:
                text = self.text_part(ctype, spec["text"])
                ctype, data = text.content_type, text.data
            elif "base64" in spec:
                data = base64.b64decode(spec["base64"])
            elif media.startswith("image/"):
                data = generate.image(self.rng, media)
            else:
                data = generate.text(self.rng).encode("utf-8")
            parts.append(Part(ctype, data, spec.get("content_id")))  # inject_mo names the rest
        return parts

    @staticmethod
    def text_part(content_type: str, text: str, content_id: str | None = None) -> Part:
        """Text given as a string, encoded in the charset its Content-Type names, else UTF-8
        with ``charset=utf-8`` added: bytes without a charset are read as ISO-8859-1 by some
        clients."""
        charset = content_type_params(content_type)[1].get("charset")
        if not charset:
            charset, content_type = "utf-8", f"{content_type}; charset=utf-8"
        try:
            return Part(content_type, text.encode(charset), content_id)
        except (LookupError, UnicodeEncodeError) as exc:
            raise errors.ControlError(f"text cannot be written in charset {charset}: "
                                      f"{exc}") from None

    def _arm_mo_scripts(self, scenarios: list[Scenario]) -> None:
        start = self.clock.now()
        for scenario in scenarios:
            for index, script in enumerate(scenario.mo):
                for n in range(script.count):
                    due = start + script.at + n * (script.every or 0)
                    self.scheduler.at(due, lambda s=script, sc=scenario: self._run_mo(s, sc),
                                      f"mo {script.name} #{n + 1}", account=script.account,
                                      key=_scenario_key(scenario.name),
                                      record=("mo", {"scenario": scenario.name, "script": index,
                                                     "name": script.name, "n": n}))
        self._note_armed(self._armed | {s.name for s in scenarios})

    def _note_armed(self, names: set[str]) -> None:
        # a restart re-arms the MO scripts only of scenarios not armed before (persistence)
        self._armed = names
        if self.store.durable:
            self.store.set_meta("armed_scenarios", sorted(names))

    # --- persistence ------------------------------------------------------------------------
    def _restore(self, loaded: Loaded, scenarios: list[Scenario]) -> None:
        """Start from what the journal held: the clock where it stood (same configured mode),
        messages and callbacks, pending reports and MO-script jobs re-armed with their due
        times (those already late fire at once, in due order), unfinished callbacks due at
        their next attempt; scenarios new to the file arm their MO scripts from now."""
        if "clock" in loaded.meta:
            self.clock.restore(loaded.meta["clock"])
        self.clock.add_listener(self._save_clock)
        self._save_clock()
        self.store.restore(loaded)
        numbers = [int(c.id[3:]) for c in loaded.callbacks if c.id[3:].isdigit()]
        self._callback_seq = itertools.count(max(numbers, default=0) + 1)
        armed = set(loaded.meta.get("armed_scenarios", []))
        self.engine.scenarios = list(scenarios)
        self._armed = armed & {s.name for s in scenarios}
        jobs, gone = [], []
        for stored in loaded.jobs:
            job = self._rearm(stored)
            if job is None:
                gone.append(stored.seq)
            else:
                jobs.append(job)
        seq = itertools.count(max((j.seq for j in jobs), default=0) + 1)
        for callback in loaded.callbacks:
            if callback.cancelled or callback.state in ("delivered", "failed", "cancelled") \
                    or self.store.get_callback(callback.id) is not callback:
                continue
            callback.state = "retrying" if callback.attempt_count else "pending"
            jobs.append(Job(callback.next_attempt_at or callback.created_at, next(seq),
                            f"callback {callback.id}",
                            lambda cid=callback.id: self.dispatcher.due(cid),
                            callback.message_id, callback.account))
        self.store.drop_jobs(seqs=gone)
        self.scheduler.restore(jobs)  # first: new jobs number after the kept ones
        self._arm_mo_scripts([s for s in scenarios if s.name not in armed])

    def _rearm(self, stored: StoredJob) -> Job | None:
        """A kept job as a live one; None when what it belongs to is gone."""
        p = stored.payload
        record = (stored.kind, p)
        if stored.kind == "report" and self.store.get_message(p["message_id"]) is not None:
            plan, mid = ReportPlan(**p["plan"]), p["message_id"]
            return Job(stored.due, stored.seq, f"report {plan.status} for {mid}",
                       lambda: self.fire_report(mid, plan), stored.key, stored.account,
                       record=record)
        if stored.kind == "mo":
            scenario = next((s for s in self.engine.scenarios if s.name == p["scenario"]), None)
            scripts = scenario.mo if scenario is not None else []
            if p["script"] < len(scripts) and scripts[p["script"]].name == p["name"]:
                script = scripts[p["script"]]
                return Job(stored.due, stored.seq, f"mo {script.name} #{p['n'] + 1}",
                           lambda: self._run_mo(script, scenario),  # type: ignore[arg-type]
                           stored.key, stored.account, record=record)
        return None

    def _save_clock(self) -> None:
        if self.store.durable:
            self.store.set_meta("clock", self.clock.state())

    def _run_mo(self, script: MoScript, scenario: Scenario) -> None:
        try:
            self.inject_mo(account=script.account, source=script.source,
                           destination=script.to or "88600", subject=script.subject,
                           parts=self.generated_parts(script.parts) if script.parts else None,
                           decision=f"{scenario.name}/{script.name}", format=script.format)
        except errors.FakeMmsError as exc:  # e.g. its account was deleted since: not a crash
            log.warning("scenario %s: MO script %s sent nothing: %s", scenario.name,
                        script.name, exc)

    def unknown_mo_accounts(self, scenario: Scenario) -> list[str]:
        """Problems of a scenario whose MO scripts name accounts the fake does not have."""
        return unknown_mo_accounts(scenario, {a.username for a in self.store.accounts()})

    # --- scenarios, accounts, clock, reset --------------------------------------------------
    def set_scenarios(self, scenarios: list[Scenario]) -> None:
        with self._lock:
            self.scheduler.cancel_keys([_scenario_key(s.name) for s in self.engine.scenarios],
                                       dropped=False)
            self.engine.scenarios = list(scenarios)
            self._armed = set()
            self._arm_mo_scripts(scenarios)

    def upsert_account(self, data: dict[str, Any], username: str | None = None) -> Account:
        """Create or change an account at run time (validated like the config file). ``data``
        is a JSON Merge Patch (RFC 7396) of the current account: nested objects merge, null
        removes a setting (back to its default)."""

        def merge_patch(target: Any, patch: Any) -> Any:
            if not isinstance(patch, dict):
                return patch
            out = dict(target) if isinstance(target, dict) else {}
            for key, value in patch.items():
                if value is None:
                    out.pop(key, None)
                else:
                    out[key] = merge_patch(out.get(key), value)
            return out

        current = self.store.account(username) if username else None
        merged = merge_patch(current.to_dict() if current else {}, data)
        if username:
            merged["username"] = username
        validate(merged, ACCOUNT_SCHEMA, "account")
        problems = account_problems(merged)
        if problems:
            raise ConfigError("account", problems)
        account = account_from_dict(merged)
        self.store.put_account(account)
        return account

    def delete_account(self, username: str) -> None:
        """Forget an account: its messages, callbacks and every pending report, MO, retry
        and job; attempts under way for it are fenced (neither retried nor recorded)."""
        gone = self.store.remove_account(username)
        if gone is None:
            raise errors.NotFound(f"no account {username!r}")
        self.scheduler.cancel_account(username)
        self.scheduler.cancel_keys(gone, dropped=False)
        self.dispatcher.drop_cancelled()

    def advance(self, seconds: float) -> int:
        """Move the clock; due jobs fire in order and their callbacks are attempted before
        this returns, so a test can assert right after."""
        self.content.wait()
        self.dispatcher.wait_idle()  # attempts under way schedule their retries first
        fired = self.scheduler.advance(seconds, settle=self.dispatcher.wait_idle)
        self.store.events.publish("clock", self.clock.describe())
        return fired

    def reset(self) -> None:
        """Forget messages, callbacks, counters and pending jobs (attempts under way are
        fenced); the clock back to its configured mode at wall time; re-arm MO scripts."""
        with self._lock:
            self.scheduler.cancel_all()
            self.store.reset()  # marks every callback cancelled first; empties the journal
            self.dispatcher.reset()
            self.content.reset()
            self.clock.reset()
            self._armed = set()
            self._arm_mo_scripts(self.engine.scenarios)

    def close(self, timeout: float = 5.0) -> None:
        """Stop and join everything this backend started: the scheduler, the callback
        lanes (attempts under way get ``timeout`` seconds), the fetch pool; end the event
        streams. Idempotent."""
        deadline = Clock.monotonic() + timeout
        self.scheduler.stop(timeout)
        self.content.close(max(0.1, deadline - Clock.monotonic()))
        self.dispatcher.close(max(0.1, deadline - Clock.monotonic()))
        self.store.close()

    def describe(self) -> dict[str, Any]:
        return {"clock": self.clock.describe(), "seed": self.rng.seed,
                "scenarios": [s.name for s in self.engine.scenarios], **self.store.stats(),
                **self.scheduler.stats(), **self.dispatcher.stats(),
                "persistence": self.store.durability()}

    # --- scenarios by name (for the control API) ----------------------------------------------
    def scenarios(self) -> list[Scenario]:
        """The loaded scenarios, in match order (a copy)."""
        with self._lock:
            return list(self.engine.scenarios)

    def put_scenario(self, scenario: Scenario) -> bool:
        """Load a scenario after the others; one already loaded under its name is replaced
        in place (keeping its match order), and the MOs its scripts scheduled with it. True
        when it replaced one."""
        with self._lock:
            self.scheduler.cancel_keys([_scenario_key(scenario.name)], dropped=False)
            loaded = list(self.engine.scenarios)  # a new list: decide() may be iterating
            names = [s.name for s in loaded]
            if scenario.name in names:
                loaded[names.index(scenario.name)] = scenario
            else:
                loaded.append(scenario)
            self.engine.scenarios = loaded
            self._arm_mo_scripts([scenario])
            return scenario.name in names

    def remove_scenario(self, name: str) -> bool:
        """Unload a scenario by name, with the MOs its scripts still had scheduled. False
        when none has that name."""
        with self._lock:
            kept = [s for s in self.engine.scenarios if s.name != name]
            if len(kept) == len(self.engine.scenarios):
                return False
            self.engine.scenarios = kept
            self.scheduler.cancel_keys([_scenario_key(name)], dropped=False)
            self._note_armed(self._armed - {name})
            return True


def _report_record(message_id: str, plan: ReportPlan) -> tuple[str, dict[str, Any]]:
    """What a pending report job is kept as (persistence): its message and plan."""
    return "report", {"message_id": message_id, "plan": dict(vars(plan))}  # flat: no asdict


def _scenario_key(name: str) -> str:
    """The scheduler key of a scenario's MO-script jobs (unloading it cancels them)."""
    return f"scenario:{name}"


def _with_content_ids(parts: list[Part]) -> list[Part]:
    """Every MO part with a Content-Id: one not given is ``partN.ext`` by its place in the
    message, unique within it, so the callbacks and the legacy mms.zip tell the parts apart."""
    taken = {p.content_id for p in parts if p.content_id}
    out = []
    for n, part in enumerate(parts, start=1):
        if not part.content_id:
            media = content_type_params(part.content_type)[0]
            ext = media.split("/")[-1].replace("plain", "txt").replace("jpeg", "jpg")
            cid, k = f"part{n}.{ext}", 1
            while cid in taken:
                k += 1
                cid = f"part{n}-{k}.{ext}"
            taken.add(cid)
            part = dataclasses.replace(part, content_id=cid)
        out.append(part)
    return out


def _interface_of(fmt: str) -> str:
    if fmt.startswith("mm7"):
        return "mm7"
    if fmt.startswith("legacy"):
        return "legacy"
    return "openmarket"


def unknown_mo_accounts(scenario: Scenario, usernames: set[str]) -> list[str]:
    """An MO script naming no account can never send its MOs: a problem per such script."""
    return [f"mo[{i}].account: no account {script.account!r}"
            for i, script in enumerate(scenario.mo) if script.account not in usernames]
