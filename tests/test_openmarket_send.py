"""POST /mms/v2/send end to end over real HTTP on 127.0.0.1 (openmarket-mms-send.txt).

Every documented code is reached by a real request, answered with the HTTP status of
docs/openmarket.md, the document's description and an X-Request-Id in the document's format.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import ACCOUNT, PNG_1PX, SHARED, Fake, om_body
from test_openmarket_codec import document_example

from fakemms.app import create_app
from fakemms.server import ServerThread

REQUEST_ID = re.compile(r"^015-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
FIELDS = {"type": "MT", "source": "88600", "destination": "12515550130", "mtConfig": "config1"}
REMOTE = "application/vnd.openmarket.remoteContent"

# The table of docs/openmarket.md (checked against it below); 15000 is 500 when internal and 400
# when the request is malformed.
HTTP_STATUS = {
    15100: 403, 15101: 403, 15102: 403, 15105: 403, 15200: 403, 15201: 403, 15202: 403,
    15203: 403, 15204: 403, 15205: 403, 15206: 403, 15300: 403, 15301: 403, 15302: 403,
    15303: 403, 15305: 403, 15406: 429,
}
SEND_PAGE = Path(__file__).resolve().parents[1] / "docs" / "openmarket.md"


def document_texts() -> dict[int, str]:
    """Code -> description, from the send document's "Response error codes" table."""
    path = SHARED / "reference" / "openmarket-mms-send.txt"
    text = path.read_text(encoding="utf-8")
    table = text[text.index("Response error codes"):]
    return {int(c): d.strip() for c, d in re.findall(r"^(15\d{3})\n\n(.+)$", table, re.M)}


DOC = document_texts()


@pytest.fixture(scope="module")
def shared_server():
    server = ServerThread(create_app({"accounts": [ACCOUNT], "seed": 1})).start()
    yield server
    server.stop()


@pytest.fixture
def fake(shared_server) -> Iterator[Fake]:
    """One server for the tests that need only the default account, reset before each test
    (a server per test costs 0.1 s to stop); tests with their own settings use make_fake."""
    shared = Fake(shared_server)
    assert shared.post("/_fakemms/api/reset").status_code == 200
    yield shared
    shared.http.close()


@pytest.fixture
def make_fake(make_fake) -> Iterator:
    """conftest's make_fake, closing each fake's client session (no ResourceWarning later)."""
    made: list[Fake] = []

    def start(config: dict | None = None) -> Fake:
        made.append(make_fake(config))
        return made[-1]

    yield start
    for f in made:
        f.http.close()


def account(**kw) -> dict:
    return {"accounts": [{**ACCOUNT, **kw}]}


def expect_error(r: requests.Response, code: int, status: int | None = None) -> dict:
    """The provider's refusal: status, JSON {"error": {code, description}}, X-Request-Id."""
    status = status or HTTP_STATUS[code]
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert REQUEST_ID.match(r.headers.get("X-Request-Id", "")), r.headers
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "description"}
    assert body["error"]["code"] == code
    if code in HTTP_STATUS:  # the document's text; a TPS refusal adds its limit
        text = body["error"]["description"]
        assert text == DOC[code] or (code == 15406 and text.startswith(DOC[code] + " (tps "))
    return body["error"]


def expect_malformed(r: requests.Response, fragment: str) -> None:
    err = expect_error(r, 15000, 400)
    assert fragment.lower() in err["description"].lower(), err


def accepted(r: requests.Response) -> int:
    assert r.status_code == 202, r.text
    assert REQUEST_ID.match(r.headers["X-Request-Id"])
    mt_id = r.json()["mtId"]
    assert type(mt_id) is int and 10**14 <= mt_id < 10**15
    return mt_id


def stored(fake, mt_id: int) -> dict:
    r = fake.get(f"/_fakemms/api/messages/{mt_id}")
    assert r.status_code == 200, r.text
    return r.json()


