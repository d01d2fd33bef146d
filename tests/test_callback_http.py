"""The callback transport (``fakemms/callback_http.py``): it builds the request requests built
(the dispatcher sent callbacks with requests until it moved to urllib3), the request target
(path, query, the legacy GET's params) and the headers in their order, byte for byte against
``requests.Session.prepare_request``; a lane keeps its connections; answers are read decoded
and bounded."""

from __future__ import annotations

import gzip
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import urllib3
from callback_wire import WHEN
from hypothesis import example, given, settings
from hypothesis import strategies as st
from urllib3.exceptions import LocationParseError, LocationValueError

from fakemms.app import create_app
from fakemms.callback_http import (
    ANSWER_LIMIT,
    AnswerTimeout,
    _target,
    read_answer,
    request_headers,
    request_target,
)
from fakemms.models import Callback, Message
from fakemms.protocols.legacy.encode import mo_query, report_query

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
URL_CHARS = st.sampled_from(list("aZ09-._~%2F7e41zz /?#&=+:@!$'()*,;[]é☃\\\"<>^`{|}"))


def by_requests(method: str, url: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, params: list | None = None,
                auth: tuple[str, str] | None = None) -> tuple[str, list[tuple[str, str]]]:
    session = requests.Session()
    session.trust_env = False
    prepared = session.prepare_request(requests.Request(
        method, url, data=body, headers={"User-Agent": "OpenMarket", **(headers or {})},
        params=params or {}, auth=auth))
    return prepared.path_url, list(prepared.headers.items())


def by_us(method: str, url: str, *, body: bytes | None = None,
          headers: dict[str, str] | None = None, params: list | None = None,
          auth: tuple[str, str] | None = None) -> tuple[str, list[tuple[str, str]]]:
    target = _target(url)
    return request_target(target, params), list(request_headers(
        "OpenMarket", headers or {}, method, body, auth or target.url_auth).items())


def test_legacy_queries_as_requests_encoded_them() -> None:
    reports = report_query(message_id="1", destination="+44 7700 900123", source="88 600",
                           date=0.0, status="Retrieved", request_id="r/1&2",
                           user_agent="Nokia N95/1.0 (x&y=z)")
    mos = mo_query(message_id="2", source="447700900123", destinations=["88600", "8 8"],
                   date=0.0, ccs=["a@b.c"], subject="Grüße ~ 100% + mehr/weniger?#",
                   expiry=86400.0)
    for url in ("http://h/dlr", "http://h/dlr?key=k1&x=a%2Fb", "http://h", "http://h/?"):
        for params in (reports, mos):
            assert by_us("GET", url, params=params) == by_requests("GET", url, params=params)


@settings(max_examples=300, deadline=None)
@given(params=st.lists(st.tuples(TEXT, TEXT), max_size=5))
@example(params=[("subject", "a b+c&d=e%f/g?h#i~j"), ("", ""), ("ü", "☃")])
def test_any_params_encode_as_requests_encoded_them(params: list[tuple[str, str]]) -> None:
    url = "http://127.0.0.1:8080/mo/legacy?app=1"
    assert by_us("GET", url, params=params) == by_requests("GET", url, params=params)


@settings(max_examples=300, deadline=None)
@given(path=st.lists(URL_CHARS, max_size=16).map("".join))
@example(path="/a%7e%41b%2f?q=%7E%zz")
@example(path="/a%7e?x=%41%20")
def test_any_url_gives_the_target_requests_gave(path: str) -> None:
    url = "http://127.0.0.1:8080/" + path
    try:
        theirs = by_requests("POST", url, body=b"x")
    except (requests.exceptions.InvalidURL, LocationParseError):
        try:
            by_us("POST", url, body=b"x")
        except (LocationParseError, LocationValueError):
            return
        raise AssertionError(f"requests refused {url!r}, we did not") from None
    assert by_us("POST", url, body=b"x") == theirs


