"""Fetching ``application/vnd.openmarket.remoteContent`` links, with the provider's caching.

openmarket-mms-send.txt ("Content Caching", "Headers to include with the externally hosted
content"): the content's response must carry a ``Content-Type``, and the provider heeds
``Cache-Control`` and ``Expires``. ``RemoteFetcher.fetch(url)`` never raises for a failed fetch:
it returns a ``FetchResult`` whose ``error`` is a clear sentence, ready to become the Rejected
report's ``outcomeDescription``. Freshness is judged on the injected ``Clock`` (so a virtual
clock ages the cache); wall-clock intervals (timeouts, ``elapsed``) use ``clock.monotonic()``.

Usage::

    fetcher = RemoteFetcher(clock, timeout=(5, 10), max_bytes=5 << 20,
                            allowed_hosts=["cdn.example.com", "*.example.org", "127.0.0.1"],
                            on_fetch=store.record_fetch)
    result = fetcher.fetch(part.remote_url)
    if result.error:
        ...  # Rejected, outcomeDescription=result.error
    else:
        part = result.as_part(part.content_id)

Choices where the document is silent:
- Freshness lifetime, as a shared cache would (RFC 9111): ``s-maxage``, else ``max-age``, else
  ``Expires`` minus the response's ``Date`` (minus the clock's now when there is no Date), less
  any ``Age``. An invalid max-age or Expires means already stale. ``no-store``: never stored.
  ``no-cache`` (and ``Pragma: no-cache`` without Cache-Control): stored copies are not reused,
  i.e. every fetch goes to the origin (no conditional If-None-Match/If-Modified-Since request).
  ``private`` is ignored: the provider fetches on the customer's behalf.
- Neither header: fresh for ``default_ttl`` seconds (300 by default; 0 disables it).
- Only 2xx answers with a body and a Content-Type are content; failures are never cached, and
  a failed refetch drops the stale copy. Redirects (at most ``max_redirects``) are followed by
  hand so each hop is checked against the schemes and the host allowlist.
- Concurrent fetches of one URL share one origin request; each gets its own result.
- The environment (proxies, .netrc) is ignored unless ``trust_env=True``.
- A ``Content-Encoding`` (gzip, deflate...) is decoded in bounded chunks and counts against
  ``max_bytes`` decoded; an answer decoding to more than ``max_ratio`` times the bytes that
  came over the wire (past 1 MiB) is refused as a compression bomb.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions

from fakemms.clock import Clock
from fakemms.models import Part, iso
from fakemms.remote_content.freshness import lifetime, parse_cache_control  # noqa: F401

DEFAULT_TIMEOUT = (5.0, 10.0)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TTL = 300.0
DEFAULT_MAX_RATIO = 200.0  # decoded / transferred bytes of a Content-Encoding (gzip, br...)
RATIO_FLOOR = 1024 * 1024  # the ratio is judged once the content has decoded past this
USER_AGENT = "fakemms-remote-content/0.1"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchResult:
    """One fetch: from the origin (``cached=False``) or the cache (``cached=True``).

    ``status``/``headers`` are the origin's answer (the one the cached copy came from);
    ``status`` is None when no answer came. ``elapsed`` is wall seconds spent by this call.
    ``fetched_at`` is the clock time of the origin answer; ``expires_at`` when the stored
    copy goes stale (None when it was not stored).
    """

    url: str
    status: int | None
    content_type: str | None
    data: bytes
    headers: dict[str, str]
    cached: bool
    error: str | None
    elapsed: float
    fetched_at: float
    expires_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_part(self, content_id: str | None = None) -> Part:
        """The fetched content as a message part that remembers its link."""
        return Part(content_type=self.content_type or "application/octet-stream",
                    data=self.data, content_id=content_id, remote_url=self.url)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly record (the bytes as size and SHA-256, not inline)."""
        return {
            "url": self.url, "status": self.status, "content_type": self.content_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest() if self.data else None,
            "headers": self.headers, "cached": self.cached, "error": self.error,
            "elapsed": round(self.elapsed, 6), "fetched_at": iso(self.fetched_at),
            "expires_at": iso(self.expires_at),
        }


