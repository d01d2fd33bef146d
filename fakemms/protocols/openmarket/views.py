"""Blueprint for ``POST /mms/v2/send``: guards, parse, validate, store, answer 202."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from fakemms import errors
from fakemms.backend import backend
from fakemms.guards import parse_basic
from fakemms.headers import header_safe
from fakemms.protocols.capture import raw_request
from fakemms.protocols.openmarket import codec

bp = Blueprint("openmarket", __name__)


@bp.before_request
def _assign_request_id() -> None:
    g.request_id = backend().new_request_id()


@bp.after_request
def _stamp_request_id(response: Response) -> Response:
    # openmarket-mms-send.txt: X-Request-Id is "Returned: Always", accepted or rejected
    response.headers["X-Request-Id"] = g.get("request_id") or backend().new_request_id()
    return response


@bp.post("/mms/v2/send")
def send() -> tuple[Response, int]:
    be = backend()
    account = be.admit(
        credentials=parse_basic(request.headers.get("Authorization")),
        remote_addr=request.remote_addr,
        forwarded_for=request.headers.get("X-Forwarded-For"),
    )
    with be.reserved(account):
        body = request.get_data(cache=False)
        parsed = codec.parse_send(body, request.content_type, strict=be.strict_mime,
                                  limits=be.mime_limits)
        codec.validate_fields(parsed.fields)
        fields = parsed.fields
        message = be.mt.submit(
            account=account,
            interface="openmarket",
            source=fields["source"],
            destinations=[fields["destination"]],
            mt_config=fields["mtConfig"],
            subject=fields.get("subject"),
            mobile_operator_id=_int_or_none(fields.get("mobileOperatorId")),
            parts=parsed.parts,
            warnings=parsed.warnings,
            request_id=g.request_id,
            raw_request=raw_request(body),
        )
    response = jsonify({"mtId": int(message.id)})
    # Reports wait for this: a DLR never overtakes its 202.
    response.call_on_close(message.answered.set)
    if be.decision_header and message.decision:
        response.headers["X-Fake-Decision"] = header_safe(message.decision)
    return response, 202


def _int_or_none(value: object) -> int | None:
    """JSON Schema counts 77.0 as an integer; store it as one (it becomes a header later)."""
    return None if value is None else int(value)  # type: ignore[call-overload]


@bp.route("/mms/v2/send", methods=["GET", "PUT", "PATCH", "DELETE"])
def send_wrong_method() -> Response:
    raise MethodNotAllowed(valid_methods=["POST"])


def render_error(error: errors.FakeMmsError, status: int) -> tuple[Response, int]:
    # The document's text for its codes (README); a malformed request names its problem, a
    # TPS refusal its limit.
    response = jsonify({"error": {"code": error.code, "description": error.text}})
    decision = getattr(error, "decision", None)
    if decision and backend().decision_header:
        response.headers["X-Fake-Decision"] = header_safe(decision)
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response, status


@bp.errorhandler(errors.FakeMmsError)
def _provider_error(error: errors.FakeMmsError) -> tuple[Response, int]:
    return render_error(error, backend().status_for(error))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    response, _ = render_error(errors.MalformedRequest(error.description), status)
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = "POST"
    return response, status


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[Response, int]:
    current_app.logger.exception("unexpected failure in /mms/v2/send")
    error = errors.InternalError()
    return render_error(error, backend().status_for(error))
