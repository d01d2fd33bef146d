"""Control API: messages (MT and MO), newest first, and their parts' bytes."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from fakemms import errors
from fakemms.backend import backend
from fakemms.control.openapi import operation, query
from fakemms.control.schemas import INTERFACES
from fakemms.filenames import content_disposition, download_name, header_value

ID = {"id": "mtId, moId or MM7 MessageID; `latest` names the newest message"}


def message_dict(message_id: str) -> dict[str, Any]:
    """The message with this id (``latest``: the newest) as the API shows it, or 404."""
    found = backend().store.message_dict(message_id)
    if found is None:
        raise errors.NotFound(f"no message with id {message_id!r}")
    return found


@operation("GET", "/api/messages", answer="MessageList", params=[
    query("direction", "mt or mo", enum=["mt", "mo"]),
    query("account", "account username"),
    query("number", "source or destination number"),
    query("status", "current status (accepted, Retrieved, Expired, received, ...)"),
    query("interface", "the interface it came in or went out by", enum=INTERFACES),
    query("limit", "at most this many (default 1000)", type="integer", minimum=0),
])
def list_messages(query: dict[str, Any]) -> Response:
    """Messages, newest first"""
    count, found = backend().store.summaries(
        query.get("limit", 1000), direction=query.get("direction"),
        account=query.get("account"), number=query.get("number"),
        status=query.get("status"), interface=query.get("interface"))
    return jsonify({"count": count, "messages": found})


@operation("GET", "/api/messages/<id>", answer="Message", path_params=ID)
def get_message(id: str) -> Response:
    """One message with parts, warnings, reports and callback ids"""
    return jsonify(message_dict(id))


@operation("GET", "/api/messages/<id>/parts/<int:n>", path_params=ID, answer={
    "description": "the part's bytes, with its Content-Type (and Content-Id) and a "
                   "Content-Disposition naming it safely (RFC 6266, RFC 5987)",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}})
def get_part(id: str, n: int) -> Response:
    """The raw bytes of part n (from 0), with its Content-Type"""
    message_id = message_dict(id)["id"]
    part = backend().store.part(message_id, n)
    if part is None:
        raise errors.NotFound(f"message {message_id} has no part {n}")
    response = Response(part.data, mimetype=None,
                        content_type=header_value(part.content_type))
    if part.content_id:
        response.headers["Content-Id"] = header_value(part.content_id)
    # the name is the sender's: a base name only, quoted (docs/control-api.md)
    name = download_name(part.filename, part.content_id, n)
    response.headers["Content-Disposition"] = content_disposition("attachment", name)
    # message content is hostile input: never run it, never sniff it into something else
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