class _Refused(Exception):
    """A fetch failure, with what was learnt of the answer before it."""

    def __init__(self, reason: str, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers or {}


@dataclass
class _Answer:
    url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""


class RemoteFetcher:
    """Fetches remote content over http(s) with size, time and host limits, and caches it by
    URL as ``Cache-Control``/``Expires`` allow. Thread-safe.

    ``timeout``: (connect, read) seconds per socket operation; ``total_timeout``: seconds for
    the whole fetch (None: no limit). ``allowed_hosts``: None allows any host; otherwise
    entries ``host``, ``host:port`` or ``*.domain``. ``on_fetch`` is called with every result
    (origin, cached or failed) after it is added to ``records()``.
    """

    def __init__(self, clock: Clock, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 max_bytes: int = DEFAULT_MAX_BYTES, allowed_hosts: Iterable[str] | None = None,
                 schemes: Iterable[str] = ("http", "https"), default_ttl: float = DEFAULT_TTL,
                 total_timeout: float | None = 30.0, max_redirects: int = 5,
                 max_cache_entries: int = 256, max_records: int = 1000,
                 user_agent: str = USER_AGENT, trust_env: bool = False,
                 max_ratio: float = DEFAULT_MAX_RATIO,
                 on_fetch: Callable[[FetchResult], None] | None = None) -> None:
        self.schemes = tuple(s.lower() for s in schemes)
        unknown = set(self.schemes) - {"http", "https"}
        if unknown:
            raise ValueError(f"only http and https can be fetched, not {sorted(unknown)}")
        self._clock = clock
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self.allowed_hosts = (None if allowed_hosts is None
                              else tuple(h.strip().lower() for h in allowed_hosts))
        self.default_ttl = default_ttl
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.max_cache_entries = max_cache_entries
        self.user_agent = user_agent
        self.trust_env = trust_env
        self.on_fetch = on_fetch
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, FetchResult] = OrderedDict()
        self._inflight: dict[str, threading.Event] = {}
        self._records: deque[FetchResult] = deque(maxlen=max_records)

    # --- public ---------------------------------------------------------------------------
    def fetch(self, url: str) -> FetchResult:
        """The content at ``url``: the cached copy while fresh, else from the origin."""
        started = self._clock.monotonic()
        url = url.strip()
        owner = False
        while True:
            with self._lock:
                hit = self._fresh_copy(url)
                waiter = None if hit is not None else self._inflight.get(url)
                if hit is None and waiter is None:
                    self._inflight[url] = threading.Event()
                    owner = True
            if hit is not None:
                return self._finish(replace(hit, cached=True,
                                            elapsed=self._clock.monotonic() - started))
            if owner:
                break
            # another thread is fetching this URL: wait for it, then look at the cache again
            if waiter is not None and not waiter.wait(self.total_timeout):
                break
        try:
            result = self._from_origin(url, started)
            with self._lock:
                self._store(result)
        finally:
            if owner:
                with self._lock:
                    self._inflight.pop(url).set()
        return self._finish(result)

    def records(self) -> list[FetchResult]:
        """Every fetch so far, oldest first (at most ``max_records``)."""
        with self._lock:
            return list(self._records)

    def cached(self, url: str) -> FetchResult | None:
        """The stored copy of ``url`` if it is still fresh."""
        with self._lock:
            return self._fresh_copy(url.strip())

    def reset(self) -> None:
        """Forget the cache and the records."""
        with self._lock:
            self._cache.clear()
            self._records.clear()

    # --- cache ----------------------------------------------------------------------------
    def _fresh_copy(self, url: str) -> FetchResult | None:
        entry = self._cache.get(url)
        if entry is None:
            return None
        if entry.expires_at is None or self._clock.now() >= entry.expires_at:
            del self._cache[url]
            return None
        self._cache.move_to_end(url)
        return entry

    def _store(self, result: FetchResult) -> None:
        self._cache.pop(result.url, None)  # a failed or uncacheable refetch drops the old copy
        if result.error is None and result.expires_at is not None:
            self._cache[result.url] = result
            while len(self._cache) > self.max_cache_entries:
                self._cache.popitem(last=False)

    def _finish(self, result: FetchResult) -> FetchResult:
        with self._lock:
            self._records.append(result)
        if self.on_fetch is not None:
            self.on_fetch(result)
        return result

    def freshness(self, headers: dict[str, str], fetched_at: float) -> float | None:
        """Seconds the answer with these headers stays fresh (freshness.lifetime)."""
        return lifetime(headers, fetched_at, self.default_ttl)

    # --- origin ---------------------------------------------------------------------------
    def _from_origin(self, url: str, started: float) -> FetchResult:
        fetched_at = self._clock.now()
        try:
            answer = self._download(url, started)
        except _Refused as exc:
            return FetchResult(url=url, status=exc.status, content_type=None, data=b"",
                               headers=exc.headers, cached=False,
                               error=f"remote content {_redact(url)}: {exc.reason}",
                               elapsed=self._clock.monotonic() - started, fetched_at=fetched_at)
        lifetime = self.freshness(answer.headers, fetched_at)
        return FetchResult(
            url=url, status=answer.status, content_type=_header(answer.headers, "content-type"),
            data=answer.data, headers=answer.headers, cached=False, error=None,
            elapsed=self._clock.monotonic() - started, fetched_at=fetched_at,
            expires_at=None if lifetime is None else fetched_at + lifetime,
        )

    def _download(self, url: str, started: float) -> _Answer:
        session = requests.Session()
        session.trust_env = self.trust_env
        current = url
        try:
            for _ in range(self.max_redirects + 1):
                self._check_url(current)
                try:
                    answer = self._get(session, current, started)
                except _Refused:
                    raise
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                        ValueError) as exc:
                    raise _Refused(self._describe(exc, current)) from None
                if isinstance(answer, str):  # a redirect: the next hop is checked again
                    current = answer
                    continue
                return answer
            raise _Refused(f"more than {self.max_redirects} redirects")
        finally:
            session.close()

    def _get(self, session: requests.Session, url: str, started: float) -> _Answer | str:
        headers = {"User-Agent": self.user_agent, "Accept": "*/*"}
        with session.get(url, headers=headers, timeout=self.timeout, stream=True,
                         allow_redirects=False) as resp:
            got = dict(resp.headers)
            status = resp.status_code
            if resp.is_redirect:
                return urljoin(url, resp.headers["location"])
            if not 200 <= status < 300:
                raise _Refused(f"HTTP {status} {_phrase(status, resp.reason)}", status, got)
            if not (resp.headers.get("content-type") or "").strip():
                # openmarket-mms-send.txt: "must include the Content-Type field"
                raise _Refused("the response has no Content-Type header (the provider needs "
                               "one, e.g. Content-Type: image/png)", status, got)
            declared = (resp.headers.get("content-length") or "").strip()
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise _Refused(f"Content-Length {declared} is over the limit of "
                               f"{self.max_bytes} bytes", status, got)
            chunks: list[bytes] = []
            size = 0
            encoded = (resp.headers.get("content-encoding") or "").strip().lower()
            for chunk in resp.iter_content(_CHUNK):  # decoded in bounded chunks (urllib3 2)
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Refused(f"the content is larger than the limit of {self.max_bytes} "
                                   "bytes", status, got)
                wire = resp.raw.tell()  # bytes read from the connection, still encoded
                if encoded not in ("", "identity") and size > RATIO_FLOOR \
                        and size > self.max_ratio * max(wire, 1):
                    raise _Refused(f"the content decodes to more than {self.max_ratio:g} times "
                                   f"the {wire} bytes sent (Content-Encoding {encoded}): "
                                   "a compression bomb", status, got)
                elapsed = self._clock.monotonic() - started
                if self.total_timeout is not None and elapsed > self.total_timeout:
                    raise _Refused(f"the download did not finish within {self.total_timeout:g} "
                                   "s", status, got)
                chunks.append(chunk)
            if size == 0:
                raise _Refused("the response body is empty", status, got)
            return _Answer(url, status, got, b"".join(chunks))

    def _check_url(self, url: str) -> None:
        try:
            split = urlsplit(url)
            host, port = split.hostname, split.port
        except ValueError:
            raise _Refused("not a valid URL") from None
        scheme = split.scheme.lower()
        if scheme not in self.schemes:
            allowed = " and ".join(self.schemes)
            raise _Refused(f"the scheme {scheme or '(none)'!r} is not allowed (only {allowed})")
        if not host:
            raise _Refused("the URL has no host")
        if self.allowed_hosts is not None and not _host_allowed(
                host, port or (443 if scheme == "https" else 80), self.allowed_hosts):
            raise _Refused(f"the host {host!r} is not in the allowed hosts")

    def _describe(self, exc: BaseException, url: str) -> str:
        split = urlsplit(url)
        where = f"{split.hostname}:{split.port or (443 if split.scheme == 'https' else 80)}"
        chain = list(_causes(exc))
        connect, read = self.timeout
        # refused and DNS first: urllib3's NewConnectionError is also a ConnectTimeoutError
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return f"connection refused by {where}"
        if any(isinstance(e, socket.gaierror | urllib3.exceptions.NameResolutionError)
               for e in chain):
            return f"cannot resolve the host {split.hostname!r}"
        if any(isinstance(e, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError)
               for e in chain):
            return f"timed out connecting to {where} after {connect:g} s"
        if any(isinstance(e, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError
                          | TimeoutError) for e in chain):
            return f"timed out reading from {where} after {read:g} s"
        if any(isinstance(e, requests.exceptions.SSLError) for e in chain):
            return f"TLS failed with {where}: {exc}"
        if any(isinstance(e, requests.exceptions.ChunkedEncodingError
                          | requests.exceptions.ContentDecodingError
                          | urllib3.exceptions.ProtocolError) for e in chain):
            return "the connection broke while reading the content"
        if isinstance(exc, requests.exceptions.InvalidURL | ValueError):
            return f"not a valid URL ({exc})"
        return f"the fetch failed ({type(exc).__name__}: {exc})"


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _phrase(status: int, reason: str | None) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return reason or ""


def _host_allowed(host: str, port: int, allowed: tuple[str, ...]) -> bool:
    host = host.lower()
    for entry in allowed:
        name, want_port = _split_host_entry(entry)
        if want_port and want_port != str(port):
            continue
        if name.startswith("*.") and host.endswith(name[1:]):
            return True
        if host == name:
            return True
    return False


def _split_host_entry(entry: str) -> tuple[str, str]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` -> (host, port or "")."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, rest.removeprefix(":")
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, port
    return entry, ""


def _redact(url: str) -> str:
    """The URL without any user:password."""
    try:
        split = urlsplit(url)
        if split.username is None and split.password is None:
            return url
        netloc = split.hostname or ""
        if split.port:
            netloc += f":{split.port}"
        return urlunsplit(split._replace(netloc=netloc))
    except ValueError:
        return url


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]
