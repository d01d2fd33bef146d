"""The control API's JSON Schemas: request bodies and answers, published in the OpenAPI
document's ``components`` and used as they are to validate requests (one set, no copies).

Request bodies reuse the schemas of the configuration file (accounts) and of scenario files,
so an account or a scenario is the same thing in a file and over the API. Answers list the
fields they always carry as ``required``; new fields may be added (no
``additionalProperties: false`` on answers).
"""

from __future__ import annotations

import copy
from typing import Any

from fakemms.config import ACCOUNT_SCHEMA, MO_FORMATS
from fakemms.scenario.schema import DURATION, PART, STATUSES
from fakemms.scenario.schema import SCHEMA as SCENARIO_SCHEMA

MAX_SECONDS = 10 * 365 * 86400  # a duration longer than 10 years is a mistake, not a test
CALLBACK_STATES = ["pending", "in-flight", "retrying", "delivered", "failed", "cancelled"]
INTERFACES = ["openmarket", "mm7", "legacy"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, **more}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def merge_patch_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of an RFC 7396 merge patch of documents valid under ``schema``: nothing
    required, any member may be null (null deletes it), nested objects are patches too."""
    out = copy.deepcopy(schema)
    out.pop("required", None)
    for key in ("properties", "additionalProperties"):
        members = out.get(key)
        if isinstance(members, dict):
            items = members.items() if key == "properties" else [(None, members)]
            for name, member in items:
                patched = merge_patch_schema(member) if "object" in _types(member) else member
                patched = _nullable(patched)
                if name is None:
                    out[key] = patched
                else:
                    members[name] = patched
    return out


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    if "type" in schema and "null" not in _types(schema):
        schema["type"] = [*_types(schema), "null"]
    return schema


_DATE = {"type": "string", "format": "date-time"}
_DATE_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT = {"type": "integer", "minimum": 0}
_STRINGS = _array({"type": "string"})

# --- requests --------------------------------------------------------------------------------
REQUESTS: dict[str, Any] = {
    "Duration": {**DURATION, "maximum": MAX_SECONDS, "description": (
        "seconds, or a string such as 500ms, 10s, 5m, 2h, 3d; at most 10 years")},
    "MoIn": _obj(["account", "destination"], {
        "account": {"type": "string", "minLength": 1},
        "destination": {"type": "string", "minLength": 1, "description": "the short code"},
        "source": {"type": "string", "minLength": 1, "description": "generated when absent"},
        "subject": {"type": "string", "description": "generated when absent"},
        "ccs": _STRINGS, "bccs": _STRINGS,
        "mobile_operator_id": {"type": "integer", "minimum": 0},
        "user_agent": {"type": "string"}, "ua_prof": {"type": "string"},
        "type": {"enum": ["mms", "sms"], "description": "sms: a legacy type 6 MO"},
        "format": {"enum": MO_FORMATS, "description": "instead of the account's mo.format"},
        "parts": {**_array(PART), "description": "text, base64, or generated (faker) when "
                  "neither is given; none: a generated text part"},
    }, additionalProperties=False),
    "ReportIn": _obj(["status"], {
        "status": {"enum": STATUSES}, "outcome_id": {"type": "integer"},
        "description": {"type": "string"}, "user_agent": {"type": "string"},
        "after": {**ref("Duration"), "description": "send it this long from now, on the "
                  "fake's clock (202); absent or 0: now (201)"},
    }, additionalProperties=False),
    "ClockModeIn": _obj(["mode"], {"mode": {"enum": ["real", "virtual"]}},
                        additionalProperties=False),
    "ClockAdvanceIn": {
        **_obj([], {"seconds": ref("Duration"), "duration": ref("Duration")},
               additionalProperties=False),
        "minProperties": 1, "maxProperties": 1,
        "description": 'one of {"seconds": 3600} or {"duration": "1h"}'},
    "Scenario": {k: v for k, v in SCENARIO_SCHEMA.items() if k != "$schema"},
    "ScenariosIn": {
        "description": "one scenario, or a list of them (JSON or YAML)",
        "if": {"type": "array"}, "then": _array(ref("Scenario")), "else": ref("Scenario")},
    "AccountSettings": {**ACCOUNT_SCHEMA, "description": "an account as in the configuration "
                        "file"},
    "AccountReplaceIn": {**ACCOUNT_SCHEMA, "required": ["password"], "description": (
        "the whole account; username, when given, must be the path's")},
    "AccountPatchIn": {**merge_patch_schema(ACCOUNT_SCHEMA), "description": (
        "a JSON Merge Patch (RFC 7396) of the account: nested objects merge, null deletes "
        "a setting (back to its default); username, when given, must be the path's")},
}

# --- answers ---------------------------------------------------------------------------------
_MESSAGE_COMMON: dict[str, Any] = {
    "id": {"type": "string"}, "direction": {"enum": ["mt", "mo"]},
    "interface": {"enum": INTERFACES}, "account": {"type": "string"},
    "mt_config": _STR_OR_NULL, "source": {"type": "string"}, "destinations": _STRINGS,
    "subject": _STR_OR_NULL, "status": {"type": "string"}, "created_at": _DATE,
}
_PART_OUT = {
    "index": _INT, "content_type": {"type": "string"}, "content_id": _STR_OR_NULL,
    "size": _INT, "transfer_encoding": _STR_OR_NULL, "remote_url": _STR_OR_NULL,
    "filename": _STR_OR_NULL, "generated": {"type": "boolean"}}
_REPORT_OUT = {
    "status": {"type": "string"}, "date": _DATE, "outcome_id": {"type": ["integer", "null"]},
    "description": _STR_OR_NULL, "user_agent": _STR_OR_NULL, "callback_id": _STR_OR_NULL}
_MESSAGE_OUT = {
    **_MESSAGE_COMMON, "parts": _array(ref("Part")), "warnings": _STRINGS,
    "mobile_operator_id": {"type": ["integer", "null"]}, "ccs": _STRINGS, "bccs": _STRINGS,
    "reports": _array(ref("Report")), "callback_ids": _STRINGS, "request_id": _STR_OR_NULL,
    "decision": _STR_OR_NULL, "extra": {"type": "object"}}
_CLOCK = {"mode": {"enum": ["real", "virtual"]}, "paused": {"type": "boolean"},
          "now": {"type": "number", "description": "seconds since the epoch"}, "iso": _DATE}
_ACCOUNT_FIELDS = list(ACCOUNT_SCHEMA["properties"])

ANSWERS: dict[str, Any] = {
    "Error": _obj(["error"], {"error": _obj(["code", "description"], {
        "code": {"type": "integer"}, "description": {"type": "string"},
        "problems": {**_STRINGS, "description": "each 'field: what is wrong' (a dotted path "
                     "into the body, or ?name for a query parameter)"}})}),
    "Health": _obj(["status", "clock", "seed", "scenarios", "messages", "evicted",
                    "max_messages", "pending_jobs"], {
        "status": {"enum": ["ok", "unhealthy"]}, "clock": ref("Clock"),
        "seed": {"type": ["integer", "null"]},
        "scenarios": _STRINGS, "messages": _INT, "evicted": _INT, "max_messages": _INT,
        "pending_jobs": _INT,
        "reason": {"type": "string", "description": "why the fake is unhealthy (503)"},
        "persistence": _obj(["status"], {
            "status": {"enum": ["off", "ok", "failing"],
                       "description": "failing: the state file takes no writes; sends are "
                       "refused until it does"},
            "path": {"type": "string"}, "reason": {"type": "string"},
            "unwritten": {**_INT, "description": "batches of changes (reports, attempts) "
                          "waiting to be written"}})}),
    "MessageSummary": _obj(list(_MESSAGE_COMMON) + ["parts", "warnings"], {
        **_MESSAGE_COMMON, "parts": _INT, "warnings": _INT}),
    "MessageList": _obj(["count", "messages"], {
        "count": {**_INT, "description": "how many match (the list stops at limit)"},
        "messages": _array(ref("MessageSummary"))}),
    "Part": _obj(list(_PART_OUT), _PART_OUT),
    "Report": _obj(list(_REPORT_OUT), _REPORT_OUT),
    "Message": _obj(list(_MESSAGE_OUT), _MESSAGE_OUT),
    "DumpedMessage": {**ref("Message"), "properties": {"parts": _array(
        {**ref("Part"), "required": ["base64"], "properties": {"base64": {"type": "string"}}})}},
    "Dump": _obj(["accounts", "messages", "callbacks", "fetches", "evicted", "usage",
                  "credit_used"], {
        "accounts": _array(ref("Account")), "messages": _array(ref("DumpedMessage")),
        "callbacks": _array(ref("Callback")), "fetches": _array(ref("Fetch")),
        "evicted": _INT, "usage": {"type": "object"}, "credit_used": {"type": "object"}}),
    "ResetDone": _obj(["status"], {"status": {"const": "reset"}}),
    "MoAccepted": _obj(["id", "moId", "callback_ids"], {
        "id": {"type": "string"}, "moId": {"type": "integer"}, "callback_ids": _STRINGS}),
    "ReportSent": {**ref("Report"), "required": ["message_id"],
                   "properties": {"message_id": {"type": "string"}}},
    "ReportScheduled": _obj(["message_id", "status", "scheduled_in"], {
        "message_id": {"type": "string"}, "status": {"enum": STATUSES},
        "scheduled_in": {"type": "number", "description": "seconds on the fake's clock"}}),
    "Attempt": _obj(["number", "at", "outcome", "status", "latency_ms", "body", "reason"], {
        "number": {"type": "integer", "minimum": 1}, "at": _DATE,
        "outcome": {"type": "string", "description": "success, rejected, timeout, "
                    "connection-error, shed"},
        "status": {"type": ["integer", "null"]}, "latency_ms": {"type": ["number", "null"]},
        "body": _STR_OR_NULL, "reason": _STR_OR_NULL,
        "error": {"type": ["string", "null"], "description": "null on success, else refused, "
                  "timeout, closed, reset, cut-short, bad-answer, connection, status, content, "
                  "shed, internal (docs/callbacks.md)"}}),
    "Callback": _obj(["id", "kind", "message_id", "account", "url", "method", "protocol",
                      "state", "created_at", "next_attempt_at", "headers", "attempt_count",
                      "attempts"], {
        "id": {"type": "string"}, "kind": {"enum": ["report", "mo"]},
        "message_id": {"type": "string"}, "account": {"type": "string"},
        "url": {"type": "string"}, "method": {"type": "string"},
        "protocol": {"type": "string"}, "state": {"enum": CALLBACK_STATES},
        "created_at": _DATE, "next_attempt_at": _DATE_OR_NULL, "decision": _STR_OR_NULL,
        "note": _STR_OR_NULL, "headers": {"type": "object",
                                          "additionalProperties": {"type": "string"}},
        "params": {"type": ["array", "null"]}, "attempt_count": _INT,
        "attempts_dropped": _INT, "attempts": _array(ref("Attempt")),
        "body": {"type": "string", "description": "the body sent (UTF-8, replaced)"}}),
    "CallbackList": _obj(["count", "callbacks"], {"count": _INT,
                                                  "callbacks": _array(ref("Callback"))}),
    "Fetch": _obj(["url", "status", "content_type", "size", "cached", "error", "fetched_at"], {
        "url": {"type": "string"}, "status": {"type": ["integer", "null"]},
        "content_type": _STR_OR_NULL, "size": _INT, "sha256": _STR_OR_NULL,
        "headers": {"type": ["object", "null"]}, "cached": {"type": "boolean"},
        "error": _STR_OR_NULL, "elapsed": {"type": "number"}, "fetched_at": _DATE,
        "expires_at": _DATE_OR_NULL}),
    "FetchList": _obj(["count", "fetches"], {"count": _INT, "fetches": _array(ref("Fetch"))}),
    "Clock": _obj(list(_CLOCK), _CLOCK),
    "ClockState": {**ref("Clock"), "required": ["pending_jobs"],
                   "properties": {"pending_jobs": _INT}},
    "ClockAdvanced": {**ref("Clock"), "required": ["fired"], "properties": {
        "fired": {**_INT, "description": "jobs fired by the advance"}}},
    "ScenarioSummary": _obj(["name", "description", "source", "rules", "faults", "mo"], {
        "name": {"type": "string"}, "description": _STR_OR_NULL, "source": _STR_OR_NULL,
        "rules": {**_STRINGS, "description": "rule names, in match order"},
        "faults": _INT, "mo": {**_STRINGS, "description": "MO script names"}}),
    "ScenarioList": _obj(["scenarios"], {"scenarios": {
        **_array(ref("ScenarioSummary")), "description": "in match order (first match wins)"}}),
    "Account": {**ref("AccountSettings"), "required": _ACCOUNT_FIELDS},
    "AccountList": _obj(["accounts"], {"accounts": _array(ref("Account"))}),
    "AccountDeleted": _obj(["deleted"], {"deleted": {"type": "string"}}),
    "OpenApiDocument": _obj(["openapi", "info", "paths", "components"], {
        "openapi": {"type": "string"}, "info": {"type": "object"},
        "paths": {"type": "object"}, "components": {"type": "object"}}),
    "Event": _obj(["seq", "type", "data"], {
        "seq": {"type": "integer", "minimum": 1, "description": "only grows, also over resets"},
        "type": {"type": "string", "description": "message, report, callback.*, clock, "
                 "reset, ..."},
        "data": {"type": "object"}}),
}

SCHEMAS: dict[str, Any] = {**REQUESTS, **ANSWERS}
