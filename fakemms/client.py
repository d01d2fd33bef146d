"""``fakemms.Client``: the control API (``/_fakemms``) in Python.

Every operation of the OpenAPI document (``GET /_fakemms/api/openapi.json``) is a method named
after its ``operationId``; results are plain dataclasses (``fakemms.client_models``). On top:

- ``wait_for_message``, ``wait_for_callback``, ``wait_for_report``: block until something
  matching the filters exists. Event-driven: the client opens the server's event stream first
  (the server subscribes it before answering), then looks at the current state, then re-looks
  only when a relevant event arrives, so nothing that happens in between is missed and no time
  is spent sleeping. On timeout, ``WaitTimeout`` (an ``AssertionError``) lists what did arrive.
- ``assert_callback_acked`` (the application answered a callback with success, fast enough)
  and ``assert_no_messages``.

A client may carry an account namespace (``account=``, as the pytest plugin's ``fakemms``
fixture does on a shared server): list, wait and assert methods then look only at that
account's messages and callbacks unless given ``account=`` (``None`` means every account).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests

from fakemms.client_models import (
    Account,
    Attempt,
    Callback,
    ClockState,
    Event,
    Message,
    MessageSummary,
    Part,
    Report,
)

__all__ = [
    "Account", "Attempt", "Callback", "Client", "ClockState", "Event", "FakeMmsClientError",
    "FakeMmsNotReachable", "Message", "MessageSummary", "Part", "Report", "WaitTimeout",
]

DEFAULT_URL = "http://127.0.0.1:8025"
WAIT_TIMEOUT = 5.0
NEAR_MISSES = 20  # how many of what did arrive a timeout lists

T = TypeVar("T")

MESSAGE_EVENTS = frozenset({"message", "report", "message.cancelled", "message.replaced",
                            "reset"})
CALLBACK_EVENTS = frozenset({"callback.created", "callback.attempt", "callback.delivered",
                             "callback.failed", "reset"})
REPORT_EVENTS = frozenset({"report", "reset"})


class _Unset:
    def __repr__(self) -> str:
        return "<the client's account>"


UNSET: Any = _Unset()


class FakeMmsClientError(Exception):
    """The control API refused a request (``status``, the server's ``description`` and
    ``problems``), or could not be asked."""

    def __init__(self, message: str, *, status: int | None = None,
                 description: str | None = None, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.description = description
        self.problems = list(problems)


class FakeMmsNotReachable(FakeMmsClientError):
    """Nothing answers at the client's URL."""


class WaitTimeout(FakeMmsClientError, AssertionError):
    """A ``wait_for_*`` found nothing in time; the message lists what did arrive."""


def default_url() -> str:
    """``$FAKEMMS_URL``, else ``http://127.0.0.1:8025``."""
    return os.environ.get("FAKEMMS_URL") or DEFAULT_URL


def seconds(duration: float | int | str | timedelta) -> float | str:
    """A duration for the API: seconds, a ``timedelta``, or a string like ``1h`` or ``500ms``
    (strings are passed on for the server to parse)."""
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    return duration


