"""``Client``: every operation of the control API's OpenAPI document as a method named after
its ``operationId``, with plain dataclasses for results (``fakemms.client.models``)."""

from __future__ import annotations

import base64
import mimetypes
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from fakemms.client.errors import (
    UNSET,
    FakeMmsClientError,
)
from fakemms.client.events import EventStream
from fakemms.client.models import (
    Account,
    Callback,
    ClockState,
    Event,
    Message,
    MessageSummary,
    Report,
)
from fakemms.client.transport import Transport
from fakemms.client.waiting import Waiting

DEFAULT_URL = "http://127.0.0.1:8025"


def default_url() -> str:
    """``$FAKEMMS_URL``, else ``http://127.0.0.1:8025``."""
    return os.environ.get("FAKEMMS_URL") or DEFAULT_URL


def default_admin_token() -> str | None:
    """``$FAKEMMS_ADMIN_TOKEN``, else None (a fake without a token)."""
    return os.environ.get("FAKEMMS_ADMIN_TOKEN") or None


def seconds(duration: float | int | str | timedelta) -> float | str:
    """A duration for the API: seconds, a ``timedelta``, or a string like ``1h`` or ``500ms``
    (strings are passed on for the server to parse)."""
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    return duration


class Client(Waiting):
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
        return self._json("GET", "/_fakemms/api/dump", params=_reveal(reveal_passwords))

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
    def list_accounts(self, *, reveal_passwords: bool = False) -> list[Account]:
        """Every account with its MT configurations, MO settings and limits (passwords
        masked as ``********`` unless ``reveal_passwords``)."""
        return [Account.from_dict(a) for a in self._json(
            "GET", "/_fakemms/api/accounts", params=_reveal(reveal_passwords))["accounts"]]

    def get_account(self, username: str, *, reveal_passwords: bool = False) -> Account:
        """One account with its MT configurations, MO settings and limits (passwords
        masked as ``********`` unless ``reveal_passwords``)."""
        return Account.from_dict(self._json("GET", f"/_fakemms/api/accounts/{username}",
                                            params=_reveal(reveal_passwords)))

    def create_account(self, account: Mapping[str, Any] | Account | None = None,
                       **settings: Any) -> Account:
        """Create an account (``username`` and ``password`` required; the rest as in the
        configuration file: ``mt_configs``, ``mo``, ``tps``, limits...)."""
        data = account.to_dict() if isinstance(account, Account) else dict(account or {})
        data.update(settings)
        return Account.from_dict(self._json("POST", "/_fakemms/api/accounts", json_body=data))

    def update_account(self, username: str, **changes: Any) -> Account:
        """Change some settings: a JSON Merge Patch (RFC 7396): nested objects merge
        (``mo={"url": ...}`` keeps the MO credentials), ``None`` removes a setting."""
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
        current = self.get_account(username, reveal_passwords=True)  # patched back whole
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
        with EventStream(self.transport, since=since) as stream:
            while True:
                event = stream.next(deadline)
                if event is None:
                    return
                if types is None or event.type in types:
                    yield event


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


def _reveal(passwords: bool) -> dict[str, str] | None:
    return {"reveal": "passwords"} if passwords else None
