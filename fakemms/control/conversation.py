"""Control API: inject an MO, send a report now, callbacks and their attempts, the clock."""

from __future__ import annotations

import base64
import binascii

from flask import Response, jsonify, request

from fakemms import errors
from fakemms.config import MO_FORMATS
from fakemms.control.blueprint import backend, bp, get_message, json_body
from fakemms.models import Part
from fakemms.scenario import parse_duration
from fakemms.scenario.schema import STATUSES


@bp.post("/api/mo")
def inject_mo() -> tuple[Response, int]:
    data = json_body()
    for key in ("account", "destination"):
        if not data.get(key):
            raise errors.ControlError(f"{key} is required")
    if data.get("format") is not None and data["format"] not in MO_FORMATS:
        raise errors.ControlError(f"format must be one of {', '.join(MO_FORMATS)}")
    be = backend()
    parts = None
    if data.get("parts") is not None:
        if not isinstance(data["parts"], list):
            raise errors.ControlError("parts must be a list")
        parts = []
        for i, p in enumerate(data["parts"]):
            if not isinstance(p, dict) or not p.get("content_type"):
                raise errors.ControlError(f"parts[{i}].content_type is required")
            if "text" in p:
                payload = str(p["text"]).encode("utf-8")
            elif "base64" in p:
                try:
                    payload = base64.b64decode(p["base64"], validate=True)
                except (binascii.Error, ValueError):
                    raise errors.ControlError(f"parts[{i}].base64 is not base64") from None
            else:
                parts.extend(be.generated_parts([p]))
                continue
            parts.append(Part(p["content_type"], payload, p.get("content_id")))
    message = be.inject_mo(
        account=data["account"], source=data.get("source"),
        destination=str(data["destination"]), subject=data.get("subject"), parts=parts,
        ccs=data.get("ccs"), bccs=data.get("bccs"),
        mobile_operator_id=data.get("mobile_operator_id"), user_agent=data.get("user_agent"),
        ua_prof=data.get("ua_prof"), sms=str(data.get("type", "mms")).lower() == "sms",
        format=data.get("format"),
    )
    return jsonify({"id": message.id, "moId": int(message.id),
                    "callback_ids": message.callback_ids}), 201


@bp.post("/api/messages/<message_id>/reports")
def send_report(message_id: str) -> tuple[Response, int]:
    data = json_body()
    status = data.get("status")
    if status not in STATUSES:
        raise errors.ControlError(f"status must be one of {', '.join(STATUSES)}")
    try:
        after = parse_duration(data.get("after", 0))
    except ValueError as exc:
        raise errors.ControlError(str(exc)) from None
    message = get_message(message_id)
    result = backend().send_report(
        message.id, status=status, outcome_id=data.get("outcome_id"),
        description=data.get("description"), user_agent=data.get("user_agent"), after=after)
    return jsonify(result), 201 if not after else 202


@bp.get("/api/callbacks")
def list_callbacks() -> Response:
    args = request.args
    found = backend().store.callback_dicts(
        message_id=args.get("message_id"), kind=args.get("kind"), state=args.get("state"),
        account=args.get("account"))
    return jsonify({"count": len(found), "callbacks": found})


@bp.get("/api/callbacks/<callback_id>")
def show_callback(callback_id: str) -> Response:
    callback = backend().store.callback_dict(callback_id)
    if callback is None:
        raise errors.NotFound(f"no callback {callback_id!r}")
    return jsonify(callback)


@bp.get("/api/messages/<message_id>/callbacks")
def message_callbacks(message_id: str) -> Response:
    message = get_message(message_id)
    found = backend().store.message_callback_dicts(message.id)
    return jsonify({"count": len(found), "callbacks": found})


@bp.get("/api/fetches")
def list_fetches() -> Response:
    """Every remote-content fetch: URL, status, headers, size, cached or not, error."""
    fetches = backend().store.fetch_dicts()
    return jsonify({"count": len(fetches), "fetches": fetches})


@bp.get("/api/clock")
def clock() -> Response:
    be = backend()
    return jsonify({**be.clock.describe(), "pending_jobs": be.scheduler.pending_count()})


@bp.post("/api/clock/advance")
def advance() -> Response:
    data = json_body()
    raw = data.get("seconds", data.get("duration"))
    if raw is None:
        raise errors.ControlError('give {"seconds": N} or {"duration": "1h"}')
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise errors.ControlError(str(exc)) from None
    be = backend()
    fired = be.advance(seconds)
    return jsonify({**be.clock.describe(), "fired": fired})


@bp.put("/api/clock")
def set_clock_mode() -> Response:
    """``{"mode": "virtual"}``: a paused clock that moves only with advance; ``"real"``: the
    wall clock again (from where the clock stands)."""
    mode = json_body().get("mode")
    if mode not in ("real", "virtual"):
        raise errors.ControlError('give {"mode": "real"} or {"mode": "virtual"}')
    be = backend()
    be.clock.set_mode(mode)
    be.store.publish("clock", be.clock.describe())
    return jsonify({**be.clock.describe(), "pending_jobs": be.scheduler.pending_count()})


@bp.post("/api/clock/pause")
def pause() -> Response:
    be = backend()
    be.clock.pause()
    return jsonify(be.clock.describe())


@bp.post("/api/clock/resume")
def resume() -> Response:
    be = backend()
    be.clock.resume()
    return jsonify(be.clock.describe())
