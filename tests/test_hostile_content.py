"""Hostile content refused at the edge, over real HTTP on 127.0.0.1 (docs/service.md,
"Hostile content"): zip, MIME and compression bombs, path tricks in names, deep nesting, huge
header counts. Each refusal is the interface's documented answer for an invalid or too large
message, nothing is stored, and the server answers the next request."""

from __future__ import annotations

import base64
import gzip
import io
import re
import time
import zipfile
from typing import Any

import pytest
from conftest import ACCOUNT, PNG_1PX, Fake, om_body, with_dlr
from receiver import Receiver

from fakemms.protocols.mime import build_multipart
from fakemms.protocols.mm7 import codec

AUTH = ("acme", "s3cret")
REMOTE = "application/vnd.openmarket.remoteContent"
MM7_NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
LEGACY = {"user": "acme", "pass": "s3cret", "from": "88600", "to": "447700900123"}


@pytest.fixture(scope="module")
def shared() -> Any:
    """One fake for the refusals (each test checks the count it changes, never resets)."""
    from fakemms.app import create_app
    from fakemms.server import ServerThread

    server = ServerThread(create_app({"accounts": [ACCOUNT], "seed": 3})).start()
    yield Fake(server)
    server.stop()


def stored(fake: Fake) -> int:
    r = fake.get("/_fakemms/api/messages")
    assert r.status_code == 200
    return r.json()["count"]


def still_serves(fake: Fake) -> None:
    """The next request, a good one, is accepted."""
    r = fake.send(om_body())
    assert r.status_code == 202, r.text


def refused_om(fake: Fake, body: bytes, reason: str) -> None:
    """OpenMarket's answer to a malformed body: 400 with code 15000 (openmarket-mms-send.txt),
    the cap named in the detail; nothing stored; the server goes on."""
    before = stored(fake)
    r = fake.send(body)
    assert r.status_code == 400, r.text
    error = r.json()["error"] if "error" in r.json() else r.json()
    assert error["code"] == 15000, error
    assert re.search(reason, r.text), r.text
    assert stored(fake) == before
    still_serves(fake)


