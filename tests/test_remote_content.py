"""Remote content (application/vnd.openmarket.remoteContent) fetched by the fake, end to end:
real content servers and receivers on 127.0.0.1, the virtual clock for cache expiry."""

from __future__ import annotations

import time

import pytest
from conftest import PNG_1PX, om_body, with_dlr
from receiver import Receiver

REMOTE = "application/vnd.openmarket.remoteContent"


def remote_body(url: str) -> bytes:
    return om_body(parts=[({"Content-Type": REMOTE, "Content-Id": "pic.png"}, url.encode())])


@pytest.fixture
def content():
    """A content server on 127.0.0.1 answering each path as ``.replies[path]`` says:
    (status, body, headers); a header set to None is left out; X-Sleep delays the answer."""
    replies: dict[str, tuple[int, bytes, dict]] = {}

    def answer(r):
        status, body, headers = replies.get(r.path, (404, b"missing", {}))
        time.sleep(float(headers.get("X-Sleep", 0)))
        return status, body, {k: v for k, v in headers.items() if k != "X-Sleep"}

    server = Receiver(answer).start()
    server.replies = replies
    yield server
    server.stop()


def fake_with(make_fake, receiver, **remote):
    cfg = with_dlr(receiver.url("/dlr"))
    cfg.update(clock="virtual", remote_content={"read_timeout": 0.5, **remote})
    return make_fake(cfg)


def send_and_settle(fake, url):
    r = fake.send(remote_body(url))
    assert r.status_code == 202, r.text
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    return str(r.json()["mtId"])


def test_fetched_bytes_are_stored_as_a_part(make_fake, receiver, content):
    content.replies["/pic.png"] = (200, PNG_1PX, {"Content-Type": "image/png"})
    fake = fake_with(make_fake, receiver)
    mt = send_and_settle(fake, content.url("/pic.png"))
    part = fake.get(f"/_fakemms/api/messages/{mt}/parts/0")
    assert part.content == PNG_1PX and part.headers["Content-Type"] == "image/png"
    msg = fake.get(f"/_fakemms/api/messages/{mt}").json()
    assert msg["parts"][0]["remote_url"] == content.url("/pic.png")
    assert msg["extra"]["fetches"][0]["status"] == 200
    assert [r.json["status"] for r in receiver.received] == ["Retrieved"]
    fetches = fake.get("/_fakemms/api/fetches").json()["fetches"]
    assert fetches[0]["url"] == content.url("/pic.png") and fetches[0]["cached"] is False


@pytest.mark.parametrize("headers,advance,refetched", [
    ({"Cache-Control": "max-age=600"}, 300, False),
    ({"Cache-Control": "max-age=600"}, 601, True),
    ({"Cache-Control": "no-store"}, 0, True),
    ({"Cache-Control": "no-cache"}, 0, True),
    ({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0, True),
])
def test_cache_control_and_expires_decide_reuse(make_fake, receiver, content, headers,
                                                advance, refetched):
    content.replies["/c.png"] = (200, PNG_1PX, {"Content-Type": "image/png", **headers})
    fake = fake_with(make_fake, receiver)
    send_and_settle(fake, content.url("/c.png"))
    fake.post("/_fakemms/api/clock/advance", json={"seconds": advance})
    send_and_settle(fake, content.url("/c.png"))
    origin_hits = [r for r in content.received if r.path == "/c.png"]
    assert len(origin_hits) == (2 if refetched else 1)
    fetches = fake.get("/_fakemms/api/fetches").json()["fetches"]
    assert fetches[0]["cached"] is (not refetched)


@pytest.mark.parametrize("setup,expected", [
    ("refused", "connection refused"),
    ("timeout", "timed out"),
    ("404", "HTTP 404"),
    ("no-content-type", "Content-Type"),
    ("too-big", "bytes"),
])
def test_every_failure_becomes_a_rejected_report(make_fake, receiver, content, setup,
                                                 expected):
    url = content.url("/x")
    if setup == "refused":
        url = "http://127.0.0.1:9/x"
    elif setup == "timeout":
        content.replies["/x"] = (200, PNG_1PX, {"Content-Type": "image/png", "X-Sleep": "1"})
    elif setup == "404":
        content.replies["/x"] = (404, b"gone", {"Content-Type": "text/plain"})
    elif setup == "no-content-type":
        content.replies["/x"] = (200, PNG_1PX, {"Content-Type": None})
    elif setup == "too-big":
        content.replies["/x"] = (200, b"x" * 5000, {"Content-Type": "image/png"})
    fake = fake_with(make_fake, receiver, max_bytes=1000)
    started = time.monotonic()
    r = fake.send(remote_body(url))
    assert r.status_code == 202 and time.monotonic() - started < 0.5  # fetched after the 202
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    (report,) = [x.json for x in receiver.wait_for(1)]
    assert report["status"] == "Rejected"
    assert expected.lower() in report["outcomeDescription"].lower()
    assert report["outcomeDescription"].startswith("Remote content could not be fetched")


def test_sync_mode_fetches_before_the_202(make_fake, receiver, content):
    content.replies["/s.png"] = (200, PNG_1PX, {"Content-Type": "image/png"})
    fake = fake_with(make_fake, receiver, mode="sync")
    r = fake.send(remote_body(content.url("/s.png")))
    assert r.status_code == 202
    # no advance, no wait: the content is already there
    assert fake.get(f"/_fakemms/api/messages/{r.json()['mtId']}/parts/0").content == PNG_1PX


def test_host_allowlist_refuses_other_hosts(make_fake, receiver, content):
    content.replies["/a.png"] = (200, PNG_1PX, {"Content-Type": "image/png"})
    fake = fake_with(make_fake, receiver, allowed_hosts=["cdn.example.com"])
    send_and_settle(fake, content.url("/a.png"))
    (report,) = [x.json for x in receiver.wait_for(1)]
    assert report["status"] == "Rejected" and content.received == []
