"""Durable state: the SQLite journal's round trip, a fake that keeps its state across a
``kill -9`` and a restart, and what persistence off, reset and eviction do to the file."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from conftest import ACCOUNT, PNG_1PX, om_body, with_dlr
from receiver import Received, Receiver
from test_cli import clean_env, free_port, wait_healthy
from test_mm7_callbacks import rsp_answer, submit

from fakemms.models import Attempt, Callback, Message, Part, Report, StoredJob, Success
from fakemms.persistence import SqliteJournal


# --- the journal alone -----------------------------------------------------------------------
def a_message(mid: str = "100000000000001") -> Message:
    return Message(id=mid, direction="mt", interface="openmarket", account="acme",
                   source="88600", destinations=["15551230000"], created_at=1_700_000_000.5,
                   mt_config="config1", subject="hi", ccs=["15550000001"],
                   parts=[Part("text/plain", b"hello", "t.txt"),
                          Part("image/png", PNG_1PX, "i.png", filename="i.png")],
                   extra={"delivery_report": True, "fetches": [{"url": "http://x/"}]},
                   raw_request=b"POST /mms/v2/send ...", warnings=["w1"])


def test_journal_round_trip(tmp_path):
    journal = SqliteJournal(tmp_path / "state.db")
    message = a_message()
    journal.apply(journal.message_ops(message, new=True))
    report = Report(status="Deferred", date=1_700_000_001.0, outcome_id=4, callback_id="cb-000007")
    message.reports.append(report)
    message.status = "Deferred"
    message.callback_ids.append("cb-000007")
    callbacks = [
        Callback(id="cb-000007", kind="report", message_id=message.id, account="acme",
                 url="http://127.0.0.1:9/dlr", method="POST", headers={"X-A": "1"},
                 body=b"\x00{json}", protocol="mm7-6.8.0", created_at=1_700_000_001.0,
                 success=Success("mm7", "DeliveryReportRsp", "abcd"), auth=("u", "p"),
                 state="retrying", next_attempt_at=1_700_000_016.0, attempt_count=1,
                 attempts=[Attempt(1, 1_700_000_001.2, "rejected", 500, 3.5, "no", "HTTP 500")]),
        Callback(id="cb-000008", kind="report", message_id=message.id, account="acme",
                 url="http://127.0.0.1:9/l", method="GET", headers={}, body=b"",
                 protocol="legacy", created_at=1_700_000_001.0, success=Success("legacy"),
                 params=[("id", message.id), ("status", "4")], timeout=10.0),
    ]
    journal.apply([*journal.message_ops(message), *journal.callback_ops(callbacks, new=True)])
    journal.apply([journal.job_op(StoredJob(5, 1_700_000_100.0, "report", message.id, "acme",
                                            {"message_id": message.id, "plan": {"x": 1}})),
                   journal.meta_op("clock", {"mode": "virtual"})])
    journal.close()
    journal.apply([journal.meta_op("after", "close")])  # dropped, not an error

    loaded = SqliteJournal(tmp_path / "state.db").load()
    (got,) = loaded.messages
    assert got.to_dict() == message.to_dict()
    assert [(p.content_type, p.data, p.content_id, p.filename) for p in got.parts] == \
        [(p.content_type, p.data, p.content_id, p.filename) for p in message.parts]
    assert got.raw_request == message.raw_request and got.answered.is_set()
    assert [c.to_dict() for c in loaded.callbacks] == [c.to_dict() for c in callbacks]
    assert loaded.callbacks[0].success == Success("mm7", "DeliveryReportRsp", "abcd")
    assert loaded.callbacks[0].auth == ("u", "p") and loaded.callbacks[1].timeout == 10.0
    assert loaded.callbacks[1].success == Success("legacy")
    assert loaded.callbacks[1].params == [("id", message.id), ("status", "4")]
    assert loaded.jobs == [StoredJob(5, 1_700_000_100.0, "report", message.id, "acme",
                                     {"message_id": message.id, "plan": {"x": 1}})]
    assert loaded.meta == {"clock": {"mode": "virtual"}}


def test_journal_eviction_and_deferred_ops(tmp_path):
    journal = SqliteJournal(tmp_path / "state.db")
    first, second = a_message("1"), a_message("2")
    journal.apply(journal.message_ops(first, new=True))
    journal.apply([journal.job_op(StoredJob(1, 5.0, "report", "1", "acme", {}))])
    with journal.deferred([journal.drop_job_op(1)]):
        assert journal.counts()["jobs"] == 1  # not before the job's own write
        journal.apply(journal.message_ops(second, new=True, evicted=["1"]))
        assert journal.counts()["jobs"] == 0  # in the same transaction as that write
    counts = journal.counts()
    assert (counts["messages"], counts["parts"]) == (1, 2)
    assert [m.id for m in journal.load().messages] == ["2"]
    journal.close()


def test_a_callback_ended_at_its_give_up_time_is_written(tmp_path):
    """Store.end_callback (a retry due past the give-up time) reaches the file: a restart
    reads the callback failed, not retrying."""
    from fakemms.store import Store
    journal = SqliteJournal(tmp_path / "state.db")
    store = Store(journal=journal)
    message = a_message()
    store.add_message(message)
    callback = Callback(id="cb-000001", kind="report", message_id=message.id, account="acme",
                        url="http://127.0.0.1:9/dlr", method="POST", headers={}, body=b"{}",
                        protocol="openmarket", created_at=1_700_000_001.0,
                        success=Success("legacy"), state="retrying",
                        next_attempt_at=1_700_000_016.0)
    assert store.add_callback(callback)
    assert store.end_callback(callback, "failed")
    journal.close()
    (got,) = SqliteJournal(tmp_path / "state.db").load().callbacks
    assert (got.state, got.next_attempt_at) == ("failed", None)


# --- a fake in this process: off, reset, eviction --------------------------------------------
def send(fake: Any, n: int) -> list[str]:
    ids = []
    for i in range(n):
        r = fake.send(om_body({"type": "MT", "source": "88600", "mtConfig": "config1",
                               "destination": f"1555123{i:04d}"}))
        assert r.status_code == 202, r.text
        ids.append(str(r.json()["mtId"]))
    return ids


def test_persistence_off_writes_no_file(make_fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake = make_fake({"clock": "virtual"})
    send(fake, 2)
    assert fake.backend.store.journal is None and fake.backend.scheduler.store is None
    assert list(tmp_path.iterdir()) == []


def test_reset_empties_the_file_and_eviction_bounds_it(make_fake, tmp_path):
    path = tmp_path / "state.db"
    fake = make_fake({"clock": "virtual", "max_messages": 3, "persistence": {"path": str(path)},
                      **with_dlr("http://127.0.0.1:9/dlr")})
    journal = fake.backend.store.journal
    ids = send(fake, 5)
    counts = journal.counts()
    assert counts["messages"] == 3 and counts["parts"] == 3  # the two oldest evicted, rows too
    assert counts["jobs"] == 3  # their pending reports with them
    assert [m.id for m in journal.load().messages] == ids[2:]
    assert fake.post("/_fakemms/api/clock/advance", json={"seconds": 2}).status_code == 200
    counts = journal.counts()
    assert counts["jobs"] == 0 and counts["callbacks"] == 3  # fired: rows gone, callbacks made
    assert fake.post("/_fakemms/api/reset").status_code == 200
    counts = journal.counts()
    assert counts["messages"] == counts["parts"] == counts["callbacks"] == counts["jobs"] == 0
    assert fake.get("/_fakemms/api/messages").json()["count"] == 0


def started(config: dict[str, Any]) -> Any:
    from conftest import Fake

    from fakemms.app import create_app
    from fakemms.server import ServerThread

    return Fake(ServerThread(create_app(config)).start())


def test_virtual_clock_pending_reports_and_mo_scripts_survive_a_restart(tmp_path):
    """In process, a clean stop and a second server on the same file: the virtual clock
    stands where it stood, the report fires when advanced past its due time, and a scenario's
    MO script goes on where it was (not armed again)."""
    (tmp_path / "mo.yaml").write_text(
        "name: replies\nmo:\n  - {name: stop, account: acme, at: 1s, every: 1s, count: 3, "
        "to: '88600'}\n")
    config = {"accounts": [ACCOUNT], "seed": 1, "clock": "virtual",
              "scenarios": [str(tmp_path / "mo.yaml")],
              "persistence": {"path": str(tmp_path / "state.db")}}
    first = started(config)
    try:
        (mid,) = send(first, 1)
        first.post("/_fakemms/api/clock/advance", json={"seconds": 0.5})
        before = first.get("/_fakemms/api/clock").json()
        assert before["pending_jobs"] == 4  # the report, three MOs
    finally:
        first.server.stop()
    second = started(config)
    try:
        clock = second.get("/_fakemms/api/clock").json()
        assert clock["now"] == before["now"] and clock["pending_jobs"] == 4
        assert second.get(f"/_fakemms/api/messages/{mid}").json()["status"] == "accepted"
        second.post("/_fakemms/api/clock/advance", json={"seconds": 1.0})
        got = second.get(f"/_fakemms/api/messages/{mid}").json()
        assert [r["status"] for r in got["reports"]] == ["Retrieved"]
        assert second.get("/_fakemms/api/messages?direction=mo").json()["count"] == 1
    finally:
        second.server.stop()
    # a scenario new in the config arms its scripts; the kept jobs keep their rows
    (tmp_path / "new.yaml").write_text(
        "name: new\nmo:\n  - {name: hi, account: acme, at: 1s, count: 2, to: '88600'}\n")
    third = started({**config, "scenarios": [*config["scenarios"], str(tmp_path / "new.yaml")]})
    try:
        assert third.get("/_fakemms/api/clock").json()["pending_jobs"] == 4
        assert third.backend.store.journal.counts()["jobs"] == 4
        third.post("/_fakemms/api/clock/advance", json={"seconds": 10})
        mos = third.get("/_fakemms/api/messages?direction=mo").json()
        assert mos["count"] == 5  # one per occurrence, across two restarts
        assert third.get("/_fakemms/api/clock").json()["pending_jobs"] == 0
        assert third.backend.store.journal.counts()["jobs"] == 0
    finally:
        third.server.stop()


# --- kill -9 and a restart, over real HTTP ---------------------------------------------------
SCENARIO = """\
name: durable
rules:
  - name: fails-fast
    match: {destination: "15559*"}
    reports: [{status: Retrieved, after: 100ms}]
  - name: later
    match: {destination: "15552*"}
    reports: [{status: Retrieved, after: 5s}]
  - name: soon
    match: {destination: "15551*"}
    reports: [{status: Retrieved, after: 2500ms}]