def nested(depth: int, leaf: bytes = b"hi") -> tuple[dict[str, str], bytes]:
    """A MIME part holding multiparts ``depth`` deep."""
    headers, data = {"Content-Type": "text/plain", "Content-Id": "t.txt"}, leaf
    for level in range(depth):
        b = f"b{level}"
        data = (f"--{b}\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                .encode() + b"\r\n" + data + f"\r\n--{b}--".encode())
        headers = {"Content-Type": f"multipart/mixed; boundary={b}", "Content-Id": "n"}
    return headers, data


# --- MIME bombs on /mms/v2/send ----------------------------------------------------------------
def test_openmarket_refuses_too_many_parts(shared: Fake) -> None:
    parts = [({"Content-Type": "text/plain", "Content-Id": f"t{i}.txt"}, b"x")
             for i in range(150)]
    refused_om(shared, om_body(parts=parts), r"more than 100 MIME parts")


def test_openmarket_refuses_multiparts_hundreds_deep(shared: Fake) -> None:
    refused_om(shared, om_body(parts=[nested(500)]), r"nested too deeply \(more than 10 ")


def test_openmarket_refuses_a_part_with_thousands_of_headers(shared: Fake) -> None:
    headers = {"Content-Type": "text/plain", "Content-Id": "t.txt",
               **{f"X-H{i}": "v" for i in range(5000)}}
    refused_om(shared, om_body(parts=[(headers, b"x")]), r"more than 100 header lines")


def test_openmarket_refuses_a_header_line_of_a_megabyte(shared: Fake) -> None:
    headers = {"Content-Type": "text/plain; name=" + "a" * (1 << 20), "Content-Id": "t.txt"}
    refused_om(shared, om_body(parts=[(headers, b"x")]), r"header line longer than 8192")


@pytest.mark.parametrize("raw", [
    b'{"a":' * 500 + b"1" + b"}" * 500,  # under json's own recursion limit, over 64
    b"[" * 200_000,  # over it
])
def test_openmarket_refuses_deeply_nested_json(shared: Fake, raw: bytes) -> None:
    refused_om(shared, om_body(raw_json=raw), r"nested (more than 64 levels deep|too deeply)")


def test_content_caps_are_configurable(make_fake) -> None:
    fake = make_fake({"content": {"max_parts": 3}})
    parts = [({"Content-Type": "text/plain", "Content-Id": f"t{i}.txt"}, b"x") for i in range(3)]
    refused_om(fake, om_body(parts=parts), r"more than 3 MIME parts")  # JSON + 3 parts
    assert fake.send(om_body(parts=parts[:2])).status_code == 202


# --- MM7 ---------------------------------------------------------------------------------------
def envelope(inner: str = "") -> bytes:
    return (f'<env:Envelope xmlns:env="{SOAP_ENV}"><env:Header><TransactionID xmlns="{MM7_NS}" '
            f'env:mustUnderstand="1">t1</TransactionID></env:Header><env:Body>'
            f'<SubmitReq xmlns="{MM7_NS}"><MM7Version>6.8.0</MM7Version><SenderIdentification>'
            "<VASPID>acme</VASPID><SenderAddress><ShortCode>88600</ShortCode></SenderAddress>"
            "</SenderIdentification><Recipients><To><Number>15551230000</Number></To>"
            f"</Recipients>{inner}<Content href=\"cid:content\"/></SubmitReq></env:Body>"
            "</env:Envelope>").encode()


def mm7_post(fake: Fake, content: list[tuple[dict[str, str], bytes]], soap: bytes | None = None
             ) -> Any:
    soap_part = ({"Content-Type": "text/xml", "Content-ID": "<soap>"}, soap or envelope())
    inner = ({"Content-Type": 'multipart/mixed; boundary="inner"', "Content-ID": "<content>"},
             build_multipart(content, "inner"))
    body = build_multipart([soap_part, inner], "outer")
    return fake.post("/mm7", data=body, auth=AUTH, headers={
        "Content-Type": 'multipart/related; boundary="outer"; type="text/xml"; start="<soap>"',
        "SOAPAction": '""'})


def refused_mm7(fake: Fake, content: list[tuple[dict[str, str], bytes]], status: int,
                reason: str, soap: bytes | None = None) -> None:
    """A SOAP Fault carrying the MM7 status (mm7-api.txt: 2004 Multimedia content refused,
    2007 Message format corrupt); nothing stored; the server goes on."""
    before = stored(fake)
    r = mm7_post(fake, content, soap)
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/xml"), r.text
    fault = codec.parse_response(r.content, r.headers["Content-Type"])
    assert isinstance(fault, codec.SoapFault) and fault.error is not None
    assert fault.error.status.code == status, r.text
    assert re.search(reason, r.text), r.text
    assert stored(fake) == before
    ok = mm7_post(fake, [({"Content-Type": "text/plain", "Content-ID": "<t>"}, b"hello")])
    assert ok.status_code == 200, ok.text


def test_mm7_refuses_too_many_parts_with_2004(shared: Fake) -> None:
    parts = [({"Content-Type": "text/plain", "Content-ID": f"<t{i}>"}, b"x") for i in range(150)]
    refused_mm7(shared, parts, 2004, r"more than 100 MIME parts")


def test_mm7_refuses_multiparts_hundreds_deep_with_2004(shared: Fake) -> None:
    refused_mm7(shared, [nested(400)], 2004, r"nested too deeply")


def test_mm7_refuses_a_part_with_thousands_of_headers_with_2004(shared: Fake) -> None:
    headers = {"Content-Type": "text/plain", **{f"X-H{i}": "v" for i in range(3000)}}
    refused_mm7(shared, [(headers, b"x")], 2004, r"more than 100 header lines")


def test_mm7_refuses_deeply_nested_xml_with_2007(shared: Fake) -> None:
    deep = "<x>" * 5000 + "</x>" * 5000
    refused_mm7(shared, [({"Content-Type": "text/plain", "Content-ID": "<t>"}, b"x")], 2007,
                r"nested more than 100 elements deep", soap=envelope(deep))


# --- the legacy gateway's mms.zip --------------------------------------------------------------
def zipped(entries: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compress) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def legacy_upload(fake: Fake, mms_zip: bytes) -> Any:
    return fake.post("/SendMMS", data=LEGACY, files={"mms.zip": ("mms.zip", mms_zip)})


def refused_legacy(fake: Fake, before: int, response: Any, status: int, reason: str) -> None:
    """The legacy gateway's plain-text error (docs/legacy.md); nothing stored; it goes on."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert re.search(reason, response.text), response.text
    assert stored(fake) == before
    still_serves(fake)


@pytest.mark.parametrize("entries,reason", [
    # one entry of 9 MiB of zeros (about 9 KB deflated): over the 8 MiB per-file cap
    ({"big.txt": bytes(9 << 20)}, r"mms.zip too large: 'big.txt' is 9437184 bytes"),
    # 2 MiB of zeros deflated about 1,000 times: over the ratio of 200
    ({"bomb.txt": bytes(2 << 20)}, r"mms.zip too large: 'bomb.txt' inflates more than 200 "),
    # 3 x 6 MiB: each under the per-file cap, 18 MiB in all over the 16 MiB total
    ({f"p{i}.bin": bytes(6 << 20) for i in range(3)}, r"bytes uncompressed; at most 16777216"),
    ({f"p{i}.txt": b"x" for i in range(101)}, r"101 entries; at most 100"),
])
def test_legacy_refuses_zip_bombs_with_413(make_fake, entries: dict[str, bytes], reason: str
                                           ) -> None:
    fake = make_fake({"content": {"max_ratio": 200 if "bomb.txt" in entries else 5000}})
    before = stored(fake)
    refused_legacy(fake, before, legacy_upload(fake, zipped(entries)), 413, reason)


def test_legacy_refuses_a_zip_bomb_fetched_from_url(make_fake) -> None:
    bomb = zipped({"bomb.txt": bytes(4 << 20)})
    origin = Receiver(lambda r: (200, bomb, {"Content-Type": "application/zip"})).start()
    try:
        fake = make_fake()
        before = stored(fake)
        r = fake.post("/SendMMS", data={**LEGACY, "url": origin.url("/mms.zip")})
        refused_legacy(fake, before, r, 413, r"inflates more than 200 times")
    finally:
        origin.stop()


def test_legacy_refuses_a_form_with_too_many_parts(shared: Fake) -> None:
    before = stored(shared)
    fields = [(f"f{i}", "x") for i in range(200)]
    r = shared.post("/SendMMS", data=LEGACY, files=[*[(k, (None, v)) for k, v in fields],
                                                     ("mms.zip", ("mms.zip", zipped({})))])
    refused_legacy(shared, before, r, 400,
                   r"^Bad request: the multipart form: the body has more than 100 MIME parts")


HOSTILE_NAMES = {
    "../../etc/passwd": b"1", "/abs/path/x.png": PNG_1PX, "C:\\windows\\x.png": PNG_1PX,
    "dir/X.PNG": PNG_1PX, "evil\u202egnp.exe": b"2", "a" * 300 + ".txt": b"3",
    "\u0444\u043e\u0442\u043e.txt": b"4", "..": b"5", "<script>alert(1)</script>.txt": b"6",
}


def test_zip_entry_names_are_made_safe_and_unique(make_fake) -> None:
    fake = make_fake()
    r = legacy_upload(fake, zipped(HOSTILE_NAMES))
    assert r.status_code == 200, r.text
    message = fake.get("/_fakemms/api/messages/latest").json()
    names = [p["filename"] for p in message["parts"] if not p.get("generated")]
    assert len(names) == len(HOSTILE_NAMES) and len({n.lower() for n in names}) == len(names)
    for name in names:
        assert name and "/" not in name and "\\" not in name and ":" not in name, name
        assert not name.startswith(".") and "\u202e" not in name and len(name) <= 100, name
    assert names[:4] == ["passwd", "x.png", "x-2.png", "X-3.PNG"]
    assert "фото.txt" in names
    # the part download: a safe base name, ASCII filename plus RFC 5987 filename*
    index = names.index("фото.txt")
    got = fake.get(f"/_fakemms/api/messages/{message['id']}/parts/{index}")
    assert got.status_code == 200 and got.content == b"4"
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"_.txt\"; filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE.txt")
    first = fake.get(f"/_fakemms/api/messages/{message['id']}/parts/0")
    assert first.headers["Content-Disposition"] == 'attachment; filename="passwd"'
    # the UI: escaped, linked by index
    page = fake.get(f"/_fakemms/ui/messages/{message['id']}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert f"/_fakemms/ui/messages/{message['id']}/parts/{index}" in page
    ui_part = fake.get(f"/_fakemms/ui/messages/{message['id']}/parts/{index}?download=1")
    assert ui_part.headers["Content-Disposition"].startswith('attachment; filename="_.txt"')


def test_the_retrieved_mms_zip_has_safe_unique_names(make_fake) -> None:
    fake = make_fake({"accounts": [{**ACCOUNT, "mo": {"url": "http://127.0.0.1:9/mo",
                                                       "format": "legacy-get"}}],
                      "clock": "virtual"})
    cids = ["../../etc/passwd", "/etc/passwd", "C:\\boot.ini", "..\\..\\x", "PASSWD",
            "a\x00b", "x" * 500, "\u202etxt.exe"]
    mo = {"account": "acme", "source": "447700900123", "destination": "88600",
          "parts": [{"content_type": "text/plain", "content_id": c, "text": str(i)}
                    for i, c in enumerate(cids)]}
    r = fake.post("/_fakemms/api/mo", json=mo)
    assert r.status_code in (200, 201), r.text
    got = fake.get("/mms/v1/http/retrieve", params={"user": "acme", "pass": "s3cret",
                                                    "id": r.json()["id"]})
    assert got.status_code == 200, got.text
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        names = zf.namelist()
    assert len(names) == len({n.lower() for n in names}) >= len(cids)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,110}", name), name


def test_mm7_content_location_tricks_stay_out_of_download_names(shared: Fake) -> None:
    tricks = ["../../etc/passwd", "C:\\Windows\\win.ini", "/abs/\u202eevil.png", "..\\..\\..",
              "x" * 5000 + ".txt"]
    parts = [({"Content-Type": "text/plain", "Content-ID": f"<t{i}>", "Content-Location": name},
              b"x") for i, name in enumerate(tricks)]
    r = mm7_post(shared, parts)
    assert r.status_code == 200, r.text
    message = shared.get("/_fakemms/api/messages/latest").json()
    dispositions = {}
    for index, part in enumerate(message["parts"]):
        got = shared.get(f"/_fakemms/api/messages/{message['id']}/parts/{index}")
        assert got.status_code == 200
        dispositions[part["content_id"].strip("<>")] = got.headers["Content-Disposition"]
    assert dispositions["t0"] == 'attachment; filename="passwd"'
    assert dispositions["t1"] == 'attachment; filename="win.ini"'
    assert dispositions["t3"] == 'attachment; filename="t3"'  # nothing left: the Content-ID
    for value in dispositions.values():
        plain = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]{1,100})"(; filename\*=.*)?',
                             value)
        assert plain and "%2F" not in value and "%5C" not in value and "%E2%80%AE" not in value


# --- part downloads with CR/LF in a Content-Id ---------------------------------------------------
def test_part_download_headers_cannot_be_split(shared: Fake) -> None:
    # a folded Content-Id keeps its line break; it must not reach a response header as one
    part = ({"Content-Type": "text/plain", "Content-Id": "a.txt\r\n\tSet-Cookie: x=1"}, b"hi")
    r = shared.send(om_body(parts=[part]))
    assert r.status_code == 202, r.text
    got = shared.get(f"/_fakemms/api/messages/{r.json()['mtId']}/parts/0")
    assert got.status_code == 200 and got.content == b"hi"
    assert "Set-Cookie" not in got.headers and "\n" not in got.headers["Content-Id"]
    assert got.headers["Content-Id"].startswith("a.txt%0D%0A%09Set-Cookie")
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"a.txtSet-Cookie_x_1\"; filename*=UTF-8''a.txtSet-Cookie%3A%20x%3D1")


# --- remote content: a compression bomb ---------------------------------------------------------
def test_remote_content_compression_bomb_is_rejected(make_fake) -> None:
    bomb = gzip.compress(bytes(4 << 20))  # 4 MiB of zeros in about 4 KB
    origin = Receiver(lambda r: (200, bomb, {"Content-Type": "image/png",
                                             "Content-Encoding": "gzip"})).start()
    dlr = Receiver().start()
    try:
        fake = make_fake({**with_dlr(dlr.url("/dlr")), "clock": "virtual"})
        body = om_body(parts=[({"Content-Type": REMOTE, "Content-Id": "pic.png"},
                               origin.url("/pic.png").encode())])
        r = fake.send(body)
        # openmarket-mms-send.txt: remote content is fetched after the 202; a failed fetch
        # is a Rejected report (docs/remote-content.md), the bytes are never kept
        assert r.status_code == 202, r.text
        fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
        (report,) = dlr.wait_for(1)
        assert report.json["status"] == "Rejected"
        assert "compression bomb" in report.json["outcomeDescription"]
        message = fake.get(f"/_fakemms/api/messages/{r.json()['mtId']}").json()
        assert message["parts"][0]["size"] == 0
        still_serves(fake)
    finally:
        origin.stop()
        dlr.stop()


# --- JSON, YAML and HTTP headers on the control API and the server ------------------------------
@pytest.mark.parametrize("body,content_type", [
    (b'{"a":' * 300 + b"1" + b"}" * 300, "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
        for i in range(8)), "application/yaml"),  # a billion laughs
    (b"[" * 5000 + b"]" * 5000, "application/yaml"),
])
def test_control_api_refuses_deep_or_exploding_bodies(shared: Fake, body: Any,
                                                      content_type: str) -> None:
    data = body.encode() if isinstance(body, str) else body
    r = shared.http.put(shared.url + "/_fakemms/api/scenarios", data=data, timeout=10,
                        headers={"Content-Type": content_type})
    assert r.status_code == 400, r.text
    assert re.search(r"nested more than 64 levels deep|more than 100000 values", r.text)
    assert shared.get("/_fakemms/api/scenarios").status_code == 200


def test_control_api_refuses_a_huge_yaml_body_before_parsing_it(shared: Fake) -> None:
    """PyYAML is pure Python: 8 MiB of YAML would hold a worker thread for many seconds."""
    data = b"name: big\nrules:\n" + b"  - {name: r, match: {destination: '*'}}\n" * 200_000
    started = time.monotonic()
    r = shared.http.put(shared.url + "/_fakemms/api/scenarios", data=data, timeout=10,
                        headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400, r.text
    assert "over 1048576; send it as JSON" in r.text
    assert time.monotonic() - started < 2
    listed = shared.get("/_fakemms/api/scenarios").json()["scenarios"]
    assert "big" not in [s["name"] for s in listed]


def test_huge_http_header_counts_are_refused_by_the_server(shared: Fake) -> None:
    before = stored(shared)
    headers = {f"X-H{i}": "v" * 20 for i in range(5000)}
    r = shared.post("/mms/v2/send", data=om_body(), auth=AUTH, headers={
        "Content-Type": "multipart/mixed; boundary=mimeboundary", **headers})
    assert r.status_code == 431
    assert stored(shared) == before
    still_serves(shared)


def test_base64_part_is_decoded_once_not_amplified(shared: Fake) -> None:
    # a base64 part is a quarter larger than its bytes; no decoding step multiplies it
    data = bytes(range(256)) * 64
    part = ({"Content-Type": "application/octet-stream", "Content-Id": "b.bin",
             "Content-Transfer-Encoding": "base64"}, base64.encodebytes(data))
    r = shared.send(om_body(parts=[part]))
    assert r.status_code == 202, r.text
    got = shared.get(f"/_fakemms/api/messages/{r.json()['mtId']}/parts/0")
    assert got.content == data