class Client:
    """The control API of a running fakemms at ``base_url`` (default ``$FAKEMMS_URL`` or
    ``http://127.0.0.1:8025``). ``timeout``: seconds for each request. ``account`` and
    ``password``: the account namespace this client works in (None: every account)."""

    def __init__(self, base_url: str | None = None, timeout: float = 10.0, *,
                 account: str | None = None, password: str | None = None,
                 session: requests.Session | None = None) -> None:
        self.url = (base_url or default_url()).rstrip("/")
        self.timeout = timeout
        self.account = account
        self._password = password
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            session.trust_env = False  # the fake is local: never through a proxy
        self._http = session
        self._credentials: tuple[str, str] | None = None

    def __repr__(self) -> str:
        account = f", account={self.account!r}" if self.account else ""
        return f"fakemms.Client({self.url!r}{account})"

    # --- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP session's connections (when the client made the session)."""
        if self._owns_session:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def for_account(self, account: str | None, password: str | None = None) -> Client:
        """A client for the same server in another account namespace (sharing connections)."""
        return Client(self.url, self.timeout, account=account, password=password,
                      session=self._http)

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
                    password = self.get_account(self.account).password
                self._credentials = (self.account, password)
            else:
                accounts = self.list_accounts()
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
    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                 json_body: Any = None, data: bytes | str | None = None,
                 headers: Mapping[str, str] | None = None, stream: bool = False,
                 timeout: Any = None) -> requests.Response:
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        timeout = self.timeout if timeout is None else timeout
        try:
            response = self._http.request(method, self.url + path, params=params or None,
                                          json=json_body, data=data, headers=headers,
                                          timeout=timeout, stream=stream)
        except requests.ConnectionError as exc:
            raise FakeMmsNotReachable(
                f"fakemms is not reachable at {self.url} ({_reason(exc)})") from None
        except requests.Timeout:
            raise FakeMmsClientError(f"fakemms at {self.url} did not answer {method} {path} "
                                     f"in time") from None
        if response.status_code >= 400:
            try:
                raise _error_from(response, method, path)
            finally:
                response.close()
        return response

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self._request(method, path, **kw)
        try:
            return response.json()
        except ValueError:
            raise FakeMmsClientError(
                f"{method} {path}: {self.url} answered HTTP {response.status_code} with "
                f"something that is not JSON (is it fakemms?)",
                status=response.status_code) from None

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

    def dump(self) -> dict[str, Any]:
        """The whole state as JSON (part bytes in base64)."""
        return self._json("GET", "/_fakemms/api/dump")

    # --- messages ---------------------------------------------------------------------------
    def list_messages(self, *, direction: str | None = None, account: Any = UNSET,
                      number: str | None = None, status: str | None = None,
                      interface: str | None = None, limit: int | None = None
                      ) -> list[MessageSummary]:
        """Messages, newest first. ``direction`` mt|mo; ``number``: source or destination;
        ``status``: accepted, Retrieved, Expired, received...; ``interface``: openmarket,
        mm7 or legacy."""
        data = self._json("GET", "/_fakemms/api/messages", params={
            "direction": direction, "account": self._account(account), "number": number,
            "status": status, "interface": interface, "limit": limit})
        return [MessageSummary.from_dict(m) for m in data["messages"]]

    def get_message(self, message_id: str = "latest") -> Message:
        """One message (``latest``: the newest; in the client's account when it has one)."""
        if message_id == "latest" and self.account:
            newest = self.list_messages(limit=1)
            if not newest:
                raise FakeMmsClientError(f"no message in account {self.account!r} yet",
                                         status=404)
            message_id = newest[0].id
        return Message.from_dict(self._json("GET", f"/_fakemms/api/messages/{message_id}"))

    def get_part(self, message_id: str, index: int) -> bytes:
        """The raw bytes of a message's part ``index`` (0-based)."""
        return self._request("GET", f"/_fakemms/api/messages/{message_id}/parts/{index}"
                             ).content

    def inject_mo(self, destination: str = "88600", *, source: str | None = None,
                  subject: str | None = None, text: str | None = None,
                  files: Sequence[str | os.PathLike] = (),
                  parts: Sequence[Mapping[str, Any]] | None = None, account: Any = UNSET,
                  ccs: Sequence[str] | None = None, bccs: Sequence[str] | None = None,
                  mobile_operator_id: int | None = None, user_agent: str | None = None,
                  ua_prof: str | None = None, format: str | None = None, sms: bool = False
                  ) -> Message:
        """A handset sends an MO to ``destination`` (the application's short code); the fake
        stores it and sends it to the account's MO URL. Content: ``text`` (a text/plain part),
        ``files`` (their type guessed from the name), and/or ``parts`` (dicts with
        ``content_type`` and ``text``, ``base64``, ``data`` bytes or ``generate: True``).
        Nothing given: generated text. ``account``: the client's, else the server's first.
        ``format`` (http, legacy-get, legacy-post, mm7-x.y.z) instead of the account's
        ``mo.format``; ``sms``: a legacy SMS MO (type 6)."""
        body: dict[str, Any] = {
            "account": self._account(account) or self.username, "destination": destination,
            "source": source, "subject": subject, "ccs": list(ccs) if ccs else None,
            "bccs": list(bccs) if bccs else None, "mobile_operator_id": mobile_operator_id,
            "user_agent": user_agent, "ua_prof": ua_prof, "format": format,
            "type": "sms" if sms else None,
        }
        out_parts: list[dict[str, Any]] = []
        if text is not None:
            out_parts.append({"content_type": "text/plain; charset=utf-8",
                              "content_id": "text.txt", "text": text})
        for f in files:
            path = Path(f)
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            out_parts.append({"content_type": ctype, "content_id": path.name,
                              "base64": base64.b64encode(path.read_bytes()).decode("ascii")})
        for p in parts or ():
            item = dict(p)
            if "data" in item:
                item["base64"] = base64.b64encode(bytes(item.pop("data"))).decode("ascii")
            out_parts.append(item)
        if out_parts:
            body["parts"] = out_parts
        body = {k: v for k, v in body.items() if v is not None}
        answer = self._json("POST", "/_fakemms/api/mo", json_body=body)
        return self.get_message(str(answer["id"]))

    def send_report(self, message_id: str, status: str, *, outcome_id: int | None = None,
                    description: str | None = None, user_agent: str | None = None,
                    after: float | str | timedelta | None = None) -> Report:
        """A delivery report for an MT now (or ``after`` a duration on the fake's clock):
        Retrieved, Expired, Rejected, Deferred, ... The DLR callback follows."""
        body = {"status": status, "outcome_id": outcome_id, "description": description,
                "user_agent": user_agent, "after": None if after is None else seconds(after)}
        data = self._json("POST", f"/_fakemms/api/messages/{message_id}/reports",
                          json_body={k: v for k, v in body.items() if v is not None})
        return Report.from_dict(data, data.get("message_id"))

    # --- callbacks --------------------------------------------------------------------------
    def list_callbacks(self, *, message_id: str | None = None, kind: str | None = None,
                       state: str | None = None, account: Any = UNSET) -> list[Callback]:
        """Callbacks and their attempts, newest first. ``kind`` report|mo; ``state`` pending,
        in-flight, retrying, delivered or failed."""
        data = self._json("GET", "/_fakemms/api/callbacks", params={
            "message_id": message_id, "kind": kind, "state": state,
            "account": self._account(account)})
        return [Callback.from_dict(c) for c in data["callbacks"]]

    def get_callback(self, callback_id: str) -> Callback:
        """One callback by id, with every attempt the fake made."""
        return Callback.from_dict(self._json("GET", f"/_fakemms/api/callbacks/{callback_id}"))

    def message_callbacks(self, message_id: str) -> list[Callback]:
        """A message's callbacks (its delivery reports, or the MO notification)."""
        data = self._json("GET", f"/_fakemms/api/messages/{message_id}/callbacks")
        return [Callback.from_dict(c) for c in data["callbacks"]]

    def list_fetches(self) -> list[dict[str, Any]]:
        """Every remote-content fetch the fake made (URL, status, headers, size, cached,
        error), newest first."""
        return self._json("GET", "/_fakemms/api/fetches")["fetches"]

    # --- clock ------------------------------------------------------------------------------
    def get_clock(self) -> ClockState:
        """The fake's clock: mode, paused, now."""
        return ClockState.from_dict(self._json("GET", "/_fakemms/api/clock"))

    def advance_clock(self, duration: float | str | timedelta) -> ClockState:
        """Move the clock (``3600``, ``"1h"``, ``"3d"``, a timedelta). Due reports and MOs
        fire, and their callbacks are attempted, before this returns."""
        value = seconds(duration)
        key = "duration" if isinstance(value, str) else "seconds"
        return ClockState.from_dict(self._json("POST", "/_fakemms/api/clock/advance",
                                               json_body={key: value}))

    def pause_clock(self) -> ClockState:
        """Freeze the clock where it stands (a real clock keeps what advance added)."""
        return ClockState.from_dict(self._json("POST", "/_fakemms/api/clock/pause"))

    def resume_clock(self) -> ClockState:
        """Let a paused clock run again from where it stood."""
        return ClockState.from_dict(self._json("POST", "/_fakemms/api/clock/resume"))

    def set_clock_mode(self, mode: str) -> ClockState:
        """``virtual``: time moves only with ``advance_clock``; ``real``: it runs again."""
        return ClockState.from_dict(self._json("PUT", "/_fakemms/api/clock",
                                               json_body={"mode": mode}))

    # --- scenarios --------------------------------------------------------------------------
    def list_scenarios(self) -> list[dict[str, Any]]:
        """The loaded scenarios, as dicts in the scenario file's shape."""
        return self._json("GET", "/_fakemms/api/scenarios")["scenarios"]

    def replace_scenarios(self, *scenarios: Any) -> list[dict[str, Any]]:
        """Load these scenarios instead of the current ones. Each: a file path (``.yaml``,
        ``.yml``, ``.json``), YAML text, or a dict."""
        return self._json("PUT", "/_fakemms/api/scenarios",
                          json_body=[scenario_dict(s) for s in scenarios])["scenarios"]

    def add_scenario(self, *scenarios: Any) -> list[dict[str, Any]]:
        """Add scenarios after the loaded ones (first match wins, in load order)."""
        return self._json("POST", "/_fakemms/api/scenarios",
                          json_body=[scenario_dict(s) for s in scenarios])["scenarios"]

    def clear_scenarios(self) -> None:
        """Unload every scenario (``DELETE /_fakemms/api/scenarios``)."""
        self._json("DELETE", "/_fakemms/api/scenarios")

    def remove_scenario(self, name: str) -> list[dict[str, Any]]:
        """Unload the scenario with this name."""
        return self._json("DELETE", f"/_fakemms/api/scenarios/{name}")["scenarios"]

    # --- accounts ---------------------------------------------------------------------------
    def list_accounts(self) -> list[Account]:
        """Every account with its MT configurations, MO settings and limits."""
        return [Account.from_dict(a) for a in self._json("GET", "/_fakemms/api/accounts")[
            "accounts"]]

    def get_account(self, username: str) -> Account:
        """One account with its MT configurations, MO settings and limits."""
        return Account.from_dict(self._json("GET", f"/_fakemms/api/accounts/{username}"))

    def create_account(self, account: Mapping[str, Any] | Account | None = None,
                       **settings: Any) -> Account:
        """Create an account (``username`` and ``password`` required; the rest as in the
        configuration file: ``mt_configs``, ``mo``, ``tps``, limits...)."""
        data = account.to_dict() if isinstance(account, Account) else dict(account or {})
        data.update(settings)
        return Account.from_dict(self._json("POST", "/_fakemms/api/accounts", json_body=data))

    def update_account(self, username: str, **changes: Any) -> Account:
        """Change some settings (top-level keys replace: give ``mt_configs`` whole)."""
        return Account.from_dict(self._json("PATCH", f"/_fakemms/api/accounts/{username}",
                                             json_body=changes))

    def replace_account(self, username: str, account: Mapping[str, Any] | Account) -> Account:
        """Replace an account whole (created when missing)."""
        data = account.to_dict() if isinstance(account, Account) else dict(account)
        return Account.from_dict(self._json("PUT", f"/_fakemms/api/accounts/{username}",
                                            json_body=data))

    def delete_account(self, username: str) -> None:
        """Delete an account: the fake forgets its pending reports, MOs and retries."""
        self._json("DELETE", f"/_fakemms/api/accounts/{username}")

    def configure_callbacks(self, *, dlr_url: Any = UNSET, mo_url: Any = UNSET,
                            dlr_protocol: str | None = None, mo_format: str | None = None,
                            mt_config: str | None = None, account: Any = UNSET) -> Account:
        """Point an account's delivery reports (every MT configuration, or ``mt_config``)
        and MOs at the application (or at the ``mms_app_receiver`` fixture)."""
        username = self._account(account) or self.username
        current = self.get_account(username)
        changes: dict[str, Any] = {}
        if dlr_url is not UNSET or dlr_protocol:
            configs = {k: dict(v) for k, v in current.mt_configs.items()}
            if mt_config and mt_config not in configs:
                configs[mt_config] = {}
            for name, cfg in configs.items():
                if mt_config and name != mt_config:
                    continue
                if dlr_url is not UNSET:
                    cfg["dlr_url"] = dlr_url
                if dlr_protocol:
                    cfg["dlr_protocol"] = dlr_protocol
            changes["mt_configs"] = configs
        if mo_url is not UNSET or mo_format:
            mo = dict(current.mo or {})
            if mo_url is not UNSET:
                mo["url"] = mo_url
            if mo_format:
                mo["format"] = mo_format
            changes["mo"] = mo
        return self.update_account(username, **changes) if changes else current

    # --- events -----------------------------------------------------------------------------
    def events(self, *, since: int | None = None, types: Sequence[str] | None = None,
               timeout: float | None = None) -> Iterator[Event]:
        """Server-sent events as they happen (``since``: replay the buffered ones after that
        sequence number first). ``timeout``: stop after that many seconds (None: never)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with EventStream(self, since=since) as stream:
            while True:
                event = stream.next(deadline)
                if event is None:
                    return
                if types is None or event.type in types:
                    yield event

    # --- waiting ----------------------------------------------------------------------------
    def _wait(self, what: str, check: Callable[[], T | None], triggers: frozenset[str],
              timeout: float, misses: Callable[[], str]) -> T:
        __tracebackhide__ = True  # a failing test shows the message, not this
        deadline = time.monotonic() + timeout
        found: T | None = None
        since: int | None = None
        while found is None and time.monotonic() < deadline:
            with EventStream(self, since=since) as stream:  # subscribed before the check
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
        filters = {"direction": direction, "account": self._account(account),
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


class EventStream:
    """One open ``GET /_fakemms/api/events``: the server has subscribed it once the
    constructor returns. ``next(deadline)`` gives the next event, or None when the deadline
    passes or the stream ends (``ended``).

    A reader thread takes the chunks off the connection into a queue, so ``next`` waits on
    the queue with the caller's deadline and the connection keeps its plain documented
    timeouts: a read timeout of a few keep-alive intervals (the server sends one every 2 s)
    tells a dead server from a quiet one."""

    READ_TIMEOUT = 10.0

    def __init__(self, client: Client, since: int | None = None) -> None:
        self._response = client._request(
            "GET", "/_fakemms/api/events", params={"since": since} if since is not None
            else None, stream=True, timeout=(client.timeout, self.READ_TIMEOUT))
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._buffer = b""
        self._data: list[str] = []
        self.last_seq = since
        self.ended = False
        self._reader = threading.Thread(target=self._read, name="fakemms-client-events",
                                        daemon=True)
        self._reader.start()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and join the reader: shutting the connection's socket down wakes a
        read under way (closing the response alone would wait for the next chunk)."""
        self._closed.set()
        connection = getattr(self._response.raw, "connection", None)  # urllib3's, public
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._reader.join(5)
        self._response.close()

    def _read(self) -> None:
        try:
            for chunk in self._response.iter_content(chunk_size=None):
                if self._closed.is_set():
                    break
                self._chunks.put(chunk)
        except Exception:  # the server went away, or the stream was closed under the reader
            pass  # (http.client then fails in ways of its own); either way the stream ended
        finally:
            self._chunks.put(None)

    def _pop(self) -> Event | None:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return None
            line = self._buffer[:end].rstrip(b"\r").decode("utf-8", "replace")
            self._buffer = self._buffer[end + 1:]
            if line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
            elif not line and self._data:
                text, self._data = "\n".join(self._data), []
                try:
                    event = Event.from_dict(json.loads(text))
                except ValueError:
                    continue
                self.last_seq = event.seq
                return event

    def next(self, deadline: float | None = None) -> Event | None:
        while True:
            event = self._pop()
            if event is not None:
                return event
            if self.ended:
                return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                chunk = self._chunks.get(timeout=left)
            except queue.Empty:
                return None  # the deadline passed
            if chunk is None:
                self.ended = True  # the stream ended: the server closed it or went away
                return None
            self._buffer += chunk


def scenario_dict(scenario: Any) -> dict[str, Any]:
    """A scenario as a dict: from a dict, a file (``.yaml``, ``.yml``, ``.json`` path or a
    ``Path``) or YAML text."""
    import yaml

    if isinstance(scenario, Mapping):
        return dict(scenario)
    source = "<text>"
    if isinstance(scenario, os.PathLike) or (
            isinstance(scenario, str) and "\n" not in scenario
            and scenario.strip().lower().endswith((".yaml", ".yml", ".json"))):
        source = os.fspath(scenario)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise FakeMmsClientError(f"{source}: cannot read: {exc.strerror or exc}") from None
    else:
        text = str(scenario)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FakeMmsClientError(f"{source}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FakeMmsClientError(f"{source}: a scenario must be a mapping")
    return data


def _reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "unknown host"),
                           ("nodename nor servname", "unknown host"),
                           ("timed out", "timed out"),
                           ("Connection reset", "connection reset"),
                           ("RemoteDisconnected", "connection closed without an answer")):
        if needle in text:
            return reason
    return exc.__class__.__name__


def _error_from(response: requests.Response, method: str, path: str) -> FakeMmsClientError:
    description: str | None = None
    problems: list[str] = []
    try:
        error = response.json().get("error") or {}
        description = error.get("description")
        problems = list(error.get("problems") or [])
    except (ValueError, AttributeError):
        pass
    if description is None:
        description = response.text.strip()[:300] or response.reason
    return FakeMmsClientError(f"{method} {path}: HTTP {response.status_code}: {description}",
                              status=response.status_code, description=description,
                              problems=problems)


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
