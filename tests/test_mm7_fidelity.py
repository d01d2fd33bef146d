"""MM7 details a fidelity review against the documents found: refusals in the request's
namespace, Release-5 MMStatus values, the Sender of reports, the strict success rule, Cc in
DeliverReq, and the SubmitReq's DeliveryReport/ReadReply flags."""

from __future__ import annotations

from conftest import Fake
from test_mm7_callbacks import NS, SOAP_ENV, advance, mt_config, rsp_answer

from fakemms.protocols.mm7 import codec

NS14 = NS + "REL-6-MM7-1-4"


def submit_xml(*, version: str = "6.8.0", ns: str = NS14, sender: bool = True,
               flags: str = "", to: str = "15551230000") -> bytes:
    sender_xml = "<SenderAddress><ShortCode>88600</ShortCode></SenderAddress>" if sender else ""
    return (f'<?xml version="1.0"?><env:Envelope xmlns:env="{SOAP_ENV}"><env:Header>'
            f'<TransactionID xmlns="{ns}" env:mustUnderstand="1">txn-42</TransactionID>'
            f'</env:Header><env:Body><SubmitReq xmlns="{ns}"><MM7Version>{version}</MM7Version>'
            f"<SenderIdentification><VASPID>acme</VASPID><VASID>config1</VASID>{sender_xml}"
            f"</SenderIdentification><Recipients><To><Number>{to}</Number></To></Recipients>"
            f"{flags}<Subject>hi</Subject></SubmitReq></env:Body></env:Envelope>").encode()


def post(fake: Fake, body: bytes):
    return fake.post("/mm7", data=body, auth=("acme", "s3cret"),
                     headers={"Content-Type": "text/xml", "SOAPAction": '""'})


def test_a_tps_refusal_answers_in_the_request_namespace_and_transaction(make_fake):
    cfg = mt_config("http://127.0.0.1:9/dlr", "6.8.0")
    cfg["accounts"][0]["tps"] = 1
    fake = make_fake(cfg)
    ns = NS + "REL-5-MM7-1-2"
    assert post(fake, submit_xml(version="5.3.0", ns=ns)).status_code == 200
    r = post(fake, submit_xml(version="5.3.0", ns=ns))
    fault = codec.parse_response(r.content, r.headers["Content-Type"])
    assert r.status_code == 500 and isinstance(fault, codec.SoapFault)
    assert fault.error.status.code == 4006
    assert fault.error.namespace == ns and fault.error.mm7_version == "5.3.0"
    assert fault.transaction_id == "txn-42"


def test_release_5_reports_carry_release_5_statuses(make_fake, receiver):
    receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(receiver.url("/dlr"), "5.3.0"))
    fake.http.put(fake.url + "/_fakemms/api/scenarios", json={"name": "r5", "rules": [
        {"name": "all", "reports": [{"status": "Deferred", "after": 1},
                                    {"status": "Unrecognised", "after": 1}]}]})
    mid = codec.parse_response(*_rsp(post(fake, submit_xml(version="5.3.0")))).message_id
    advance(fake, 2)
    (got,) = receiver.received  # Deferred has no Rel-5 value: recorded, not sent
    req = codec.parse(got.body, got.headers["Content-Type"])
    assert req.mm_status == "Indeterminate" and req.message_id == mid
    message = fake.get(f"/_fakemms/api/messages/{mid}").json()
    assert [r["status"] for r in message["reports"]] == ["Deferred", "Unrecognised"]


def _rsp(r):
    assert r.status_code == 200, r.text
    return r.content, r.headers["Content-Type"]


def test_report_sender_is_the_short_code_when_the_submit_names_none(make_fake, receiver):
    receiver.answer = rsp_answer(1000)
    cfg = mt_config(receiver.url("/dlr"), "6.8.0")
    cfg["accounts"][0]["mt_configs"]["config1"]["short_code"] = "111122"
    fake = make_fake(cfg)
    post(fake, submit_xml(sender=False))
    advance(fake, 1)
    (got,) = receiver.received
    req = codec.parse(got.body, got.headers["Content-Type"])
    assert req.sender is not None and req.sender.value == "111122"  # mm7-api.txt's example


