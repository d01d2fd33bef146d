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
    "/_fakemms/api/dump": {
        "get": {"operationId": "dump", "summary": "The whole state, part bytes in base64",
                "responses": {"200": _json({"type": "object"})}},
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "integer"}, "description": {"type": "string"}}}}},
    "MessageSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "direction": {"enum": ["mt", "mo"]},
            "interface": {"type": "string"}, "account": {"type": "string"},
            "mt_config": {"type": ["string", "null"]}, "source": {"type": "string"},
            "destinations": {"type": "array", "items": {"type": "string"}},
            "subject": {"type": ["string", "null"]}, "status": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "parts": {"type": "integer"}, "warnings": {"type": "integer"},
        },
    },
    "Part": {"type": "object", "properties": {
        "index": {"type": "integer"}, "content_type": {"type": "string"},
        "content_id": {"type": ["string", "null"]}, "size": {"type": "integer"},
        "transfer_encoding": {"type": ["string", "null"]},
        "remote_url": {"type": ["string", "null"]}, "generated": {"type": "boolean"}}},
    "Message": {
        "allOf": [{"$ref": "#/components/schemas/MessageSummary"}],
        "type": "object",
        "properties": {
            "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "reports": {"type": "array", "items": {"type": "object"}},
            "callback_ids": {"type": "array", "items": {"type": "string"}},
            "request_id": {"type": ["string", "null"]},
            "decision": {"type": ["string", "null"]},
            "extra": {"type": "object"},
        },
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "fakemms control API", "version": __version__},
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }
