"""The configuration's shape: the JSON Schema every config file, account and override is
validated against, and the embedded defaults (the server's ``http`` settings among them)."""

from __future__ import annotations

from typing import Any

DLR_PROTOCOLS = ["http", "legacy", "mm7-5.3.0", "mm7-5.6.0", "mm7-6.1.0", "mm7-6.8.0"]
MO_FORMATS = ["http", "legacy-get", "legacy-post", "mm7-5.3.0", "mm7-5.6.0", "mm7-6.1.0",
              "mm7-6.8.0"]

DIGIT_STRINGS = frozenset({"username", "password", "short_code"})  # often all digits
SECRET_SETTINGS = frozenset({"password", "admin_token"})  # never echoed in messages or logs
URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"
_URL_OR_NULL = {"type": ["string", "null"], "pattern": URL_PATTERN}  # where callbacks go
_NUMBER_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_INT_OR_NULL = {"type": ["integer", "null"], "minimum": 0}
_DURATION = {"type": ["number", "string"]}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "accounts": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "minLength": 1},
                    "password": {"type": "string"},
                    "allowed_ips": {"type": ["array", "null"], "items": {"type": "string"}},
                    "tps": _NUMBER_OR_NULL,
                    "max_per_day": _INT_OR_NULL,
                    "max_per_month": _INT_OR_NULL,
                    "prepaid_credit": _INT_OR_NULL,
                    "closed": {"type": "boolean"},
                    "mm7_multiple_recipients": {"type": "boolean"},
                    "mt_configs": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "dlr_url": _URL_OR_NULL,
                                "dlr_protocol": {"enum": DLR_PROTOCOLS},
                                "region": {"enum": ["US", "UK", "IE", "AU"]},
                                "operators": {"type": "array", "items": {"type": "integer"}},
                                "routing": {"enum": ["on-net", "off-net"]},
                                "username": {"type": ["string", "null"]},
                                "password": {"type": ["string", "null"]},
                                "short_code": {"type": ["string", "null"],
                                               "pattern": "^[0-9]{3,15}$"},
                            },
                        },
                    },
                    "mo": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "properties": {
                            "url": _URL_OR_NULL,
                            "format": {"enum": MO_FORMATS},
                            "username": {"type": ["string", "null"]},
                            "password": {"type": ["string", "null"]},
                            "region": {"enum": ["US", "UK", "IE", "AU"]},
                        },
                    },
                },
            },
        },
        "host": {"type": "string"},
        # closes the control API and the UI: Authorization: Bearer TOKEN (docs/control-api.md)
        "admin_token": {"type": ["string", "null"], "pattern": "^[!-~]+$"},  # ASCII, no spaces
        "port": {"type": "integer", "minimum": 0, "maximum": 65535},
        "shutdown_timeout": {"type": "number", "minimum": 0, "maximum": 300},
        "clock": {"enum": ["real", "virtual"]},
        "seed": {"type": ["integer", "null"]},
        "strict_mime": {"type": "boolean"},
        "max_messages": {"type": "integer", "minimum": 1},
        "trusted_proxies": {"type": "array", "items": {"type": "string"}},
        "decision_header": {"type": "boolean"},
        "http_status": {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9]{5}$"},
            "additionalProperties": {"type": "integer", "minimum": 100, "maximum": 599},
        },
        "callbacks": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
                "retry_delays": {"type": "array", "minItems": 1,
                                 "items": {"type": "number", "minimum": 0}},
                "give_up_after_seconds": {"type": "number", "minimum": 0},
                "workers": {"type": "integer", "minimum": 1, "maximum": 256},
            },
        },
        "default_report": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "status": {"type": "string"},
                "after": _DURATION,
                "outcome_id": {"type": "integer"},
                "description": {"type": "string"},
            },
        },
        "scenarios": {"type": "array", "items": {"type": "string"}},
        "mm7": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # skycore-mm7 answers throttling with 3510; 4006 Service unavailable is 3GPP's
                "tps_status": {"type": "integer", "minimum": 1000, "maximum": 9999},
                "error_style": {"enum": ["fault", "response"]},
                "max_content_bytes": {"type": "integer", "minimum": 1},
                "strict_media_types": {"type": "boolean"},
                "callback_namespaces": {
                    "type": "object",
                    "propertyNames": {"enum": ["5.3.0", "5.6.0", "6.1.0", "6.8.0"]},
                    "additionalProperties": {"type": "string", "minLength": 1},
                },
            },
        },
        "remote_content": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "mode": {"enum": ["async", "sync"]},
                "connect_timeout": {"type": "number", "exclusiveMinimum": 0},
                "read_timeout": {"type": "number", "exclusiveMinimum": 0},
                "total_timeout": {"type": "number", "exclusiveMinimum": 0},
                "max_bytes": {"type": "integer", "minimum": 1},
                "allowed_hosts": {"type": ["array", "null"], "items": {"type": "string"}},
                "default_ttl": {"type": "number", "minimum": 0},
            },
        },
        "content": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_parts": {"type": "integer", "minimum": 1},
                "max_depth": {"type": "integer", "minimum": 1},
                "max_part_headers": {"type": "integer", "minimum": 1},
                "max_header_line": {"type": "integer", "minimum": 80},
                "max_zip_entries": {"type": "integer", "minimum": 1},
                "max_entry_bytes": {"type": "integer", "minimum": 1},
                "max_ratio": {"type": "number", "minimum": 1},
            },
        },
        "http": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "threads": {"type": "integer", "minimum": 1},
                # null: from the file-descriptor limit (fakemms.server.default_connection_limit)
                "connection_limit": {"type": ["integer", "null"], "minimum": 1},
                "min_rate": {"type": "number", "minimum": 0},
                "idle_timeout": {"type": "number", "exclusiveMinimum": 0},
                "request_timeout": {"type": "number", "exclusiveMinimum": 0},
                "max_body": {"type": "integer", "minimum": 1},
                "backlog": {"type": "integer", "minimum": 1},
            },
        },
        "persistence": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {"path": {"type": ["string", "null"], "minLength": 1},
                           # YAML reads an unquoted off as false
                           "synchronous": {"enum": ["off", "normal", "full", False]},
                           # Retry-After on a send refused because the file took no write
                           "retry_after": {"type": "integer", "minimum": 0}},
        },
        "legacy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # legacy-mms-gateway-receive.txt: "no less than 24 hours"
                "expiry_seconds": {"type": "number", "minimum": 86400},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
                "max_zip_bytes": {"type": "integer", "minimum": 1},
            },
        },
    },
}

