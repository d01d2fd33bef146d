"""Configuration: a YAML file validated by JSON Schema, embedded defaults, FAKEMMS_* overrides."""

from __future__ import annotations

import copy
import difflib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakemms.errors import ConfigError
from fakemms.models import Account, MoConfig, MtConfig

DLR_PROTOCOLS = ["http", "legacy", "mm7-5.3.0", "mm7-5.6.0", "mm7-6.1.0", "mm7-6.8.0"]
MO_FORMATS = ["http", "legacy-get", "legacy-post", "mm7-5.3.0", "mm7-5.6.0", "mm7-6.1.0",
              "mm7-6.8.0"]

_DIGIT_STRINGS = frozenset({"username", "password", "short_code"})  # often all digits
SECRET_SETTINGS = frozenset({"password", "admin_token"})  # never echoed in messages or logs
_URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"
_URL_OR_NULL = {"type": ["string", "null"], "pattern": _URL_PATTERN}  # where callbacks go
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

def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes")


def _names(value: str) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


def _number(value: str) -> int | float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return int(number) if number.is_integer() else number


@dataclass(frozen=True)
class EnvVar:
    """One FAKEMMS_* name: the setting it sets (a path into the file's shape) and how its text
    becomes a value; ``setting`` None for names read elsewhere (the client, ``serve``)."""

    name: str
    help: str
    setting: tuple[str | int, ...] | None = None
    convert: Callable[[str], Any] = str


_ACCOUNT = ("accounts", 0)
_CONFIG1 = (*_ACCOUNT, "mt_configs", "config1")
# Every FAKEMMS_* name fakemms knows, in one place: any other is a startup error (a typo must
# not pass silently), the README's table follows this one, and the image's test checks it.
ENV_VARS: dict[str, EnvVar] = {v.name: v for v in [
    EnvVar("FAKEMMS_CONFIG", "the YAML configuration file"),
    EnvVar("FAKEMMS_HOST", "address to listen on", ("host",)),
    EnvVar("FAKEMMS_PORT", "port to listen on", ("port",), int),
    EnvVar("FAKEMMS_SEED", "seed of ids and generated content", ("seed",), int),
    EnvVar("FAKEMMS_CLOCK", "real or virtual", ("clock",)),
    EnvVar("FAKEMMS_MAX_MESSAGES", "messages kept before the oldest are evicted",
           ("max_messages",), int),
    EnvVar("FAKEMMS_STRICT_MIME", "true or false", ("strict_mime",), _flag),
    EnvVar("FAKEMMS_TRUSTED_PROXIES", "comma-separated addresses or CIDRs",
           ("trusted_proxies",), _names),
    EnvVar("FAKEMMS_SCENARIOS", "comma-separated scenario files", ("scenarios",), _names),
    EnvVar("FAKEMMS_ACCOUNT_USERNAME", "the first account's username", (*_ACCOUNT, "username")),
    EnvVar("FAKEMMS_ACCOUNT_PASSWORD", "the first account's password", (*_ACCOUNT, "password")),
    EnvVar("FAKEMMS_TPS", "the first account's messages per second", (*_ACCOUNT, "tps"),
           _number),
    EnvVar("FAKEMMS_DLR_URL", "where config1's delivery reports go", (*_CONFIG1, "dlr_url")),
    EnvVar("FAKEMMS_MO_URL", "where the first account's MOs go", (*_ACCOUNT, "mo", "url")),
    EnvVar("FAKEMMS_MO_FORMAT", "http, legacy-get, legacy-post or mm7-VERSION",
           (*_ACCOUNT, "mo", "format")),
    EnvVar("FAKEMMS_LOG_FORMAT", "text or json (fakemms serve)"),
    EnvVar("FAKEMMS_URL", "a running fakemms, for the client, the CLI and the pytest plugin"),
    EnvVar("FAKEMMS_ADMIN_TOKEN", "token the control API and the UI ask for (Bearer)",
           ("admin_token",)),
    EnvVar("FAKEMMS_PERSISTENCE_PATH", "SQLite file that keeps state across restarts",
           ("persistence", "path")),
    # the project's own test suite (tests/test_ui.py); CI sets the first for the whole run
    EnvVar("FAKEMMS_REQUIRE_BROWSER", "browser tests fail instead of skipping"),
    EnvVar("FAKEMMS_SCREENSHOTS", "where the browser tests write the README's images"),
    EnvVar("FAKEMMS_FUZZ", "long: the fuzz tests run their long profile"),
    EnvVar("FAKEMMS_FUZZ_EXAMPLES", "examples per fuzz test in the long profile"),
    EnvVar("FAKEMMS_LOAD", "full: the load test sends 50 x 400 instead of 50 x 40"),
    EnvVar("FAKEMMS_FAULTS", "long: the callback fault tests run ten times longer (30 s down)"),
]}


