"""The app factory: configuration, backend, blueprints. Wiring only."""

from __future__ import annotations

import io
from collections.abc import Mapping
from http import HTTPStatus
from typing import IO, Any

from flask import Flask, Request, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from fakemms.backend import Backend
from fakemms.config import Config, load_config


class FakeMmsRequest(Request):
    """Form uploads kept in memory: werkzeug's form parser leaves its SpooledTemporaryFile
    unclosed when a multipart body ends inside a file part (found by tests/test_fuzz_legacy.py);
    the body is in memory already, bounded by MAX_BODY."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None
                         ) -> IO[bytes]:
        return io.BytesIO()


class FakeMmsApp(Flask):
    """The fake's Flask app; ``close()`` stops and joins everything its backend started
    (the server wrapper calls it once it has stopped serving)."""

    request_class = FakeMmsRequest

    def close(self, timeout: float = 5.0) -> None:
        self.extensions["fakemms"].close(timeout)

    def end_streams(self) -> None:
        """End the open event streams at once (the server calls it as it stops: a stream
        would otherwise notice only at its next keep-alive, 2 s later)."""
        self.extensions["fakemms"].store.events.close()


def create_app(config: Config | Mapping[str, Any] | None = None) -> FakeMmsApp:
    """Build the fake. ``config``: a loaded Config, a mapping of settings (environment
    ignored, for tests), or None for the embedded defaults, $FAKEMMS_CONFIG and FAKEMMS_*."""
    if config is None:
        config = load_config()
    elif not isinstance(config, Config):
        config = load_config(overrides=config, env={})
    app = FakeMmsApp(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the provider's field order
    app.extensions["fakemms"] = Backend(config)

    from fakemms.control import bp as control_bp
    from fakemms.protocols.legacy.views import bp as legacy_bp
    from fakemms.protocols.mm7.views import bp as mm7_bp
    from fakemms.protocols.openmarket.views import bp as openmarket_bp
    from fakemms.ui import bp as ui_bp

    app.register_blueprint(openmarket_bp)
    app.register_blueprint(mm7_bp)
    app.register_blueprint(legacy_bp)
    app.register_blueprint(control_bp)
    app.register_blueprint(ui_bp)
    app.before_request(_refuse_a_body_too_large)
    app.after_request(_reason_phrase)
    app.register_error_handler(HTTPException, _routing_error)
    return app


MAX_BODY = 50 * 1024 * 1024  # a request body; larger: 413 (each blueprint in its own format)
# Paths that take no large body, and their caps: a declared body over one is answered 413 at
# once, before a byte of it is read (the UI's login form is open even behind the admin token).
SMALL_BODIES: tuple[tuple[str, int], ...] = (
    ("/_fakemms/ui/", 64 * 1024),  # the login and logout forms
    ("/_fakemms/api/", 20 * 1024 * 1024),  # JSON and YAML; an MO's base64 parts included
)


def _refuse_a_body_too_large() -> None:
    """A declared body over the limit is refused before it is read, saying the limit (a
    chunked one still meets werkzeug's own 413 when it passes the limit)."""
    length = request.content_length
    if length is None:
        return
    limit = next((cap for prefix, cap in SMALL_BODIES if request.path.startswith(prefix)),
                 MAX_BODY)
    if length > limit:
        raise RequestEntityTooLarge(f"the request body is {length} bytes; the limit here is "
                                    f"{limit} bytes")


def _routing_error(error: HTTPException) -> tuple[Response, int] | HTTPException:
    """Unrouted paths under the control API answer JSON like the rest of it."""
    if request.path.startswith("/_fakemms/api"):
        status = error.code or 500
        return jsonify({"error": {"code": status, "description": error.description}}), status
    return error


def _reason_phrase(response: Response) -> Response:
    # Werkzeug says "202 ACCEPTED"; the provider documents "HTTP/1.1 202 Accepted".
    try:
        response.status = f"{response.status_code} {HTTPStatus(response.status_code).phrase}"
    except ValueError:
        pass
    return response
