"""RemoteFetcher against real HTTP servers on 127.0.0.1 (pytest-httpserver), virtual clock."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fakemms.clock import Clock
from fakemms.remote_content import FetchResult, RemoteFetcher, parse_cache_control

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """One threaded server on 127.0.0.1 for the module (stopping one takes ~0.5 s)."""
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


@pytest.fixture
def origin(server: HTTPServer) -> Iterator[HTTPServer]:
    """The content server, cleared; server-side errors fail the test."""
    server.clear()
    yield server
    server.check_assertions()


@pytest.fixture
def clock() -> Clock:
    return Clock("virtual", start=1_700_000_000.0)


@pytest.fixture
def fetcher(clock: Clock) -> RemoteFetcher:
    return RemoteFetcher(clock, timeout=(1.0, 1.0), max_bytes=64 * 1024)


def serve(origin: HTTPServer, path: str, data: bytes = PNG, **headers: str) -> str:
    origin.expect_request(path).respond_with_data(
        data, content_type=headers.pop("content_type", "image/png"),
        headers={k.replace("_", "-"): v for k, v in headers.items()})
    return origin.url_for(path)


def hits(origin: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in origin.log if request.path == path)


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


# --- content --------------------------------------------------------------------------------
def test_content_is_fetched_with_its_type_and_headers(origin: HTTPServer,
                                                      fetcher: RemoteFetcher) -> None:
    url = serve(origin, "/img.png", Cache_Control="max-age=60", X_Extra="1")
    result = fetcher.fetch(url)
    assert result.ok and result.error is None
    assert (result.status, result.content_type, result.data) == (200, "image/png", PNG)
    assert result.headers["X-Extra"] == "1" and not result.cached
    assert result.url == url and result.elapsed >= 0
    assert result.expires_at == result.fetched_at + 60
    part = result.as_part("img.png")
    assert (part.content_type, part.data, part.content_id, part.remote_url) == (
        "image/png", PNG, "img.png", url)
    request = origin.log[0][0]
    assert request.headers["User-Agent"].startswith("fakemms")
    record = result.to_dict()
    assert record["size"] == len(PNG) and record["cached"] is False and record["error"] is None


# --- caching --------------------------------------------------------------------------------
def test_max_age_copy_is_reused_until_stale(origin: HTTPServer, fetcher: RemoteFetcher,
                                            clock: Clock) -> None:
    url = serve(origin, "/a.png", Cache_Control="public, max-age=60")
    assert not fetcher.fetch(url).cached
    clock.advance(59)
    again = fetcher.fetch(url)
    assert again.cached and again.data == PNG and again.status == 200
    assert hits(origin, "/a.png") == 1
    clock.advance(2)
    assert not fetcher.fetch(url).cached
    assert hits(origin, "/a.png") == 2


def test_s_maxage_wins_and_age_counts(origin: HTTPServer, fetcher: RemoteFetcher,
                                      clock: Clock) -> None:
    url = serve(origin, "/s.png", Cache_Control="max-age=1000, s-maxage=100", Age="90")
    fetcher.fetch(url)
    clock.advance(9)
    assert fetcher.fetch(url).cached
    clock.advance(2)
    assert not fetcher.fetch(url).cached


@pytest.mark.parametrize("cache_control", ["no-store", "no-cache", "max-age=0",
                                           "max-age=ten", "private, no-store"])
def test_uncacheable_answers_are_fetched_every_time(origin: HTTPServer, fetcher: RemoteFetcher,
                                                    cache_control: str) -> None:
    url = serve(origin, "/n.png", Cache_Control=cache_control)
    first, second = fetcher.fetch(url), fetcher.fetch(url)
    assert first.ok and second.ok and not second.cached
    assert first.expires_at is None
    assert hits(origin, "/n.png") == 2


def test_private_is_ignored(origin: HTTPServer, fetcher: RemoteFetcher) -> None:
    url = serve(origin, "/p.png", Cache_Control="private, max-age=60")
    fetcher.fetch(url)
    assert fetcher.fetch(url).cached


def test_expires_in_the_past_refetches(origin: HTTPServer, fetcher: RemoteFetcher) -> None:
    url = serve(origin, "/old.png", Expires="Thu, 01 Jan 1970 00:00:00 GMT")
    fetcher.fetch(url)
    assert not fetcher.fetch(url).cached
    assert hits(origin, "/old.png") == 2
    url = serve(origin, "/zero.png", Expires="0")  # invalid: already expired
    fetcher.fetch(url)
    assert not fetcher.fetch(url).cached


def test_expires_counts_from_the_date_header(origin: HTTPServer, fetcher: RemoteFetcher,
                                             clock: Clock) -> None:
    # The server's Date is wall time and the virtual clock is elsewhere: Expires - Date counts
    wall = datetime.now(UTC)
    url = serve(origin, "/e.png", Expires=http_date(wall + timedelta(seconds=120)))
    fetcher.fetch(url)
    clock.advance(100)
    assert fetcher.fetch(url).cached
    clock.advance(30)
    assert not fetcher.fetch(url).cached


def test_default_freshness_without_cache_headers(origin: HTTPServer, clock: Clock) -> None:
    url = serve(origin, "/d.png")
    fetcher = RemoteFetcher(clock, default_ttl=300)
    fetcher.fetch(url)
    clock.advance(299)
    assert fetcher.fetch(url).cached
    clock.advance(2)
    assert not fetcher.fetch(url).cached
    never = RemoteFetcher(clock, default_ttl=0)
    never.fetch(url)
    assert not never.fetch(url).cached


def test_failures_are_not_cached_and_drop_the_stale_copy(origin: HTTPServer,
                                                         fetcher: RemoteFetcher,
                                                         clock: Clock) -> None:
    url = origin.url_for("/flaky.png")
    origin.expect_oneshot_request("/flaky.png").respond_with_data(
        PNG, content_type="image/png", headers={"Cache-Control": "max-age=10"})
    origin.expect_oneshot_request("/flaky.png").respond_with_data("gone", status=410)
    origin.expect_oneshot_request("/flaky.png").respond_with_data(PNG, content_type="image/png")
    assert fetcher.fetch(url).ok
    clock.advance(11)
    assert fetcher.fetch(url).error is not None
    assert fetcher.cached(url) is None
    assert fetcher.fetch(url).ok and not fetcher.records()[-1].cached


def test_concurrent_fetches_share_one_origin_request(origin: HTTPServer,
                                                     fetcher: RemoteFetcher) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(2)
        return Response(PNG, content_type="image/png", headers={"Cache-Control": "max-age=60"})

    origin.expect_request("/busy.png").respond_with_handler(slow)
    url = origin.url_for("/busy.png")
    results: list[FetchResult] = []
    threads = [threading.Thread(target=lambda: results.append(fetcher.fetch(url)))
               for _ in range(5)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert len(results) == 5 and all(r.data == PNG for r in results)
    assert sorted(r.cached for r in results) == [False, True, True, True, True]
    assert hits(origin, "/busy.png") == 1


def test_every_fetch_is_recorded_and_reported(origin: HTTPServer, clock: Clock) -> None:
    seen: list[FetchResult] = []
    fetcher = RemoteFetcher(clock, on_fetch=seen.append)
    url = serve(origin, "/r.png", Cache_Control="max-age=60")
    fetcher.fetch(url)
    fetcher.fetch(url)
    origin.expect_request("/missing.png").respond_with_data("no", status=404)
    fetcher.fetch(origin.url_for("/missing.png"))
    assert [(r.cached, r.status, r.error is None) for r in fetcher.records()] == [
        (False, 200, True), (True, 200, True), (False, 404, False)]
    assert seen == fetcher.records()
    fetcher.reset()
    assert fetcher.records() == [] and fetcher.cached(url) is None


# --- failures -------------------------------------------------------------------------------
def test_missing_content_type_is_refused(origin: HTTPServer, fetcher: RemoteFetcher) -> None:
    def untyped(request: Request) -> Response:
        response = Response(PNG)
        del response.headers["Content-Type"]
        return response

    origin.expect_request("/untyped").respond_with_handler(untyped)
    result = fetcher.fetch(origin.url_for("/untyped"))
    assert result.status == 200 and result.data == b"" and not result.ok
    assert "no Content-Type header" in (result.error or "")
    assert origin.url_for("/untyped") in (result.error or "")


@pytest.mark.parametrize(("status", "text"), [(404, "HTTP 404 Not Found"),
                                              (503, "HTTP 503 Service Unavailable")])
def test_non_2xx_is_refused(origin: HTTPServer, fetcher: RemoteFetcher, status: int,
                            text: str) -> None:
    origin.expect_request("/x.png").respond_with_data("nope", status=status,
                                                      content_type="text/plain")
    result = fetcher.fetch(origin.url_for("/x.png"))
    assert result.status == status and text in (result.error or "")


def test_empty_body_is_refused(origin: HTTPServer, fetcher: RemoteFetcher) -> None:
    result = fetcher.fetch(serve(origin, "/empty.png", b""))
    assert "empty" in (result.error or "")


def test_connection_refused(fetcher: RemoteFetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = fetcher.fetch(f"http://127.0.0.1:{port}/img.png")
    assert result.status is None and not result.cached
    assert result.error == (f"remote content http://127.0.0.1:{port}/img.png: "
                            f"connection refused by 127.0.0.1:{port}")


def test_read_timeout(origin: HTTPServer, clock: Clock) -> None:
    release = threading.Event()

    def stalled(request: Request) -> Response:
        release.wait(2)
        return Response(PNG, content_type="image/png")

    origin.expect_request("/slow.png").respond_with_handler(stalled)
    fetcher = RemoteFetcher(clock, timeout=(1.0, 0.2))
    try:
        result = fetcher.fetch(origin.url_for("/slow.png"))
    finally:
        release.set()
    assert "timed out reading from 127.0.0.1" in (result.error or "")
    assert 0.15 < result.elapsed < 1.5


def test_oversize_content_is_refused(origin: HTTPServer, clock: Clock) -> None:
    fetcher = RemoteFetcher(clock, max_bytes=1000)
    declared = fetcher.fetch(serve(origin, "/big.png", b"x" * 1001))
    assert "Content-Length 1001 is over the limit of 1000 bytes" in (declared.error or "")

    def streamed(request: Request) -> Response:  # no Content-Length: the cap while reading
        return Response((b"x" * 400 for _ in range(5)), content_type="image/png")

    origin.expect_request("/stream.png").respond_with_handler(streamed)
    result = fetcher.fetch(origin.url_for("/stream.png"))
    assert "larger than the limit of 1000 bytes" in (result.error or "")
    assert fetcher.fetch(serve(origin, "/fits.png", b"x" * 1000)).ok


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.png", "file:///etc/passwd",
                                 "gopher://x/y", "127.0.0.1/a.png"])
def test_non_http_schemes_are_refused(fetcher: RemoteFetcher, url: str) -> None:
    result = fetcher.fetch(url)
    assert "is not allowed (only http and https)" in (result.error or "")
    assert result.elapsed < 0.5


def test_host_allowlist(origin: HTTPServer, clock: Clock) -> None:
    url = serve(origin, "/h.png")
    port = origin.port
    assert RemoteFetcher(clock, allowed_hosts=["127.0.0.1"]).fetch(url).ok
    assert RemoteFetcher(clock, allowed_hosts=[f"127.0.0.1:{port}"]).fetch(url).ok
    refused = RemoteFetcher(clock, allowed_hosts=["cdn.example.com", "*.example.org",
                                                  "127.0.0.1:1"]).fetch(url)
    assert "the host '127.0.0.1' is not in the allowed hosts" in (refused.error or "")
    assert hits(origin, "/h.png") == 2


def test_redirects_are_followed_and_checked(origin: HTTPServer, clock: Clock) -> None:
    serve(origin, "/target.png")
    origin.expect_request("/hop").respond_with_data(
        "", status=302, headers={"Location": "/target.png"})
    origin.expect_request("/away").respond_with_data(
        "", status=302, headers={"Location": "http://elsewhere.invalid/x.png"})
    fetcher = RemoteFetcher(clock, allowed_hosts=["127.0.0.1"])
    result = fetcher.fetch(origin.url_for("/hop"))
    assert result.ok and result.data == PNG and result.url == origin.url_for("/hop")
    away = fetcher.fetch(origin.url_for("/away"))
    assert "'elsewhere.invalid' is not in the allowed hosts" in (away.error or "")


def test_credentials_are_not_shown_in_errors(fetcher: RemoteFetcher) -> None:
    result = fetcher.fetch("ftp://user:secret@127.0.0.1/a.png")
    assert "secret" not in (result.error or "") and "ftp://127.0.0.1/a.png" in (result.error
                                                                                  or "")


def test_parse_cache_control() -> None:
    assert parse_cache_control('Max-Age=60, no-cache, private="x", , s-maxage="5"') == {
        "max-age": "60", "no-cache": None, "private": "x", "s-maxage": "5"}


def test_only_http_schemes_can_be_configured(clock: Clock) -> None:
    with pytest.raises(ValueError):
        RemoteFetcher(clock, schemes=("http", "ftp"))