def test_success_needs_the_matching_rsp_and_transaction_id(make_fake, receiver):
    def wrong(received):
        req = codec.parse(received.body, received.headers["Content-Type"])
        enc = codec.encode_response("SubmitRsp", namespace=req.namespace,
                                    mm7_version=req.mm7_version, transaction_id="NOT-IT")
        return 200, enc.body, {"Content-Type": enc.content_type}

    receiver.answer = wrong
    fake = make_fake(mt_config(receiver.url("/dlr"), "6.8.0"))
    post(fake, submit_xml())
    advance(fake, 1)
    (cb,) = fake.get("/_fakemms/api/callbacks").json()["callbacks"]
    assert cb["state"] == "retrying"
    assert "SubmitRsp is not a DeliveryReportRsp" in cb["attempts"][0]["reason"]


def test_deliver_req_carries_cc_and_bcc(make_fake, receiver):
    receiver.answer = rsp_answer(1000)
    cfg = {"accounts": [{"username": "acme", "password": "s3cret", "mt_configs": {"c": {}},
                         "mo": {"url": receiver.url("/mo"), "format": "mm7-6.8.0",
                                "username": "u", "password": "p"}}]}
    fake = make_fake(cfg)
    fake.post("/_fakemms/api/mo", json={"account": "acme", "destination": "88600",
                                        "ccs": ["88602"], "bccs": ["88603"]})
    (got,) = receiver.wait_for(1)
    req = codec.parse(got.body, got.headers["Content-Type"])
    assert [a.value for a in req.recipients.cc] == ["88602"]
    assert [a.value for a in req.recipients.bcc] == ["88603"]


def test_delivery_report_false_and_no_read_reply_send_nothing(make_fake, receiver):
    receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(receiver.url("/dlr"), "6.8.0"))
    fake.http.put(fake.url + "/_fakemms/api/scenarios", json={"name": "s", "rules": [
        {"name": "all", "reports": [{"status": "Retrieved", "after": 1},
                                    {"status": "Read", "after": 1}]}]})
    mid = codec.parse_response(*_rsp(post(fake, submit_xml(
        flags="<DeliveryReport>false</DeliveryReport>")))).message_id
    advance(fake, 5)
    assert receiver.received == []
    assert fake.get(f"/_fakemms/api/messages/{mid}").json()["status"] == "Read"
    post(fake, submit_xml(flags="<ReadReply>true</ReadReply>"))
    advance(fake, 5)
    ops = [codec.parse(r.body, r.headers["Content-Type"]).operation for r in receiver.received]
    assert ops == ["DeliveryReportReq", "ReadReplyReq"]


def test_cc_and_bcc_are_kept_apart_and_each_gets_its_report(make_fake, receiver):
    receiver.answer = rsp_answer(1000)
    fake = make_fake(mt_config(receiver.url("/dlr"), "6.8.0"))
    to = ("15551230000</Number></To><Cc><Number>15551230001</Number></Cc>"
          "<Bcc><Number>15551230002</Number></Bcc><To><Number>15551230003")
    mid = codec.parse_response(*_rsp(post(fake, submit_xml(to=to)))).message_id
    stored = fake.get(f"/_fakemms/api/messages/{mid}").json()
    assert stored["destinations"] == ["15551230000", "15551230003"]
    assert (stored["ccs"], stored["bccs"]) == (["15551230001"], ["15551230002"])
    advance(fake, 1)
    reqs = [codec.parse(r.body, r.headers["Content-Type"]) for r in receiver.wait_for(4)]
    # 3GPP TS 23.140: one DeliveryReportReq per recipient, Cc and Bcc included
    assert sorted(r.recipient.value for r in reqs) == [
        "15551230000", "15551230001", "15551230002", "15551230003"]