def setting_name(path: Sequence[str | int]) -> str:
    """``("accounts", 0, "mo", "url")`` -> ``accounts[0].mo.url``, as problems name paths."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def unknown_env_names(env: Mapping[str, str]) -> list[str]:
    """A problem per FAKEMMS_* name fakemms does not know, with the nearest known name."""
    problems = []
    for name in sorted(n for n in env if n.startswith("FAKEMMS_") and n not in ENV_VARS):
        near = difflib.get_close_matches(name, ENV_VARS, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        problems.append(f"{name}: unknown setting{hint}; known: {', '.join(ENV_VARS)}")
    return problems


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Set each FAKEMMS_* variable's setting in ``data``; the account settings shape the
    file's first account (the embedded default one when the file has none) and its config1.
    Returns setting name -> the variable that set it."""
    origins: dict[str, str] = {}
    for var in ENV_VARS.values():
        text = env.get(var.name)
        if not text or var.setting is None:
            continue
        try:
            value = var.convert(text)
        except ValueError:
            name = setting_name(var.setting)
            raise ConfigError(var.name, [f"{name}: cannot use {text!r}"]) from None
        if var.setting[0] == "accounts" and not data.get("accounts"):
            data["accounts"] = copy.deepcopy(DEFAULTS["accounts"][:1])
        node: Any = data
        for step in var.setting[:-1]:
            if isinstance(node, list):  # the first account: the schema reports a bad one
                item = node[int(step)]
                node = item if isinstance(item, dict) else None
            elif isinstance(node, dict):
                if node.get(step) is None:
                    node[step] = {}
                node = node[step]
        if not isinstance(node, dict):
            continue  # the file's shape is wrong there: its own problem says where
        node[var.setting[-1]] = value
        origins[setting_name(var.setting)] = f"env {var.name}"
    return origins


@dataclass
class Config:
    data: dict[str, Any]
    source: str = "<defaults>"
    base_dir: Path = field(default_factory=Path.cwd)
    # setting name -> where its value came from ("file PATH", "env NAME", ...); absent: default
    origins: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def accounts(self) -> list[Account]:
        return [account_from_dict(a) for a in self.data["accounts"]]


def format_error(error: Any) -> str:
    message = error.message
    expected = error.schema.get("type") if error.validator == "type" else None
    wants_text = expected == "string" or (isinstance(expected, list) and "string" in expected)
    leaf = error.absolute_path[-1] if error.absolute_path else None
    if leaf in SECRET_SETTINGS:  # a secret's value stays out of the message (and the logs)
        message = message.replace(repr(error.instance), "(hidden)", 1)
    if wants_text and leaf in _DIGIT_STRINGS and isinstance(error.instance, int):
        # YAML reads 12345 as a number: a password or short code of digits needs quotes
        message += " (quote it)" if leaf in SECRET_SETTINGS else \
            f" (quote it: '{error.instance}')"
    elif error.validator == "pattern" and error.schema.get("pattern") == _URL_PATTERN:
        message = f"{error.instance!r} is not an http:// or https:// URL"
    return f"{setting_name(error.absolute_path) or '(top level)'}: {message}"


# top-level keywords under which an empty mapping is valid whatever their values
_EMPTY_OK = frozenset({"$schema", "$id", "$defs", "title", "description", "type", "properties",
                       "additionalProperties", "patternProperties", "propertyNames"})


def schema_problems(data: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every violation of ``schema``, each as 'path: message', in path order."""
    if data == {} and schema.get("type") == "object" and set(schema) <= _EMPTY_OK:
        return []  # nothing to check: spares the jsonschema import (~50 ms) at startup
    from jsonschema import Draft202012Validator  # slow to import: loaded on first use

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
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text (byte {exc.start}: {exc.reason})"]
                          ) from None
    import yaml  # loaded on first use: a config-less start never reads YAML

    try:
        return yaml.safe_load(text)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(str(path), ["invalid YAML: nested too deeply"]) from None
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
    overrides_origin: str | Mapping[str, str] = "overrides",
) -> Config:
    """Defaults, then the file (``path`` or $FAKEMMS_CONFIG), then FAKEMMS_* env, then overrides.
    An unknown FAKEMMS_* name is an error: a misspelt setting must not be silently ignored."""
    env = os.environ if env is None else env
    unknown = unknown_env_names(env)
    if unknown:
        raise ConfigError("environment", unknown)
    path = path or env.get("FAKEMMS_CONFIG") or None
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
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
        origins = {str(key): f"file {path}" for key in data}
    origins.update(_apply_env(data, env))
    if overrides:
        data = merge(data, overrides)
        origins.update({key: overrides_origin if isinstance(overrides_origin, str)
                        else overrides_origin.get(key, "overrides") for key in overrides})
    # every problem at once, schema and semantic alike, so one `fakemms check` lists them all
    problems = schema_problems(data, SCHEMA) + _semantic_problems(data)
    if problems:
        raise _named_error(source, problems, origins)
    return Config(merge(DEFAULTS, data), source, base_dir, origins)


def _named_error(source: str, problems: list[str],
                 origins: Mapping[str, str]) -> ConfigError:
    """A ConfigError whose problems name the variable or flag that set a bad value (a
    problem in the file, or in a default, keeps the file's name)."""

    def origin_of(problem: str) -> str | None:
        path = problem.split(": ", 1)[0]
        keys = [k for k in origins if path == k or path.startswith((k + ".", k + "["))]
        origin = origins[max(keys, key=len)] if keys else None
        return None if origin is None or origin.startswith("file ") else \
            origin.removeprefix("env ")

    named = [origin_of(p) for p in problems]
    if all(named) and len(set(named)) == 1:
        return ConfigError(named[0] or source, problems)
    return ConfigError(source, [p if n is None else f"{p} (from {n})"
                                for p, n in zip(problems, named, strict=True)])


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
