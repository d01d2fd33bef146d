"""Errors of the legacy MX Telecom gateway interface, answered as plain text.

The legacy gateway's error answers are not documented (provider-notes.md, legacy section), so
the fake answers ``http_status`` with ``text`` as a ``text/plain`` body; ``render_error`` in
``codec.py`` does that. ``code``/``mm7_status`` keep the inherited defaults: they are not used.
"""

from __future__ import annotations

from fakemms.errors import FakeMmsError


class LegacyError(FakeMmsError):
    """Base of the legacy interface's errors; ``text`` is the plain-text answer."""

    description = "Bad request"
    http_status = 400

    @property
    def text(self) -> str:
        return f"{self.description}: {self.detail}" if self.detail else self.description


class MissingParameter(LegacyError):
    description = "Missing parameter"


class InvalidParameter(LegacyError):
    description = "Invalid parameter"


class NoMmsContent(LegacyError):
    """SendMMS needs its content as ``url=`` or an ``mms.zip`` part (provider-notes.md)."""

    description = "No MMS content"


class InvalidZip(LegacyError):
    """``mms.zip`` is not a readable zip archive."""

    description = "Invalid mms.zip"


class ZipTooLarge(InvalidZip):
    """Too many entries or too many uncompressed bytes: a zip bomb, refused unread."""

    description = "mms.zip too large"
    http_status = 413


class BadCredentials(LegacyError):
    """Wrong ``user``/``pass`` (raised by the views; the codec does not authenticate)."""

    description = "Authentication failed"
    http_status = 403


class UnknownMessageId(LegacyError):
    """Retrieval of an id the gateway never issued."""

    description = "Unknown message id"
    http_status = 404


class MessageExpired(LegacyError):
    """Retrieval after the MO's ``expiry`` (legacy-mms-gateway-receive.txt)."""

    description = "Message expired"
    http_status = 410
