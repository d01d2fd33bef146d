"""Shared fixtures: real fakemms servers on 127.0.0.1 (port 0) and request builders."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fakemms.app import create_app
from fakemms.server import ServerThread

DATA = Path(__file__).parent / "data"
# Copies of the project's real-world fixtures and provider documents (tests/data/README.md names
# their sources): the repository stands alone.
SHARED = DATA

ACCOUNT = {
    "username": "acme",
    "password": "s3cret",
    "mt_configs": {"config1": {"dlr_url": None, "region": "US"}},
}


class Fake:
    """A running fake: its app, backend, base URL and a requests session."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.app = server.app
        self.backend = server.app.extensions["fakemms"]
        self.url = server.url
        self.http = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, timeout=10, **kw)

    def send(self, body: bytes, *, auth: tuple[str, str] | None = ("acme", "s3cret"),
             content_type: str = "multipart/mixed; boundary=mimeboundary",
             headers: dict[str, str] | None = None) -> requests.Response:
        h = {"Content-Type": content_type, **(headers or {})}
        return self.post("/mms/v2/send", data=body, auth=auth, headers=h)


@pytest.fixture
def make_fake() -> Iterator[Callable[..., Fake]]:
    """Start fakes with a given configuration mapping; all stopped at teardown."""
    started: list[ServerThread] = []

    def start(config: dict[str, Any] | None = None) -> Fake:
        cfg = {"accounts": [ACCOUNT], "seed": 1}
        cfg.update(config or {})
        server = ServerThread(create_app(cfg)).start()
        started.append(server)
        return Fake(server)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fake(make_fake: Callable[..., Fake]) -> Fake:
    return make_fake()


def om_body(fields: dict[str, Any] | None = None, parts: list[tuple[dict[str, str], bytes]]
            | None = None, *, boundary: str = "mimeboundary", blank_lines: bool = True,
            raw_json: bytes | None = None) -> bytes:
    """An OpenMarket send body laid out with the blank line before each boundary."""
    if fields is None:
        fields = {"type": "MT", "source": "88600", "destination": "12515550130",
                  "mtConfig": "config1"}
    if parts is None:
        parts = [({"Content-Type": "text/plain; charset=utf-8", "Content-Id": "text.txt"},
                  b"This is my text.")]
    js = raw_json if raw_json is not None else json.dumps(fields).encode()
    all_parts = [({"Content-Type": "application/json", "Content-Id": "main"}, js), *parts]
    sep = b"\r\n\r\n" if blank_lines else b"\r\n"
    out = b""
    for headers, data in all_parts:
        out += f"--{boundary}\r\n".encode()
        out += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
        out += b"\r\n" + data + sep
    return out + f"--{boundary}--\r\n".encode()


PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A callback receiver on 127.0.0.1 that answers 200 (set ``.answer`` to change that)."""
    from receiver import Receiver

    r = Receiver().start()
    yield r
    r.stop()


def with_dlr(url: str, **account: Any) -> dict[str, Any]:
    """Config whose account acme sends delivery reports to ``url``."""
    acc = {**ACCOUNT, "mt_configs": {"config1": {"dlr_url": url, "region": "US"}}, **account}
    return {"accounts": [acc]}


# --- the suite itself must not leak threads (a long-running service would) ------------------
_threads_at_start = pytest.StashKey[set]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_threads_at_start] = set(threading.enumerate())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when it ends with more live threads than it began with: every server,
    backend and receiver a test started must have been stopped and joined."""
    before = session.config.stash.get(_threads_at_start, None)
    if before is None:
        return
    for thread in set(threading.enumerate()) - before:
        thread.join(5)  # stopped threads end within moments
    left = sorted(t.name for t in set(threading.enumerate()) - before)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"LEAKED THREADS at the end of the suite ({len(left)}): "
                                f"{', '.join(left[:20])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- hypothesis profiles for the fuzz tests (tests/test_fuzz_*.py, docs/development.md) -----
def _fuzz_profiles() -> None:
    """``ci`` (default): a short, bounded run, derandomized on CI so failures reproduce;
    ``long`` (FAKEMMS_FUZZ=long): thousands of examples. No example database is written into
    the repository."""
    import os

    from hypothesis import HealthCheck, settings

    common = {"deadline": None, "database": None, "print_blob": True,
              # huge strings and whole bodies are the point; servers are module fixtures
              "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
    settings.register_profile("ci", max_examples=40,
                              derandomize=os.environ.get("CI", "").lower() in ("1", "true"),
                              **common)
    settings.register_profile("long", max_examples=int(os.environ.get(
        "FAKEMMS_FUZZ_EXAMPLES", "2000")), **common)
    settings.load_profile("long" if os.environ.get("FAKEMMS_FUZZ") == "long" else "ci")


_fuzz_profiles()
