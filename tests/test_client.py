"""fakemms.Client against a real in-process server: every operation, the wait_for helpers on
the event stream, near misses, namespaces and errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ACCOUNT, PNG_1PX, om_body

from fakemms.client import (
    Callback,
    Client,
    FakeMmsClientError,
    FakeMmsNotReachable,
    Message,
    MessageSummary,
    Part,
    Report,
    WaitTimeout,
)
from fakemms.testing.receiver import AppReceiver

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_receiver() -> Iterator[AppReceiver]:
    with AppReceiver() as r:
        yield r


def config(receiver: AppReceiver | None = None, **extra):
    acc = dict(ACCOUNT)
    if receiver is not None:
        acc["mt_configs"] = {"config1": {"dlr_url": receiver.dlr_url}}
        acc["mo"] = {"url": receiver.mo_url}
    cfg = {"accounts": [acc], "callbacks": {"timeout_seconds": 2}}
    cfg.update(extra)
    return cfg


@pytest.fixture
def client_for(make_fake):
    """Start a fake with a config; a Client on it (closed at teardown)."""
    made: list[Client] = []

    def start(cfg=None):
        fake = make_fake(cfg)
        client = Client(fake.url, timeout=5)
        made.append(client)
        return fake, client

    yield start
    for c in made:
        c.close()


def send(fake, destination="12515550130") -> str:
    r = fake.send(om_body({"type": "MT", "source": "88600", "destination": destination,
                           "mtConfig": "config1", "subject": "hi"}))
    assert r.status_code == 202, r.text
    return str(r.json()["mtId"])


def test_every_openapi_operation_is_a_client_method(client_for):
    _, client = client_for()
    doc = client.openapi()
    op_ids = {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    assert {"list_messages", "set_clock_mode", "remove_scenario"} <= op_ids
    missing = sorted(op for op in op_ids if not callable(getattr(Client, op, None)))
    assert missing == []


def test_messages_latest_parts_and_filters(client_for):
    fake, client = client_for()
    first = send(fake, "12515550130")
    second = send(fake, "12515550131")
    listed = client.list_messages()
    assert [m.id for m in listed] == [second, first]  # newest first
    assert all(isinstance(m, MessageSummary) for m in listed)
    assert listed[0].destination == "12515550131" and listed[0].parts == 1
    assert [m.id for m in client.list_messages(number="12515550130")] == [first]
    assert client.list_messages(direction="mo") == []
    assert [m.id for m in client.list_messages(limit=1)] == [second]
    latest = client.get_message()
    assert isinstance(latest, Message) and latest.id == second
    assert latest.subject == "hi" and latest.created_at.tzinfo is not None
    (part,) = latest.parts
    assert isinstance(part, Part) and part.content_type.startswith("text/plain")
    assert client.get_part(second, 0) == b"This is my text."
    assert client.health()["messages"] == 2
    assert client.list_fetches() == []
    assert len(client.dump()["messages"]) == 2
    client.reset()
    assert client.list_messages() == []


def test_errors_carry_the_servers_text(client_for):
    _, client = client_for()
    with pytest.raises(FakeMmsClientError) as info:
        client.get_message("nope")
    assert info.value.status == 404
    assert info.value.description == "no message with id 'nope'"
    assert "HTTP 404: no message with id 'nope'" in str(info.value)
    with pytest.raises(FakeMmsClientError) as info:
        client.create_account({"username": "x", "password": "y", "tps": -1})
    assert info.value.status == 400 and "tps" in str(info.value)


def test_not_reachable_is_said_plainly():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(FakeMmsNotReachable) as info:
            client.list_messages()
    assert str(info.value) == (f"fakemms is not reachable at http://127.0.0.1:{port} "
                               f"(connection refused)")


def test_inject_mo_reaches_the_app_and_is_acked(client_for, app_receiver, tmp_path):
    _, client = client_for(config(app_receiver))
    image = tmp_path / "photo.png"
    image.write_bytes(PNG_1PX)
    mo = client.inject_mo("88600", source="12015550123", subject="Hello", text="STOP",
                          files=[image])
    assert mo.direction == "mo" and mo.account == "acme" and mo.source == "12015550123"
    assert [p.content_type for p in mo.parts] == ["text/plain; charset=utf-8", "image/png"]
    assert client.get_part(mo.id, 1) == PNG_1PX
    callback = client.assert_callback_acked(message_id=mo.id, within_ms=2000)
    assert isinstance(callback, Callback) and callback.kind == "mo"
    assert callback.attempts[0].ok and callback.attempts[0].status == 200
    (got,) = app_receiver.wait_for(1)
    assert got.protocol == "openmarket" and got.kind == "mo"
    assert [c.id for c in client.message_callbacks(mo.id)] == [callback.id]
    assert client.get_callback(callback.id).state == "delivered"


def test_assert_callback_acked_fails_on_a_bad_or_slow_answer(client_for, app_receiver):
    _, client = client_for(config(app_receiver))
    app_receiver.fail(503, body="busy", times=1)
    mo = client.inject_mo(text="one")
    with pytest.raises(AssertionError) as info:
        client.assert_callback_acked(message_id=mo.id)
    text = str(info.value)
    assert f"for message {mo.id}" in text and "rejected, HTTP 503" in text and "'busy'" in text
    app_receiver.delay(0.15, times=1)
    slow = client.inject_mo(text="two")
    with pytest.raises(AssertionError, match=r"took \d+(\.\d+)? ms \(more than 50 ms\)"):
        client.assert_callback_acked(message_id=slow.id, within_ms=50)
    fast = client.inject_mo(text="three")
    assert client.assert_callback_acked(message_id=fast.id, within_ms=1000).state == "delivered"


def test_wait_for_message_wakes_on_the_event_not_a_poll(client_for):
    fake, client = client_for()
    sent: list[str] = []
    timer = threading.Timer(0.2, lambda: sent.append(send(fake, "12515550177")))
    started = time.monotonic()
    timer.start()
    message = client.wait_for_message(number="12515550177", direction="mt", timeout=5)
    elapsed = time.monotonic() - started
    timer.join()
    assert message.id == sent[0] and message.destination == "12515550177"
    # woken by the event: well before the stream's 2 s keep-alive would wake a poller (a
    # generous bound: this machine may be loaded)
    assert 0.2 <= elapsed < 1.9


def test_wait_for_message_finds_what_is_already_there(client_for):
    fake, client = client_for()
    mt = send(fake)
    started = time.monotonic()
    assert client.wait_for_message(id=mt, status="accepted").id == mt
    assert time.monotonic() - started < 1.0  # found at once, not after a wait
    assert [m.id for m in client.wait_for_messages(1, direction="mt")] == [mt]


def test_timeout_lists_the_near_misses(client_for):
    fake, client = client_for()
    mt = send(fake, "12515550130")
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        client.wait_for_message(number="15550000000", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 0.8
    text = str(info.value)
    assert text.startswith("wait_for_message(number='15550000000'): nothing within 0.3 s.")
    assert mt in text and "[number: 88600 -> 12515550130]" in text
    assert isinstance(info.value, AssertionError)  # pytest shows it as a failure
    with pytest.raises(WaitTimeout, match="No callback was made"):
        client.wait_for_callback(kind="report", timeout=0.1)


def test_wait_for_report_on_the_virtual_clock(client_for, app_receiver):
    fake, client = client_for(config(app_receiver, clock="virtual"))
    mt = send(fake, "10310871000")  # the test number for Expired
    with pytest.raises(WaitTimeout) as info:
        client.wait_for_report(status="Expired", timeout=0.2)
    assert f"{mt}" in str(info.value) and "reports: no report yet" in str(info.value)
    state = client.advance_clock("2s")
    assert state.mode == "virtual" and state.fired == 1
    report = client.wait_for_report(status="Expired", timeout=2)
    assert isinstance(report, Report)
    assert (report.message_id, report.outcome_id) == (mt, 6)
    callback = client.wait_for_callback(kind="report", state="delivered", number="10310871000")
    assert callback.message_id == mt
    assert client.list_callbacks(state="delivered")[0].id == callback.id


def test_send_report_and_wait_for_it(client_for, app_receiver):
    fake, client = client_for(config(app_receiver, clock="virtual"))
    mt = send(fake)
    report = client.send_report(mt, "Rejected", description="no")
    assert (report.status, report.outcome_id, report.message_id) == ("Rejected", 9, mt)
    assert client.wait_for_report(message_id=mt).status == "Rejected"
    later = client.send_report(mt, "Expired", after="1h")
    assert later.scheduled_in == 3600
    client.advance_clock(3600)
    assert client.wait_for_report(message_id=mt, status="expired").status == "Expired"
    assert client.get_message(mt).status == "Expired"


def test_a_namespace_client_sees_only_its_account(client_for):
    _, admin = client_for()
    for name in ("ns1", "ns2"):
        admin.create_account(username=name, password="pw", mt_configs={"config1": {}})
    ns1, ns2 = admin.for_account("ns1", "pw"), admin.for_account("ns2")
    mo = ns1.inject_mo(text="only mine")
    assert mo.account == "ns1" and ns1.credentials == ("ns1", "pw")
    assert ns2.credentials == ("ns2", "pw")  # fetched from the server
    assert [m.id for m in ns1.list_messages()] == [mo.id]
    assert ns2.list_messages() == [] and len(ns2.list_messages(account=None)) == 1
    assert ns1.get_message("latest").id == mo.id
    with pytest.raises(FakeMmsClientError, match="no message in account 'ns2' yet"):
        ns2.get_message("latest")
    with pytest.raises(WaitTimeout, match="No message arrived in account 'ns2'"):
        ns2.wait_for_message(direction="mo", timeout=0.1)
    ns2.assert_no_messages()
    with pytest.raises(AssertionError, match=f"found 1:\n  {mo.id}"):
        ns1.assert_no_messages(direction="mo")


def test_assert_no_messages_within_catches_a_late_one(client_for):
    fake, client = client_for()
    client.assert_no_messages(within=0.1)
    timer = threading.Timer(0.1, lambda: send(fake))
    timer.start()
    started = time.monotonic()
    with pytest.raises(AssertionError, match="expected no messages"):
        client.assert_no_messages(direction="mt", within=3)
    timer.join()
    assert time.monotonic() - started < 1  # failed at the arrival, not at the end


def test_scenarios_accounts_clock_and_callbacks_settings(client_for, app_receiver):
    fake, client = client_for()
    loaded = client.replace_scenarios(ROOT / "scenarios" / "expired.yaml")
    assert [s["name"] for s in loaded] == ["expired"]
    client.add_scenario("name: quick\nrules:\n  - name: r\n    answer: {error: 15201}\n")
    assert [s["name"] for s in client.list_scenarios()] == ["expired", "quick"]
    assert [s["name"] for s in client.remove_scenario("expired")] == ["quick"]
    assert fake.send(om_body()).json()["error"]["code"] == 15201
    client.clear_scenarios()
    assert client.list_scenarios() == []
    with pytest.raises(FakeMmsClientError, match="cannot read"):
        client.add_scenario("missing.yaml")

    assert client.set_clock_mode("virtual").paused
    before = client.get_clock().now
    assert client.advance_clock(60).now == pytest.approx(before + 60)
    assert client.set_clock_mode("real").mode == "real"
    assert client.pause_clock().paused and not client.resume_clock().paused

    account = client.update_account("acme", tps=5)
    assert account.tps == 5 and client.get_account("acme").tps == 5
    account = client.configure_callbacks(dlr_url=app_receiver.dlr_url,
                                         mo_url=app_receiver.mo_url, mo_format="mm7-6.8.0")
    assert account.mt_configs["config1"]["dlr_url"] == app_receiver.dlr_url
    assert account.mo["url"] == app_receiver.mo_url and account.mo["format"] == "mm7-6.8.0"
    mo = client.inject_mo(text="via mm7")
    client.assert_callback_acked(message_id=mo.id)  # the receiver answered a DeliverRsp 1000
    (got,) = app_receiver.received
    assert got.protocol == "mm7" and got.operation == "DeliverReq"
    assert b"<StatusCode>1000</StatusCode>" in got.answer
    assert got.mm7.transaction_id.encode() in got.answer

    client.replace_account("temp", {"password": "p"})
    assert [a.username for a in client.list_accounts()] == ["acme", "temp"]
    client.delete_account("temp")
    assert [a.username for a in client.list_accounts()] == ["acme"]


def test_events_iterator_yields_what_happens(client_for):
    _, client = client_for()
    threading.Timer(0.1, lambda: client.for_account(None).inject_mo(text="x")).start()
    seen = [e for e in client.events(types=["message"], timeout=0.5)]
    assert [e.type for e in seen] == ["message"] and seen[0].data["direction"] == "mo"
    replay = list(client.events(since=0, timeout=0.2))
    assert "message" in [e.type for e in replay]
    assert [e.seq for e in replay] == sorted(e.seq for e in replay)


def test_receiver_answers_legacy_callbacks_as_the_gateway_wants(client_for, app_receiver):
    acc = {**ACCOUNT, "mt_configs": {"config1": {"dlr_url": app_receiver.dlr_url,
                                                 "dlr_protocol": "legacy"}},
           "mo": {"url": app_receiver.mo_url, "format": "legacy-get"}}
    fake, client = client_for({"accounts": [acc]})
    mo = client.inject_mo(text="via GET")
    client.assert_callback_acked(message_id=mo.id)
    post = client.inject_mo(text="via POST", format="legacy-post")
    client.assert_callback_acked(message_id=post.id)
    mt = send(fake)
    client.send_report(mt, "Retrieved")
    client.assert_callback_acked(message_id=mt, kind="report")
    got = app_receiver.wait_for(3)
    assert [(r.protocol, r.kind, r.method) for r in got] == [
        ("legacy", "mo", "GET"), ("legacy", "mo", "POST"), ("legacy", "report", "GET")]
    assert all(r.status == 200 and r.answer for r in got)  # a non-empty body: success
    app_receiver.fail(200, times=1)  # 200 with an empty body is not success for the gateway
    again = client.inject_mo(text="empty answer")
    with pytest.raises(AssertionError, match="not a success: attempt 1: rejected, HTTP 200"):
        client.assert_callback_acked(message_id=again.id)


def test_public_surface_is_typed_documented_and_exported():
    import inspect
    from pathlib import Path

    import fakemms
    from fakemms.client import Client

    assert "Client" in fakemms.__all__ and fakemms.Client is Client
    assert (Path(fakemms.__file__).parent / "py.typed").exists()
    undocumented = []
    for name, member in inspect.getmembers(Client):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(Client, name)
        target = static.fget if isinstance(static, property) else member
        if not (getattr(target, "__doc__", None) or "").strip():
            undocumented.append(name)
    assert undocumented == []


def test_a_failed_wait_hides_the_clients_frames(client_for):
    _, client = client_for()
    with pytest.raises(WaitTimeout) as info:
        client.wait_for_message(number="19999999999", timeout=0.3)
    shown = [e for e in info.traceback if not e.ishidden(info)]
    assert all("fakemms/client.py" not in str(e.path) for e in shown)
