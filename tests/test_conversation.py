"""Delivery reports, MOs, retries and the virtual clock, end to end with a real receiver."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

from conftest import om_body, with_dlr


def virtual(url: str, **extra):
    cfg = with_dlr(url)
    cfg.update(clock="virtual", callbacks={"retry_delays": [15, 60, 300],
                                           "timeout_seconds": 2, "give_up_after_seconds": 3600})
    cfg.update(extra)
    return cfg


def test_default_report_is_retrieved_after_advance(make_fake, receiver):
    fake = make_fake(virtual(receiver.url("/dlr")))
    mt = fake.send(om_body()).json()["mtId"]
    assert receiver.received == []  # virtual clock: nothing until advanced
    r = fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    assert r.status_code == 200 and r.json()["fired"] == 1
    (got,) = receiver.received  # synchronous: delivered before advance returned
    body = got.json
    assert body == {"type": "REPORT", "mtId": str(mt), "date": body["date"],
                    "status": "Retrieved", "outcomeId": 1,
                    "outcomeDescription": "Message retrieved"}
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Request-Id"].startswith("015-")
    msg = fake.get(f"/_fakemms/api/messages/{mt}").json()
    assert msg["status"] == "Retrieved" and msg["reports"][0]["status"] == "Retrieved"


def test_retries_until_success_three_attempts_one_delivery(make_fake, receiver):
    answers = iter([(500, b"no"), (503, b"busy"), (200, b"")])
    receiver.answer = lambda r: next(answers)
    fake = make_fake(virtual(receiver.url("/dlr")))
    fake.send(om_body())
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    assert len(receiver.received) == 1
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 14})
    assert len(receiver.received) == 1  # first retry 15 s after the first attempt
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    assert len(receiver.received) == 2
    fake.post("/_fakemms/api/clock/advance", json={"duration": "1m"})
    assert len(receiver.received) == 3
    (cb,) = fake.get("/_fakemms/api/callbacks").json()["callbacks"]
    assert cb["state"] == "delivered"
    assert [a["status"] for a in cb["attempts"]] == [500, 503, 200]
    assert [a["outcome"] for a in cb["attempts"]] == ["rejected", "rejected", "success"]
    fake.post("/_fakemms/api/clock/advance", json={"duration": "1h"})
    assert len(receiver.received) == 3


def test_callback_gives_up_and_is_recorded_failed(make_fake, receiver):
    receiver.answer = lambda r: (500, b"")
    cfg = virtual(receiver.url("/dlr"))
    cfg["callbacks"]["give_up_after_seconds"] = 100
    fake = make_fake(cfg)
    fake.send(om_body())
    fake.post("/_fakemms/api/clock/advance", json={"duration": "1d"})
    (cb,) = fake.get("/_fakemms/api/callbacks").json()["callbacks"]
    assert cb["state"] == "failed"
    # attempts at 1, 16, 76 s; the next (376 s) would pass 100 s after creation
    assert len(cb["attempts"]) == 3 == len(receiver.received)


def test_receiver_down_then_up_gets_every_callback(make_fake):
    from receiver import Receiver

    probe = Receiver().start()
    port = probe.server.port
    probe.stop()  # nothing listens there now
    fake = make_fake(virtual(f"http://127.0.0.1:{port}/dlr"))
    ids = {fake.send(om_body()).json()["mtId"] for _ in range(5)}
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    states = {c["state"] for c in fake.get("/_fakemms/api/callbacks").json()["callbacks"]}
    assert states == {"retrying"}
    back = Receiver()
    back.server.requested_port = port
    back.start()
    try:
        fake.post("/_fakemms/api/clock/advance", json={"seconds": 15})
        got = {int(r.json["mtId"]) for r in back.wait_for(5)}
        assert got == ids
    finally:
        back.stop()


def test_test_numbers_behave_as_documented(make_fake, receiver):
    fake = make_fake(virtual(receiver.url("/dlr")))
    expected = {"10000871000": ("Retrieved", 1), "10360871000": ("Deferred", 4),
                "10340871000": ("Forwarded", 5), "10310871000": ("Expired", 6)}
    for number in expected:
        fields = {"type": "MT", "source": "88600", "destination": number, "mtConfig": "config1"}
        r = fake.send(om_body(fields))
        assert r.headers["X-Fake-Decision"] == "test-number"
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 2})
    got = {}
    for item in receiver.received:
        msg = fake.get(f"/_fakemms/api/messages/{item.json['mtId']}").json()
        got[msg["destinations"][0]] = (item.json["status"], item.json["outcomeId"])
    assert got == expected


def test_dlr_never_overtakes_its_202(make_fake, receiver):
    """Real clock, report due at once: when a DLR arrives, its 202 has reached the client's
    socket (consumed, or waiting in the kernel buffer: peeked without reading)."""
    lock = threading.Lock()
    consumed = bytearray()
    in_order: list[bool] = []
    sock: socket.socket

    def answer(r):
        with lock:  # every byte of the answer is either consumed or still in the buffer
            try:
                pending = sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                pending = b""
            in_order.append(r.json["mtId"].encode() in bytes(consumed) + pending)
        return 200, b""

    receiver.answer = answer
    cfg = with_dlr(receiver.url("/dlr"))
    fake = make_fake(cfg)
    # a slow answer and an immediate report: the report must still wait for the answer
    fake.http.put(fake.url + "/_fakemms/api/scenarios", json={"name": "slow", "rules": [
        {"name": "slow", "answer": {"latency": "50ms"},
         "reports": [{"status": "Retrieved", "after": 0}]}]})
    auth = base64.b64encode(b"acme:s3cret").decode()
    body = om_body()
    request = (f"POST /mms/v2/send HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
               "Content-Type: multipart/mixed; boundary=mimeboundary\r\nConnection: close\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    for n in range(1, 21):
        sock = socket.create_connection(("127.0.0.1", fake.server.port), timeout=5)
        sock.setblocking(True)  # so MSG_DONTWAIT reads and peeks answer at once
        consumed.clear()
        try:
            sock.sendall(request)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with lock:  # held only around non-blocking reads
                    try:
                        chunk = sock.recv(65536, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        chunk = None
                    consumed.extend(chunk or b"")
                if chunk == b"":
                    break
                if chunk is None:
                    time.sleep(0.0005)
            assert b" 202 " in consumed
            receiver.wait_for(n)
        finally:
            sock.close()
    assert in_order == [True] * 20


def test_inject_mo_reaches_mo_url_as_documented_multipart(make_fake, receiver):
    import email

    cfg = {"accounts": [{"username": "acme", "password": "s3cret",
                         "mt_configs": {"config1": {}},
                         "mo": {"url": receiver.url("/mo"), "format": "http",
                                "username": "cb-user", "password": "cb-pass"}}]}
    fake = make_fake(cfg)
    r = fake.post("/_fakemms/api/mo", json={
        "account": "acme", "source": "447800000001", "destination": "88600",
        "subject": "Test MMS", "parts": [
            {"content_type": "text/plain", "content_id": "text.txt",
             "text": "This is a text attachment"},
            {"content_type": "image/png", "content_id": "image.png", "generate": True}]})
    assert r.status_code == 201
    mo_id = r.json()["moId"]
    (got,) = receiver.wait_for(1)
    assert got.headers["Authorization"].startswith("Basic ")
    assert got.headers["X-Request-Id"].startswith("015-")
    ctype = got.headers["Content-Type"]
    assert ctype.startswith("multipart/mixed; boundary=")
    msg = email.message_from_bytes(f"Content-Type: {ctype}\r\n\r\n".encode() + got.body)
    first, text, image = msg.get_payload()
    assert first["Content-Id"] == "main"
    details = json.loads(first.get_payload(decode=True))
    assert details["type"] == "MO" and details["moId"] == mo_id
    assert details["source"] == "447800000001" and details["destinations"] == ["88600"]
    assert set(details) >= {"ccs", "bccs", "date", "mobileOperatorId", "subject"}
    assert text.get_payload(decode=True) == b"This is a text attachment"
    assert image.get_payload(decode=True).startswith(b"\x89PNG")


def test_injected_text_says_its_charset(make_fake, receiver):
    """Text given as a string is UTF-8 with charset=utf-8 unless the caller named a charset
    (a client decoded the bare text/plain as ISO-8859-1)."""
    import email

    cfg = {"accounts": [{"username": "acme", "password": "s3cret", "mt_configs": {"c": {}},
                         "mo": {"url": receiver.url("/mo"), "format": "http"}}]}
    fake = make_fake(cfg)
    r = fake.post("/_fakemms/api/mo", json={"account": "acme", "destination": "88600", "parts": [
        {"content_type": "text/plain", "text": "Grüße ☃"},
        {"content_type": "text/plain; charset=ISO-8859-1", "text": "Grüße"},
        {"content_type": "text/plain", "base64": base64.b64encode(b"raw").decode()}]})
    assert r.status_code == 201, r.text
    (got,) = receiver.wait_for(1)
    msg = email.message_from_bytes(f"Content-Type: {got.headers['Content-Type']}\r\n\r\n"
                                   .encode() + got.body)
    _, utf8, latin1, raw = msg.get_payload()
    assert utf8["Content-Type"] == "text/plain; charset=utf-8"
    assert utf8.get_payload(decode=True).decode("utf-8") == "Grüße ☃"
    assert latin1["Content-Type"] == "text/plain; charset=ISO-8859-1"
    assert latin1.get_payload(decode=True) == "Grüße".encode("iso-8859-1")
    assert raw["Content-Type"] == "text/plain"  # bytes given: the caller's label, untouched
    bad = fake.post("/_fakemms/api/mo", json={"account": "acme", "destination": "88600",
                                              "parts": [{"content_type": "text/plain; "
                                                         "charset=us-ascii", "text": "☃"}]})
    assert bad.status_code == 400 and "us-ascii" in bad.json()["error"]["description"]


def test_scenario_rules_decide_answers_and_reports(make_fake, receiver):
    fake = make_fake(virtual(receiver.url("/dlr")))
    scenario = """
name: mixed
rules:
  - name: refuse-1555
    match: {destination: "1555*"}
    answer: {error: 15201}
  - name: uk-expires
    match: {destination: "44*"}
    reports:
      - {status: Deferred, after: 10s}
      - {status: Expired, after: 3d, outcome_id: 6, description: Message expired}
"""
    r = fake.http.put(fake.url + "/_fakemms/api/scenarios", data=scenario,
                      headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    refused = fake.send(om_body({"type": "MT", "source": "88600", "destination": "15550001111",
                                 "mtConfig": "config1"}))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == 15201
    assert refused.headers["X-Fake-Decision"] == "mixed/refuse-1555"
    uk = fake.send(om_body({"type": "MT", "source": "88600", "destination": "447700900123",
                            "mtConfig": "config1"}))
    assert uk.headers["X-Fake-Decision"] == "mixed/uk-expires"
    fake.post("/_fakemms/api/clock/advance", json={"duration": "10s"})
    assert [r.json["status"] for r in receiver.received] == ["Deferred"]
    fake.post("/_fakemms/api/clock/advance", json={"duration": "3d"})
    assert [r.json["status"] for r in receiver.received] == ["Deferred", "Expired"]
