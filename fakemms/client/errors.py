"""The client's errors: a refusal of the control API, an unreachable fake, a wait that timed
out (an ``AssertionError``, so a failing test reads as a failed assertion)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests


class _Unset:
    def __repr__(self) -> str:
        return "<the client's account>"


UNSET: Any = _Unset()


class FakeMmsClientError(Exception):
    """The control API refused a request (``status``, the server's ``description`` and
    ``problems``), or could not be asked."""

    def __init__(self, message: str, *, status: int | None = None,
                 description: str | None = None, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.description = description
        self.problems = list(problems)


class FakeMmsNotReachable(FakeMmsClientError):
    """Nothing answers at the client's URL."""


class WaitTimeout(FakeMmsClientError, AssertionError):
    """A ``wait_for_*`` found nothing in time; the message lists what did arrive."""


def reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "unknown host"),
                           ("nodename nor servname", "unknown host"),
                           ("timed out", "timed out"),
                           ("Connection reset", "connection reset"),
                           ("RemoteDisconnected", "connection closed without an answer")):
        if needle in text:
            return reason
    return exc.__class__.__name__


def error_from(response: requests.Response, method: str, path: str) -> FakeMmsClientError:
    description: str | None = None
    problems: list[str] = []
    try:
        error = response.json().get("error") or {}
        description = error.get("description")
        problems = list(error.get("problems") or [])
    except (ValueError, AttributeError):
        pass
    if description is None:
        description = response.text.strip()[:300] or response.reason
    return FakeMmsClientError(f"{method} {path}: HTTP {response.status_code}: {description}",
                              status=response.status_code, description=description,
                              problems=problems)