def count(fake) -> int:
    return fake.get("/_fakemms/api/messages").json()["count"]


# --- the docs table is the one the tests use -----------------------------------------------------
def test_documented_table_matches_the_statuses_tested_here():
    rows = re.findall(r"^\| ([0-9 /]+) \| .+ \| (\d{3}) \|$", SEND_PAGE.read_text(), re.M)
    table: dict[int, set[int]] = {}
    for codes, status in rows:
        for code in codes.split("/"):
            table.setdefault(int(code), set()).add(int(status))
    assert table.pop(15000) == {400, 500}
    assert table == {code: {status} for code, status in HTTP_STATUS.items()}
    assert set(DOC) == set(HTTP_STATUS) | {15000}


# --- accepted ------------------------------------------------------------------------------------
def test_accepted_send_answers_202_with_15_digit_mt_id(fake):
    r = fake.send(om_body())
    assert r.status_code == 202, r.text
    assert r.reason == "Accepted"
    assert r.headers["Content-Type"].startswith("application/json")
    assert REQUEST_ID.match(r.headers["X-Request-Id"])
    assert re.fullmatch(rb'\{\s*"mtId"\s*:\s*\d{15}\s*\}\s*', r.content), r.content
    mt_id = r.json()["mtId"]
    assert isinstance(mt_id, int) and len(str(mt_id)) == 15
    message = stored(fake, mt_id)
    assert message["destinations"] == ["12515550130"] and message["source"] == "88600"
    assert message["account"] == "acme" and message["mt_config"] == "config1"
    assert message["direction"] == "mt" and message["interface"] == "openmarket"
    assert message["request_id"] == r.headers["X-Request-Id"]
    assert message["warnings"] == []
    assert fake.get(f"/_fakemms/api/messages/{mt_id}/parts/0").content == b"This is my text."


def test_base64_and_binary_parts_round_trip(fake):
    binary = bytes(range(256)) * 3 + b"\r\n--notaboundary\r\n"
    body = om_body(parts=[
        ({"Content-Type": "image/png", "Content-Id": "a.png",
          "Content-Transfer-Encoding": "BASE64"}, base64.encodebytes(PNG_1PX)),
        ({"Content-Type": "application/octet-stream", "Content-Id": "b.bin"}, binary),
    ])
    mt = accepted(fake.send(body))
    p0 = fake.get(f"/_fakemms/api/messages/{mt}/parts/0")
    assert p0.content == PNG_1PX and p0.headers["Content-Type"] == "image/png"
    assert fake.get(f"/_fakemms/api/messages/{mt}/parts/1").content == binary


def test_quoted_printable_part_is_decoded(fake):
    body = om_body(parts=[({"Content-Type": "text/plain; charset=utf-8", "Content-Id": "t.txt",
                            "Content-Transfer-Encoding": "quoted-printable"},
                           b"Caf=C3=A9 au lait =E2=98=95, a long line that is soft=\r\nwrapped")])
    mt = accepted(fake.send(body))
    part = fake.get(f"/_fakemms/api/messages/{mt}/parts/0")
    assert part.content.decode("utf-8") == "Café au lait ☕, a long line that is softwrapped"
    assert stored(fake, mt)["parts"][0]["transfer_encoding"] == "quoted-printable"


def test_subject_and_operator_are_stored(fake):
    fields = {**FIELDS, "subject": "s" * 255, "mobileOperatorId": 383}
    message = stored(fake, accepted(fake.send(om_body(fields))))
    assert message["subject"] == "s" * 255 and message["mobile_operator_id"] == 383


