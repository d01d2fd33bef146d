"""One callback attempt on the wire, with urllib3's public API: the request as the dispatcher
has always sent it (the bytes requests put on the wire, tests/test_callback_wire.py), the
answer read within bounds, and what went wrong named.

Each lane of the dispatcher has a ``PoolManager`` of its own (``new_pool``): its connections
stay open to its destination between attempts, at most ``per_destination`` of them kept.
Nothing comes from the environment (no proxy, no ``.netrc``): callbacks go where the
configuration says.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode

import urllib3
from urllib3.util import make_headers, parse_url

from fakemms.clock import Clock
from fakemms.headers import header_safe
from fakemms.models import Callback

ANSWER_LIMIT = 1024 * 1024  # bytes of an answer read to judge it; the rest is not read
READ_SIZE = 65536

# What requests' Session added to every request, in its order after the User-Agent: kept so
# that the application's receiver sees the same request as before.
_SESSION_HEADERS = (("Accept-Encoding", "gzip, deflate"), ("Accept", "*/*"),
                    ("Connection", "keep-alive"))
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class AnswerTimeout(Exception):
    """The answer did not arrive in full within the callback timeout."""


@dataclass(frozen=True)
class _Target:
    """What a callback URL gives every attempt: where to connect, the request target
    (before the query of ``params``), the Basic auth written in the URL."""

    scheme: str
    host: str
    port: int | None
    path: str
    query: str | None
    url_auth: tuple[str, str] | None


def new_pool(maxsize: int) -> urllib3.PoolManager:
    """A lane's connections: kept alive to its destination, at most ``maxsize`` idle ones
    (more are opened when needed and closed after use, never waited for)."""
    return urllib3.PoolManager(num_pools=4, maxsize=maxsize, block=False, retries=False)


@contextlib.contextmanager
def request(pool: urllib3.PoolManager, callback: Callback, user_agent: str,
            timeout: float) -> Iterator[urllib3.BaseHTTPResponse]:
    """Send the callback; the answer's head, its body left to ``read_answer``. Raises
    urllib3's and the socket's errors (``classify`` names them). Afterwards the connection
    goes back to the pool: open if the answer was read to its end, else closed."""
    target = _target(callback.url)
    body = callback.body or None
    method = callback.method.upper()
    headers = request_headers(user_agent, callback.headers, method, body,
                              callback.auth or target.url_auth)
    connection = pool.connection_from_host(target.host, target.port, target.scheme)
    response = connection.urlopen(
        method, request_target(target, callback.params), body=body, headers=headers,
        retries=False, redirect=False, assert_same_host=False, preload_content=False,
        timeout=urllib3.Timeout(connect=min(10.0, timeout), read=timeout))
    try:
        yield response
    finally:
        response.close()  # read to its end, it is back in the pool already: a no-op
        response.release_conn()


def read_answer(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """The answer's body, at most ``ANSWER_LIMIT`` bytes, in full before ``deadline``: a
    receiver that trickles its answer a byte at a time (each within the read timeout) does
    not hold the lane for ever. ``read1`` returns what has arrived (urllib3 >= 2.2)."""
    chunks: list[bytes] = []
    size = 0
    while size < ANSWER_LIMIT:
        if Clock.monotonic() > deadline:
            raise AnswerTimeout
        chunk = response.read1(READ_SIZE, decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:ANSWER_LIMIT]  # more is not read: enough to judge it


# --- the request, as requests built it ----------------------------------------------------------
def request_headers(user_agent: str, extra: Mapping[str, str], method: str,
                    body: bytes | None, auth: tuple[str, str] | None) -> dict[str, str]:
    """The headers in requests' order: User-Agent, its session's three, the callback's own
    (a name given twice, in any case, keeps its first place and its last value), then
    Content-Length and Authorization."""
    pairs: list[tuple[str, str]] = []
    index: dict[str, int] = {}

    def put(name: str, value: str) -> None:
        at = index.setdefault(name.lower(), len(pairs))
        if at == len(pairs):
            pairs.append((name, value))
        else:
            pairs[at] = (name, value)

    put("User-Agent", header_safe(user_agent))
    for name, value in _SESSION_HEADERS:
        put(name, value)
    for name, value in extra.items():
        put(name, header_safe(value))
    if body:
        put("Content-Length", str(len(body)))
    elif method not in ("GET", "HEAD") and "content-length" not in index:
        put("Content-Length", "0")
    if auth:
        put("Authorization", make_headers(basic_auth=f"{auth[0]}:{auth[1]}")["authorization"])
    return dict(pairs)


def request_target(target: _Target, params: list[tuple[str, str]] | None) -> str:
    """The request target: the URL's path and query, then ``params`` encoded as requests
    encoded them (form-encoded UTF-8: ``urlencode``)."""
    query = target.query
    if params:
        encoded = urlencode(params)
        query = f"{query}&{encoded}" if query else encoded
    if not query:
        return target.path
    return f"{target.path}?{_requote(query)}"


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    """What requests made of a URL (``PreparedRequest.prepare_url``, ``path_url``): urllib3's
    parsing, "/" for an empty path, escapes of unreserved characters unquoted."""
    parts = parse_url(url.lstrip())
    if parts.scheme is None or parts.host is None:
        raise urllib3.exceptions.LocationValueError(f"no scheme or no host in {url!r}")
    url_auth = None
    if parts.auth and ":" in parts.auth:  # requests took both halves, or none
        user, _, password = parts.auth.partition(":")
        if user or password:
            url_auth = (unquote(user), unquote(password))
    return _Target(parts.scheme, parts.host, parts.port, _requote(parts.path or "/"),
                   parts.query or None, url_auth)


def _requote(text: str) -> str:
    """requests' ``requote_uri`` on a path or query that urllib3 has already escaped: escapes
    of unreserved characters unquoted (``%7E`` is sent ``~``), the rest kept."""
    if "%" not in text:
        return text
    head, *rest = text.split("%")
    out = [head]
    for part in rest:
        code = part[:2]
        try:
            char = chr(int(code, 16)) if len(code) == 2 and code.isalnum() else ""
        except ValueError:  # not an escape: requests quoted every "%"
            return quote(text, safe="!#$&'()*+,/:;=?@[]~")
        out.append(char + part[2:] if char in _UNRESERVED else "%" + part)
    return quote("".join(out), safe="!#$%&'()*+,/:;=?@[]~")


# --- what went wrong --------------------------------------------------------------------------
def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it, as urllib3 wraps it (its ``args`` and ``reason``
    carry the cause too)."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(out) < 20:
        e = todo.pop()
        if e in out:
            continue
        out.append(e)
        todo.extend(a for a in (e.__cause__, e.__context__, getattr(e, "reason", None),
                                *getattr(e, "args", ())) if isinstance(a, BaseException))
    return out


def classify(exc: BaseException) -> tuple[str, str]:
    """What went wrong on the wire, as the attempt's ``error`` and ``reason``: refused,
    timeout, closed (no answer), reset, cut-short (the answer broke off), bad-answer (not
    HTTP), connection (anything else: DNS, TLS ...)."""
    chain = _causes(exc)

    def has(*kinds: type) -> bool:
        return any(isinstance(e, kinds) for e in chain)

    if has(ConnectionRefusedError):
        return "refused", "connection refused"
    # not urllib3's TimeoutError: its NewConnectionError is one (host unreachable ...)
    if has(TimeoutError, urllib3.exceptions.ReadTimeoutError):
        return "timeout", "no answer in time"
    if has(http.client.IncompleteRead):
        return "cut-short", f"the answer was cut short: {text(exc)}"
    if has(http.client.RemoteDisconnected):
        return "closed", "the connection was closed without an answer"
    if has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return "reset", "the connection was reset"
    if has(http.client.HTTPException, urllib3.exceptions.ProtocolError,
           urllib3.exceptions.DecodeError):
        return "bad-answer", f"not an HTTP answer: {text(exc)}"
    return "connection", text(exc)


def text(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"
