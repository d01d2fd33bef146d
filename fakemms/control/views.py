"""Control API: health, messages, parts, reset, dump, OpenAPI."""

from __future__ import annotations

from flask import Response, jsonify, request

from fakemms import errors
from fakemms.control.blueprint import backend, bp, get_message
from fakemms.control.openapi import openapi_document


@bp.get("/health")
def health() -> Response:
    return jsonify({"status": "ok", **backend().describe()})


@bp.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/api/messages")
def list_messages() -> Response:
    args = request.args
    direction = args.get("direction")
    if direction and direction not in ("mt", "mo"):
        raise errors.ControlError("direction must be mt or mo")
    try:
        limit = int(args.get("limit", 1000))
    except ValueError:
        raise errors.ControlError("limit must be an integer") from None
    count, found = backend().store.summaries(
        limit, direction=direction, account=args.get("account"), number=args.get("number"),
        status=args.get("status"), interface=args.get("interface"),
    )
    return jsonify({"count": count, "messages": found})


@bp.get("/api/messages/<message_id>")
def show_message(message_id: str) -> Response:
    found = backend().store.message_dict(get_message(message_id).id)
    if found is None:
        raise errors.NotFound(f"no message with id {message_id!r}")
    return jsonify(found)


@bp.get("/api/messages/<message_id>/parts/<int:index>")
def part_bytes(message_id: str, index: int) -> Response:
    message = get_message(message_id)
    if not 0 <= index < len(message.parts):
        raise errors.NotFound(f"message {message.id} has no part {index}")
    part = message.parts[index]
    response = Response(part.data, mimetype=None, content_type=part.content_type)
    if part.content_id:
        response.headers["Content-Id"] = part.content_id
    return response


@bp.post("/api/reset")
def reset() -> Response:
    backend().reset()
    return jsonify({"status": "reset"})


@bp.get("/api/dump")
def dump() -> Response:
    return jsonify(backend().store.dump())
