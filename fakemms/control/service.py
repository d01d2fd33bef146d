"""Control API: the fake as a whole: health, this document, reset, the state dump."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from fakemms.backend import backend
from fakemms.control.accounts import REVEAL
from fakemms.control.openapi import openapi_document, operation
from fakemms.models import mask_passwords


@operation("GET", "/health", answer="Health", answers={503: "Health"})
def health() -> Response | tuple[Response, int]:
    """200 when the fake is ready: clock, seed, scenarios, counts; 503 while its persistence
    file takes no writes (sends are refused meanwhile), with the reason"""
    state = backend().describe()
    failure = state["persistence"].get("reason")
    if failure:
        return jsonify({"status": "unhealthy", "reason": failure, **state}), 503
    return jsonify({"status": "ok", **state})


@operation("GET", "/api/openapi.json", answer="OpenApiDocument")
def openapi() -> Response:
    """This document"""
    return jsonify(openapi_document())


@operation("POST", "/api/reset", answer="ResetDone")
def reset() -> Response:
    """Forget all messages, callbacks, counters and pending jobs; the clock back to its
    configured mode at wall time (accounts and scenarios are kept)"""
    backend().reset()
    return jsonify({"status": "reset"})


@operation("GET", "/api/dump", answer="Dump", params=[REVEAL])
def dump(query: dict[str, Any]) -> Response:
    """The whole state, part bytes in base64 (passwords masked unless `?reveal=passwords`)"""
    state = backend().store.dump()
    if query.get("reveal") != "passwords":
        state["accounts"] = [mask_passwords(a) for a in state["accounts"]]
    return jsonify(state)
