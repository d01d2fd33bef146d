"""``AppReceiver``: a callback endpoint that answers the fake as a well-behaved application
would, for people testing an MMS client library (the pytest fixture ``mms_app_receiver``).

It records every callback and answers by protocol: OpenMarket (a JSON REPORT or a
multipart/mixed MO) HTTP 200 with an empty body; MM7 (SOAP) a ``DeliverRsp``,
``DeliveryReportRsp`` or ``ReadReplyRsp`` with StatusCode 1000 in the request's namespace,
MM7Version and TransactionID; the legacy gateway (a GET with parameters, or a form POST)
HTTP 200 with a non-empty body. ``fail()`` and ``delay()`` make it misbehave on demand.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fakemms.server import ServerThread

MM7_RESPONSES = {"DeliverReq": "DeliverRsp", "DeliveryReportReq": "DeliveryReportRsp",
                 "ReadReplyReq": "ReadReplyRsp"}
LEGACY_ANSWER = b"OK"


@dataclass
class ReceivedCallback:
    """One request the receiver got, and how it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: list[tuple[str, str]]
    at: float
    protocol: str = "openmarket"  # openmarket | mm7 | legacy
    kind: str | None = None  # report | mo (when it can tell)
    operation: str | None = None  # MM7: DeliverReq, DeliveryReportReq, ReadReplyReq
    status: int = 200  # the status it answered with
    answer: bytes = b""
    mm7: Any = field(default=None, repr=False)  # the parsed MM7 request

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class _Misbehaviour:
    status: int | None = None
    body: bytes | None = None
    delay: float = 0.0
    times: int | None = None  # None: until behave()


