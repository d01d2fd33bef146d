"""The ``fakemms`` command: serve, check, readyz (and commands that drive a running server)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence

from fakemms.errors import ConfigError


def _print_problems(error: ConfigError) -> None:
    for problem in error.problems:
        print(f"{error.source}: {problem}", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    from fakemms.app import create_app
    from fakemms.config import load_config
    from fakemms.logs import configure, log_format
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
        fmt = log_format(os.environ.get("FAKEMMS_LOG_FORMAT"))
        config = load_config(args.config, overrides=overrides, overrides_origin={
            "host": "--host", "port": "--port", "scenarios": "--scenario"})
        app = create_app(config)
        server = ServerThread(app, config["host"], config["port"], quiet=args.quiet,
                              **config["http"])
        server.start()
    except ConfigError as exc:
        print("fakemms: invalid configuration", file=sys.stderr)
        _print_problems(exc)
        return 2
    except OSError as exc:
        print(f"fakemms: cannot listen on {config['host']}:{config['port']}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    configure(fmt)  # from here on every line goes to stdout, as text or JSON
    _banner(server.url, config)
    stop = _wait_for_signal()
    grace = float(config["shutdown_timeout"])
    print(f"fakemms: {stop}: stopping (requests and callback attempts in flight get "
          f"{grace:g} s)", file=sys.stderr)
    started = time.monotonic()
    server.stop(grace)  # stops accepting, lets work in flight finish, closes the backend
    print(f"fakemms: stopped in {time.monotonic() - started:.2f} s", file=sys.stderr)
    return 0


def _wait_for_signal() -> str:
    """Block until SIGTERM or SIGINT (docker stop, Ctrl-C); the signal's name."""
    got: list[str] = []
    done = threading.Event()

    def handler(signum: int, frame: object) -> None:
        got.append(signal.Signals(signum).name)
        done.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not done.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return got[0]


def _banner(url: str, config) -> None:
    log = logging.getLogger("fakemms")
    log.info("fakemms listening on %s (clock %s, seed %s)", url, config["clock"], config["seed"])
    for acc in config["accounts"]:
        mts = ", ".join(acc.get("mt_configs") or {}) or "none"
        log.info("  account %s / password %s  mt_configs: %s", acc["username"], acc["password"],
                 mts)
    if not config["accounts"]:
        log.warning("no accounts are configured: every send will be refused (15206); add one "
                    "to the config file or POST /_fakemms/api/accounts")
    senders = [a for a in config["accounts"] if a.get("mt_configs")]
    if config["accounts"] and not senders:
        log.warning("no account has an MT configuration: sends will be refused (15205)")
    if senders:
        acc = senders[0]
        mt = next(iter(acc["mt_configs"]))
        log.info("Try it:\n"
                 f"  printf -- '--b\\r\\nContent-Type: application/json\\r\\n\\r\\n"
                 f"{{\"type\":\"MT\",\"source\":\"88600\",\"destination\":\"12515550130\","
                 f"\"mtConfig\":\"{mt}\"}}\\r\\n\\r\\n--b\\r\\nContent-Type: text/plain\\r\\n"
                 f"Content-Id: t.txt\\r\\n\\r\\nHello\\r\\n\\r\\n--b--\\r\\n' | \\\n"
                 f"  curl -s -u {acc['username']}:{acc['password']} "
                 f"-H 'Content-Type: multipart/mixed; boundary=b' --data-binary @- "
                 f"{url}/mms/v2/send\n"
                 f"  curl -s {url}/_fakemms/api/messages")
    _log_origins(log, config)


def _log_origins(log: logging.Logger, config) -> None:
    """One line per setting not left at its default: its value (passwords hidden, whole
    sections named only) and where it came from, so a file and env together are explainable."""
    for name, origin in sorted(config.origins.items()):
        value = config.data
        path = name.replace("]", "").replace("[", ".").split(".")
        for step in path:
            value = value[int(step)] if isinstance(value, list) else value.get(step)
        if path[-1] == "password":
            shown = "(hidden)"
        elif isinstance(value, dict) or (isinstance(value, list) and name != "scenarios"):
            shown = "(section)"
        else:
            shown = json.dumps(value)
        log.info("config %s = %s from %s", name, shown, origin)


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
        _print_problems(exc)
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


def build_parser() -> argparse.ArgumentParser:
    from fakemms import __version__

    # the module docstring, without its reStructuredText quoting
    parser = argparse.ArgumentParser(prog="fakemms", description=__doc__.replace("``", ""))
    parser.add_argument("--version", action="version", version=f"fakemms {__version__}")
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

    ready = sub.add_parser("readyz", help="exit 0 when the server answers healthy")
    ready.add_argument("--url", help="server URL (default: where `fakemms serve` listens with "
                       "this FAKEMMS_CONFIG, FAKEMMS_HOST and FAKEMMS_PORT; with none of them "
                       "set, $FAKEMMS_URL)")
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
