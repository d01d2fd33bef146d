"""The pytest plugin (entry point ``pytest11``: loaded wherever fakemms is installed).

Nothing starts unless a test asks for a fixture: ``fakemms_server`` (session) runs the fake in
the test process on a free port, or uses the running service ``$FAKEMMS_URL`` names;
``fakemms`` (per test) hands back a ``fakemms.Client`` on a clean slate; ``mms_app_receiver``
is a callback endpoint that answers like a well-behaved application. The marker
``@pytest.mark.fakemms(scenario=..., accounts=..., clock="virtual")`` sets a test up. Run
``pytest --fixtures`` for the details; the fixture docstrings are the documentation.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fakemms.client import Client
    from fakemms.testing.receiver import AppReceiver

MARKER = ("fakemms(scenario=None, accounts=None, clock=None): set this test up on the fake: "
          "scenario (a file, YAML text or dict, or a list of them) loaded for the test; "
          "accounts (dicts as in the config file) created for the test; clock 'virtual' "
          "(time moves only with advance_clock) or 'real'. Undone after the test.")
MARKER_KEYS = frozenset({"scenario", "accounts", "clock"})
SECTION = "fakemms: messages and callbacks of this test"
REPORT_LIMIT = 50

_client_key = pytest.StashKey["Client"]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("FAKEMMS_URL")
    if not url:
        return ("fakemms: in-process server on 127.0.0.1, a free port per test process "
                "(started when a test first uses it; FAKEMMS_URL unset)")
    from fakemms.client import Client, FakeMmsClientError

    with Client(url, timeout=2.0) as client:
        try:
            health = client.health()
        except FakeMmsClientError as exc:
            return f"fakemms: {url} (FAKEMMS_URL): {exc}"
    scenarios = ", ".join(health.get("scenarios") or []) or "none"
    clock = health.get("clock", {}).get("mode", "?")
    return (f"fakemms: {url} (FAKEMMS_URL; shared: one account namespace per test), "
            f"clock {clock}, scenarios {scenarios}")


class FakeMmsServer:
    """What ``fakemms_server`` gives: ``url``, ``client`` (every account), ``external``
    (True for $FAKEMMS_URL), and for the in-process server ``app`` and ``backend``."""

    def __init__(self, url: str, client: Client, *, thread: Any = None) -> None:
        self.url = url
        self.client = client
        self.thread = thread
        self.app = thread.app if thread is not None else None
        self.backend = self.app.extensions["fakemms"] if self.app is not None else None
        self._template: dict[str, Any] | None = None

    @property
    def external(self) -> bool:
        return self.thread is None

    def __repr__(self) -> str:
        where = "external" if self.external else "in-process"
        return f"<fakemms server {self.url} ({where})>"

    def stop(self) -> None:
        self.client.close()
        if self.thread is not None:
            self.thread.stop()


# --- settings fixtures (override them in a conftest.py) --------------------------------------
@pytest.fixture(scope="session")
def fakemms_url() -> str | None:
    """The running fakemms to use instead of an in-process one: ``$FAKEMMS_URL`` (e.g. the
    docker service in CI), or None to start one in the test process. Override to choose.
    A server started with an admin token needs ``$FAKEMMS_ADMIN_TOKEN`` set to it."""
    return os.environ.get("FAKEMMS_URL") or None


@pytest.fixture(scope="session")
def fakemms_config() -> dict[str, Any]:
    """The configuration of the in-process server, as a mapping in the config file's shape
    (``accounts``, ``clock``, ``seed``, ``scenarios``, ``callbacks``, ...); ``host`` and
    ``port`` are ignored (127.0.0.1, a free port). Default: the embedded defaults (account
    ``fakemms`` / ``fakemms`` with MT configuration ``config1``). FAKEMMS_* variables are
    not read; an ``admin_token`` closes its control API, and the plugin's client sends it.
    Override in a conftest.py::

        @pytest.fixture(scope="session")
        def fakemms_config():
            return {"accounts": [{"username": "acme", "password": "s3cret",
                                  "mt_configs": {"config1": {}}}], "seed": 1}
    """
    return {}


@pytest.fixture(scope="session")
def fakemms_account_template() -> dict[str, Any] | None:
    """On a shared server ($FAKEMMS_URL), each test gets its own account made from this
    template (a dict as in the config file; ``username`` and ``password`` are generated).
    Default None: a copy of the server's first account (its MT configurations, MO settings
    and limits)."""
    return None


# --- the server ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fakemms_server(fakemms_url: str | None,
                   fakemms_config: dict[str, Any]) -> Iterator[FakeMmsServer]:
    """The fake for the whole session, ready when the first test that uses it starts: a real
    server in the test process on 127.0.0.1 and a free port (one per xdist worker), or the
    running service ``$FAKEMMS_URL`` names. Gives ``url``, ``client``, ``external``.

    Without ``$FAKEMMS_URL``: a real server in the test process, on 127.0.0.1 and a free port
    (under pytest-xdist each worker has its own), configured by ``fakemms_config``. With
    ``$FAKEMMS_URL`` (the ``fakemms_url`` fixture): that running service, shared: the
    ``fakemms`` fixture then gives each test an account namespace of its own. Gives a
    ``FakeMmsServer``: ``url``, ``client``, ``external``, and in process ``app`` and
    ``backend``. Fails every test that uses it, with one clear line, when $FAKEMMS_URL does
    not answer."""
    from fakemms.client import Client, FakeMmsClientError

    if fakemms_url:
        client = Client(fakemms_url)
        try:
            client.health()
        except FakeMmsClientError as exc:
            client.close()
            pytest.fail(f"{exc} (FAKEMMS_URL)", pytrace=False)
        server = FakeMmsServer(client.url, client)
    else:
        from fakemms.app import create_app
        from fakemms.server import ServerThread

        config = {k: v for k, v in dict(fakemms_config).items() if k not in ("host", "port")}
        app = create_app(config)
        thread = ServerThread(app, "127.0.0.1", 0, **app.extensions["fakemms"].config["http"])
        thread.start()
        token = app.extensions["fakemms"].config.get("admin_token")  # its own client uses it
        server = FakeMmsServer(thread.url, Client(thread.url, admin_token=token), thread=thread)
    try:
        yield server
    finally:
        server.stop()


# --- per test --------------------------------------------------------------------------------
@pytest.fixture
def fakemms(request: pytest.FixtureRequest, fakemms_server: FakeMmsServer,
            fakemms_account_template: dict[str, Any] | None) -> Iterator[Client]:
    """A ``fakemms.Client`` for this test, on a clean slate: the in-process server reset, or
    on a shared server ($FAKEMMS_URL) an account of the test's own. ``.url``,
    ``.send_url``, ``.mm7_url``, ``.username`` / ``.password``, ``.account``; the
    ``wait_for_*`` and ``assert_*`` helpers; ``@pytest.mark.fakemms(scenario=...,
    accounts=..., clock="virtual")`` sets the test up.

    In-process server: everything is reset first (messages, callbacks, counters, pending
    reports); accounts changed by the test are put back afterwards. Shared server
    ($FAKEMMS_URL): the test gets an account of its own (``pytest-<worker>-<test>-<random>``,
    made from ``fakemms_account_template``), deleted afterwards; the client's list, wait and
    assert methods look only at that account, so parallel jobs never see each other.

    Use ``.send_url`` / ``.mm7_url`` and ``.username`` / ``.password`` to configure the
    application, ``.account`` (None in process), ``.configure_callbacks(dlr_url=...,
    mo_url=...)`` to point callbacks at the application, and ``wait_for_message``,
    ``wait_for_report``, ``wait_for_callback``, ``assert_callback_acked``,
    ``assert_no_messages``. A failing test's report lists the messages and callbacks it
    produced. The ``fakemms`` marker adds scenarios, accounts and a virtual clock."""
    server = fakemms_server
    marker = request.node.get_closest_marker("fakemms")
    options = _marker_options(marker)
    backend: Any = server.backend  # None on a shared server
    if server.external:
        client = _namespace_client(server, request, fakemms_account_template)
    else:
        backend.reset()
        saved_accounts = {a.username: a for a in backend.store.accounts()}
        client = server.client
        client._credentials = None  # the first account may have changed since
    undo = _apply_marker(client, server, options) if options else []
    request.node.stash[_client_key] = client
    try:
        yield client
    finally:
        errors = []
        for step in reversed(undo):
            try:
                step()
            except Exception as exc:  # keep undoing; report at the end
                errors.append(exc)
        if server.external:
            try:
                server.client.delete_account(client.account or "")
            except Exception as exc:
                errors.append(exc)
        else:
            if {a.username: a for a in backend.store.accounts()} != saved_accounts:
                backend.store.set_accounts(saved_accounts.values())
            if options:
                backend.reset()
        if errors:
            raise errors[0]


def _namespace_client(server: FakeMmsServer, request: pytest.FixtureRequest,
                      template: dict[str, Any] | None) -> Client:
    if template is None:
        if server._template is None:
            accounts = server.client.list_accounts(reveal_passwords=True)
            server._template = accounts[0].to_dict() if accounts else {
                "mt_configs": {"config1": {"dlr_url": None}}}
        template = server._template
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:32].lower()
    username = f"pytest-{worker}-{test}-{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    server.client.create_account({**template, "username": username, "password": password})
    return server.client.for_account(username, password)


def _marker_options(marker: pytest.Mark | None) -> dict[str, Any]:
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError("@pytest.mark.fakemms takes keywords only: scenario=, "
                                "accounts=, clock=")
    unknown = set(marker.kwargs) - MARKER_KEYS
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.fakemms: unknown option(s) "
                                f"{', '.join(sorted(unknown))} (known: scenario, accounts, "
                                f"clock)")
    clock = marker.kwargs.get("clock")
    if clock not in (None, "real", "virtual"):
        raise pytest.UsageError(f"@pytest.mark.fakemms: clock must be 'real' or 'virtual', "
                                f"not {clock!r}")
    return {k: v for k, v in marker.kwargs.items() if v is not None}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _apply_marker(client: Client, server: FakeMmsServer, options: dict[str, Any]) -> list:
    """Apply the marker's settings; the steps that undo them, in order of application."""
    from fakemms.client import FakeMmsClientError, scenario_dict

    undo: list = []
    admin = server.client
    for account in _as_list(options.get("accounts", [])):
        data = dict(account)
        name = data["username"]
        try:
            previous = admin.get_account(name, reveal_passwords=True)
        except FakeMmsClientError:
            previous = None
        admin.replace_account(name, data)
        if server.external:
            undo.append(lambda n=name, p=previous: admin.replace_account(n, p) if p
                        else admin.delete_account(n))
    if "clock" in options:
        before = admin.get_clock()
        admin.set_clock_mode(options["clock"])

        def restore_clock() -> None:
            admin.set_clock_mode(before.mode)
            if before.paused and before.mode == "real":
                admin.pause_clock()

        undo.append(restore_clock)
    for scenario in _as_list(options.get("scenario", [])):
        data = scenario_dict(scenario)
        if server.external and client.account:
            data = _scoped(data, client.account)
        admin.add_scenario(data)
        name = data.get("name")
        undo.append(lambda n=name: admin.remove_scenario(n))
    return undo


