"""The backend: state and behaviour behind every interface (moto's ``models.py`` role).

Views parse with a codec, call the backend with keyword arguments and render; the backend
applies the guards, validates against the account, stores the message and starts what follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fakemms import errors
from fakemms.clock import Clock
from fakemms.config import Config
from fakemms.guards import Guards
from fakemms.models import Account, Message, Part
from fakemms.rng import Rng
from fakemms.store import Store

MT_ID_WIDTH = 15  # openmarket-mms-send.txt: "mtId": 123456789012345


class Backend:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.clock = Clock(config["clock"])
        self.rng = Rng(config["seed"])
        self.store = Store(max_messages=config["max_messages"])
        self.store.set_accounts(config.accounts())
        self.guards = Guards(self.store, self.clock, config["trusted_proxies"])
        self.strict_mime: bool = config["strict_mime"]
        self.http_status: dict[int, int] = {int(k): v for k, v in config["http_status"].items()}

    # --- ids --------------------------------------------------------------------------------
    def new_message_id(self) -> str:
        return self.store.unique_id(lambda: str(self.rng.digits(MT_ID_WIDTH)))

    def new_request_id(self) -> str:
        return self.rng.request_id()

    def status_for(self, error: errors.FakeMmsError) -> int:
        """HTTP status of an OpenMarket error: the README table, with config overrides."""
        return self.http_status.get(error.code, error.http_status)

    # --- guards -----------------------------------------------------------------------------
    def admit(self, *, credentials: tuple[str, str] | None, remote_addr: str | None,
              forwarded_for: str | None = None) -> Account:
        ip = self.guards.client_ip(remote_addr, forwarded_for)
        account = self.guards.authenticate(credentials, ip)
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
                  message_id: str | None = None, extra: dict[str, Any] | None = None
                  ) -> Message:
        if mt_config not in account.mt_configs:
            raise errors.InvalidMtConfig(
                f"mtConfig {mt_config!r} is not configured for account {account.username}"
            )
        message = Message(
            id=message_id or self.new_message_id(),
            direction="mt",
            interface=interface,
            account=account.username,
            source=source,
            destinations=list(destinations),
            created_at=self.clock.now(),
            mt_config=mt_config,
            subject=subject,
            mobile_operator_id=mobile_operator_id,
            parts=parts,
            warnings=list(warnings or []),
            request_id=request_id,
            extra=dict(extra or {}),
        )
        self.store.add_message(message)
        return message

    def reset(self) -> None:
        self.store.reset()

    def describe(self) -> dict[str, Any]:
        return {"clock": self.clock.describe(), "seed": self.rng.seed, **self.store.stats()}
