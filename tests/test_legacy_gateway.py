"""The legacy MX Telecom gateway end to end: MO by GET and by POST to a real receiver,
retrieval as mms.zip until expiry, SendMMS and its report callbacks."""

from __future__ import annotations

import email
import io
import zipfile

import pytest
from conftest import PNG_1PX


def legacy_account(url: str, fmt: str, region: str = "UK") -> dict:
    return {"accounts": [{"username": "acme", "password": "s3cret",
                          "mt_configs": {"config1": {"dlr_url": url, "dlr_protocol": "legacy",
                                                     "region": region}},
                          "mo": {"url": url, "format": fmt, "region": region}}],
            "clock": "virtual"}


MO = {"account": "acme", "source": "447700900123", "destination": "88600", "subject": "Hi",
      "parts": [{"content_type": "text/plain", "content_id": "text.txt", "text": "hello"},
                {"content_type": "image/png", "content_id": "pic.png", "base64":
                 __import__("base64").b64encode(PNG_1PX).decode()}]}


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_mo_by_get_then_retrieve_the_zip(make_fake, receiver):
    receiver.answer = lambda r: (200, b"OK")
    fake = make_fake(legacy_account(receiver.url("/mo"), "legacy-get"))
    mo_id = fake.post("/_fakemms/api/mo", json=MO).json()["id"]
    (got,) = receiver.wait_for(1)
    assert got.method == "GET" and got.body == b""
    params = dict(got.args)
    assert params["id"] == mo_id and params["from"] == "447700900123"
    assert params["to"] == "88600" and params["type"] == "2" and params["subject"] == "Hi"
    # UK format: yyyy-MM-dd HH:mm:ss Z
    assert params["date"][-6:-5] == " " and params["date"][-5] in "+-"
    assert "expiry" in params
    r = fake.get("/mms/v1/http/retrieve", params={"user": "acme", "pass": "s3cret",
                                                  "id": mo_id})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    files = unzip(r.content)
    assert b"hello" in files.values() and PNG_1PX in files.values()
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 0})  # settles attempts under way
    cb = fake.get("/_fakemms/api/callbacks").json()["callbacks"][0]
    assert cb["state"] == "delivered" and cb["method"] == "GET"


def test_mo_by_post_carries_mms_zip_with_the_same_bytes(make_fake, receiver):
    receiver.answer = lambda r: (200, b"OK")
    fake = make_fake(legacy_account(receiver.url("/mo"), "legacy-post", region="US"))
    mo_id = fake.post("/_fakemms/api/mo", json=MO).json()["id"]
    (got,) = receiver.wait_for(1)
    assert got.method == "POST"
    ctype = got.headers["Content-Type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    msg = email.message_from_bytes(f"Content-Type: {ctype}\r\n\r\n".encode() + got.body)
    fields = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
              for p in msg.get_payload()}
    assert fields["id"].decode() == mo_id
    assert fields["date"].decode()[-5] in "+-" and fields["date"].decode()[-6] != " "  # US
    retrieved = fake.get("/mms/v1/http/retrieve", params={"user": "acme", "pass": "s3cret",
                                                          "id": mo_id}).content
    assert unzip(fields["mms.zip"]) == unzip(retrieved)


def test_legacy_success_needs_a_non_empty_body(make_fake, receiver):
    answers = iter([(200, b""), (500, b"x"), (200, b"OK")])
    receiver.answer = lambda r: next(answers)
    cfg = legacy_account(receiver.url("/mo"), "legacy-get")
    cfg["callbacks"] = {"retry_delays": [10]}
    fake = make_fake(cfg)
    fake.post("/_fakemms/api/mo", json=MO)
    receiver.wait_for(1)
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 10})
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 10})
    (cb,) = fake.get("/_fakemms/api/callbacks").json()["callbacks"]
    assert [a["outcome"] for a in cb["attempts"]] == ["rejected", "rejected", "success"]
    assert "empty body" in cb["attempts"][0]["reason"]
    assert cb["state"] == "delivered"


@pytest.mark.parametrize("fmt", ["legacy-get", "legacy-post"])
def test_sms_mo_is_type_6_with_message_in_the_chosen_form(make_fake, receiver, fmt):
    receiver.answer = lambda r: (200, b"OK")
    fake = make_fake(legacy_account(receiver.url("/mo"), fmt))
    mo_id = fake.post("/_fakemms/api/mo", json={
        "account": "acme", "destination": "88600", "type": "sms",
        "parts": [{"content_type": "text/plain", "text": "STOP"}]}).json()["id"]
    (got,) = receiver.wait_for(1)
    if fmt == "legacy-get":
        assert got.method == "GET"
        params = dict(got.args)
    else:
        assert got.method == "POST"
        ctype = got.headers["Content-Type"]
        msg = email.message_from_bytes(f"Content-Type: {ctype}\r\n\r\n".encode() + got.body)
        params = {p.get_param("name", header="content-disposition"):
                  p.get_payload(decode=True).decode() for p in msg.get_payload()}
        assert "mms.zip" not in params
    assert params["type"] == "6" and params["message"] == "STOP"
    assert "subject" not in params and "expiry" not in params
    r = fake.get("/mms/v1/http/retrieve", params={"user": "acme", "pass": "s3cret", "id": mo_id})
    assert r.status_code == 400 and "SMS" in r.text


