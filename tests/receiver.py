"""A real callback receiver on 127.0.0.1 for tests: records every request, answers as told."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from fakemms.server import ServerThread


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    args: list[tuple[str, str]]
    at: float

    @property
    def json(self):
        import json

        return json.loads(self.body)


class Receiver:
    """``answer(received) -> (status, body)`` or ``(status, body, headers)``; default 200
    with an empty body."""

    def __init__(self, answer: Callable[[Received], tuple] | None = None):
        self.answer = answer or (lambda r: (200, b""))
        self.received: list[Received] = []
        self._cond = threading.Condition()
        self.server = ServerThread(self._app)

    def _app(self, environ, start_response):
        request = Request(environ)
        item = Received(request.method, request.path, dict(request.headers),
                        request.get_data(), list(request.args.items(multi=True)), time.time())
        status, body, *rest = self.answer(item)
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()
        response = Response(body, status=status)
        for name, value in (rest[0] if rest else {}).items():
            if value is None:
                del response.headers[name]
            else:
                response.headers[name] = value
        return response(environ, start_response)

    def start(self) -> Receiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def url(self, path: str = "/cb") -> str:
        return self.server.url + path

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} callbacks, got {len(self.received)}: "
                        f"{[(r.method, r.path) for r in self.received]}")
                self._cond.wait(left)
            return list(self.received)