def _scoped(scenario: dict[str, Any], account: str) -> dict[str, Any]:
    """A scenario for one account namespace on a shared server: renamed ``name@account``;
    rules match only the account (unless they name one); MO scripts come from it; the
    scenario's faults move into its rules, with a last rule for the account's other MTs."""
    out = dict(scenario)
    out["name"] = f"{scenario.get('name', 'scenario')}@{account}"
    faults = list(scenario.get("faults") or [])
    rules = []
    for rule in scenario.get("rules") or []:
        rule = dict(rule)
        rule["match"] = {"account": account, **(rule.get("match") or {})}
        if faults:
            rule["faults"] = [*(rule.get("faults") or []), *faults]
        rules.append(rule)
    if faults:
        rules.append({"name": "other-mts", "match": {"account": account}, "faults": faults})
    out["rules"] = rules
    out.pop("faults", None)
    out["mo"] = [{**script, "account": account} for script in scenario.get("mo") or []]
    return out


# --- the application side --------------------------------------------------------------------
@pytest.fixture(scope="session")
def _mms_app_receiver_session() -> Iterator[AppReceiver]:
    from fakemms.testing.receiver import AppReceiver

    receiver = AppReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def mms_app_receiver(_mms_app_receiver_session: AppReceiver) -> AppReceiver:
    """A ready callback endpoint (a real HTTP server on 127.0.0.1) that records every callback
    and answers as a well-behaved application would: OpenMarket reports and MOs HTTP 200
    with an empty body; MM7 a DeliverRsp / DeliveryReportRsp / ReadReplyRsp with StatusCode
    1000 in the request's namespace, MM7Version and TransactionID; the legacy gateway HTTP
    200 with a non-empty body. Fails on demand: ``.fail(status, times=None, delay=0)``,
    ``.delay(seconds)``; ``.behave()`` again.

    For testing an MMS client library against the fake. ``.url`` (any path), ``.dlr_url``,
    ``.mo_url``; ``.received`` (method, path, headers, body, query, protocol, kind, the
    answer); ``.wait_for(count, timeout)``; ``.fail(status=500, times=None, body=b"",
    delay=0)``. Cleared for each test. Point the fake at it with
    ``fakemms.configure_callbacks(dlr_url=mms_app_receiver.dlr_url,
    mo_url=mms_app_receiver.mo_url)``.

    Scope: one receiver (one port) serves the session, but each test gets URLs of its own
    (``.../t/<test>/dlr``): ``.received`` and ``.fail()`` see only callbacks sent to this
    test's URLs. A callback a previous test left due (a report, a retry) is answered well
    and kept in ``.stray``, never counted here; the fake also cancels such work on reset or
    when a test's account is deleted."""
    receiver = _mms_app_receiver_session
    receiver.begin(secrets.token_hex(4))
    return receiver


# --- reports ---------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        client = item.stash.get(_client_key, None)
        if client is not None:
            report.sections.append((SECTION, _state_text(client)))
    return report


def _state_text(client: Client) -> str:
    """The test's messages and callbacks (its account's on a shared server), for a failure
    report. Never raises: a broken server is said, not thrown."""
    from fakemms.client import FakeMmsClientError

    try:
        messages = client.list_messages(limit=REPORT_LIMIT)
        callbacks = client.list_callbacks()[:REPORT_LIMIT]
    except FakeMmsClientError as exc:
        return f"(could not read the fake's state: {exc})"
    scope = f" in account {client.account}" if client.account else ""
    lines = [f"{client.url}{scope}", f"messages ({len(messages)}, newest first):"]
    lines += [f"  {m.line()}" for m in messages] or ["  none"]
    lines.append(f"callbacks ({len(callbacks)}, newest first):")
    for c in callbacks:
        lines.append(f"  {c.id}  {c.kind} for {c.message_id}  {c.state}  {c.method} {c.url}")
        lines += [f"      {a.line()}" for a in c.attempts]
    if not callbacks:
        lines.append("  none")
    return "\n".join(lines)