"""


class Server:
    """``fakemms serve`` as a subprocess on a free port."""

    def __init__(self, config: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fakemms", "serve", "--config", str(config), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=clean_env())
        try:
            wait_healthy(self.url, timeout=20)
        except AssertionError:
            self.proc.kill()
            raise AssertionError(self.proc.communicate(timeout=5)[1].decode()) from None

    def get(self, path: str) -> Any:
        r = requests.get(self.url + path, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self.proc.stderr.close()


def message_id_of(received: Received) -> str:
    if received.path == "/mm7":
        from fakemms.protocols.mm7 import codec

        return codec.parse(received.body, received.headers["Content-Type"]).message_id
    return received.json["mtId"]


def settled(server: Server, timeout: float = 15) -> None:
    """Until nothing is scheduled, queued or under way in the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock = server.get("/_fakemms/api/clock")
        busy = [c for c in server.get("/_fakemms/api/callbacks")["callbacks"]
                if c["state"] not in ("delivered", "failed")]
        if clock["pending_jobs"] == 0 and not busy:
            return
        time.sleep(0.05)
    raise AssertionError("the server did not settle")


def wait_for(check: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_state_survives_kill_9_and_pending_reports_fire_after_restart(tmp_path):
    failing = {"on": True}

    def answer(received: Received) -> tuple:
        if received.path == "/fail" and failing["on"]:
            return 500, b"down"
        if received.path == "/mm7":
            return (*rsp_answer(1000)(received), {"Content-Type": "text/xml"})
        return 200, b""

    receiver = Receiver(answer).start()
    # MOs go to a receiver of their own (a lane of its own) that holds the first attempt
    # until the process that made it is dead
    arrived, release = threading.Event(), threading.Event()

    def hold(received: Received) -> tuple:
        arrived.set()
        release.wait(10)
        return 200, b""

    mo_receiver = Receiver(hold).start()
    port = free_port()
    state = tmp_path / "state.db"
    (tmp_path / "durable.yaml").write_text(SCENARIO)
    config = tmp_path / "fakemms.yaml"
    config.write_text(yaml.safe_dump({
        "port": port, "seed": 5, "scenarios": ["durable.yaml"],
        "persistence": {"path": "state.db"},  # next to the config file
        # one attempt at a time per destination: arrival order is firing order
        "callbacks": {"retry_delays": [4], "timeout_seconds": 2, "workers": 1},
        "accounts": [{**ACCOUNT, "mo": {"url": mo_receiver.url("/mo"), "format": "http"},
                      "mt_configs": {
            "config1": {"dlr_url": receiver.url("/dlr"), "region": "US"},
            "failing": {"dlr_url": receiver.url("/fail"), "region": "US"},
            "mm7": {"dlr_url": receiver.url("/mm7"), "dlr_protocol": "mm7-6.8.0",
                    "region": "US"}}}],
    }))
    server = Server(config, port)
    http = requests.Session()
    try:
        def om(destination: str, mt_config: str = "config1") -> str:
            body = om_body({"type": "MT", "source": "88600", "destination": destination,
                            "mtConfig": mt_config},
                           [({"Content-Type": "text/plain", "Content-Id": "t.txt"},
                             f"to {destination}".encode()),
                            ({"Content-Type": "image/png", "Content-Id": "i.png"}, PNG_1PX)])
            r = http.post(server.url + "/mms/v2/send", data=body, auth=("acme", "s3cret"),
                          headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"},
                          timeout=10)
            assert r.status_code == 202, r.text
            return str(r.json()["mtId"])

        class Mm7Fake:  # what test_mm7_callbacks.submit needs of a fake
            def post(self, path: str, **kw: Any) -> requests.Response:
                return http.post(server.url + path, timeout=10, **kw)

        failed = om("15559000000", "failing")
        first = wait_for(lambda: server.get(f"/_fakemms/api/messages/{failed}/callbacks")
                         ["callbacks"])
        wait_for(lambda: server.get(f"/_fakemms/api/callbacks/{first[0]['id']}")["attempts"])
        # due 2.5 s after their send (late at the restart), then 5 s after (after it)
        soon = [om("15551000001"), submit(Mm7Fake(), to="15551000002", version="6.8.0"),
                om("15551000003")]
        sent_soon = time.monotonic()
        later = [om("15552000001"), submit(Mm7Fake(), to="15552000002", version="6.8.0")]
        r = http.post(server.url + "/_fakemms/api/mo", timeout=10, json={
            "account": "acme", "source": "12015550123", "destination": "88600",
            "parts": [{"content_type": "text/plain", "text": "STOP"}]})
        assert r.status_code in (200, 201), r.text
        mo = r.json()["id"]
        before = {mid: server.get(f"/_fakemms/api/messages/{mid}")
                  for mid in [failed, *soon, *later, mo]}
        pages = {mid: requests.get(f"{server.url}/_fakemms/ui/messages/{mid}", timeout=10).text
                 for mid in soon}
        (retrying,) = server.get(f"/_fakemms/api/messages/{failed}/callbacks")["callbacks"]
        assert retrying["state"] == "retrying" and retrying["attempt_count"] == 1
        assert [r.path for r in receiver.received] == ["/fail"]
        assert arrived.wait(10)  # the MO's attempt is under way
        server.kill()
        killed_at = time.time()
        release.set()

        # the server is down while the first reports fall due: they are late at the restart
        time.sleep(max(0.0, sent_soon + 2.6 - time.monotonic()))
        failing["on"] = False
        server = Server(config, port)
        after = {mid: server.get(f"/_fakemms/api/messages/{mid}") for mid in before}
        for mid, was in before.items():  # readable as before (reports may have fired since)
            now = after[mid]
            assert {k: v for k, v in now.items() if k not in ("status", "reports",
                                                               "callback_ids")} == \
                {k: v for k, v in was.items() if k not in ("status", "reports", "callback_ids")}
            assert now["reports"][:len(was["reports"])] == was["reports"]
        for mid, page in pages.items():  # the raw request, as the UI shows it
            again = requests.get(f"{server.url}/_fakemms/ui/messages/{mid}", timeout=10).text
            marker = "SubmitReq" if mid == soon[1] else "--mimeboundary"
            assert again.count(marker) == page.count(marker) > 0
        png = requests.get(f"{server.url}/_fakemms/api/messages/{soon[0]}/parts/1", timeout=10)
        assert png.content == PNG_1PX

        settled(server)
        dlrs = [r for r in receiver.received if r.path in ("/dlr", "/mm7")]
        assert [message_id_of(r) for r in dlrs] == [*soon, *later]  # in due order, once each
        assert all(r.at > killed_at for r in dlrs)
        late, on_time = dlrs[:len(soon)], dlrs[len(soon):]
        assert all(r.at < on_time[0].at for r in late)
        fails = [r for r in receiver.received if r.path == "/fail"]
        assert len(fails) == 2 and fails[1].at > killed_at  # the retry resumed, once
        cb = server.get(f"/_fakemms/api/callbacks/{retrying['id']}")
        assert cb["state"] == "delivered" and cb["attempt_count"] == 2
        assert cb["attempts"][0] == retrying["attempts"][0]
        assert cb["attempts"][1]["outcome"] == "success"
        for mid in [*soon, *later]:
            got = server.get(f"/_fakemms/api/messages/{mid}")
            assert [r["status"] for r in got["reports"]] == ["Retrieved"]
            (report_cb,) = server.get(f"/_fakemms/api/messages/{mid}/callbacks")["callbacks"]
            assert report_cb["state"] == "delivered" and report_cb["attempt_count"] == 1
        # the MO attempt the kill cut short is made again (at least once), then recorded
        (mo_cb,) = server.get(f"/_fakemms/api/messages/{mo}/callbacks")["callbacks"]
        assert mo_cb["state"] == "delivered" and mo_cb["attempt_count"] == 1
        first_try, again = mo_receiver.received
        assert again.body == first_try.body and again.at > killed_at
        ids = [c["id"] for c in server.get("/_fakemms/api/callbacks")["callbacks"]]
        assert len(ids) == len(set(ids)) == 1 + len(soon) + len(later) + 1
    finally:
        release.set()
        server.stop()
        receiver.stop()
        mo_receiver.stop()
        http.close()
    assert state.stat().st_size > 0


def test_config_env_and_one_owner_per_file(tmp_path):
    from fakemms.app import create_app
    from fakemms.config import load_config
    from fakemms.errors import ConfigError

    path = tmp_path / "state.db"
    config = load_config(None, env={"FAKEMMS_PERSISTENCE_PATH": str(path)})
    assert config["persistence"] == {"path": str(path), "synchronous": "normal",
                                     "retry_after": 5}
    (tmp_path / "off.yaml").write_text("persistence: {path: x.db, synchronous: off}\n")
    assert load_config(tmp_path / "off.yaml", env={})["persistence"]["synchronous"] is False
    app = create_app(config)
    try:
        with pytest.raises(ConfigError) as refused:  # a second fakemms on the same file
            create_app(load_config(None, env={"FAKEMMS_PERSISTENCE_PATH": str(path)}))
        assert "database is locked" in str(refused.value.problems)
    finally:
        app.close()
