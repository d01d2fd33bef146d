"""A threaded HTTP server that starts on any port (0 = free one) and says when it is ready."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _Handler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections alive: clients under load do not pay a connect per request.
    protocol_version = "HTTP/1.1"
    quiet = False

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if not self.quiet:
            super().log_request(code, size)


class _QuietHandler(_Handler):
    quiet = True


class ServerThread:
    """Serve a WSGI app in a daemon thread; ``start()`` returns once the socket listens."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 quiet: bool = True) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        handler = _QuietHandler if self.quiet else _Handler
        self._server = make_server(self.host, self.requested_port, self.app, threaded=True,
                                   request_handler=handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"fakemms-http-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.socket.getsockname()[1]

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Block in the calling thread (``fakemms serve``)."""
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
