"""``fakemms serve``: run the fake until SIGTERM or SIGINT, then stop after the work in
flight (the docker image depends on that); the banner and where each setting came from."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import NoReturn

from fakemms.cli.common import print_problems
from fakemms.config import DEFAULTS, SECRET_SETTINGS
from fakemms.errors import ConfigError


def cmd_serve(args: argparse.Namespace) -> int:
    from fakemms.app import create_app
    from fakemms.config import load_config
    from fakemms.logs import configure, log_format
    from fakemms.server import ServerThread, raise_fd_limit

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
        raise_fd_limit()  # the default connection_limit follows it (docs/service.md)
        server = ServerThread(app, config["host"], config["port"], quiet=args.quiet,
                              **config["http"])
        server.start()
    except ConfigError as exc:
        print("fakemms: invalid configuration", file=sys.stderr)
        print_problems(exc)
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
    _exit_now(0)


def _exit_now(code: int) -> NoReturn:
    """Every thread the server started is stopped and joined, the state file closed: end the
    process now, so it ends when the log says "stopped" (the interpreter's own teardown
    took seconds more on some machines)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


DEFAULT_PASSWORD = DEFAULTS["accounts"][0]["password"]


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


def _password(acc: dict) -> str:
    """A password as the log may show it: only the embedded default's (the README gives it)."""
    return acc["password"] if acc["password"] == DEFAULT_PASSWORD else "(hidden)"


def _banner(url: str, config) -> None:
    log = logging.getLogger("fakemms")
    log.info("fakemms listening on %s (clock %s, seed %s)", url, config["clock"], config["seed"])
    closed = bool(config.get("admin_token"))
    if closed:
        log.info("  control API and UI closed: they ask for Authorization: Bearer "
                 "$FAKEMMS_ADMIN_TOKEN (the admin token is set)")
    for acc in config["accounts"]:
        mts = ", ".join(acc.get("mt_configs") or {}) or "none"
        log.info("  account %s / password %s  mt_configs: %s", acc["username"], _password(acc),
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
        password = acc["password"] if acc["password"] == DEFAULT_PASSWORD else "PASSWORD"
        bearer = "-H \"Authorization: Bearer $FAKEMMS_ADMIN_TOKEN\" " if closed else ""
        log.info("Try it:\n"
                 f"  printf -- '--b\\r\\nContent-Type: application/json\\r\\n\\r\\n"
                 f"{{\"type\":\"MT\",\"source\":\"88600\",\"destination\":\"12515550130\","
                 f"\"mtConfig\":\"{mt}\"}}\\r\\n\\r\\n--b\\r\\nContent-Type: text/plain\\r\\n"
                 f"Content-Id: t.txt\\r\\n\\r\\nHello\\r\\n\\r\\n--b--\\r\\n' | \\\n"
                 f"  curl -s -u {acc['username']}:{password} "
                 f"-H 'Content-Type: multipart/mixed; boundary=b' --data-binary @- "
                 f"{url}/mms/v2/send\n"
                 f"  curl -s {bearer}{url}/_fakemms/api/messages")
    _log_origins(log, config)


def _log_origins(log: logging.Logger, config) -> None:
    """One line per setting not left at its default: its value (secrets hidden, whole
    sections named only) and where it came from, so a file and env together are explainable."""
    for name, origin in sorted(config.origins.items()):
        value = config.data
        path = name.replace("]", "").replace("[", ".").split(".")
        for step in path:
            value = value[int(step)] if isinstance(value, list) else value.get(step)
        if path[-1] in SECRET_SETTINGS:
            shown = "(hidden)"
        elif isinstance(value, dict) or (isinstance(value, list) and name != "scenarios"):
            shown = "(section)"
        else:
            shown = json.dumps(value)
        log.info("config %s = %s from %s", name, shown, origin)
