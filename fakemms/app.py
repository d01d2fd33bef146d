"""The app factory: configuration, backend, blueprints. Wiring only."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from fakemms.backend import Backend
from fakemms.config import Config, load_config


class FakeMmsApp(Flask):
    """The fake's Flask app; ``close()`` stops and joins everything its backend started
    (the server wrapper calls it once it has stopped serving)."""

    def close(self, timeout: float = 5.0) -> None:
        self.extensions["fakemms"].close(timeout)


def create_app(config: Config | Mapping[str, Any] | None = None) -> FakeMmsApp:
    """Build the fake. ``config``: a loaded Config, a mapping of settings (environment
    ignored, for tests), or None for the embedded defaults, $FAKEMMS_CONFIG and FAKEMMS_*."""
    if config is None:
        config = load_config()
    elif not isinstance(config, Config):
        config = load_config(overrides=config, env={})
    app = FakeMmsApp(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
    app.json.sort_keys = False  # keep the provider's field order on the wire
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
    app.after_request(_reason_phrase)
    app.register_error_handler(HTTPException, _routing_error)
    return app


def _routing_error(error: HTTPException) -> Response | HTTPException:
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
