"""The OpenAPI 3.1 document of the control API: the source of truth for the Python client."""

from __future__ import annotations

from typing import Any

from fakemms import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _id_param() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "mtId, moId or MM7 MessageID; `latest` names the newest message"}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": schema or {"type": "string"}, "description": description}


PATHS: dict[str, Any] = {
    "/_fakemms/health": {
        "get": {"operationId": "health", "summary": "200 when the fake is ready",
                "responses": {"200": _json({"type": "object"})}},
    },
    "/_fakemms/api/messages": {
        "get": {
            "operationId": "list_messages",
            "summary": "Messages, newest first",
            "parameters": [
                _query("direction", "mt or mo", enum=["mt", "mo"]),
                _query("account", "account username"),
                _query("number", "source or destination number"),
                _query("status", "current status (accepted, Retrieved, Expired, ...)"),
                _query("interface", "openmarket, mm7 or legacy"),
                _query("limit", "at most this many", type="integer"),
            ],
            "responses": {"200": _json({
                "type": "object",
                "properties": {"count": {"type": "integer"},
                               "messages": {"type": "array", "items": {
                                   "$ref": "#/components/schemas/MessageSummary"}}},
            }), "400": _json(_ERROR, "bad filter")},
        },
    },
    "/_fakemms/api/messages/{id}": {
        "get": {"operationId": "get_message", "summary": "One message with parts, warnings, "
                "reports and callbacks", "parameters": [_id_param()],
                "responses": {"200": _json({"$ref": "#/components/schemas/Message"}),
                              "404": _json(_ERROR, "unknown id")}},
    },
    "/_fakemms/api/messages/{id}/parts/{n}": {
        "get": {"operationId": "get_part", "summary": "The raw bytes of part n, with its "
                "Content-Type", "parameters": [
                    _id_param(),
                    {"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "the part's bytes",
                                      "content": {"*/*": {"schema": {"type": "string",
                                                                     "format": "binary"}}}},
                              "404": _json(_ERROR, "unknown id or part")}},
    },
    "/_fakemms/api/reset": {
        "post": {"operationId": "reset", "summary": "Forget all messages, callbacks and counters",
                 "responses": {"200": _json({"type": "object"})}},
    },
    "/_fakemms/api/openapi.json": {
        "get": {"operationId": "openapi", "summary": "This document",
                "responses": {"200": _json({"type": "object"})}},
    },
    "/_fakemms/api/dump": {
        "get": {"operationId": "dump", "summary": "The whole state, part bytes in base64",
                "responses": {"200": _json({"type": "object"})}},
    },
}

_COMMON: dict[str, Any] = {
    "id": {"type": "string"}, "direction": {"enum": ["mt", "mo"]},
    "interface": {"type": "string"}, "account": {"type": "string"},
    "mt_config": {"type": ["string", "null"]}, "source": {"type": "string"},
    "destinations": {"type": "array", "items": {"type": "string"}},
    "subject": {"type": ["string", "null"]}, "status": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "integer"}, "description": {"type": "string"}}}}},
    "MessageSummary": {
        "type": "object",
        "properties": {**_COMMON, "parts": {"type": "integer"},
                       "warnings": {"type": "integer"}},
    },
    "Part": {"type": "object", "properties": {
        "index": {"type": "integer"}, "content_type": {"type": "string"},
        "content_id": {"type": ["string", "null"]}, "size": {"type": "integer"},
        "transfer_encoding": {"type": ["string", "null"]},
        "remote_url": {"type": ["string", "null"]}, "generated": {"type": "boolean"}}},
    "Message": {
        "type": "object",
        "properties": {
            **_COMMON,
            "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "mobile_operator_id": {"type": ["integer", "null"]},
            "ccs": {"type": "array", "items": {"type": "string"}},
            "bccs": {"type": "array", "items": {"type": "string"}},
            "reports": {"type": "array", "items": {"type": "object"}},
            "callback_ids": {"type": "array", "items": {"type": "string"}},
            "request_id": {"type": ["string", "null"]},
            "decision": {"type": ["string", "null"]},
            "extra": {"type": "object"},
        },
    },
}


def _op(op_id: str, summary: str, *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, ok: str = "200",
        content_type: str = "application/json") -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "summary": summary,
                           "responses": {ok: _json({"type": "object"}),
                                         "400": _json(_ERROR, "bad request"),
                                         "404": _json(_ERROR, "not found")}}
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": {content_type: {"schema": body}}}
    return out


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_PART_IN = {"type": "object", "required": ["content_type"], "properties": {
    "content_type": {"type": "string"}, "content_id": {"type": "string"},
    "text": {"type": "string"}, "base64": {"type": "string"}, "generate": {"type": "boolean"}}}
