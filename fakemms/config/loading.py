"""Loading a configuration: the file (YAML), the environment, explicit overrides, merged
over the defaults and validated, with errors that name each setting's path; accounts from
their dicts."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakemms.config.environment import apply_env, setting_name, unknown_env_names
from fakemms.config.schema import (
    DEFAULTS,
    DIGIT_STRINGS,
    SCHEMA,
    SECRET_SETTINGS,
    URL_PATTERN,
)
from fakemms.errors import ConfigError
from fakemms.models import Account, MoConfig, MtConfig


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
    if wants_text and leaf in DIGIT_STRINGS and isinstance(error.instance, int):
        # YAML reads 12345 as a number: a password or short code of digits needs quotes
        message += " (quote it)" if leaf in SECRET_SETTINGS else \
            f" (quote it: '{error.instance}')"
    elif error.validator == "pattern" and error.schema.get("pattern") == URL_PATTERN:
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
    origins.update(apply_env(data, env))
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
