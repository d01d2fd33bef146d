"""The provider's side of MM7, received by real servers on 127.0.0.1 and read back with the same
codec (``codec.parse``): DeliveryReportReq for MM7 MTs in every callback version, the MM7
success rule and its retries, DeliverReq for injected MOs (content byte-exact, OpenMarket's
headers), ReadReplyReq for Read reports."""

from __future__ import annotations

import base64
import email
import re
import time
from datetime import datetime
from typing import Any

import pytest
from conftest import Fake
from receiver import Received, Receiver

from fakemms.protocols.mm7 import codec

NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
VERSIONS = ["5.3.0", "5.6.0", "6.1.0", "6.8.0"]
UAPROF = "http://nds1.nds.nokia.com/uaprof/N6230r200.xml"


def unexpected(warnings: list[str]) -> list[str]:
    """Warnings other than a 5.x MM7Version in a REL-6 namespace: the provider's own callbacks
    pair them (mm7-api.txt), so the codec notes it and the tests accept it."""
    return [w for w in warnings if not re.match(r"MM7Version 5\.\d\.\d in a REL-6 namespace", w)]


class Mm7Receiver(Receiver):
    """The test receiver, answering ``text/xml`` when its answer is XML (a real MM7 client
    labels its SOAP answers so)."""

    def _app(self, environ, start_response):
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        item = Received(request.method, request.path, dict(request.headers),
                        request.get_data(), list(request.args.items(multi=True)), 0.0)
        status, body = self.answer(item)
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()
        data = body.encode() if isinstance(body, str) else body
        ctype = 'text/xml; charset="utf-8"' if data.lstrip().startswith(b"<") else "text/plain"
        return Response(data, status=status, content_type=ctype)(environ, start_response)


@pytest.fixture
def mm7_receiver():
    r = Mm7Receiver().start()
    yield r
    r.stop()


def rsp_answer(code: int = 1000):
    """An MM7 client's answer: the request's ...Rsp in its namespace, version and
    TransactionID, with StatusCode ``code``."""
    def answer(received: Received) -> tuple[int, bytes]:
        req = codec.parse(received.body, received.headers["Content-Type"])
        enc = codec.encode_response(req.operation.replace("Req", "Rsp"), namespace=req.namespace,
                                    mm7_version=req.mm7_version or "5.3.0",
                                    transaction_id=req.transaction_id, status_code=code)
        return 200, enc.body
    return answer


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def mt_config(url: str, version: str) -> dict[str, Any]:
    cfg = {"username": "acme", "password": "s3cret", "mt_configs": {"config1": {
        "dlr_url": url, "dlr_protocol": f"mm7-{version}", "region": "US",
        "username": "dlr-user", "password": "dlr-pass"}}}
    return {"accounts": [cfg], "clock": "virtual",
            "callbacks": {"retry_delays": [15, 60, 300], "timeout_seconds": 2,
                          "give_up_after_seconds": 3600}}


def submit(fake: Fake, *, to: str = "15551230000", version: str = "6.8.0",
           ns: str = NS + "REL-6-MM7-1-4") -> str:
    """An MM7 SubmitReq (plain text/xml); the SubmitRsp's MessageID."""
    xml = (f'<?xml version="1.0"?><env:Envelope xmlns:env="{SOAP_ENV}"><env:Header>'
           f'<TransactionID xmlns="{ns}" env:mustUnderstand="1">sub-1</TransactionID>'
           f'</env:Header><env:Body><SubmitReq xmlns="{ns}"><MM7Version>{version}</MM7Version>'
           "<SenderIdentification><VASPID>acme</VASPID><VASID>config1</VASID><SenderAddress>"
           "<ShortCode>88600</ShortCode></SenderAddress></SenderIdentification>"
           f"<Recipients><To><Number>{to}</Number></To></Recipients>"
           "<DeliveryReport>true</DeliveryReport><ReadReply>true</ReadReply>"
           "<Subject>hi</Subject></SubmitReq></env:Body></env:Envelope>")
    r = fake.post("/mm7", data=xml.encode(), auth=("acme", "s3cret"),
                  headers={"Content-Type": "text/xml", "SOAPAction": '""'})
    rsp = codec.parse_response(r.content, r.headers["Content-Type"])
    assert r.status_code == 200 and rsp.status.code == 1000, r.text
    return rsp.message_id