_SCENARIO_BODY = {"description": "a scenario (YAML or JSON), or a JSON list of scenarios"}
_ACCOUNT = {"type": "object", "description": "an account as in the configuration file"}

PATHS.update({
    "/_fakemms/api/mo": {"post": _op(
        "inject_mo", "Inject an MO; its callback follows", ok="201", body={
            "type": "object", "required": ["account", "destination"], "properties": {
                "account": {"type": "string"}, "source": {"type": "string"},
                "destination": {"type": "string"}, "subject": {"type": "string"},
                "ccs": {"type": "array", "items": {"type": "string"}},
                "bccs": {"type": "array", "items": {"type": "string"}},
                "mobile_operator_id": {"type": "integer"}, "user_agent": {"type": "string"},
                "ua_prof": {"type": "string"},
                "type": {"enum": ["mms", "sms"], "description": "sms: a legacy type 6 MO"},
                "format": {"type": "string", "description": "instead of the account's "
                           "mo.format: http, legacy-get, legacy-post, mm7-x.y.z"},
                "parts": {"type": "array", "items": _PART_IN}}})},
    "/_fakemms/api/messages/{id}/reports": {"post": _op(
        "send_report", "Send a delivery report now (or after a delay on the clock)",
        ok="201", params=[_id_param()], body={
            "type": "object", "required": ["status"], "properties": {
                "status": {"type": "string"}, "outcome_id": {"type": "integer"},
                "description": {"type": "string"}, "user_agent": {"type": "string"},
                "after": {"type": ["number", "string"]}}})},
    "/_fakemms/api/messages/{id}/callbacks": {"get": _op(
        "message_callbacks", "A message's callbacks and their attempts", params=[_id_param()])},
    "/_fakemms/api/callbacks": {"get": _op(
        "list_callbacks", "Every callback and its attempts, newest first", params=[
            _query("message_id", "the message's id"), _query("kind", "report or mo"),
            _query("state", "pending, in-flight, retrying, delivered or failed"),
            _query("account", "account username")])},
    "/_fakemms/api/callbacks/{callback_id}": {"get": _op(
        "get_callback", "One callback", params=[_path_param("callback_id")])},
    "/_fakemms/api/fetches": {"get": _op(
        "list_fetches", "Every remote-content fetch (URL, status, headers, size, cached, "
        "error), newest first")},
    "/_fakemms/api/clock": {
        "get": _op("get_clock", "The clock: mode, paused, now"),
        "put": _op("set_clock_mode", "Switch the clock: virtual (moves only with advance) or "
                   "real", body={"type": "object", "required": ["mode"], "properties": {
                       "mode": {"enum": ["real", "virtual"]}}}),
    },
    "/_fakemms/api/clock/advance": {"post": _op(
        "advance_clock", "Advance the clock; due jobs fire and their callbacks are attempted "
        "before the answer", body={"type": "object", "properties": {
            "seconds": {"type": "number"}, "duration": {"type": "string"}}})},
    "/_fakemms/api/clock/pause": {"post": _op("pause_clock", "Freeze the clock")},
    "/_fakemms/api/clock/resume": {"post": _op("resume_clock", "Let the clock run again")},
    "/_fakemms/api/scenarios": {
        "get": _op("list_scenarios", "Loaded scenarios"),
        "put": _op("replace_scenarios", "Replace the loaded scenarios", body=_SCENARIO_BODY,
                   content_type="application/yaml"),
        "post": _op("add_scenario", "Add a scenario", body=_SCENARIO_BODY, ok="201",
                    content_type="application/yaml"),
        "delete": _op("clear_scenarios", "Unload every scenario"),
    },
    "/_fakemms/api/scenarios/{name}": {"delete": _op(
        "remove_scenario", "Unload one scenario by name", params=[_path_param("name")])},
    "/_fakemms/api/accounts": {
        "get": _op("list_accounts", "Accounts and their limits"),
        "post": _op("create_account", "Create an account", body=_ACCOUNT, ok="201"),
    },
    "/_fakemms/api/accounts/{username}": {
        "get": _op("get_account", "One account", params=[_path_param("username")]),
        "patch": _op("update_account", "Change some settings (limits, TPS, closed, ...)",
                     params=[_path_param("username")], body=_ACCOUNT),
        "put": _op("replace_account", "Replace an account", params=[_path_param("username")],
                   body=_ACCOUNT),
        "delete": _op("delete_account", "Remove an account", params=[_path_param("username")]),
    },
    "/_fakemms/api/events": {"get": {
        "operationId": "events", "summary": "Server-sent events (message, report, callback.*, "
        "clock, reset); ?since=SEQ replays the buffer after SEQ",
        "parameters": [_query("since", "replay buffered events after this sequence number",
                              type="integer")],
        "responses": {"200": {"description": "event stream",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}},
})


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "fakemms control API", "version": __version__},
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }
