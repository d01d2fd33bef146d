"""The environment's say: each FAKEMMS_* variable, the setting it overrides and how its
text is read; unknown names are found with the nearest known one."""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakemms.config.schema import DEFAULTS
from fakemms.errors import ConfigError


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


def apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
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
