"""The HTTP side of ``RemoteFetcher``: one download at a time within its bounds (schemes, the
host allowlist, redirects followed by hand and each hop checked, ``max_bytes`` decoded, the
compression ratio, the total time), every failure a ``Refused`` with a clear sentence."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

if TYPE_CHECKING:
    from fakemms.clock import Clock

RATIO_FLOOR = 1024 * 1024  # the ratio is judged once the content has decoded past this
_CHUNK = 64 * 1024


class Refused(Exception):
    """A fetch failure, with what was learnt of the answer before it."""

    def __init__(self, reason: str, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers or {}


@dataclass
class Answer:
    """An origin's 2xx answer with its content, read within the bounds."""

    url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""


class Download:
    """The download methods of ``RemoteFetcher`` (its bounds are the fetcher's settings)."""

    if TYPE_CHECKING:  # what the download uses of ``RemoteFetcher``
        _clock: Clock
        schemes: tuple[str, ...]
        timeout: tuple[float, float]
        max_bytes: int
        max_ratio: float
        allowed_hosts: tuple[str, ...] | None
        total_timeout: float | None
        max_redirects: int
        user_agent: str
        trust_env: bool

    def _download(self, url: str, started: float) -> Answer:
        session = requests.Session()
        session.trust_env = self.trust_env
        current = url
        try:
            for _ in range(self.max_redirects + 1):
                self._check_url(current)
                try:
                    answer = self._get(session, current, started)
                except Refused:
                    raise
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                        ValueError) as exc:
                    raise Refused(self._describe(exc, current)) from None
                if isinstance(answer, str):  # a redirect: the next hop is checked again
                    current = answer
                    continue
                return answer
            raise Refused(f"more than {self.max_redirects} redirects")
        finally:
            session.close()

    def _get(self, session: requests.Session, url: str, started: float) -> Answer | str:
        headers = {"User-Agent": self.user_agent, "Accept": "*/*"}
        with session.get(url, headers=headers, timeout=self.timeout, stream=True,
                         allow_redirects=False) as resp:
            got = dict(resp.headers)
            status = resp.status_code
            if resp.is_redirect:
                return urljoin(url, resp.headers["location"])
            if not 200 <= status < 300:
                raise Refused(f"HTTP {status} {_phrase(status, resp.reason)}", status, got)
            if not (resp.headers.get("content-type") or "").strip():
                # openmarket-mms-send.txt: "must include the Content-Type field"
                raise Refused("the response has no Content-Type header (the provider needs "
                               "one, e.g. Content-Type: image/png)", status, got)
            declared = (resp.headers.get("content-length") or "").strip()
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise Refused(f"Content-Length {declared} is over the limit of "
                               f"{self.max_bytes} bytes", status, got)
            chunks: list[bytes] = []
            size = 0
            encoded = (resp.headers.get("content-encoding") or "").strip().lower()
            for chunk in resp.iter_content(_CHUNK):  # decoded in bounded chunks (urllib3 2)
                size += len(chunk)
                if size > self.max_bytes:
                    raise Refused(f"the content is larger than the limit of {self.max_bytes} "
                                   "bytes", status, got)
                wire = resp.raw.tell()  # bytes read from the connection, still encoded
                if encoded not in ("", "identity") and size > RATIO_FLOOR \
                        and size > self.max_ratio * max(wire, 1):
                    raise Refused(f"the content decodes to more than {self.max_ratio:g} times "
                                   f"the {wire} bytes sent (Content-Encoding {encoded}): "
                                   "a compression bomb", status, got)
                elapsed = self._clock.monotonic() - started
                if self.total_timeout is not None and elapsed > self.total_timeout:
                    raise Refused(f"the download did not finish within {self.total_timeout:g} "
                                   "s", status, got)
                chunks.append(chunk)
            if size == 0:
                raise Refused("the response body is empty", status, got)
            return Answer(url, status, got, b"".join(chunks))

    def _check_url(self, url: str) -> None:
        try:
            split = urlsplit(url)
            host, port = split.hostname, split.port
        except ValueError:
            raise Refused("not a valid URL") from None
        scheme = split.scheme.lower()
        if scheme not in self.schemes:
            allowed = " and ".join(self.schemes)
            raise Refused(f"the scheme {scheme or '(none)'!r} is not allowed (only {allowed})")
        if not host:
            raise Refused("the URL has no host")
        if self.allowed_hosts is not None and not _host_allowed(
                host, port or (443 if scheme == "https" else 80), self.allowed_hosts):
            raise Refused(f"the host {host!r} is not in the allowed hosts")

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