def test_document_example_request_is_accepted(make_fake, httpserver):
    # The document's example, its Basic credentials (Aladdin / open sesame) and its remote
    # link pointed at a local server.
    httpserver.expect_request("/MMS-Demo.mp4").respond_with_data(
        b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    url = httpserver.url_for("/MMS-Demo.mp4")
    aladdin = {**ACCOUNT, "username": "Aladdin", "password": "open sesame"}
    fake = make_fake({"accounts": [aladdin], "remote_content": {"mode": "sync"}})
    r = fake.send(document_example(remote_url=url), auth=None,
                  headers={"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="})
    message = stored(fake, accepted(r))
    assert message["subject"] == "Example MMS" and message["mobile_operator_id"] == 77
    assert message["account"] == "Aladdin"
    remote, text, png = message["parts"]
    # fetched (sync mode: before the 202) and stored with the content's own Content-Type
    assert remote["content_type"] == "video/mp4" and remote["remote_url"] == url
    assert remote["content_id"] == "MMS-Demo.mp4"
    assert text["content_id"] == "example.txt" and png["content_id"] == "example.png"
    mt = message["id"]
    assert fake.get(f"/_fakemms/api/messages/{mt}/parts/0").content == b"\x00\x00\x00\x18ftypmp42"
    assert fake.get(f"/_fakemms/api/messages/{mt}/parts/1").content == b"This is my text."
    png_bytes = fake.get(f"/_fakemms/api/messages/{mt}/parts/2")
    assert png_bytes.headers["Content-Type"] == "image/png"
    assert png_bytes.content.startswith(b"\x89PNG") and len(png_bytes.content) == png["size"]
    assert message["warnings"] == []


def test_remote_link_alone_is_content(fake):
    body = om_body(parts=[({"Content-Type": REMOTE, "Content-Id": "v.mp4"},
                           b"http://127.0.0.1:9/v.mp4")])
    message = stored(fake, accepted(fake.send(body)))
    assert message["parts"][0]["remote_url"] == "http://127.0.0.1:9/v.mp4"


# --- layout --------------------------------------------------------------------------------------
def test_strict_mode_refuses_a_boundary_without_a_blank_line_above(fake):
    expect_malformed(fake.send(om_body(blank_lines=False)), "blank line")
    assert count(fake) == 0


def test_lenient_mode_accepts_and_records_a_warning(make_fake):
    fake = make_fake({"strict_mime": False})
    message = stored(fake, accepted(fake.send(om_body(blank_lines=False))))
    assert any("blank line" in w for w in message["warnings"]), message["warnings"]
    assert fake.get(f"/_fakemms/api/messages/{message['id']}/parts/0").content == (
        b"This is my text.")
    # a well laid-out request gets no such warning in lenient mode
    assert stored(fake, accepted(fake.send(om_body())))["warnings"] == []


def test_no_content_part_is_refused(fake):
    expect_malformed(fake.send(om_body(parts=[])), "at least one")
    assert count(fake) == 0


@pytest.mark.parametrize("cid, fragment", [
    ("<image1.png>", "angle brackets"),
    ("my image (1).png", "characters other than basic"),
    ("a-very-long-content-id.png", "shorter than 20"),
    (None, "no Content-Id"),
])
def test_content_id_advice_is_a_warning_not_a_refusal(fake, cid, fragment):
    headers = {"Content-Type": "text/plain"}
    if cid is not None:
        headers["Content-Id"] = cid
    message = stored(fake, accepted(fake.send(om_body(parts=[(headers, b"hi")]))))
    assert [w for w in message["warnings"] if fragment in w], message["warnings"]
    assert message["parts"][0]["content_id"] == cid


# --- bad bodies: 4xx with a clear JSON error, never 5xx ------------------------------------------
BAD_BODIES = {
    "empty": (b"", None, "empty body"),
    "not MIME": (b"type=MT&source=88600", None, "no --mimeboundary delimiter"),
    "JSON array": (om_body(raw_json=b'["MT", "88600"]'), None, "must be an object"),
    "JSON string": (om_body(raw_json=b'"MT"'), None, "must be an object"),
    "bad JSON": (om_body(raw_json=b'{"type": "MT",'), None, "not valid JSON"),
    "huge nesting": (om_body(raw_json=b"[" * 100_000), None, "nested too deeply"),
    "huge object nesting": (om_body(raw_json=b'{"a":' * 100_000), None, "nested too deeply"),
    "bad UTF-8": (om_body(raw_json=b'{"type": "M\xc0\xafT"}'), None, "not valid UTF-8"),
    "JSON not first": (om_body(raw_json=b"{}").replace(b"application/json", b"text/plain", 1),
                       None, "first MIME part"),
    "wrong Content-Type": (om_body(), "application/json", "must be multipart"),
    "form Content-Type": (om_body(), "application/x-www-form-urlencoded", "must be multipart"),
    "no boundary": (om_body(), "multipart/mixed", "without a boundary"),
    "other boundary": (om_body(), "multipart/mixed; boundary=frontier", "no --frontier"),
    "unsupported encoding": (om_body(parts=[({"Content-Type": "text/plain", "Content-Id": "t",
                                              "Content-Transfer-Encoding": "x-gzip"}, b"x")]),
                             None, "Content-Transfer-Encoding"),
    "bad base64": (om_body(parts=[({"Content-Type": "image/png", "Content-Id": "p",
                                    "Content-Transfer-Encoding": "base64"}, b"@@@@")]),
                   None, "base64"),
    "remote not a URL": (om_body(parts=[({"Content-Type": REMOTE, "Content-Id": "r"},
                                         b"file:///etc/passwd")]), None, "not an http"),
    "nested multipart": (om_body(parts=[({"Content-Type": "multipart/mixed; boundary=in"},
                                         b"--in\r\nContent-Type: text/plain\r\n\r\nx\r\n--in--")]),
                         None, "nested"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_bodies_are_4xx_with_a_clear_json_error(fake, name):
    body, content_type, fragment = BAD_BODIES[name]
    expect_malformed(fake.send(body, content_type=content_type or
                               "multipart/mixed; boundary=mimeboundary"), fragment)
    assert count(fake) == 0


def test_missing_content_type_is_4xx(fake):
    expect_malformed(fake.send(om_body(), headers={"Content-Type": None}), "Content-Type")


def test_deeply_nested_multipart_is_4xx_not_a_crash(make_fake):
    fake = make_fake({"strict_mime": False})
    inner = b"--b0\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0--\r\n"
    for d in range(1, 1500):
        inner = (f"--b{d}\r\nContent-Type: multipart/mixed; boundary=b{d - 1}\r\n\r\n".encode()
                 + inner + f"\r\n--b{d}--\r\n".encode())
    expect_malformed(fake.send(inner, content_type="multipart/mixed; boundary=b1499"),
                     "nested too deeply")


def test_wrong_method_is_json_405_with_request_id(fake):
    r = fake.get("/mms/v2/send")
    expect_error(r, 15000, 405)
    assert r.headers["Allow"] == "POST"


def test_body_over_50_mib_is_413_before_it_is_read(fake):
    head = (f"POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Basic {base64.b64encode(b'acme:s3cret').decode()}\r\n"
            "Content-Type: multipart/mixed; boundary=mimeboundary\r\n"
            f"Content-Length: {60 * 1024 * 1024}\r\nConnection: close\r\n\r\n")
    with socket.create_connection((fake.server.host, fake.server.port), timeout=5) as sock:
        sock.sendall(head.encode() + om_body())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert re.search(rb"(?im)^X-Request-Id: 015-", headers)
    error = json.loads(body)["error"]
    assert error["code"] == 15000 and "the limit here is 52428800 bytes" in error["description"]


# --- unexpected failures: JSON 15000, never a bare 500 page --------------------------------------
def test_unexpected_failure_is_json_15000_with_request_id(make_fake):
    fake = make_fake()
    # A failure the fake does not expect, injected through Flask's own hook (no fakemms
    # component is replaced): the send blueprint must still answer in the provider's format.
    @fake.app.before_request
    def explode() -> None:
        from flask import request

        if request.headers.get("X-Test-Explode"):
            raise RuntimeError("boom")

    r = fake.send(om_body(), headers={"X-Test-Explode": "1"})
    err = expect_error(r, 15000, 500)
    assert err["description"] == DOC[15000]
    assert "boom" not in r.text and "Traceback" not in r.text
    accepted(fake.send(om_body()))  # the fake carries on


# --- request validation: each JSON field error ---------------------------------------------------
@pytest.mark.parametrize("change, code", [
    ({"type": None}, 15100), ({"destination": None}, 15101), ({"source": None}, 15102),
    ({"mtConfig": None}, 15105),
    ({"type": "MO"}, 15200), ({"type": 1}, 15200),
    ({"destination": "+12515550130"}, 15201), ({"destination": 12515550130}, 15201),
    ({"destination": "12515550130\n"}, 15201),
    ({"source": "+88600"}, 15202), ({"source": 88600}, 15202),
    ({"subject": ""}, 15203), ({"subject": "   "}, 15203), ({"subject": "\t\u00a0\n"}, 15203),
    ({"subject": "x" * 256}, 15203), ({"subject": ["s"]}, 15203),
    ({"mobileOperatorId": "77"}, 15204), ({"mobileOperatorId": 0}, 15204),
    ({"mobileOperatorId": 1.5}, 15204),
    ({"mtConfig": 7}, 15205), ({"mtConfig": "config2"}, 15205), ({"mtConfig": ""}, 15205),
])
def test_each_field_violation_has_its_documented_code(fake, change, code):
    fields = {**FIELDS, **change}
    fields = {k: v for k, v in fields.items() if v is not None}
    expect_error(fake.send(om_body(fields)), code)
    assert count(fake) == 0


def test_mt_config_of_another_account_is_15205(make_fake):
    other = {"username": "other", "password": "pw",
             "mt_configs": {"theirs": {"dlr_url": None}}}
    fake = make_fake({"accounts": [ACCOUNT, other]})
    expect_error(fake.send(om_body({**FIELDS, "mtConfig": "theirs"})), 15205)
    accepted(fake.send(om_body({**FIELDS, "mtConfig": "theirs"}), auth=("other", "pw")))


def test_lowest_code_wins_over_http(fake):
    expect_error(fake.send(om_body({"destination": "+1", "mtConfig": 5})), 15100)
    expect_error(fake.send(om_body({**FIELDS, "source": "x", "subject": " "})), 15202)


# --- guards --------------------------------------------------------------------------------------
@pytest.mark.parametrize("auth, header", [
    (("acme", "wrong"), None),
    (("ACME", "s3cret"), None),  # case-sensitive
    (("nobody", "s3cret"), None),
    (None, None),
    (None, "Basic !!!"),
    (None, "Bearer s3cret"),
    (None, "Basic " + base64.b64encode(b"acmes3cret").decode()),
])
def test_bad_or_missing_credentials_are_15206(fake, auth, header):
    headers = {"Authorization": header} if header else None
    expect_error(fake.send(om_body(), auth=auth, headers=headers), 15206)
    assert count(fake) == 0


def test_ip_allowlist_excluding_loopback_is_15300(make_fake):
    fake = make_fake(account(allowed_ips=["10.0.0.0/8", "2001:db8::/32"]))
    expect_error(fake.send(om_body()), 15300)
    # the allowlist is checked before the password
    expect_error(fake.send(om_body(), auth=("acme", "wrong")), 15300)
    # an unknown user learns nothing about allowlists
    expect_error(fake.send(om_body(), auth=("nobody", "x")), 15206)


def test_ip_allowlist_including_loopback_accepts(make_fake):
    fake = make_fake(account(allowed_ips=["::1/128", "127.0.0.1/32"]))
    accepted(fake.send(om_body()))


def test_forwarded_for_is_ignored_without_trusted_proxies(make_fake):
    fake = make_fake(account(allowed_ips=["203.0.113.0/24"]))
    expect_error(fake.send(om_body(), headers={"X-Forwarded-For": "203.0.113.5"}), 15300)
    # and it cannot be used to get around an allowlist that admits loopback either
    fake2 = make_fake(account(allowed_ips=["127.0.0.0/8"]))
    accepted(fake2.send(om_body(), headers={"X-Forwarded-For": "198.51.100.1"}))


def test_forwarded_for_is_honoured_via_a_trusted_proxy(make_fake):
    fake = make_fake({**account(allowed_ips=["203.0.113.0/24"]),
                      "trusted_proxies": ["127.0.0.1"]})
    accepted(fake.send(om_body(), headers={"X-Forwarded-For": "203.0.113.5"}))
    expect_error(fake.send(om_body(), headers={"X-Forwarded-For": "198.51.100.1"}), 15300)
    # a client that prepends an allowed address does not get through
    expect_error(fake.send(om_body(),
                           headers={"X-Forwarded-For": "203.0.113.5, 198.51.100.1"}), 15300)


def test_ipv6_client_behind_a_trusted_proxy_matches_an_ipv6_cidr(make_fake):
    fake = make_fake({**account(allowed_ips=["2001:db8::/32"]),
                      "trusted_proxies": ["127.0.0.0/8"]})
    accepted(fake.send(om_body(), headers={"X-Forwarded-For": "2001:db8:0:1::5"}))
    expect_error(fake.send(om_body(), headers={"X-Forwarded-For": "2001:db9::5"}), 15300)
    expect_error(fake.send(om_body()), 15300)  # the proxy itself is not allowed


def test_closed_account_is_15305_after_auth(make_fake):
    fake = make_fake(account(closed=True))
    expect_error(fake.send(om_body()), 15305)
    expect_error(fake.send(om_body(), auth=("acme", "wrong")), 15206)


def test_daily_limit_is_15301_and_refusals_do_not_count(make_fake):
    fake = make_fake({**account(max_per_day=2), "clock": "virtual"})
    expect_error(fake.send(om_body({**FIELDS, "destination": "+1"})), 15201)
    expect_malformed(fake.send(om_body(blank_lines=False)), "blank line")
    expect_error(fake.send(om_body(), auth=("acme", "nope")), 15206)
    accepted(fake.send(om_body()))
    accepted(fake.send(om_body()))
    expect_error(fake.send(om_body()), 15301)
    # the limit comes before validation: even a bad request now gets 15301
    expect_error(fake.send(om_body(blank_lines=False)), 15301)
    fake.backend.clock.advance(86400)
    accepted(fake.send(om_body()))


def test_monthly_limit_is_15302(make_fake):
    fake = make_fake({**account(max_per_day=5, max_per_month=3), "clock": "virtual"})
    for _ in range(3):
        accepted(fake.send(om_body()))
    expect_error(fake.send(om_body()), 15302)


def test_prepaid_credit_is_15303(make_fake):
    fake = make_fake(account(prepaid_credit=2))
    expect_error(fake.send(om_body({**FIELDS, "subject": " "})), 15203)
    accepted(fake.send(om_body()))
    accepted(fake.send(om_body()))
    expect_error(fake.send(om_body()), 15303)


def test_http_status_can_be_overridden_per_code(make_fake):
    fake = make_fake({**account(closed=True), "http_status": {"15305": 401}})
    expect_error(fake.send(om_body()), 15305, 401)


# --- TPS -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tps", [3, 10])
def test_tps_refusals_appear_exactly_when_the_bucket_is_empty(make_fake, tps):
    fake = make_fake({**account(tps=tps, max_per_day=tps + 2), "clock": "virtual"})
    for _ in range(tps):
        accepted(fake.send(om_body()))
    err = expect_error(fake.send(om_body()), 15406)
    assert err["description"] == (f"TPS limit exceeded. (tps {tps}/s for account acme; the "
                                  "clock is paused (virtual): tokens refill only when it "
                                  "advances)")
    expect_error(fake.send(om_body()), 15406)
    fake.backend.clock.advance(1 / tps)
    accepted(fake.send(om_body()))
    expect_error(fake.send(om_body()), 15406)
    # refused requests did not use the daily allowance: tps + 1 accepted of tps + 2
    fake.backend.clock.advance(1 / tps)
    accepted(fake.send(om_body()))
    fake.backend.clock.advance(1)
    expect_error(fake.send(om_body()), 15301)
    assert count(fake) == tps + 2


def test_a_tps_refusal_names_its_limit_in_the_decision_header(make_fake):
    fake = make_fake(account(tps=0.01))  # real clock: one token per 100 s
    accepted(fake.send(om_body()))
    r = fake.send(om_body())
    assert expect_error(r, 15406)["description"] == \
        "TPS limit exceeded. (tps 0.01/s for account acme)"
    assert r.headers["X-Fake-Decision"] == "tps 0.01/s for account acme"
    quiet = make_fake({**account(tps=0.01), "decision_header": False})
    accepted(quiet.send(om_body()))
    assert "X-Fake-Decision" not in quiet.send(om_body()).headers


def test_tps_comes_before_validation_and_status_override(make_fake):
    fake = make_fake({**account(tps=1), "clock": "virtual", "http_status": {"15406": 503}})
    accepted(fake.send(om_body()))
    expect_error(fake.send(om_body(blank_lines=False)), 15406, 503)


# --- X-Request-Id ---------------------------------------------------------------------------------
def test_request_ids_are_on_every_answer_and_never_repeat(make_fake):
    fake = make_fake(account(prepaid_credit=3))
    answers = [fake.send(om_body()), fake.send(b""), fake.send(om_body(), auth=None),
               fake.send(om_body({**FIELDS, "type": "MO"})), fake.get("/mms/v2/send"),
               fake.send(om_body()), fake.send(om_body())]
    answers.append(fake.send(om_body()))  # 15303
    ids = [r.headers["X-Request-Id"] for r in answers]
    assert all(REQUEST_ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert [r.status_code for r in answers] == [202, 400, 403, 403, 405, 202, 202, 403]


# --- concurrency ---------------------------------------------------------------------------------
def test_twenty_threads_lose_nothing_and_never_repeat_an_id(fake):
    threads_n, per_thread = 20, 10
    results: list[list[int]] = [[] for _ in range(threads_n)]
    failures: list[str] = []
    barrier = threading.Barrier(threads_n)

    def worker(i: int) -> None:
        session = requests.Session()
        barrier.wait(timeout=10)
        for j in range(per_thread):
            body = om_body({**FIELDS, "destination": f"1251555{i:02d}{j:02d}"})
            r = session.post(fake.url + "/mms/v2/send", data=body, auth=("acme", "s3cret"),
                             headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"},
                             timeout=20)
            if r.status_code != 202 or not REQUEST_ID.match(r.headers.get("X-Request-Id", "")):
                failures.append(f"{r.status_code} {r.text[:200]}")
            else:
                results[i].append(r.json()["mtId"])
        session.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    ids = [mt for rs in results for mt in rs]
    assert len(ids) == threads_n * per_thread
    assert len(set(ids)) == len(ids)
    listing = fake.get("/_fakemms/api/messages", params={"limit": 1000}).json()
    assert listing["count"] == threads_n * per_thread
    assert {int(m["id"]) for m in listing["messages"]} == set(ids)
    # every destination arrived once, attached to the right id
    dests = {m["destinations"][0] for m in listing["messages"]}
    assert len(dests) == threads_n * per_thread
