"""Control API: the callbacks the fake sent (delivery reports and MOs) and every attempt."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from fakemms import errors
from fakemms.backend import backend
from fakemms.control.messages import ID, message_dict
from fakemms.control.openapi import operation, query
from fakemms.control.schemas import CALLBACK_STATES


@operation("GET", "/api/callbacks", answer="CallbackList", params=[
    query("message_id", "the message's id"),
    query("kind", "report or mo", enum=["report", "mo"]),
    query("state", "where it stands", enum=CALLBACK_STATES),
    query("account", "account username"),
])
def list_callbacks(query: dict[str, Any]) -> Response:
    """Every callback and its attempts, newest first"""
    found = backend().store.callback_dicts(
        message_id=query.get("message_id"), kind=query.get("kind"),
        state=query.get("state"), account=query.get("account"))
    return jsonify({"count": len(found), "callbacks": found})


@operation("GET", "/api/callbacks/<callback_id>", answer="Callback")
def get_callback(callback_id: str) -> Response:
    """One callback and its attempts"""
    callback = backend().store.callback_dict(callback_id)
    if callback is None:
        raise errors.NotFound(f"no callback {callback_id!r}")
    return jsonify(callback)


@operation("GET", "/api/messages/<id>/callbacks", answer="CallbackList", path_params=ID)
def message_callbacks(id: str) -> Response:
    """A message's callbacks (its delivery reports, or its MO) and their attempts"""
    found = backend().store.message_callback_dicts(message_dict(id)["id"])
    return jsonify({"count": len(found), "callbacks": found})
