"""Every read the UI's server-rendered pages make of the backend, in one place.

The store's API is changing (snapshots, one method per change); only this module should need
to follow it. Everything returned is a plain dict or list (the stable serialised forms of
``fakemms.models``), never a live object the templates could hold on to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakemms.backend import backend as _backend


@dataclass(frozen=True)
class PartBytes:
    content_type: str
    data: bytes
    content_id: str | None
    filename: str | None


def messages(filters: dict[str, str], limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many messages match the filters, and the newest ``limit`` of them (summaries)."""
    return _backend().store.summaries(limit, **filters)


def message(message_id: str) -> dict[str, Any] | None:
    return _backend().store.message_dict(message_id)


def parts(message_id: str) -> list[PartBytes]:
    found = _backend().store.get_message(message_id)
    if found is None:
        return []
    return [PartBytes(p.content_type, p.data, p.content_id, p.filename) for p in found.parts]


def part(message_id: str, index: int) -> PartBytes | None:
    found = parts(message_id)
    return found[index] if 0 <= index < len(found) else None


def callbacks(callback_ids: list[str]) -> list[dict[str, Any]]:
    """The callbacks (with every attempt) of a message, oldest first."""
    store = _backend().store
    found = (store.callback_dict(c) for c in callback_ids)
    return [c for c in found if c is not None]


def raw_request(message_id: str) -> str | None:
    """The request that created the message, as received (credentials redacted, cut at
    16 KiB); None when the message came from the fake itself (an MO)."""
    raw = _backend().store.raw_request(message_id)
    return None if raw is None else raw.decode("utf-8", "replace")


def clock() -> dict[str, Any]:
    """The clock, and how many scheduled jobs wait for it (reports among them, by job name)."""
    be = _backend()
    pending = be.scheduler.pending()
    reports = sum(1 for job in pending if job.name.startswith("report "))
    return {**be.clock.describe(), "pending_jobs": len(pending), "pending_reports": reports}


def accounts() -> list[dict[str, Any]]:
    return [a.to_dict(secrets=False) for a in _backend().store.accounts()]


def scenarios() -> list[dict[str, Any]]:
    return [s.to_dict() for s in _backend().engine.scenarios]


def sample_sender() -> dict[str, str] | None:
    """The first account with an MT configuration, for the list's "try it" command (its
    password shown as ``?reveal=passwords`` would: with an admin token, this page needs it)."""
    for a in _backend().store.accounts():
        if a.mt_configs:
            return {"username": a.username, "password": a.password,
                    "mt_config": next(iter(a.mt_configs))}
    return None


def account_names() -> list[str]:
    return sorted(a.username for a in _backend().store.accounts())


def openapi() -> dict[str, Any]:
    import fakemms.control  # noqa: F401  (every resource module registers its operation)
    from fakemms.control.openapi import openapi_document

    return openapi_document()
