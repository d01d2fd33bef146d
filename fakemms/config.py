"""Configuration: a YAML file validated by JSON Schema, embedded defaults, FAKEMMS_* overrides."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from fakemms.errors import ConfigError
from fakemms.models import Account, MoConfig, MtConfig

DLR_PROTOCOLS = ["http", "legacy", "mm7-5.3.0", "mm7-5.6.0", "mm7-6.1.0", "mm7-6.8.0"]
MO_FORMATS = ["http", "legacy-get", "legacy-post", "mm7-5.3.0", "mm7-5.6.0", "mm7-6.1.0",
              "mm7-6.8.0"]

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
                                "dlr_url": {"type": ["string", "null"]},
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
                            "url": {"type": ["string", "null"]},
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
        "port": {"type": "integer", "minimum": 0, "maximum": 65535},
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
        "http": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "threads": {"type": "integer", "minimum": 1},
                "connection_limit": {"type": "integer", "minimum": 1},
                "idle_timeout": {"type": "number", "exclusiveMinimum": 0},
                "request_timeout": {"type": "number", "exclusiveMinimum": 0},
                "max_body": {"type": "integer", "minimum": 1},
                "backlog": {"type": "integer", "minimum": 1},
            },
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
    "connection_limit": 1000,  # open connections; more wait in the listen backlog
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
    "port": 8025,
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
    "http": HTTP_DEFAULTS,
}

_ENV: dict[str, tuple[str, Any]] = {
    "FAKEMMS_HOST": ("host", str),
    "FAKEMMS_PORT": ("port", int),
    "FAKEMMS_SEED": ("seed", int),
    "FAKEMMS_CLOCK": ("clock", str),
    "FAKEMMS_MAX_MESSAGES": ("max_messages", int),
    "FAKEMMS_STRICT_MIME": ("strict_mime", lambda v: v.strip().lower() in ("1", "true", "yes")),
    "FAKEMMS_TRUSTED_PROXIES": ("trusted_proxies", lambda v: [s for s in v.split(",") if s]),
    "FAKEMMS_SCENARIOS": ("scenarios", lambda v: [s for s in v.split(",") if s]),
}


@dataclass
class Config:
    data: dict[str, Any]
    source: str = "<defaults>"
    base_dir: Path = field(default_factory=Path.cwd)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def accounts(self) -> list[Account]:
        return [account_from_dict(a) for a in self.data["accounts"]]


def format_error(error: Any) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{path.lstrip('.') or '(top level)'}: {error.message}"


def schema_problems(data: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every violation of ``schema``, each as 'path: message', in path order."""
    errors = sorted(Draft202012Validator(schema).iter_errors(data),
                    key=lambda e: list(map(str, e.absolute_path)))
    return [format_error(e) for e in errors]


def validate(data: Any, schema: Mapping[str, Any], source: str) -> None:
    """Raise ConfigError listing every violation, each naming its path."""
    problems = schema_problems(data, schema)
    if problems:
        raise ConfigError(source, problems)


def read_yaml(path: str | os.PathLike) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}invalid YAML: {problem}"]) from None


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key != "http_status":
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Defaults, then the file (``path`` or $FAKEMMS_CONFIG), then FAKEMMS_* env, then overrides."""
    env = os.environ if env is None else env
    path = path or env.get("FAKEMMS_CONFIG") or None
    data: dict[str, Any] = {}
    source = "<defaults>"
    base_dir = Path.cwd()
    if path:
        source = str(path)
        base_dir = Path(path).resolve().parent
        loaded = read_yaml(path)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(source, ["(top level): must be a mapping"])
        data = loaded
    for var, (key, conv) in _ENV.items():
        if env.get(var):
            try:
                data[key] = conv(env[var])
            except ValueError:
                raise ConfigError(var, [f"{key}: cannot use {env[var]!r}"]) from None
    if overrides:
        data = merge(data, overrides)
    # every problem at once, schema and semantic alike, so one `fakemms check` lists them all
    problems = schema_problems(data, SCHEMA) + _semantic_problems(data)
    if problems:
        raise ConfigError(source, problems)
    return Config(merge(DEFAULTS, data), source, base_dir)


def _semantic_problems(data: Mapping[str, Any]) -> list[str]:
    """What JSON Schema cannot say: unique usernames, IPs and CIDRs that parse. Tolerates
    data the schema refused (those problems are reported already)."""
    problems: list[str] = []
    accounts = data.get("accounts")
    if isinstance(accounts, list):
        accounts = [a if isinstance(a, Mapping) else {} for a in accounts]
        names = [a.get("username") for a in accounts if isinstance(a.get("username"), str)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        problems += [f"accounts: duplicate username {n!r}" for n in dupes]
        for i, acc in enumerate(accounts):
            problems += _check_networks(f"accounts[{i}].allowed_ips", acc.get("allowed_ips"))
    problems += _check_networks("trusted_proxies", data.get("trusted_proxies"))
    return problems


def account_problems(acc: Mapping[str, Any], path: str = "account") -> list[str]:
    """Problems JSON Schema cannot see in one account (for accounts changed at run time)."""
    return _check_networks(f"{path}.allowed_ips", acc.get("allowed_ips"))


def _check_networks(path: str, networks: Any) -> list[str]:
    import ipaddress

    problems = []
    for j, net in enumerate(networks if isinstance(networks, list) else []):
        if not isinstance(net, str):
            continue
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            problems.append(f"{path}[{j}]: {net!r} is not an IP or CIDR")
    return problems


def account_from_dict(a: Mapping[str, Any]) -> Account:
    mt = {
        name: MtConfig(name=name, **{k: v for k, v in (cfg or {}).items()})
        for name, cfg in (a.get("mt_configs") or {}).items()
    }
    mo = MoConfig(**a["mo"]) if a.get("mo") else None
    return Account(
        username=a["username"],
        password=a["password"],
        allowed_ips=list(a.get("allowed_ips") or []),
        tps=a.get("tps"),
        max_per_day=a.get("max_per_day"),
        max_per_month=a.get("max_per_month"),
        prepaid_credit=a.get("prepaid_credit"),
        closed=bool(a.get("closed", False)),
        mt_configs=mt,
        mo=mo,
        mm7_multiple_recipients=bool(a.get("mm7_multiple_recipients", True)),
    )


ACCOUNT_SCHEMA = SCHEMA["properties"]["accounts"]["items"]
