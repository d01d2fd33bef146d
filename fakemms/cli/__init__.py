"""The ``fakemms`` command: serve, check, readyz (and commands that drive a running server)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fakemms.cli.check import cmd_check, cmd_readyz, served_url
from fakemms.cli.serve import cmd_serve

__all__ = ["build_parser", "main", "served_url"]


def build_parser() -> argparse.ArgumentParser:
    from fakemms.version import __version__

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

    from fakemms.cli.drive import add_drive_commands

    add_drive_commands(sub)  # mo, report, messages, clock
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)

