"""The ``fakemms`` command: serve, check, readyz (and commands that drive a running server)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from fakemms.errors import ConfigError


def _print_problems(error: ConfigError) -> None:
    for problem in error.problems:
        print(f"{error.source}: {problem}", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    from fakemms.app import create_app
    from fakemms.config import load_config
    from fakemms.server import ServerThread

    overrides: dict = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.scenario:
        # relative to the current directory (the config's own list is relative to the file)
        overrides["scenarios"] = [os.path.abspath(p) for p in args.scenario]
    try:
        config = load_config(args.config, overrides=overrides)
        app = create_app(config)
        server = ServerThread(app, config["host"], config["port"], quiet=args.quiet,
                              **config["http"])
        server.start()
    except ConfigError as exc:
        print("fakemms: invalid configuration", file=sys.stderr)
        _print_problems(exc)
        return 2
    except OSError as exc:
        print(f"fakemms: cannot listen on {overrides.get('host')}:{overrides.get('port')}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    _banner(server.url, config)
    try:
        server._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        print("fakemms: stopping", file=sys.stderr)
    finally:
        server.stop()
    return 0


def _banner(url: str, config) -> None:
    print(f"fakemms listening on {url} (clock {config['clock']}, seed {config['seed']})")
    for acc in config["accounts"]:
        mts = ", ".join(acc.get("mt_configs") or {}) or "none"
        print(f"  account {acc['username']} / password {acc['password']}  mt_configs: {mts}")
    if config["accounts"]:
        acc = config["accounts"][0]
        mt = next(iter(acc.get("mt_configs") or {"config1": None}))
        print("Try it:\n"
              f"  printf -- '--b\\r\\nContent-Type: application/json\\r\\n\\r\\n"
              f"{{\"type\":\"MT\",\"source\":\"88600\",\"destination\":\"12515550130\","
              f"\"mtConfig\":\"{mt}\"}}\\r\\n\\r\\n--b\\r\\nContent-Type: text/plain\\r\\n"
              f"Content-Id: t.txt\\r\\n\\r\\nHello\\r\\n\\r\\n--b--\\r\\n' | \\\n"
              f"  curl -s -u {acc['username']}:{acc['password']} "
              f"-H 'Content-Type: multipart/mixed; boundary=b' --data-binary @- "
              f"{url}/mms/v2/send\n"
              f"  curl -s {url}/_fakemms/api/messages")
    sys.stdout.flush()


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
            _print_problems(exc)
            continue
        listed_ok = True
        for name in config["scenarios"]:
            listed = Path(name) if Path(name).is_absolute() else config.base_dir / name
            try:
                load_scenario(listed)
            except ConfigError as exc:
                ok = listed_ok = False
                print(f"{path}: scenarios: {name} is invalid", file=sys.stderr)
                _print_problems(exc)
        if listed_ok:
            print(f"{path}: ok")
    return 0 if ok else 1


def cmd_readyz(args: argparse.Namespace) -> int:
    import requests

    try:
        r = requests.get(args.url.rstrip("/") + "/_fakemms/health", timeout=args.timeout)
    except requests.RequestException as exc:
        print(f"fakemms: not reachable at {args.url}: {exc.__class__.__name__}", file=sys.stderr)
        return 1
    if r.status_code != 200:
        print(f"fakemms: {args.url} answered {r.status_code}", file=sys.stderr)
        return 1
    print("ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fakemms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the fake MMS provider")
    serve.add_argument("--config", help="YAML configuration file (default: $FAKEMMS_CONFIG)")
    serve.add_argument("--scenario", action="append",
                       help="scenario file (repeatable; replaces the config's scenarios)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8025; 0 = any)")
    serve.add_argument("--quiet", action="store_true", help="do not log each request")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate configuration and scenario files")
    check.add_argument("files", nargs="+", help="configuration or scenario files (a file with "
                       "a top-level name, rules, faults or mo is a scenario)")
    check.add_argument("--scenario", action="store_true",
                       help="check every file as a scenario")
    check.set_defaults(func=cmd_check)

    default_url = os.environ.get("FAKEMMS_URL", "http://127.0.0.1:8025")
    ready = sub.add_parser("readyz", help="exit 0 when the server answers healthy")
    ready.add_argument("--url", default=default_url, help="server URL (default $FAKEMMS_URL)")
    ready.add_argument("--timeout", type=float, default=2.0)
    ready.set_defaults(func=cmd_readyz)

    from fakemms.cli_drive import add_drive_commands

    add_drive_commands(sub)  # mo, report, messages, clock
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
