"""The control API blueprint, its accessor and its error rendering (JSON with HTTP status)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from fakemms import errors
from fakemms.backend import Backend
from fakemms.errors import ConfigError
from fakemms.models import Message

bp = Blueprint("control", __name__, url_prefix="/_fakemms")


def backend() -> Backend:
    return current_app.extensions["fakemms"]


def get_message(message_id: str) -> Message:
    message = backend().store.get_message(message_id)
    if message is None:
        raise errors.NotFound(f"no message with id {message_id!r}")
    return message


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise errors.ControlError("the body must be JSON")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.ControlError("the body must be a JSON object")
    return data


@bp.errorhandler(errors.FakeMmsError)
def _error(error: errors.FakeMmsError) -> tuple[Response, int]:
    status = error.http_status
    return jsonify({"error": {"code": status, "description": error.text}}), status


@bp.errorhandler(ConfigError)
def _config_error(error: ConfigError) -> tuple[Response, int]:
    return jsonify({"error": {"code": 400, "description": "invalid: " + "; ".join(
        error.problems), "problems": error.problems}}), 400


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    return jsonify({"error": {"code": status, "description": error.description}}), status