class AppReceiver:
    """A real HTTP server on 127.0.0.1 (port 0). ``url`` (any path is accepted; ``dlr_url``
    and ``mo_url`` are just readable ones), ``received``, ``wait_for(count)``, ``fail()``,
    ``delay()``, ``behave()``, ``clear()``.

    ``begin(scope)`` gives the receiver a scope (the plugin: one per test): its URLs then
    carry ``/t/<scope>``, and only callbacks to them count in ``received`` and meet
    ``fail()``; a callback addressed to an earlier scope (a report a previous test left due)
    is answered well and kept apart in ``stray``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received: list[ReceivedCallback] = []
        self.stray: list[ReceivedCallback] = []
        self._scope: str | None = None
        self._cond = threading.Condition()
        self._misbehaviour: _Misbehaviour | None = None
        self.answer_with: Callable[[ReceivedCallback], tuple[int, bytes | str]] | None = None
        self.server = ServerThread(self._app, host, port)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> AppReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> AppReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url + (f"/t/{self._scope}" if self._scope else "")

    @property
    def scope(self) -> str | None:
        return self._scope

    def begin(self, scope: str | None) -> None:
        """Start a new scope (None: none): what was received is forgotten, behaviour reset."""
        self.clear()
        with self._cond:
            self._scope = scope

    @property
    def dlr_url(self) -> str:
        return self.url + "/dlr"

    @property
    def mo_url(self) -> str:
        return self.url + "/mo"

    # --- behaviour --------------------------------------------------------------------------
    def fail(self, status: int = 500, *, times: int | None = None, body: bytes | str = b"",
             delay: float = 0.0) -> None:
        """Answer the next ``times`` callbacks (None: all, until ``behave()``) with
        ``status`` and ``body``, after ``delay`` seconds."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._cond:
            self._misbehaviour = _Misbehaviour(status, data, delay, times)

    def delay(self, seconds: float, *, times: int | None = None) -> None:
        """Answer well, but only after ``seconds`` (longer than the fake's callback timeout
        makes the attempt a timeout)."""
        with self._cond:
            self._misbehaviour = _Misbehaviour(delay=seconds, times=times)

    def behave(self) -> None:
        """Answer every callback well and at once again."""
        with self._cond:
            self._misbehaviour = None
            self.answer_with = None

    def clear(self) -> None:
        """Forget what was received and behave again."""
        with self._cond:
            self.received.clear()
            self.stray.clear()
        self.behave()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedCallback]:
        """Block until ``count`` callbacks were received (answered); all received so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = "; ".join(f"{r.method} {r.path} ({r.protocol} {r.kind})"
                                    for r in self.received) or "nothing"
                    raise AssertionError(f"mms_app_receiver: expected {count} callback(s) "
                                         f"within {timeout:g} s, got {len(self.received)}: "
                                         f"{got}")
                self._cond.wait(left)
            return list(self.received)

    # --- the WSGI app -----------------------------------------------------------------------
    def _app(self, environ: dict, start_response: Callable) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        item = ReceivedCallback(
            method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", "/"),
            headers=headers, body=body,
            query=parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            at=time.time())
        with self._cond:
            scope = self._scope
        if scope is not None and not item.path.startswith(f"/t/{scope}/") \
                and item.path != f"/t/{scope}":
            status, answer, content_type = self._well_behaved(item)
            item.status, item.answer = status, answer
            with self._cond:
                self.stray.append(item)
                del self.stray[:-1000]
        else:
            status, answer, content_type = self._answer(item)
            item.status, item.answer = status, answer
            with self._cond:
                self.received.append(item)
                self._cond.notify_all()
        start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                       [("Content-Type", content_type), ("Content-Length", str(len(answer)))])
        return [answer]

    def _answer(self, item: ReceivedCallback) -> tuple[int, bytes, str]:
        well = self._well_behaved(item)
        with self._cond:
            bad = self._misbehaviour
            if bad is not None and bad.times is not None:
                bad.times -= 1
                if bad.times <= 0:
                    self._misbehaviour = None
            custom = self.answer_with
        if bad is not None and bad.delay:
            time.sleep(bad.delay)
        if custom is not None:
            status, body = custom(item)
            return status, body.encode("utf-8") if isinstance(body, str) else body, well[2]
        if bad is not None and bad.status is not None:
            return bad.status, bad.body or b"", "text/plain; charset=utf-8"
        return well

    def _well_behaved(self, item: ReceivedCallback) -> tuple[int, bytes, str]:
        ctype = (item.header("Content-Type") or "").lower()
        if "xml" in ctype or "multipart/related" in ctype or item.header("Soapaction"):
            return self._mm7_answer(item, ctype)
        if ctype.startswith("application/json"):
            item.protocol = "openmarket"
            try:
                item.kind = "report" if item.json().get("type") == "REPORT" else None
            except (ValueError, AttributeError):
                item.kind = None
            return 200, b"", "text/plain"
        if ctype.startswith("multipart/mixed"):
            item.protocol, item.kind = "openmarket", "mo"
            return 200, b"", "text/plain"
        item.protocol = "legacy"
        names = {k for k, _ in item.query}
        item.kind = "report" if {"type", "status"} <= names else "mo"
        return 200, LEGACY_ANSWER, "text/plain; charset=utf-8"

    def _mm7_answer(self, item: ReceivedCallback, ctype: str) -> tuple[int, bytes, str]:
        from fakemms.errors import FakeMmsError
        from fakemms.protocols.mm7 import codec

        item.protocol = "mm7"
        try:
            request = codec.parse(item.body, item.header("Content-Type"), strict=False,
                                  allow_unknown_namespace=True)
        except FakeMmsError as exc:
            fault = codec.encode_error(exc)
            return 500, fault.body, fault.content_type
        item.mm7, item.operation = request, request.operation
        item.kind = "mo" if request.operation == "DeliverReq" else "report"
        operation = MM7_RESPONSES.get(request.operation)
        if operation is None:
            fault = codec.encode_fault(status_code=4003, namespace=request.namespace,
                                       mm7_version=request.mm7_version,
                                       transaction_id=request.transaction_id)
            return 500, fault.body, fault.content_type
        answer = codec.encode_response(operation, namespace=request.namespace,
                                       mm7_version=request.mm7_version or "6.8.0",
                                       transaction_id=request.transaction_id)
        return 200, answer.body, answer.content_type