@pytest.mark.parametrize("params,status,text", [
    ({"user": "acme", "pass": "wrong"}, 403, "Authentication failed"),
    ({"user": "nobody", "pass": "s3cret"}, 403, "Authentication failed"),
    ({"user": "acme", "pass": "s3cret", "id": "999"}, 404, "Unknown message id"),
    ({"user": "acme", "pass": None}, 400, "Missing parameter"),
])
def test_retrieve_errors_are_distinct_and_never_a_zip(make_fake, params, status, text):
    fake = make_fake(legacy_account("http://127.0.0.1:9/none", "legacy-get"))
    mo_id = fake.post("/_fakemms/api/mo", json=MO).json()["id"]
    params = {k: v for k, v in {"id": mo_id, **params}.items() if v is not None}
    r = fake.get("/mms/v1/http/retrieve", params=params)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text.startswith(text)


def test_retrieve_until_expiry_on_the_virtual_clock(make_fake):
    cfg = legacy_account("http://127.0.0.1:9/none", "legacy-get")
    fake = make_fake(cfg)
    mo_id = fake.post("/_fakemms/api/mo", json=MO).json()["id"]
    creds = {"user": "acme", "pass": "s3cret", "id": mo_id}
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 86399})
    assert fake.get("/RetrieveMMS", params=creds).status_code == 200
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    r = fake.get("/mms/v1/http/retrieve", params=creds)
    assert r.status_code == 410 and r.text.startswith("Message expired")


def test_sendmms_with_a_zip_then_legacy_delivery_report(make_fake, receiver):
    receiver.answer = lambda r: (200, b"OK")
    fake = make_fake(legacy_account(receiver.url("/dlr"), "legacy-get"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hello")
        z.writestr("pic.png", PNG_1PX)
    r = fake.post("/SendMMS", data={"user": "acme", "pass": "s3cret", "to": "447700900123",
                                    "from": "88600", "subject": "Hi", "deliveryreport": "1"},
                  files={"mms.zip": ("mms.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 200, r.text
    mt_id = r.text.strip()
    msg = fake.get(f"/_fakemms/api/messages/{mt_id}").json()
    assert msg["interface"] == "legacy" and len(msg["parts"]) == 2
    assert fake.get(f"/_fakemms/api/messages/{mt_id}/parts/1").content == PNG_1PX
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    (got,) = receiver.wait_for(1)
    params = dict(got.args)
    assert got.method == "GET" and params["id"] == mt_id
    assert params["type"] == "1" and params["status"] == "3"  # delivery report, Delivered
    assert params["to"] == "447700900123" and params["from"] == "88600"


def test_sendmms_without_deliveryreport_sends_no_report(make_fake, receiver):
    fake = make_fake(legacy_account(receiver.url("/dlr"), "legacy-get"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hello")
    r = fake.post("/SendMMS", data={"user": "acme", "pass": "s3cret", "to": "447700900123",
                                    "from": "88600"},
                  files={"mms.zip": ("mms.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 200
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 5})
    assert receiver.received == []
    assert fake.get(f"/_fakemms/api/messages/{r.text}").json()["status"] == "Retrieved"


def test_sendmms_bad_credentials(make_fake):
    fake = make_fake(legacy_account("http://127.0.0.1:9/none", "legacy-get"))
    r = fake.post("/SendMMS", data={"user": "acme", "pass": "nope", "to": "447700900123",
                                    "from": "88600", "url": "http://127.0.0.1:9/x.zip"})
    assert r.status_code == 403 and r.text.startswith("Authentication failed")


def test_mo_format_override_from_the_control_api_and_scenarios(make_fake, receiver):
    receiver.answer = lambda r: (200, b"OK")
    cfg = legacy_account(receiver.url("/mo"), "http")
    fake = make_fake(cfg)
    r = fake.post("/_fakemms/api/mo", json={**MO, "format": "legacy-get"})
    assert r.status_code == 201
    fake.http.put(fake.url + "/_fakemms/api/scenarios", json={"name": "s", "mo": [
        {"name": "m", "account": "acme", "to": "88600", "format": "legacy-post"}]})
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    first, second = receiver.wait_for(2)
    assert first.method == "GET" and dict(first.args)["to"] == "88600"
    assert second.method == "POST"
    assert second.headers["Content-Type"].startswith("multipart/form-data")
    bad = fake.post("/_fakemms/api/mo", json={**MO, "format": "carrier-pigeon"})
    assert bad.status_code == 400 and "format" in bad.json()["error"]["description"]


def test_sendmms_checks_credentials_before_the_request(make_fake):
    fake = make_fake(legacy_account("http://127.0.0.1:9/none", "legacy-get"))
    r = fake.post("/SendMMS", data={"user": "acme", "pass": "nope"})  # no to, no content
    assert r.status_code == 403 and r.text.startswith("Authentication failed")
    r = fake.post("/SendMMS", data={"user": "acme", "pass": "s3cret"})
    assert r.status_code == 400 and r.text.startswith("Missing parameter")


def test_legacy_timeout_is_configurable(make_fake, receiver):
    cfg = legacy_account(receiver.url("/mo"), "legacy-get")
    cfg["legacy"] = {"timeout_seconds": 45}
    fake = make_fake(cfg)
    fake.post("/_fakemms/api/mo", json=MO)
    receiver.wait_for(1)
    [mo] = fake.backend.store.list_messages(direction="mo")
    backend_callback = fake.backend.store.get_callback(mo.callback_ids[0])
    assert backend_callback.timeout == 45