def advance(fake: Fake, seconds: float) -> None:
    r = fake.post("/_fakemms/api/clock/advance", json={"seconds": seconds})
    assert r.status_code == 200


def callbacks(fake: Fake, message_id: str) -> list[dict[str, Any]]:
    return fake.get(f"/_fakemms/api/callbacks?message_id={message_id}").json()["callbacks"]


def attempted(fake: Fake, kind: str, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
    """The one callback of ``kind`` once ``count`` attempts are recorded (the receiver sees a
    request before the fake has read the answer and recorded the attempt)."""
    deadline = time.monotonic() + timeout
    while True:
        (cb,) = fake.get(f"/_fakemms/api/callbacks?kind={kind}").json()["callbacks"]
        if len(cb["attempts"]) >= count or time.monotonic() > deadline:
            return cb
        time.sleep(0.01)


def when(text: str) -> datetime:
    value = codec.parse_time(text)
    assert isinstance(value, datetime)
    return value


# --- DeliveryReportReq ------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_delivery_report_req_in_each_version(make_fake, mm7_receiver, version):
    mm7_receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(mm7_receiver.url("/dlr"), version))
    mid = submit(fake)
    assert mm7_receiver.received == []
    advance(fake, 1)  # the default report: Retrieved one second after acceptance
    (got,) = mm7_receiver.received
    assert got.method == "POST" and got.path == "/dlr"
    assert got.headers["Content-Type"].startswith("text/xml")
    assert got.headers["Soapaction"] == '""'
    assert got.headers["Authorization"] == basic("dlr-user", "dlr-pass")
    assert got.headers["User-Agent"] == "OpenMarket"
    assert got.headers["X-Openmarket-Carrier-Id"].isdigit()  # delivered: the carrier is known
    req = codec.parse(got.body, got.headers["Content-Type"])
    assert isinstance(req, codec.DeliveryReportReq)
    assert req.namespace == codec.VERSION_NAMESPACES[version] and req.mm7_version == version
    assert req.message_id == mid
    assert (req.recipient.kind, req.recipient.value) == ("Number", "15551230000")
    assert req.sender.value == "88600"
    assert (req.mm_status, req.status_text) == ("Retrieved", "Success")
    assert req.transaction_id and unexpected(req.warnings) == []
    msg = fake.get(f"/_fakemms/api/messages/{mid}").json()
    assert msg["status"] == "Retrieved"
    assert abs((when(req.date) - datetime.fromisoformat(msg["reports"][0]["date"]))
               .total_seconds()) < 0.001
    (cb,) = callbacks(fake, mid)
    assert cb["state"] == "delivered" and len(cb["attempts"]) == 1
    assert cb["protocol"] == f"mm7-{version}"
    advance(fake, 3600)
    assert len(mm7_receiver.received) == 1  # delivered: never sent again


def test_one_delivery_report_req_per_recipient(make_fake, mm7_receiver):
    mm7_receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(mm7_receiver.url("/dlr"), "6.8.0"))
    mid = submit(fake, to="15551230000</Number></To><To><Number>15551230001")
    advance(fake, 1)
    reqs = [codec.parse(x.body, x.headers["Content-Type"]) for x in mm7_receiver.received]
    assert sorted(r.recipient.value for r in reqs) == ["15551230000", "15551230001"]
    assert {r.message_id for r in reqs} == {mid}
    assert [c["state"] for c in callbacks(fake, mid)] == ["delivered", "delivered"]


def test_report_for_a_submit_without_sender_address(make_fake, mm7_receiver):
    """mm7-api.txt's own SubmitReq names no SenderAddress: its report leaves Sender out
    rather than sending an empty Number (which a client's parser refuses)."""
    mm7_receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(mm7_receiver.url("/dlr"), "5.3.0"))
    ns = NS + "REL-5-MM7-1-3"
    xml = (f'<env:Envelope xmlns:env="{SOAP_ENV}"><env:Header><TransactionID xmlns="{ns}">'
           f'vas-1</TransactionID></env:Header><env:Body><SubmitReq xmlns="{ns}">'
           "<MM7Version>5.3.0</MM7Version><SenderIdentification><VASPID>TNN</VASPID>"
           "<VASID>config1</VASID></SenderIdentification><Recipients><To><Number>7255441234"
           "</Number></To></Recipients></SubmitReq></env:Body></env:Envelope>")
    r = fake.post("/mm7", data=xml, auth=("acme", "s3cret"), headers={"Content-Type": "text/xml"})
    mid = codec.parse_response(r.content, r.headers["Content-Type"]).message_id
    advance(fake, 1)
    (got,) = mm7_receiver.received
    assert b"<Number></Number>" not in got.body
    req = codec.parse(got.body, got.headers["Content-Type"])
    assert (req.message_id, req.recipient.value, req.sender) == (mid, "7255441234", None)
    assert callbacks(fake, mid)[0]["state"] == "delivered"


def test_soap_answer_labelled_text_plain_still_counts(make_fake, receiver):
    """A client answering its DeliveryReportRsp as text/plain (conftest's receiver does) is
    delivered on the first attempt; a text/plain non-SOAP answer is still rejected."""
    receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(receiver.url("/dlr"), "6.8.0"))
    mid = submit(fake)
    advance(fake, 1)
    (cb,) = callbacks(fake, mid)
    assert cb["state"] == "delivered" and cb["attempts"][0]["outcome"] == "success"
    receiver.answer = lambda r: (200, b"1000 OK")
    other = submit(fake)
    advance(fake, 1)
    assert callbacks(fake, other)[0]["state"] == "retrying"


def test_carrier_id_header_only_when_retrieved(make_fake, mm7_receiver):
    mm7_receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(mm7_receiver.url("/dlr"), "6.8.0"))
    mid = submit(fake)
    r = fake.post(f"/_fakemms/api/messages/{mid}/reports", json={"status": "Expired"})
    assert r.status_code in (200, 201), r.text
    (got,) = mm7_receiver.wait_for(1)
    req = codec.parse(got.body, got.headers["Content-Type"])
    assert req.mm_status == "Expired" and req.status_text == "Expired"
    assert "X-Openmarket-Carrier-Id" not in got.headers
    advance(fake, 1)
    got = mm7_receiver.wait_for(2)[1]
    assert codec.parse(got.body, got.headers["Content-Type"]).mm_status == "Retrieved"
    assert "X-Openmarket-Carrier-Id" in got.headers


def test_non_1000_status_and_garbage_are_retried_and_recorded(make_fake, mm7_receiver):
    fault = codec.encode_fault(status_code=3000, namespace=NS + "REL-6-MM7-1-4",
                               mm7_version="6.8.0").body
    good = rsp_answer(1000)
    answers = iter([rsp_answer(4000), lambda r: (200, b"OK thanks"),
                    lambda r: (200, fault), good])
    mm7_receiver.answer = lambda r: next(answers)(r)
    fake = make_fake(mt_config(mm7_receiver.url("/dlr"), "6.8.0"))
    mid = submit(fake)
    advance(fake, 1)
    (cb,) = callbacks(fake, mid)
    assert cb["state"] == "retrying" and len(mm7_receiver.received) == 1
    advance(fake, 15)
    advance(fake, 60)
    assert callbacks(fake, mid)[0]["state"] == "retrying"
    advance(fake, 300)
    (cb,) = callbacks(fake, mid)
    assert cb["state"] == "delivered"
    attempts = cb["attempts"]
    assert [a["status"] for a in attempts] == [200, 200, 200, 200]
    assert [a["outcome"] for a in attempts] == ["rejected"] * 3 + ["success"]
    assert "StatusCode 4000" in attempts[0]["reason"]
    assert "not an MM7 response" in attempts[1]["reason"]
    assert "Fault" in attempts[2]["reason"] and "3000" in attempts[2]["reason"]
    assert "OK thanks" in attempts[1]["body"]
    # every attempt carried the same report
    ids = {codec.parse(x.body, x.headers["Content-Type"]).message_id
           for x in mm7_receiver.received}
    assert ids == {mid} and len(mm7_receiver.received) == 4


