"""One exception tree. Each error knows its provider code, text and HTTP status.

Errors are raised anywhere (guards, codecs, the backend) and become wire format
(OpenMarket JSON, MM7 SOAP, legacy text, control-API JSON) only in each blueprint's handler.
``code``/``description`` are OpenMarket's (openmarket-mms-send.txt, "Response error codes");
``mm7_status`` is the MM7 StatusCode the same failure maps to (mm7-api.txt, provider-notes.md).
"""

from __future__ import annotations

from typing import ClassVar


class FakeMmsError(Exception):
    """Base of every error the fake turns into a provider answer."""

    code: ClassVar[int] = 15000
    description: ClassVar[str] = (
        "An internal error has occurred - please contact the OpenMarket Support team for more "
        "information."
    )
    http_status: ClassVar[int] = 500
    mm7_status: ClassVar[int] = 3000
    # MM7 answers authentication and allowlist failures with a bare HTTP 401 (mm7-api.txt).
    mm7_http_401: ClassVar[bool] = False
    retryable: ClassVar[bool] = False
    retry_after: ClassVar[int | None] = None  # seconds, sent as Retry-After when set

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(detail or self.description)

    @property
    def text(self) -> str:
        """What goes on the wire: the documented description (the detail stays in logs)."""
        return self.description

    def to_dict(self) -> dict:
        out = {"code": self.code, "description": self.description}
        if self.detail and self.detail != self.description:
            out["detail"] = self.detail
        return out


class InternalError(FakeMmsError):
    pass


class StateNotDurable(InternalError):
    """The persistence file took no write (disk full, I/O error, read-only, removed): the
    request's change was undone and it is refused as the provider's internal error
    (OpenMarket 500/15000, MM7 3000 Server Error, legacy 500), with ``Retry-After``."""

    retry_after: ClassVar[int | None] = 5


class MalformedRequest(FakeMmsError):
    """The body is not the MIME the provider expects (the send document: 'fail with a 400')."""

    code = 15000
    description = "Malformed request"
    http_status = 400
    mm7_status = 2007

    @property
    def text(self) -> str:
        return f"{self.description}: {self.detail}" if self.detail else self.description


class ContentLimitExceeded(MalformedRequest):
    """Content over one of the ``content:`` caps (too many parts or header lines, nested too
    deeply, a bomb): refused before it is read further (docs/service.md, Hostile content).
    OpenMarket answers it as any malformed body (400, 15000); MM7 as 2004 "Multimedia content
    refused", whose text covers "the content size ... was unacceptable" (mm7-api.txt)."""

    mm7_status = 2004


# --- request validation (openmarket-mms-send.txt) -------------------------------------------
class ValidationError(FakeMmsError):
    http_status = 403  # the send document shows 403 Forbidden with 15102; kept for the family
    mm7_status = 4004


class MissingType(ValidationError):
    code, description = 15100, "You must specify a message type."


class MissingDestination(ValidationError):
    code, description = 15101, "You must specify a destination number."
    mm7_status = 2002


class MissingSource(ValidationError):
    code, description = 15102, "You must specify a source number."
    mm7_status = 2002


class MissingMtConfig(ValidationError):
    code, description = 15105, "You must specify an mtConfig."


class InvalidType(ValidationError):
    code, description = 15200, "Invalid message type."


class InvalidDestination(ValidationError):
    code, description = 15201, "Invalid destination number."
    mm7_status = 2002


class InvalidSource(ValidationError):
    code, description = 15202, "Invalid source number."
    mm7_status = 2002


class InvalidSubject(ValidationError):
    code, description = 15203, "Invalid subject."


class InvalidMobileOperatorId(ValidationError):
    code, description = 15204, "Invalid mobileOperatorId."


class InvalidMtConfig(ValidationError):
    code, description = 15205, "Invalid mtConfig."


class NoContent(MalformedRequest):
    """At least one content part or remote link (openmarket-mms-send.txt, Request body)."""

    description = "OpenMarket will only accept requests with at least one piece of content"
    mm7_status = 2004


# --- guards ---------------------------------------------------------------------------------
class AuthenticationError(FakeMmsError):
    code, description = 15206, "Authentication error, check your username and password."
    http_status = 403
    mm7_status = 4001
    mm7_http_401 = True


class IpNotAllowed(FakeMmsError):
    code, description = 15300, "IP not allowed."
    http_status = 403
    mm7_status = 4001
    mm7_http_401 = True


class DailyLimitExceeded(FakeMmsError):
    code, description = 15301, "Maximum requests per day for that user exceeded."
    http_status = 403
    mm7_status = 4007


class MonthlyLimitExceeded(FakeMmsError):
    code, description = 15302, "Maximum requests per month for that account exceeded."
    http_status = 403
    mm7_status = 4007


class PrepaidCreditExceeded(FakeMmsError):
    code, description = 15303, "Prepay Credit limit exceeded."
    http_status = 403
    mm7_status = 4007


class AccountClosed(FakeMmsError):
    code, description = 15305, "Authentication error, this account is closed."
    http_status = 403
    mm7_status = 4001
    mm7_http_401 = True


class TpsExceeded(FakeMmsError):
    """The detail names the limit (``tps 2/s for account acme``): it is the MM7 Details, part
    of the OpenMarket description and the ``X-Fake-Decision`` header, so a refusal says why."""

    code, description = 15406, "TPS limit exceeded."
    http_status = 429
    mm7_status = 4006  # configurable: 3510 "Throughput exceeded" (skycore-mm7 statuses)
    retryable = True

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.decision = detail

    @property
    def text(self) -> str:
        return f"{self.description} ({self.detail})" if self.detail else self.description


OPENMARKET_ERRORS: dict[int, type[FakeMmsError]] = {
    cls.code: cls
    for cls in (
        InternalError, MissingType, MissingDestination, MissingSource, MissingMtConfig,
        InvalidType, InvalidDestination, InvalidSource, InvalidSubject,
        InvalidMobileOperatorId, InvalidMtConfig, AuthenticationError, IpNotAllowed,
        DailyLimitExceeded, MonthlyLimitExceeded, PrepaidCreditExceeded, AccountClosed,
        TpsExceeded,
    )
}


def openmarket_error(code: int, detail: str | None = None) -> FakeMmsError:
    """The error for a documented OpenMarket code (scenarios answer with codes)."""
    try:
        return OPENMARKET_ERRORS[code](detail)
    except KeyError:
        raise ValueError(f"{code} is not a documented OpenMarket error code") from None


class MessageIdNotFound(FakeMmsError):
    """MM7 CancelReq/ReplaceReq on an unknown MessageID (provider-notes.md: 2005)."""

    description = "Message ID Not found"
    http_status = 404
    mm7_status = 2005


class NotPossible(FakeMmsError):
    """MM7 CancelReq on a message already complete (delivered, failed or cancelled): 3GPP TS
    23.140's 3001 "Not Possible" is for a cancel of a message no longer available for it
    (provider-notes.md status table)."""

    description = "Not Possible"
    http_status = 409
    mm7_status = 3001


class MultipleAddressesNotSupported(FakeMmsError):
    description = "Multiple addresses not supported"
    http_status = 400
    mm7_status = 3003


# --- control API ----------------------------------------------------------------------------
class ControlError(FakeMmsError):
    http_status = 400
    description = "Bad request"

    @property
    def text(self) -> str:
        return self.detail or self.description


class NotFound(ControlError):
    http_status = 404
    description = "Not found"


class ConfigError(Exception):
    """A configuration or scenario file is invalid; ``problems`` are 'path: message' lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))
