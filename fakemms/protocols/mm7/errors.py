"""MM7 codec errors: each carries the MM7 StatusCode (``mm7_status``) and its standard text.

Subclasses of the shared ``FakeMmsError`` so one blueprint handler turns any of them into a SOAP
Fault (``encode_error``). ``fault_code`` is "Client" or "Server" (provider-notes.md, Errors).
"""

from __future__ import annotations

from typing import ClassVar

from fakemms.errors import FakeMmsError
from fakemms.protocols.mm7.tables import STATUS_TEXTS, fault_code_for


class Mm7Error(FakeMmsError):
    """Base of the MM7 codec's errors; ``description`` is the standard StatusText, ``detail``
    says what exactly was wrong (``encode_error`` writes it as ``Details``)."""

    mm7_status: ClassVar[int] = 4000
    description: ClassVar[str] = STATUS_TEXTS[4000]
    http_status: ClassVar[int] = 500  # a SOAP Fault travels with HTTP 500 (provider-notes.md)

    @property
    def status_text(self) -> str:
        """The standard StatusText of ``mm7_status``."""
        return STATUS_TEXTS.get(self.mm7_status, self.description)

    @property
    def fault_code(self) -> str:
        return fault_code_for(self.mm7_status)


class FormatCorrupt(Mm7Error):
    """Not XML, not a SOAP envelope, no Body, a DTD or entity, a malformed element value."""

    mm7_status = 2007
    description = STATUS_TEXTS[2007]


class AddressError(Mm7Error):
    """An address element that is empty or not a number / short code / RFC 2822 address."""

    mm7_status = 2002
    description = STATUS_TEXTS[2002]


class ContentRefused(Mm7Error):
    """Attached MIME content that cannot be parsed, or a Content href that matches no part."""

    mm7_status = 2004
    description = STATUS_TEXTS[2004]


class UnsupportedVersion(Mm7Error):
    """An MM7 namespace that 3GPP never published, or an MM7Version of another release."""

    mm7_status = 4002
    description = STATUS_TEXTS[4002]


class UnsupportedOperation(Mm7Error):
    """A Body element that is not an MM7 operation this codec knows."""

    mm7_status = 4003
    description = STATUS_TEXTS[4003]


class Mm7ValidationError(Mm7Error):
    """A mandatory element is missing (no recipients, no MM7Version, ...)."""

    mm7_status = 4004
    description = STATUS_TEXTS[4004]
