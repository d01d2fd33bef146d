"""Blueprint for ``POST /mm7``: guards, parse, validate, store, answer in the request's
namespace and MM7Version. Errors become SOAP Faults (HTTP 500) or HTTP 401 here only."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from fakemms import errors
from fakemms.backend import Backend, backend
from fakemms.guards import parse_basic
from fakemms.headers import header_safe
from fakemms.protocols.capture import raw_request
from fakemms.protocols.mm7 import codec, submission

bp = Blueprint("mm7", __name__)

RESPONSE_OF = {"SubmitReq": "SubmitRsp", "CancelReq": "CancelRsp", "ReplaceReq": "ReplaceRsp"}
DIGITS = "0123456789"


def xml_response(encoded: codec.Encoded, status: int = 200) -> Response:
    return Response(encoded.body, status=status, content_type=encoded.content_type,
                    headers=encoded.headers)


@bp.post("/mm7")
def mm7() -> Response:
    be = backend()
    account = be.authenticate(credentials=parse_basic(request.headers.get("Authorization")),
                              remote_addr=request.remote_addr,
                              forwarded_for=request.headers.get("X-Forwarded-For"))
    be.guards.admit(account)  # closed, limits, TPS: before validation (CONTRACT section 1)
    with be.reserved(account):
        g.body = request.get_data(cache=False)
        message = codec.parse(g.body, request.content_type, strict=be.strict_mime,
                              limits=be.mime_limits)
        g.mm7 = message
        if isinstance(message, codec.SubmitReq):
            return submit(be, account, message)
    be.guards.release(account)  # only a SubmitReq is a message against the limits
    if isinstance(message, codec.CancelReq):
        be.mt.cancel(account, message.message_id)
    elif isinstance(message, codec.ReplaceReq):
        parts, warnings = submission.parts(message.content, be.config["mm7"])
        be.mt.replace(account, message.message_id, parts, warnings + message.warnings)
    else:
        raise codec.UnsupportedOperation(f"{message.operation} is not an operation of the "
                                         "provider's MM7 interface")
    return xml_response(codec.encode_response(
        RESPONSE_OF[message.operation], namespace=message.namespace,
        mm7_version=message.mm7_version or "5.3.0",
        transaction_id=message.transaction_id))


def submit(be: Backend, account, req: codec.SubmitReq) -> Response:
    recipients = req.recipients.all()
    if len(recipients) > 1 and not account.mm7_multiple_recipients:
        raise errors.MultipleAddressesNotSupported(
            f"{len(recipients)} recipients; account {account.username} takes one per SubmitReq")
    for address in recipients:
        if address.kind != "RFC2822Address" and not (
                3 <= len(address.value) <= 15 and set(address.value) <= set(DIGITS)):
            raise codec.AddressError(f"recipient {address.raw or address.value!r} is not a number")
    parts, warnings = submission.parts(req.content, be.config["mm7"])
    mt_config = submission.mt_config_for_vasid(account, req.vas_id)
    # no SenderAddress: the MT configuration's short code, as the provider's DLRs show one
    sender = req.sender.value if req.sender else (
        req.service_code or account.mt_configs[mt_config].short_code or "")
    message = be.mt.submit(
        account=account, interface="mm7", source=sender.lstrip("+"),
        destinations=[a.value for a in req.recipients.to],
        ccs=[a.value for a in req.recipients.cc], bccs=[a.value for a in req.recipients.bcc],
        mt_config=mt_config, parts=parts,
        subject=req.subject, warnings=req.warnings + warnings, protocol="mm7",
        message_id=be.store.unique_id(lambda: str(be.rng.digits(18))),
        extra={"namespace": req.namespace, "mm7_version": req.mm7_version,
               "transaction_id": req.transaction_id, "vasp_id": req.vasp_id,
               "vas_id": req.vas_id, "delivery_report": req.delivery_report,
               "read_reply": req.read_reply, "linked_id": req.linked_id,
               "priority": req.priority, "expiry_date": req.expiry_date},
        raw_request=raw_request(g.get("body", b"")),
    )
    response = xml_response(codec.encode_response(
        "SubmitRsp", namespace=req.namespace, mm7_version=req.mm7_version or "5.3.0",
        transaction_id=req.transaction_id, message_id=message.id))
    response.call_on_close(message.answered.set)  # no DeliveryReportReq before this SubmitRsp
    if be.decision_header and message.decision:
        response.headers["X-Fake-Decision"] = header_safe(message.decision)
    return response


@bp.errorhandler(errors.FakeMmsError)
def _error(error: errors.FakeMmsError) -> Response:
    be = backend()
    if error.mm7_http_401:
        # mm7-api.txt: wrong credentials or no permission (IP allowlist): HTTP 401
        return Response("Unauthorized", status=401, content_type="text/plain",
                        headers={"WWW-Authenticate": 'Basic realm="mm7"'})
    if isinstance(error, errors.TpsExceeded):
        error.mm7_status = be.config["mm7"]["tps_status"]  # type: ignore[misc]
    # the parsed request, else what the codec could read of it before failing, else (a guard
    # refused it before parsing) a look at the envelope: the answer is in its namespace
    req = g.get("mm7") or getattr(error, "request", None) or _peek_request()
    namespace = (req.namespace or None) if req else None
    version = req.mm7_version if req else None
    txn = req.transaction_id if req else None
    decision = getattr(error, "decision", None)
    if req is not None and req.operation in RESPONSE_OF and namespace and \
            be.config["mm7"]["error_style"] == "response":
        response = xml_response(codec.encode_response(
            RESPONSE_OF[req.operation], namespace=namespace, mm7_version=version or "5.3.0",
            transaction_id=txn, status_code=error.mm7_status, details=error.detail))
    else:
        response = xml_response(codec.encode_error(error, namespace=namespace,
                                                   mm7_version=version, transaction_id=txn),
                                status=500)
    if decision and be.decision_header:
        response.headers["X-Fake-Decision"] = header_safe(decision)
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _peek_request() -> codec.Mm7Message | None:
    try:
        return codec.parse(request.get_data(), request.content_type, strict=False)
    except codec.Mm7Error as exc:
        return getattr(exc, "request", None)
    except Exception:  # an unreadable body: answer in the default namespace
        return None


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return _error(codec.FormatCorrupt(error.description))


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("unexpected failure in /mm7")
    return _error(errors.InternalError())
