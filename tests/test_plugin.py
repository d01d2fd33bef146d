"""The pytest plugin, run the way users run it: pytest in a subprocess (pytester) on test
files written here. In-process server, marker, failure report, xdist, and a shared external
``fakemms serve`` through FAKEMMS_URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakemms.client import Client

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
INI = "[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider\n"

HELPERS = '''
import requests

BODY = (b'--b\\r\\nContent-Type: application/json\\r\\n\\r\\n'
        b'{"type":"MT","source":"88600","destination":"DEST","mtConfig":"config1"}\\r\\n\\r\\n'
        b'--b\\r\\nContent-Type: text/plain\\r\\nContent-Id: t.txt\\r\\n\\r\\n'
        b'Hello\\r\\n\\r\\n--b--\\r\\n')


def send(fakemms, destination="12515550130", auth=None):
    """The application under test sends an MT."""
    with requests.Session() as http:
        r = http.post(fakemms.send_url, data=BODY.replace(b"DEST", destination.encode()),
                      auth=auth or fakemms.credentials,
                      headers={"Content-Type": "multipart/mixed; boundary=b"}, timeout=5)
    return r
'''


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("FAKEMMS_URL", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(helpers=HELPERS)
    return pytester


def run(tester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return tester.runpytest_subprocess("-p", "no:randomly", *args, timeout=60)


def test_fixtures_in_process(tester):
    tester.makepyfile(test_app='''
        import threading
        from helpers import send

        seen = {}

        def test_sends_and_waits(fakemms, fakemms_server):
            assert fakemms.url == fakemms_server.url and fakemms.url.startswith("http://127.0.0.1:")
            assert fakemms.account is None and fakemms.credentials == ("fakemms", "fakemms")
            assert fakemms.send_url == fakemms.url + "/mms/v2/send"
            assert fakemms.mm7_url == fakemms.url + "/mm7"
            assert send(fakemms).status_code == 202
            assert fakemms.wait_for_message(number="12515550130").direction == "mt"
            seen["url"] = fakemms.url

        def test_starts_clean_on_the_same_server(fakemms, fakemms_server):
            assert fakemms.url == seen["url"]  # one server for the session
            assert fakemms.list_messages() == []  # reset before each test
            assert fakemms_server.backend is not None and not fakemms_server.external

        def test_receiver_acks_an_mo(fakemms, mms_app_receiver):
            fakemms.configure_callbacks(dlr_url=mms_app_receiver.dlr_url,
                                        mo_url=mms_app_receiver.mo_url)
            mo = fakemms.inject_mo("88600", text="hello")
            fakemms.assert_callback_acked(message_id=mo.id, within_ms=1000)
            (got,) = mms_app_receiver.wait_for(1)
            assert (got.protocol, got.kind, got.status) == ("openmarket", "mo", 200)
            mms_app_receiver.fail(500)
            mo = fakemms.inject_mo("88600", text="again")
            cb = fakemms.wait_for_callback(message_id=mo.id)
            assert cb.attempts[0].status == 500 and cb.state == "retrying"

        def test_accounts_and_receiver_are_put_back(fakemms, mms_app_receiver):
            account = fakemms.get_account("fakemms")
            assert account.mo is None and account.mt_configs["config1"]["dlr_url"] is None
            assert mms_app_receiver.received == []
            assert [t.name for t in threading.enumerate() if t.name.startswith("fakemms-http")]
    ''')
    result = run(tester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["fakemms: in-process server on 127.0.0.1, a free port*"])


def test_nothing_starts_unless_a_fixture_asks(tester):
    tester.makepyfile(test_plain='''
        import sys, threading

        def test_plain():
            assert not [t for t in threading.enumerate() if t.name.startswith("fakemms")]
            assert "flask" not in sys.modules and "fakemms.app" not in sys.modules
            assert "fakemms.pytest_plugin" in sys.modules
    ''')
    run(tester).assert_outcomes(passed=1)
    result = run(tester, "--fixtures")
    result.stdout.fnmatch_lines(["fakemms -- *", "*A ``fakemms.Client`` for this test*",
                                 "mms_app_receiver -- *", "fakemms_config *session scope*"])
    result = run(tester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.fakemms(scenario=None, accounts=None, clock=None)*"])


def test_marker_sets_up_and_undoes(tester):
    expired = ROOT / "scenarios" / "expired.yaml"
    tester.makepyfile(test_marker=f'''
        import pytest
        from helpers import send
        from fakemms.client import FakeMmsClientError, WaitTimeout

        ACME = {{"username": "acme", "password": "s3cret", "mt_configs": {{"config1": {{}}}}}}

        @pytest.mark.fakemms(scenario={str(expired)!r}, clock="virtual", accounts=[ACME])
        def test_three_days_in_no_time(fakemms):
            assert [s["name"] for s in fakemms.list_scenarios()] == ["expired"]
            assert fakemms.get_clock().mode == "virtual"
            mt = send(fakemms, auth=("acme", "s3cret")).json()["mtId"]
            with pytest.raises(WaitTimeout):
                fakemms.wait_for_report(timeout=0.1)  # virtual: nothing until advanced
            fakemms.advance_clock("30s")
            assert fakemms.wait_for_report(timeout=1).status == "Deferred"
            fakemms.advance_clock("3d")
            assert fakemms.wait_for_report(status="Expired", timeout=1).message_id == str(mt)

        def test_undone_afterwards(fakemms):
            assert fakemms.list_scenarios() == []
            assert fakemms.get_clock().mode == "real"
            with pytest.raises(FakeMmsClientError, match="no account 'acme'"):
                fakemms.get_account("acme")

        REFUSE = "name: refuse\\nrules: [{{name: all, answer: {{error: 15201}}}}]"

        @pytest.mark.fakemms(scenario=REFUSE)
        def test_inline_scenario(fakemms):
            assert send(fakemms).json()["error"]["code"] == 15201

        @pytest.mark.fakemms(bogus=1)
        def test_bad_marker(fakemms):
            pass
    ''')
    result = run(tester, "-v")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*unknown option(s) bogus*"])


def test_a_failing_test_reports_its_messages_and_callbacks(tester):
    tester.makepyfile(test_fails='''
        from helpers import send

        def test_fails(fakemms, mms_app_receiver):
            fakemms.configure_callbacks(mo_url=mms_app_receiver.mo_url)
            mt = send(fakemms, "12515550199").json()["mtId"]
            mo = fakemms.inject_mo("88600", source="12015550123", text="hi")
            fakemms.wait_for_callback(message_id=mo.id)
            fakemms.wait_for_message(number="15550000000", timeout=0.2)

        def test_passes(fakemms):
            send(fakemms)
    ''')
    result = run(tester)
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "fakemms: messages and callbacks of this test" in out
    section = out.split("fakemms: messages and callbacks of this test", 1)[1]
    assert re.search(r"\d{15}  MT openmarket fakemms +88600 -> 12515550199  accepted", section)
    assert re.search(r"\d{15}  MO openmarket fakemms +12015550123 -> 88600  received", section)
    assert "attempt 1: success, HTTP 200" in section
    assert "What did arrive (newest first" in out  # the wait's near misses
    assert out.count("messages and callbacks of this test") == 1  # only the failing test


def test_xdist_gives_each_worker_its_own_server(tester, tmp_path):
    tester.makepyfile(test_parallel=f'''
        import os, pytest
        from helpers import send

        @pytest.mark.parametrize("n", range(6))
        def test_isolated(fakemms, n):
            destination = f"1251555{{n:04d}}"
            assert send(fakemms, destination).status_code == 202
            assert [m.destination for m in fakemms.list_messages()] == [destination]
            worker = os.environ["PYTEST_XDIST_WORKER"]
            with open({str(tmp_path)!r} + "/" + worker, "a") as f:
                f.write(fakemms.url + "\\n")
    ''')
    result = run(tester, "-n", "2")
    result.assert_outcomes(passed=6)
    urls = {p.name: set(p.read_text().split()) for p in tmp_path.iterdir()}
    assert sorted(urls) == ["gw0", "gw1"]
    assert all(len(u) == 1 for u in urls.values()) and urls["gw0"] != urls["gw1"]


@pytest.fixture
def external() -> Iterator[str]:
    """A separately started ``fakemms serve`` on a free port."""
    proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve", "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "FAKEMMS_CONFIG": ""})
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line + proc.stderr.read()
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_shared_external_server_gives_each_test_a_namespace(tester, external, monkeypatch):
    tester.makepyfile(test_shared='''
        import pytest
        from helpers import send

        @pytest.mark.parametrize("n", range(4))
        def test_namespace(fakemms, fakemms_server, n):
            assert fakemms_server.external and fakemms_server.backend is None
            assert fakemms.account.startswith("pytest-gw")
            assert f"test-namespace-{n}" in fakemms.account
            assert fakemms.credentials[0] == fakemms.account
            destination = f"1251555{n:04d}"
            assert send(fakemms, destination).status_code == 202
            assert [m.destination for m in fakemms.list_messages()] == [destination]
            assert fakemms.wait_for_message().account == fakemms.account

        @pytest.mark.fakemms(scenario={"name": "refuse", "rules": [
            {"name": "all", "answer": {"error": 15201}}]})
        def test_scenario_is_scoped_to_the_namespace(fakemms, fakemms_server):
            assert send(fakemms).json()["error"]["code"] == 15201
            admin = fakemms_server.client
            other = admin.create_account(username="bystander", password="pw",
                                         mt_configs={"config1": {}})
            try:
                bystander = admin.for_account(other.username, "pw")
                assert send(bystander).status_code == 202  # other namespaces unaffected
            finally:
                admin.delete_account("bystander")
    ''')
    monkeypatch.setenv("FAKEMMS_URL", external)
    result = run(tester, "-n", "2", "-v")
    result.assert_outcomes(passed=5)
    with Client(external) as client:
        assert [a.username for a in client.list_accounts()] == ["fakemms"]  # all deleted
        assert client.list_scenarios() == []
        owners = {m.account for m in client.list_messages()}
    assert len(owners) == 5 and all(o.startswith("pytest-gw") or o == "bystander"
                                    for o in owners)
    result = run(tester, "--co")
    result.stdout.fnmatch_lines([f"fakemms: {external} (FAKEMMS_URL; shared*"])


def test_unreachable_external_server_fails_tests_in_one_line(tester, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("FAKEMMS_URL", url)
    tester.makepyfile(test_x="def test_x(fakemms):\n    pass\n")
    started = time.monotonic()
    result = run(tester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        f"fakemms: {url} (FAKEMMS_URL): fakemms is not reachable at {url} (connection refused)",
        f"*fakemms is not reachable at {url} (connection refused) (FAKEMMS_URL)*"])
    assert time.monotonic() - started < 20


ISOLATION_SUITE = '''
    import time

    import pytest
    from helpers import send

    SETTINGS = {"callbacks": {"retry_delays": [0.3], "timeout_seconds": 2},
                "default_report": {"status": "Retrieved", "after": "0.5s"}}

    @pytest.fixture(scope="session")
    def fakemms_config():
        return SETTINGS  # in process; the shared server is started with the same settings

    @pytest.mark.parametrize("n", range(12))
    def test_round(fakemms, mms_app_receiver, n):
        fakemms.configure_callbacks(dlr_url=mms_app_receiver.dlr_url,
                                    mo_url=mms_app_receiver.mo_url)
        mms_app_receiver.fail(status=503, times=1)
        mt = send(fakemms).json()["mtId"]
        if n % 2 == 0:
            fakemms.inject_mo(text="left in flight")
            return  # leaves a report due, a retry due and an MO on its way
        got = mms_app_receiver.wait_for(2, timeout=10)
        time.sleep(1.0)  # room for anything a previous test left due to arrive
        got = mms_app_receiver.received
        assert [r.status for r in got] == [503, 200], [(r.path, r.status) for r in got]
        assert {r.json()["mtId"] for r in got} == {str(mt)}
'''


def test_tests_see_only_their_own_callbacks_in_process(tester):
    tester.makepyfile(test_isolation=ISOLATION_SUITE)
    result = run(tester, "-n", "2")
    result.assert_outcomes(passed=12)


def test_tests_see_only_their_own_callbacks_on_a_shared_server(tester, monkeypatch, tmp_path):
    config = tmp_path / "shared.yaml"
    config.write_text("callbacks: {retry_delays: [0.3], timeout_seconds: 2}\n"
                      "default_report: {status: Retrieved, after: 0.5s}\n")
    proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve", "--port", "0", "--quiet",
                             "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "FAKEMMS_CONFIG": ""})
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line + proc.stderr.read()
        monkeypatch.setenv("FAKEMMS_URL", match.group(1))
        tester.makepyfile(test_isolation=ISOLATION_SUITE)
        result = run(tester, "-n", "2")
        result.assert_outcomes(passed=12)
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        proc.stdout.close()
        proc.stderr.close()
