"""POST /mms/v2/send end to end over real HTTP (openmarket-mms-send.txt)."""

from __future__ import annotations

import re

from conftest import PNG_1PX, om_body

REQUEST_ID = re.compile(r"^015-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def test_accepted_send_answers_202_with_15_digit_mt_id(fake):
    r = fake.send(om_body())
    assert r.status_code == 202, r.text
    assert r.reason == "Accepted"
    assert r.headers["Content-Type"].startswith("application/json")
    assert REQUEST_ID.match(r.headers["X-Request-Id"])
    mt_id = r.json()["mtId"]
    assert isinstance(mt_id, int) and len(str(mt_id)) == 15
    stored = fake.get(f"/_fakemms/api/messages/{mt_id}").json()
    assert stored["destinations"] == ["12515550130"]
    assert stored["request_id"] == r.headers["X-Request-Id"]
    assert fake.get(f"/_fakemms/api/messages/{mt_id}/parts/0").content == b"This is my text."


def test_base64_and_binary_parts_round_trip(fake):
    binary = bytes(range(256)) * 3 + b"\r\n--notaboundary\r\n"
    body = om_body(parts=[
        ({"Content-Type": "image/png", "Content-Id": "a.png",
          "Content-Transfer-Encoding": "BASE64"},
         __import__("base64").encodebytes(PNG_1PX)),
        ({"Content-Type": "application/octet-stream", "Content-Id": "b.bin"}, binary),
    ])
    r = fake.send(body)
    assert r.status_code == 202, r.text
    mt = r.json()["mtId"]
    p0 = fake.get(f"/_fakemms/api/messages/{mt}/parts/0")
    assert p0.content == PNG_1PX and p0.headers["Content-Type"] == "image/png"
    assert fake.get(f"/_fakemms/api/messages/{mt}/parts/1").content == binary