def test_headers_in_requests_order() -> None:
    url = "http://127.0.0.1:8080/dlr"
    cases = [
        dict(method="POST", body=b'{"a": 1}', headers={"Content-Type": "application/json",
                                                     "X-Request-Id": "015-1"}),
        dict(method="POST", body=b"<x/>", headers={"SOAPAction": '""'}, auth=("mm7", "pä:ss")),
        dict(method="POST", body=None, headers={}),  # Content-Length: 0
        dict(method="GET", body=None, headers={}, auth=("u", "")),
        dict(method="GET", body=b"x", headers={}),
        # a callback's header named like a session one, in another case: its place, our value
        dict(method="POST", body=b"x", headers={"accept": "text/xml", "USER-AGENT": "app",
                                                "Content-Length": "1"}),
        dict(method="POST", body=None, headers={"content-length": "0",
                                                "Authorization": "Bearer t"}, auth=("a", "b")),
    ]
    for case in cases:
        assert by_us(url=url, **case) == by_requests(url=url, **case), case


def test_auth_written_in_the_url() -> None:
    for url in ("http://app:s%40cret@127.0.0.1:8080/dlr", "http://app:@127.0.0.1/dlr",
                "http://app@127.0.0.1/dlr", "http://:@127.0.0.1/dlr",
                "http://:pw@127.0.0.1/dlr"):
        assert by_us("POST", url, body=b"x") == by_requests("POST", url, body=b"x"), url
    # the callback's own auth wins over the URL's
    url = "http://app:pw@127.0.0.1/dlr"
    assert by_us("POST", url, body=b"x", auth=("cfg", "x")) == \
        by_requests("POST", url, body=b"x", auth=("cfg", "x"))


def test_a_lane_keeps_its_connections_alive() -> None:
    """Callbacks to one destination reuse the lane's connections: at most ``workers`` of
    them (``callbacks.workers``), however many callbacks."""
    peers: set[tuple[str, int]] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            peers.add(self.client_address)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = create_app({"accounts": [{"username": "acme", "password": "s3cret"}], "seed": 1,
                      "clock": "virtual", "callbacks": {"workers": 2}})
    backend = app.extensions["fakemms"]
    try:
        backend.store.add_message(Message(id="m", direction="mt", interface="openmarket",
                                          account="acme", source="1", destinations=["2"],
                                          created_at=WHEN))
        url = f"http://127.0.0.1:{server.server_address[1]}/dlr"
        made = [Callback(id=f"cb-{i}", kind="report", message_id="m", account="acme", url=url,
                         method="POST", headers={}, body=b"{}", protocol="http",
                         created_at=WHEN) for i in range(40)]
        for callback in made:
            backend.store.add_callback(callback)
            backend.dispatcher.submit(callback)
        assert backend.dispatcher.wait_idle(30)
        assert [c.state for c in made] == ["delivered"] * len(made)
        assert 1 <= len(peers) <= 2, peers
    finally:
        backend.close()
        server.shutdown()
        server.server_close()


def test_an_answer_is_read_decoded_and_up_to_the_limit() -> None:
    """The answer is judged as sent before its Content-Encoding (requests asked for gzip
    and deflate, so a receiver may use them), and at most ``ANSWER_LIMIT`` bytes of it."""
    def answer(body: bytes, **headers: str) -> urllib3.HTTPResponse:
        return urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers, status=200,
                                    preload_content=False)

    soon = time.monotonic() + 10
    xml = b"<DeliverRsp>" + b"x" * 100_000 + b"</DeliverRsp>"
    assert read_answer(answer(gzip.compress(xml), **{"Content-Encoding": "gzip"}), soon) == xml
    endless = b"y" * (ANSWER_LIMIT + 300_000)
    assert read_answer(answer(endless), soon) == endless[:ANSWER_LIMIT]
    with pytest.raises(AnswerTimeout):
        read_answer(answer(b"late"), time.monotonic() - 1)
