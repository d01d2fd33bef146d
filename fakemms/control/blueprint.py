"""The control API blueprint and its one error rendering: JSON with the HTTP status."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from fakemms import errors
from fakemms.errors import ConfigError

bp = Blueprint("control", __name__, url_prefix="/_fakemms")


def _json_error(status: int, description: str, problems: list[str] | None = None
                ) -> tuple[Response, int]:
    error: dict = {"code": status, "description": description}
    if problems is not None:
        error["problems"] = problems
    return jsonify({"error": error}), status


@bp.errorhandler(errors.FakeMmsError)
def _error(error: errors.FakeMmsError) -> tuple[Response, int]:
    return _json_error(error.http_status, error.text)


@bp.errorhandler(ConfigError)
def _invalid(error: ConfigError) -> tuple[Response, int]:
    """A request (or the account or scenario it carries) that its schema refuses."""
    return _json_error(400, "invalid: " + "; ".join(error.problems), error.problems)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[Response, int]:
    return _json_error(error.code or 500, error.description or "")


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[Response, int]:
    current_app.logger.exception("unexpected failure in the control API")
    return _json_error(500, f"internal error: {type(error).__name__}")