def test_read_reply_req_for_a_read_report(make_fake, mm7_receiver):
    mm7_receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(mm7_receiver.url("/dlr"), "6.1.0"))
    scenario = """
name: read
rules:
  - name: read-later
    match: {protocol: mm7}
    reports:
      - {status: Retrieved, after: 1s}
      - {status: Read, after: 30s}
"""
    r = fake.http.put(fake.url + "/_fakemms/api/scenarios", data=scenario,
                      headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    mid = submit(fake, to="447700900123")
    advance(fake, 1)
    assert len(mm7_receiver.received) == 1
    advance(fake, 30)
    first, second = mm7_receiver.received
    assert isinstance(codec.parse(first.body, first.headers["Content-Type"]),
                      codec.DeliveryReportReq)
    req = codec.parse(second.body, second.headers["Content-Type"])
    assert isinstance(req, codec.ReadReplyReq)
    assert req.namespace == codec.VERSION_NAMESPACES["6.1.0"] and req.mm7_version == "6.1.0"
    assert (req.message_id, req.mm_status) == (mid, "Read")
    assert req.recipient.value == "447700900123" and req.sender.value == "88600"
    assert when(req.timestamp) > when(codec.parse(first.body, "text/xml").date)
    assert second.headers["X-Fake-Decision"] == "read/read-later"
    assert "X-Openmarket-Carrier-Id" not in second.headers
    assert second.headers["Authorization"] == basic("dlr-user", "dlr-pass")
    assert [c["state"] for c in callbacks(fake, mid)] == ["delivered", "delivered"]
    assert fake.get(f"/_fakemms/api/messages/{mid}").json()["status"] == "Read"


# --- DeliverReq -------------------------------------------------------------------------------
def mo_config(url: str, version: str) -> dict[str, Any]:
    return {"accounts": [{"username": "acme", "password": "s3cret", "mt_configs": {"c": {}},
                          "mo": {"url": url, "format": f"mm7-{version}",
                                 "username": "mo-user", "password": "mo-pass"}}]}


TEXT = "Greetings from the beach – ünïcode ✓"


def inject(fake: Fake) -> dict[str, Any]:
    r = fake.post("/_fakemms/api/mo", json={
        "account": "acme", "source": "447700900123", "destination": "88600",
        "subject": "Holiday", "mobile_operator_id": 383, "ua_prof": UAPROF,
        "user_agent": "Nokia6230", "parts": [
            {"content_type": "text/plain; charset=utf-8", "content_id": "text.txt",
             "text": TEXT},
            {"content_type": "image/jpeg", "content_id": "photo.jpg", "generate": True}]})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("version", ["6.8.0", "5.3.0"])
def test_deliver_req_for_an_injected_mo(make_fake, mm7_receiver, version):
    mm7_receiver.answer = rsp_answer(1000)
    fake = make_fake(mo_config(mm7_receiver.url("/mo"), version))
    mo = inject(fake)
    (got,) = mm7_receiver.wait_for(1)
    h = got.headers
    assert h["Content-Type"].startswith('multipart/related; start="soap-start"; type="text/xml"')
    assert h["Soapaction"] == '""' and h["User-Agent"] == "OpenMarket"
    assert h["X-Openmarket-Carrier-Id"] == "383"
    assert h["Authorization"] == basic("mo-user", "mo-pass")
    req = codec.parse(got.body, h["Content-Type"])
    assert isinstance(req, codec.DeliverReq) and unexpected(req.warnings) == []
    assert req.namespace == codec.VERSION_NAMESPACES[version] and req.mm7_version == version
    assert req.linked_id == mo["id"] and req.subject == "Holiday"
    assert req.sender.value == "447700900123"
    assert [a.value for a in req.recipients.to] == ["88600"]
    if version == "6.8.0":
        assert "Uaprof" not in h and req.ua_prof == UAPROF  # 6.8: UACapabilities, no header
    else:
        assert h["Uaprof"] == UAPROF and req.ua_prof is None
    stored = fake.get(f"/_fakemms/api/messages/{mo['id']}").json()
    image = fake.get(f"/_fakemms/api/messages/{mo['id']}/parts/1").content
    assert stored["parts"][1]["content_type"] == "image/jpeg" and image[:2] == b"\xff\xd8"
    parts = req.content.parts
    assert parts[0].is_smil and req.content.smil is parts[0]  # the presentation first
    by_type = {p.media_type: p for p in parts[1:]}
    assert by_type["text/plain"].data == TEXT.encode("utf-8")
    assert by_type["image/jpeg"].data == image
    assert sorted(codec.smil_references(parts[0].data)) == sorted(
        f"cid:{p.content_id}" for p in parts[1:])
    cb = attempted(fake, "mo")
    assert cb["state"] == "delivered" and len(cb["attempts"]) == 1


def test_deliver_req_mime_layout_follows_the_nokia_capture(make_fake, mm7_receiver):
    mm7_receiver.answer = rsp_answer(1000)
    fake = make_fake(mo_config(mm7_receiver.url("/mo"), "6.8.0"))
    inject(fake)
    (got,) = mm7_receiver.wait_for(1)
    ctype = got.headers["Content-Type"]
    msg = email.message_from_bytes(f"Content-Type: {ctype}\r\n\r\n".encode() + got.body)
    soap, content = msg.get_payload()
    assert soap["Content-ID"] == "<soap-start>" and soap.get_content_type() == "text/xml"
    body = soap.get_payload(decode=True)
    assert b'mustUnderstand="1"' in body and b"<LinkedID>" in body
    # deliver-req3.txt: nested multipart/related, type application/smil, start = the SMIL
    assert content.get_content_type() == "multipart/related"
    assert content.get_param("type") == "application/smil"
    inner = content.get_payload()
    assert inner[0].get_content_type() == "application/smil"
    assert content.get_param("start") == inner[0]["Content-ID"]
    assert [p["Content-Transfer-Encoding"] for p in inner] == ["base64"] * 3
    href = codec.parse(got.body, ctype).content.href
    assert href == "cid:" + content["Content-ID"].strip("<>")


def test_deliver_req_retried_until_deliverrsp_1000(make_fake, mm7_receiver):
    answers = iter([lambda r: (200, b""), rsp_answer(2000), rsp_answer(1000)])
    mm7_receiver.answer = lambda r: next(answers)(r)
    cfg = mo_config(mm7_receiver.url("/mo"), "6.8.0")
    cfg.update(clock="virtual", callbacks={"retry_delays": [10], "timeout_seconds": 2,
                                           "give_up_after_seconds": 3600})
    fake = make_fake(cfg)
    inject(fake)
    assert attempted(fake, "mo")["state"] == "retrying"
    advance(fake, 10)
    advance(fake, 10)
    (cb,) = fake.get("/_fakemms/api/callbacks?kind=mo").json()["callbacks"]
    assert [a["outcome"] for a in cb["attempts"]] == ["rejected", "rejected", "success"]
    assert cb["state"] == "delivered" and "StatusCode 2000" in cb["attempts"][1]["reason"]
    bodies = {x.body for x in mm7_receiver.received}
    assert len(bodies) == 1  # the same DeliverReq each time
