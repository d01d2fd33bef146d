"""JSON Schema of scenario files (CONTRACT section 4)."""

from __future__ import annotations

from typing import Any

from fakemms.config import MO_FORMATS

# A number of seconds, or a string like 500ms, 10s, 5m, 2h, 3d ("minimum" applies to numbers,
# "pattern" to strings, so an error names the one problem rather than "not valid under any").
DURATION = {"type": ["number", "string"], "minimum": 0,
            "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"}
STATUSES = ["Retrieved", "Expired", "Rejected", "Forwarded", "Indeterminate", "Deferred",
            "Unrecognised", "Unrecognized", "DeliveryConditionNotMet", "NotSupported",
            "Unreachable", "Read", "Deleted"]
PATTERN = {"type": ["string", "number"]}

REPORT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status"],
    "properties": {
        "status": {"enum": STATUSES},
        "after": DURATION,
        "outcome_id": {"type": "integer"},
        "description": {"type": "string"},
        "user_agent": {"type": "string"},
    },
}

FAULT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["duplicate", "reorder", "drop", "early"]},
        "status": {"enum": STATUSES},
        "probability": {"type": "number", "minimum": 0, "maximum": 1},
        "delay": DURATION,
    },
}

MATCH: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {k: PATTERN for k in ("account", "mt_config", "mtConfig", "source",
                                        "destination", "subject", "protocol")},
}

PART: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["content_type"],
    "properties": {
        "content_type": {"type": "string"},
        "content_id": {"type": "string"},
        "text": {"type": "string"},
        "base64": {"type": "string"},
        "generate": {"type": "boolean"},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "match": MATCH,
                    # the rule applies to this fraction of the MTs it matches (seeded draw);
                    # the rest go on to the next rule
                    "probability": {"type": "number", "minimum": 0, "maximum": 1},
                    "answer": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "accept": {"type": "boolean"},
                            "error": {"type": "integer"},
                            "mm7_status": {"type": "integer", "minimum": 1000, "maximum": 9999},
                            "latency": DURATION,
                        },
                    },
                    "reports": {"type": "array", "items": REPORT},
                    "faults": {"type": "array", "items": FAULT},
                },
            },
        },
        "faults": {"type": "array", "items": FAULT},
        "mo": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["account"],
                "properties": {
                    "name": {"type": "string"},
                    "account": {"type": "string"},
                    "at": DURATION,
                    "every": DURATION,
                    "count": {"type": "integer", "minimum": 1},
                    "from": {"type": "string"},
                    "to": {"type": ["string", "number"]},
                    "subject": {"type": "string"},
                    # instead of the account's mo.format (same URL and credentials)
                    "format": {"enum": MO_FORMATS},
                    "parts": {"type": "array", "items": PART},
                },
            },
        },
    },
}
