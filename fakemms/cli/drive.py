"""The CLI commands that drive a running fakemms (through ``fakemms.Client``): ``mo``,
``report``, ``messages [--follow]`` and ``clock``. Each takes ``--url`` (default
``$FAKEMMS_URL`` or ``http://127.0.0.1:8025``); when the server is not there, or refuses,
it says so in one line on stderr and exits 1."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fakemms.client import Client, FakeMmsClientError, default_url


def _client(args: argparse.Namespace) -> Client:
    return Client(getattr(args, "url", None) or default_url(),
                  timeout=getattr(args, "timeout", None) or 10.0)


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except FakeMmsClientError as exc:
            text = str(exc).splitlines()[0]
            print(text if text.startswith("fakemms") else f"fakemms: {text}", file=sys.stderr)
            return 1
        except OSError as exc:  # a file given on the command line
            where = f" {exc.filename}" if exc.filename else ""
            print(f"fakemms: cannot read{where}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0

    run.__doc__ = command.__doc__
    return run


@_guarded
def cmd_mo(args: argparse.Namespace) -> int:
    """Inject an MO: a handset writes to the application's short code."""
    with _client(args) as client:
        files = [*(args.image or []), *(args.file or [])]
        message = client.inject_mo(args.to, source=args.source, subject=args.subject,
                                   text=args.text, files=files,
                                   account=args.account or None)
        print(f"MO {message.id} from {message.source} to {message.destination} "
              f"(account {message.account}, {len(message.parts)} part(s))")
        for callback_id in message.callback_ids:
            print(f"  callback {callback_id} to the account's MO URL")
        if not message.callback_ids:
            print("  no callback: the account has no MO URL")
    return 0


@_guarded
def cmd_report(args: argparse.Namespace) -> int:
    """Send a delivery report for an MT now (or after a while on the fake's clock)."""
    with _client(args) as client:
        message_id = args.message_id
        if message_id == "latest":  # reports are for MTs: the newest MT, not an MO after it
            newest = client.list_messages(direction="mt", limit=1)
            if not newest:
                print("fakemms: no MT message yet to report on", file=sys.stderr)
                return 1
            message_id = newest[0].id
        report = client.send_report(message_id, args.status, outcome_id=args.outcome_id,
                                    description=args.description, after=args.after)
        if report.scheduled_in is not None:
            print(f"report {report.status} for {report.message_id} in "
                  f"{report.scheduled_in:g} s (on the fake's clock)")
            return 0
        outcome = f" (outcomeId {report.outcome_id})" if report.outcome_id is not None else ""
        print(f"report {report.status}{outcome} for {report.message_id}")
        print(f"  callback {report.callback_id}" if report.callback_id
              else "  no callback: the MT configuration has no dlr_url")
    return 0


@_guarded
def cmd_messages(args: argparse.Namespace) -> int:
    """List messages, newest first; ``--follow`` then prints what happens as it happens."""
    with _client(args) as client:
        filters = {"direction": args.direction, "account": args.account,
                   "number": args.number, "status": args.status}
        # the stream resumes from here: nothing that happens after the list is missed
        since = client.health().get("event_seq") if args.follow else None
        messages = client.list_messages(limit=args.limit, **filters)
        if args.json:
            print(json.dumps([_jsonable(m) for m in messages], indent=2))
        else:
            for m in reversed(messages) if args.follow else messages:
                print(m.line())
            if not messages and not args.follow:
                print("no messages", file=sys.stderr)
        sys.stdout.flush()
        if args.follow:
            _follow(client, args, filters, since, {m.id for m in messages})
    return 0


def _follow(client: Client, args: argparse.Namespace, filters: dict[str, Any],
            since: int | None, listed: set[str]) -> None:
    types = ("message", "report", "callback.attempt", "callback.delivered", "callback.failed",
             "message.cancelled", "message.replaced", "message.withdrawn", "reset", "clock")
    for event in client.events(since=since, types=types, timeout=args.follow_for):
        data = event.data
        if args.account and data.get("account") not in (None, args.account):
            continue
        if event.type == "message" and data.get("id") in listed:
            continue  # already printed by the list
        line = _event_line(client, event.type, data, filters)
        if line:
            print(json.dumps({"seq": event.seq, "type": event.type, "data": data})
                  if args.json else line, flush=True)


def _event_line(client: Client, kind: str, data: dict[str, Any],
                filters: dict[str, Any]) -> str | None:
    if kind == "message":
        found = [m for m in client.list_messages(**filters, limit=50) if m.id == data["id"]]
        return found[0].line() if found else None
    if kind == "report":
        return f"  report {data.get('status')} for {data.get('message_id')}"
    if kind.startswith("callback."):
        attempt = data.get("attempt") or {}
        status = attempt.get("status")
        return (f"  callback {data.get('id')} ({data.get('kind')} for "
                f"{data.get('message_id')}): {attempt.get('outcome')}"
                f"{f', HTTP {status}' if status else ''} -> {data.get('state')}")
    if kind == "reset":
        return "-- reset --"
    if kind == "clock":
        return f"-- clock {data.get('iso')} ({data.get('mode')}) --"
    return f"  {kind} {data.get('id', '')}"


def _jsonable(item: Any) -> dict[str, Any]:
    out = asdict(item)
    for key, value in out.items():
        if hasattr(value, "isoformat"):
            out[key] = value.isoformat()
    return out


@_guarded
def cmd_clock(args: argparse.Namespace) -> int:
    """Show, advance, pause or resume the fake's clock, or switch its mode."""
    with _client(args) as client:
        action = args.action or "show"
        if action == "advance":
            state = client.advance_clock(args.duration)
        elif action == "pause":
            state = client.pause_clock()
        elif action == "resume":
            state = client.resume_clock()
        elif action == "mode":
            state = client.set_clock_mode(args.mode)
        else:
            state = client.get_clock()
        paused = ", paused" if state.paused and state.mode == "real" else ""
        print(f"clock {state.iso} ({state.mode}{paused})")
        if state.fired is not None:
            print(f"  {state.fired} job(s) fired")
        if state.pending_jobs is not None:
            print(f"  {state.pending_jobs} job(s) pending")
    return 0


_URL_HELP = "the running fakemms (default $FAKEMMS_URL or http://127.0.0.1:8025)"


def add_drive_commands(sub: Any) -> None:
    """Add ``mo``, ``report``, ``messages`` and ``clock`` to the ``fakemms`` parser."""
    _add_mo(sub)
    _add_report(sub)
    _add_messages(sub)
    _add_clock(sub)


def _common(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: `clock --url X advance 1h` keeps X (a subcommand's default would win)
    p.add_argument("--url", default=argparse.SUPPRESS, help=_URL_HELP)
    p.add_argument("--timeout", type=float, default=argparse.SUPPRESS,
                   help="seconds to wait for each answer (default 10)")


def _add_mo(sub: Any) -> None:
    mo = sub.add_parser("mo", help="inject an MO (a handset writes to a short code)",
                        description=cmd_mo.__doc__)
    mo.add_argument("--to", default="88600", help="the short code (default 88600)")
    mo.add_argument("--from", dest="source", help="the handset's number (default: generated)")
    mo.add_argument("--subject", help="the subject (default: generated)")
    mo.add_argument("--text", help="a text/plain part")
    mo.add_argument("--image", action="append", metavar="FILE",
                    help="an image part (repeatable; type from the file name)")
    mo.add_argument("--file", action="append", metavar="FILE",
                    help="any other part (repeatable; type from the file name)")
    mo.add_argument("--account", help="the receiving account (default: the first)")
    _common(mo)
    mo.set_defaults(func=cmd_mo)


def _add_report(sub: Any) -> None:
    report = sub.add_parser("report", help="send a delivery report for an MT",
                            description=cmd_report.__doc__)
    report.add_argument("message_id", metavar="MTID", help="the MT's id (or latest)")
    report.add_argument("--status", required=True,
                        help="Retrieved, Expired, Rejected, Deferred, Forwarded, ...")
    report.add_argument("--outcome-id", type=int, help="the outcomeId (default: the status')")
    report.add_argument("--description", help="the outcomeDescription")
    report.add_argument("--after", help="a delay on the fake's clock, e.g. 30s or 1h")
    _common(report)
    report.set_defaults(func=cmd_report)


def _add_messages(sub: Any) -> None:
    messages = sub.add_parser("messages", help="list messages (--follow: live)",
                              description=cmd_messages.__doc__)
    messages.add_argument("--direction", choices=["mt", "mo"])
    messages.add_argument("--account")
    messages.add_argument("--number", help="source or destination")
    messages.add_argument("--status")
    messages.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    messages.add_argument("--json", action="store_true", help="JSON instead of lines")
    messages.add_argument("--follow", "-f", action="store_true",
                          help="then print messages, reports and callbacks as they happen "
                          "(the server's event stream) until interrupted")
    messages.add_argument("--follow-for", type=float, metavar="SECONDS",
                          help="stop following after this long")
    _common(messages)
    messages.set_defaults(func=cmd_messages)


def _add_clock(sub: Any) -> None:
    clock = sub.add_parser("clock", help="show, advance, pause or resume the fake's clock",
                           description=cmd_clock.__doc__)
    _common(clock)
    clock.set_defaults(func=cmd_clock, action=None)
    actions = clock.add_subparsers(dest="action", metavar="ACTION")
    advance = actions.add_parser("advance", help="move the clock: due reports and MOs fire",
                                 description="Move the clock forward, e.g. 90, 30s, 5m, 1h, "
                                 "3d. Due reports and MOs fire (and their callbacks are "
                                 "attempted) before it answers.")
    advance.add_argument("duration", help="seconds, or a duration like 30s, 5m, 1h, 3d")
    _common(advance)
    for name, text in (("show", "print the clock"),
                       ("pause", "freeze the clock"), ("resume", "let the clock run again")):
        _common(actions.add_parser(name, help=text, description=text[0].upper() + text[1:]))
    mode = actions.add_parser("mode", help="switch to the virtual (or real) clock",
                              description="virtual: time moves only with `clock advance`; "
                              "real: the wall clock again")
    mode.add_argument("mode", choices=["real", "virtual"])
    _common(mode)
