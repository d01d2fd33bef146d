"""Fetching ``application/vnd.openmarket.remoteContent`` links, with the provider's caching.

openmarket-mms-send.txt ("Content Caching", "Headers to include with the externally hosted
content"): the content's response must carry a ``Content-Type``, and the provider heeds
``Cache-Control`` and ``Expires``. ``RemoteFetcher.fetch(url)`` never raises for a failed fetch:
it returns a ``FetchResult`` whose ``error`` is a clear sentence, ready to become the Rejected
report's ``outcomeDescription``. The download itself, within its bounds, is ``download``'s.
Freshness is judged on the injected ``Clock`` (so a virtual clock ages the cache); wall-clock
intervals (timeouts, ``elapsed``) use ``clock.monotonic()``.

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
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fakemms.clock import Clock
from fakemms.models import Part, iso
from fakemms.remote_content.download import Download, Refused
from fakemms.remote_content.freshness import lifetime, parse_cache_control  # noqa: F401

DEFAULT_TIMEOUT = (5.0, 10.0)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TTL = 300.0
DEFAULT_MAX_RATIO = 200.0  # decoded / transferred bytes of a Content-Encoding (gzip, br...)
USER_AGENT = "fakemms-remote-content/0.1"


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


class RemoteFetcher(Download):
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
        except Refused as exc:
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


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


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