# The HTTP server's settings (fakemms.server.ServerThread keywords), the config's ``http:``.
HTTP_DEFAULTS: dict[str, Any] = {
    "threads": 8,  # worker threads running the app (plus one per open event stream)
    # open connections; at the limit the oldest idle keep-alive ones are closed to make room;
    # None: the file-descriptor limit less headroom (fakemms.server.default_connection_limit)
    "connection_limit": None,
    "min_rate": 1024.0,  # bytes/s a request body must average once past its first 5 s
    "idle_timeout": 15.0,  # s without a byte in or out: idle keep-alive, stalled head or body
    "request_timeout": 30.0,  # s for a request's head and Content-Length body to arrive
    "max_body": 64 * 1024 * 1024,  # larger bodies: 413 from the server (the app's own 413,
    # in the provider's format, applies from 50 MiB)
    "backlog": 1024,  # listen backlog
}

DEFAULTS: dict[str, Any] = {
    "accounts": [
        {
            "username": "fakemms",
            "password": "fakemms",
            "mt_configs": {"config1": {"dlr_url": None, "dlr_protocol": "http", "region": "US"}},
            "mo": None,
        }
    ],
    "host": "127.0.0.1",
    "admin_token": None,  # None: the control API and the UI are open
    "port": 8025,
    # fakemms serve on SIGTERM/SIGINT: requests and callback attempts in flight get this long
    "shutdown_timeout": 5.0,
    "clock": "real",
    "seed": None,
    "strict_mime": True,
    "max_messages": 10_000,
    "trusted_proxies": [],
    "decision_header": True,
    "http_status": {},
    "callbacks": {
        "timeout_seconds": 60,  # openmarket-mms-receive.txt: retried with no answer in 60 s
        "retry_delays": [15, 60, 300],
        "give_up_after_seconds": 86400,  # provider-notes.md: retried for up to 24 hours
        "workers": 8,
    },
    "default_report": {"status": "Retrieved", "after": "1s", "outcome_id": 1,
                       "description": "Message retrieved"},
    "scenarios": [],
    "mm7": {"tps_status": 4006, "error_style": "fault", "max_content_bytes": 2 * 1024 * 1024,
            "strict_media_types": True, "callback_namespaces": {}},
    # openmarket-mms-send.txt: the provider fetches remote content itself; we default to
    # fetching after the 202 (asynchronously), as a provider's pipeline would
    "remote_content": {"mode": "async", "connect_timeout": 5.0, "read_timeout": 10.0,
                       "total_timeout": 30.0, "max_bytes": 5 * 1024 * 1024,
                       "allowed_hosts": None, "default_ttl": 300.0},
    # legacy-mms-gateway-receive.txt: retrievable until expiry, "no less than 24 hours";
    # answers are due "sub 10 seconds"
    "legacy": {"expiry_seconds": 86400, "timeout_seconds": 10, "max_zip_bytes": 16 * 1024 * 1024},
    # hostile content (docs/service.md): the documents give no figures, so these are generous
    # for an MMS; MIME caps apply to every multipart body, zip caps to the legacy mms.zip,
    # max_ratio also to a remote answer's Content-Encoding
    "content": {"max_parts": 100, "max_depth": 10, "max_part_headers": 100,
                "max_header_line": 8192, "max_zip_entries": 100,
                "max_entry_bytes": 8 * 1024 * 1024, "max_ratio": 200},
    "http": HTTP_DEFAULTS,
    # off: state lives in memory only; a path keeps it in an SQLite file across restarts
    "persistence": {"path": None, "synchronous": "normal", "retry_after": 5},
}

ACCOUNT_SCHEMA = SCHEMA["properties"]["accounts"]["items"]
