"""Blueprint for the legacy MX Telecom gateway: MO retrieval as ``mms.zip`` and ``SendMMS``.

Errors are plain text (the documents give no format: README); guards run first, as on every
provider endpoint, with the ``user``/``pass`` parameters as the credentials.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from fakemms import errors, outbound
from fakemms.backend import Backend, backend
from fakemms.headers import header_safe
from fakemms.protocols.capture import raw_request
from fakemms.protocols.legacy import codec as legacy
from fakemms.protocols.legacy import submission

bp = Blueprint("legacy", __name__)


def text(status: int, body: bytes, content_type: str) -> Response:
    return Response(body, status=status, content_type=content_type)


def _authenticate(be: Backend, user: str, password: str):
    try:
        account = be.authenticate(credentials=(user, password), remote_addr=request.remote_addr,
                                  forwarded_for=request.headers.get("X-Forwarded-For"))
    except errors.AuthenticationError:
        raise legacy.BadCredentials("wrong user or pass") from None
    except errors.IpNotAllowed as exc:
        raise legacy.BadCredentials(f"IP not allowed: {exc.detail}") from None
    if account.closed:
        raise legacy.BadCredentials("this account is closed")
    return account


def retrieve() -> Response:
    """``GET /mms/v1/http/retrieve?user=&pass=&id=``: the MO's contents until its expiry."""
    be = backend()
    ask = legacy.parse_retrieve(request.query_string)
    account = _authenticate(be, ask.user, ask.password)
    message = be.store.get_message(ask.message_id) if ask.message_id != "latest" else None
    if message is None or message.direction != "mo" or message.account != account.username:
        raise legacy.UnknownMessageId(f"no MMS with id {ask.message_id!r} for this account")
    if message.extra.get("type") == "sms":
        raise legacy.InvalidParameter(f"id {message.id} is an SMS: its text came in the "
                                      "notification's message parameter; there is no mms.zip")
    expiry = message.created_at + be.config["legacy"]["expiry_seconds"]
    if be.clock.now() >= expiry:
        raise legacy.MessageExpired(f"MMS {message.id} expired at "
                                    f"{legacy.format_date(expiry, 'UK')}")
    response = Response(outbound.mms_zip(message.parts), content_type="application/zip")
    response.headers["Content-Disposition"] = 'attachment; filename="mms.zip"'
    return response


for path in legacy.RETRIEVE_PATHS:
    bp.add_url_rule(path, f"retrieve{path.replace('/', '_')}", retrieve, methods=["GET"])


def send_mms() -> Response:
    """``SendMMS`` (provider-notes.md): 200 with the message id as the body."""
    be = backend()
    body = request.get_data()  # cached, so the form below is parsed from the same bytes
    # guards first (CONTRACT section 1): the credentials, before the body is validated
    account = _authenticate(be, request.values.get("user", ""), request.values.get("pass", ""))
    be.guards.admit(account)
    with be.reserved(account):
        limits = submission.zip_limits(be.config.data)
        req = legacy.parse_send_mms(request.query_string, body, request.content_type,
                                    zip_limits=limits, mime_limits=be.mime_limits)
        parts = submission.parts(req, be.content.fetcher, limits)
        mt_config = submission.mt_config(account, req.subaccount)
        message = be.mt.submit(
            account=account, interface="legacy", source=req.source,
            destinations=req.destinations, mt_config=mt_config, parts=parts,
            subject=req.subject, warnings=req.warnings, protocol="legacy",
            request_id=be.new_request_id(),
            extra={"delivery_report": req.delivery_report, "read_report": req.read_report,
                   "note": req.note, "subaccount": req.subaccount},
            raw_request=raw_request(body))
    body, content_type = legacy.send_answer(message.id)
    response = text(200, body, content_type)
    response.call_on_close(message.answered.set)
    if be.decision_header and message.decision:
        response.headers["X-Fake-Decision"] = header_safe(message.decision)
    return response


for path in ("/SendMMS", "/mms/v1/http/send"):
    bp.add_url_rule(path, f"send{path.replace('/', '_')}", send_mms, methods=["GET", "POST"])


@bp.errorhandler(errors.FakeMmsError)
def _error(error: errors.FakeMmsError) -> Response:
    status, body, content_type = legacy.render_error(error)
    if not isinstance(error, legacy.LegacyError):
        status = backend().status_for(error)  # a guard or scenario error: its own text
        body = f"{error.code} {error.text}".encode()
    response = text(status, body, content_type)
    decision = getattr(error, "decision", None)
    if decision and backend().decision_header:
        response.headers["X-Fake-Decision"] = header_safe(decision)
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return text(error.code or 500, (error.description or "error").encode(),
                "text/plain; charset=utf-8")


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("unexpected failure in the legacy gateway")
    return text(500, b"Internal error", "text/plain; charset=utf-8")
