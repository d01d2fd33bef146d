"""``fakemms check`` (configuration and scenario files) and ``fakemms readyz`` (the health
check a container runs: it asks where ``fakemms serve`` listens with the same environment)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from fakemms.cli.common import print_problems
from fakemms.errors import ConfigError

# Top-level keys only a scenario has (the configuration schema allows none of them).
SCENARIO_KEYS = frozenset({"name", "description", "rules", "faults", "mo"})


def looks_like_scenario(data: object) -> bool:
    """A mapping with a scenario's keys and no ``accounts`` is checked as a scenario."""
    return isinstance(data, dict) and "accounts" not in data and bool(SCENARIO_KEYS & data.keys())


def cmd_check(args: argparse.Namespace) -> int:
    """Validate each file as a scenario (``--scenario``, or detected by its keys) or as a
    configuration, with the scenarios that configuration lists; print every problem as
    ``file: path: problem``."""
    from pathlib import Path

    from fakemms.config import load_config, read_yaml
    from fakemms.scenario import load_scenario, scenario_from_dict

    ok = True
    for path in args.files:
        try:
            data = read_yaml(path)
            if args.scenario or looks_like_scenario(data):
                scenario_from_dict(data, path)
                print(f"{path}: ok (scenario)")
                continue
            config = load_config(path, env={})
        except ConfigError as exc:
            ok = False
            print_problems(exc)
            continue
        listed_ok = True
        for name in config["scenarios"]:
            listed = Path(name) if Path(name).is_absolute() else config.base_dir / name
            try:
                load_scenario(listed)
            except ConfigError as exc:
                ok = listed_ok = False
                print(f"{path}: scenarios: {name} is invalid", file=sys.stderr)
                print_problems(exc)
        if listed_ok:
            print(f"{path}: ok")
    return 0 if ok else 1


def served_url(env: Mapping[str, str]) -> str:
    """Where ``fakemms serve`` listens with this environment (FAKEMMS_CONFIG, FAKEMMS_HOST,
    FAKEMMS_PORT), so a container's health check follows any port or bind address; a wildcard
    address is reached on loopback. With none of those set, $FAKEMMS_URL if set."""
    from fakemms.config import load_config

    own = ("FAKEMMS_CONFIG", "FAKEMMS_HOST", "FAKEMMS_PORT")
    if env.get("FAKEMMS_URL") and not any(env.get(name) for name in own):
        return env["FAKEMMS_URL"]
    config = load_config(env=env)
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(config["host"],
                                                                   config["host"])
    return f"http://{f'[{host}]' if ':' in host else host}:{config['port']}"


def cmd_readyz(args: argparse.Namespace) -> int:
    import requests

    try:
        url = args.url or served_url(os.environ)
    except ConfigError as exc:
        print("fakemms: invalid configuration", file=sys.stderr)
        print_problems(exc)
        return 1
    try:
        r = requests.get(url.rstrip("/") + "/_fakemms/health", timeout=args.timeout)
    except requests.RequestException as exc:
        print(f"fakemms: not reachable at {url}: {exc.__class__.__name__}", file=sys.stderr)
        return 1
    if r.status_code != 200:
        print(f"fakemms: {url} answered {r.status_code}", file=sys.stderr)
        return 1
    print("ok")
    return 0
