"""``Client``: every operation of the control API's OpenAPI document as a method named after
its ``operationId``, with plain dataclasses for results (``fakemms.client.models``). The
operations live by resource in mixins (``messages``, ``callbacks``, ``clock``, ``scenarios``,
``accounts``, and the ``waiting`` helpers); ``Client`` holds the connection, the addresses,
the credentials and the health, state and event-stream calls, and composes them."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import requests

from fakemms.client.accounts import Accounts, reveal
from fakemms.client.callbacks import Callbacks
from fakemms.client.clock import ClockControl
from fakemms.client.errors import UNSET, FakeMmsClientError
from fakemms.client.events import EventStream
from fakemms.client.messages import Messages
from fakemms.client.models import Event
from fakemms.client.scenarios import Scenarios
from fakemms.client.transport import Transport
from fakemms.client.waiting import Waiting

DEFAULT_URL = "http://127.0.0.1:8025"


def default_url() -> str:
    """``$FAKEMMS_URL``, else ``http://127.0.0.1:8025``."""
    return os.environ.get("FAKEMMS_URL") or DEFAULT_URL


def default_admin_token() -> str | None:
    """``$FAKEMMS_ADMIN_TOKEN``, else None (a fake without a token)."""
    return os.environ.get("FAKEMMS_ADMIN_TOKEN") or None


class Client(Messages, Callbacks, ClockControl, Scenarios, Accounts, Waiting):
    """The control API of a running fakemms at ``base_url`` (default ``$FAKEMMS_URL`` or
    ``http://127.0.0.1:8025``). ``timeout``: seconds for each request. ``account`` and
    ``password``: the account namespace this client works in (None: every account).
    ``admin_token``: sent as ``Authorization: Bearer`` to a fake started with one (default
    ``$FAKEMMS_ADMIN_TOKEN``)."""

    def __init__(self, base_url: str | None = None, timeout: float = 10.0, *,
                 account: str | None = None, password: str | None = None,
                 session: requests.Session | None = None,
                 admin_token: str | None = None) -> None:
        self.transport = Transport(base_url or default_url(), timeout, session=session,
                                   admin_token=admin_token or default_admin_token())
        self.url = self.transport.url
        self.timeout = timeout
        self.account = account
        self._password = password
        self._credentials: tuple[str, str] | None = None

    def __repr__(self) -> str:
        account = f", account={self.account!r}" if self.account else ""
        return f"fakemms.Client({self.url!r}{account})"

    # --- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP session's connections (when the client made the session)."""
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def for_account(self, account: str | None, password: str | None = None) -> Client:
        """A client for the same server in another account namespace (sharing connections)."""
        return Client(self.url, self.timeout, account=account, password=password,
                      session=self.transport.session, admin_token=self.transport.admin_token)

    # --- addresses --------------------------------------------------------------------------
    @property
    def send_url(self) -> str:
        """OpenMarket HTTP MMS v2: ``POST`` here what the application sends."""
        return self.url + "/mms/v2/send"

    @property
    def mm7_url(self) -> str:
        """MM7 (SOAP): the VASP's SubmitReq, CancelReq and ReplaceReq go here."""
        return self.url + "/mm7"

    @property
    def credentials(self) -> tuple[str, str]:
        """(username, password) for the provider interfaces: the namespace account's, else
        the server's first account's (``fakemms`` / ``fakemms`` by default)."""
        if self._credentials is None:
            if self.account:
                password = self._password
                if password is None:
                    password = self.get_account(self.account, reveal_passwords=True).password
                self._credentials = (self.account, password)
            else:
                accounts = self.list_accounts(reveal_passwords=True)
                if not accounts:
                    raise FakeMmsClientError(f"fakemms at {self.url} has no account")
                self._credentials = (accounts[0].username, accounts[0].password)
        return self._credentials

    @property
    def username(self) -> str:
        """The username of the account this client sends as (see ``credentials``)."""
        return self.credentials[0]

    @property
    def password(self) -> str:
        """The password of the account this client sends as (see ``credentials``)."""
        return self.credentials[1]

    # --- HTTP -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.transport.request(method, path, **kw)

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self.transport.json(method, path, **kw)

    def _account(self, account: Any) -> str | None:
        return self.account if account is UNSET else account

    # --- health, state ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``GET /_fakemms/health``: status, clock, seed, scenarios, counts."""
        return self._json("GET", "/_fakemms/health")

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of the control API."""
        return self._json("GET", "/_fakemms/api/openapi.json")

    def reset(self) -> None:
        """Forget every message, callback, counter and pending report (the whole server's:
        on a shared server prefer a namespace account)."""
        self._json("POST", "/_fakemms/api/reset")

    def dump(self, *, reveal_passwords: bool = False) -> dict[str, Any]:
        """The whole state as JSON (part bytes in base64; passwords masked unless
        ``reveal_passwords``)."""
        return self._json("GET", "/_fakemms/api/dump", params=reveal(reveal_passwords))

    # --- events -----------------------------------------------------------------------------
    def events(self, *, since: int | None = None, types: Sequence[str] | None = None,
               timeout: float | None = None) -> Iterator[Event]:
        """Server-sent events as they happen (``since``: replay the buffered ones after that
        sequence number first). ``timeout``: stop after that many seconds (None: never)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with EventStream(self.transport, since=since) as stream:
            while True:
                event = stream.next(deadline)
                if event is None:
                    return
                if types is None or event.type in types:
                    yield event

