"""The backend: the wiring behind every interface (moto's ``models.py`` role). It builds the
shared parts (clock, seeded generator, store, scheduler, callback dispatcher, scenario engine,
remote content) and the services that work with them (``fakemms.services``); it applies the
guards, moves the clock, resets, describes and stops the whole.

Views parse with a codec, call a service with keyword arguments and render.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

from fakemms import errors, outbound
from fakemms.callbacks import Dispatcher
from fakemms.clock import Clock
from fakemms.config import Config
from fakemms.errors import ConfigError
from fakemms.guards import Guards
from fakemms.models import Account
from fakemms.protocols.mime import MimeLimits
from fakemms.protocols.mm7.tables import VERSION_NAMESPACES
from fakemms.remote_content import RemoteContent
from fakemms.rng import Rng
from fakemms.scenario import Engine, load_scenario
from fakemms.scheduler import Scheduler
from fakemms.services.accounts import AccountService
from fakemms.services.core import Core
from fakemms.services.mo import MoService
from fakemms.services.mt import MtService
from fakemms.services.reports import ReportService
from fakemms.services.restore import restore
from fakemms.services.scenarios import ScenarioService, unknown_mo_accounts
from fakemms.store import Store

if TYPE_CHECKING:
    from fakemms.persistence import SqliteJournal

log = logging.getLogger(__name__)


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
        self.content = RemoteContent(self.store, self.clock, config["remote_content"],
                                     max_ratio=caps["max_ratio"])
        self.core = Core(
            config=config, clock=self.clock, rng=self.rng, store=self.store,
            scheduler=self.scheduler, dispatcher=self.dispatcher, engine=self.engine,
            content=self.content, decision_header=self.decision_header,
            outbound=outbound.Settings(
                mm7_namespaces={**VERSION_NAMESPACES, **config["mm7"]["callback_namespaces"]},
                legacy_timeout=config["legacy"]["timeout_seconds"],
                legacy_expiry=config["legacy"]["expiry_seconds"]))
        self.reports = ReportService(self.core)
        self.mt = MtService(self.core, self.reports)
        self.mo = MoService(self.core)
        self.scenarios = ScenarioService(self.core, self.mo)
        self.accounts = AccountService(self.core)
        self._lock = threading.RLock()
        if loaded is None:
            self.scenarios.replace(scenarios)
        else:
            restore(self.core, loaded, scenarios, reports=self.reports,
                    scenario_service=self.scenarios)
            self.clock.add_listener(self._save_clock)
            self._save_clock()

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

    def _save_clock(self) -> None:
        self.store.set_meta("clock", self.clock.state())

    def new_request_id(self) -> str:
        return self.core.new_request_id()

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

    # --- the whole --------------------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move the clock; due jobs fire in order and their callbacks are attempted before
        this returns, so a test can assert right after."""
        self.content.wait()
        self.dispatcher.wait_idle()  # attempts under way schedule their retries first
        fired = self.scheduler.advance(seconds, settle=self._settle)
        self.store.events.publish("clock", self.clock.describe())
        return fired

    def set_clock_mode(self, mode: str) -> None:
        """Switch the clock (real or virtual), said on the event stream."""
        self.clock.set_mode(mode)
        self.store.events.publish("clock", self.clock.describe())

    def _settle(self) -> None:
        self.dispatcher.wait_idle()

    def reset(self) -> None:
        """Forget messages, callbacks, counters and pending jobs (attempts under way are
        fenced); the clock back to its configured mode at wall time; re-arm MO scripts."""
        with self._lock:
            self.scheduler.cancel_all()
            self.store.reset()  # marks every callback cancelled first; empties the journal
            self.dispatcher.reset()
            self.content.reset()
            self.clock.reset()
            self.scenarios.rearm_all()

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


def backend() -> Backend:
    """The running app's backend: the one accessor every blueprint uses (below the views,
    so they import down, not up to the app factory)."""
    return current_app.extensions["fakemms"]
