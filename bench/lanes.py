"""Benchmark: do hung callback receivers delay healthy ones? (per-destination lanes, issue 9)

    .venv/bin/python bench/lanes.py [--healthy 50] [--hung 50] [--rounds 20] [--interval 0.5]
                                    [--after 0.2] [--timeout 2]

``fakemms serve`` (a subprocess) with one account per receiver, each receiver on its own port of
127.0.0.1 (lanes are per scheme, host and port; bench/_receiver.py): ``--healthy`` answer 200 at
once, ``--hung`` accept and never answer (the fake's callback timeout ``--timeout`` s). Reports
are due ``--after`` s after each send. ``--rounds`` times, every ``--interval`` s, this process
sends one message per account (healthy and hung interleaved), then waits for the healthy
reports (at most ``--wait`` s).

Lateness of a healthy report: its arrival at the receiver minus (the start of its send + the
report delay): an upper bound, since the fake's due time is counted from when it accepted the
send, a little after the start (the send's own latency is printed beside). Both times are
``time.monotonic()``, system-wide on Linux. Baseline in the same run: the same healthy
receivers with no hung one, on a fresh server. Goal: healthy reports no later than due + 100 ms.
Bounded: every phase ends within rounds x interval + ``--wait`` s; every process it starts is
stopped; traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HOST, machine, percentile  # noqa: E402
from _receiver import Receivers  # noqa: E402
from memory import Server, get_json, rss_kb  # noqa: E402
from send import BOUNDARY, send_body  # noqa: E402


def account(name: str, port: int) -> dict:
    return {"username": name, "password": name, "mt_configs": {"config1": {
        "dlr_url": f"http://{HOST}:{port}/dlr", "dlr_protocol": "http", "region": "US"}}}


def run_phase(args: argparse.Namespace, work: Path, name: str, label: str, *, others: int = 0,
              others_hung: bool = True) -> dict:
    """The measured healthy accounts and ``others`` more, whose receivers never answer
    (``others_hung``) or answer at once like the measured ones (the control: the same sends
    and callbacks, nothing hung)."""
    hung = others if others_hung else 0
    receivers = Receivers(healthy=args.healthy + others - hung, hung=hung, record=True,
                          max_seconds=args.rounds * args.interval + args.wait + 120)
    healthy = [(f"ok{i:03d}", port) for i, port in enumerate(receivers.healthy[:args.healthy])]
    hung_accounts = [(f"other{i:03d}", port) for i, port in
                     enumerate(receivers.hung or receivers.healthy[args.healthy:])]
    # interleaved, so a healthy send never waits behind a block of hung ones
    order = [a for pair in zip(hung_accounts, healthy, strict=False) for a in pair]
    order += healthy[len(hung_accounts):] + hung_accounts[len(healthy):]
    config = work / f"{label}.yaml"
    config.write_text(json.dumps({
        "accounts": [account(n, p) for n, p in order],
        "callbacks": {"timeout_seconds": args.timeout},
        "default_report": {"status": "Retrieved", "after": args.after, "outcome_id": 1,
                           "description": "Message retrieved"},
    }))
    server = Server(config, work / f"{label}.stderr")
    body = send_body()
    auth = {name: "Basic " + base64.b64encode(f"{name}:{name}".encode()).decode()
            for name, _ in order}
    sent: dict[str, tuple[float, float]] = {}  # mtId -> (start, latency) of healthy sends
    healthy_names = {n for n, _ in healthy}
    expected = 0
    errors = 0
    health: dict = {}
    threads_peak = 0
    spy = None
    if args.py_spy:  # where the fake spends the GIL, per phase
        spy = subprocess.Popen(
            ["py-spy", "record", "--pid", str(server.proc.pid), "--gil", "--nonblocking",
             "-r", "100", "-f", "raw", "-o", f"{args.py_spy}.{name}", "-d",
             str(int(args.rounds * args.interval + 3))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
        start = time.monotonic()
        for r in range(args.rounds):
            round_at = start + r * args.interval
            time.sleep(max(0.0, round_at - time.monotonic()))
            for name, _ in order:
                t0 = time.monotonic()
                conn.request("POST", "/mms/v2/send", body=body, headers={
                    "Content-Type": f"multipart/mixed; boundary={BOUNDARY}",
                    "Authorization": auth[name]})
                resp = conn.getresponse()
                data = resp.read()
                t1 = time.monotonic()
                if resp.status != 202:
                    errors += 1
                    continue
                if not hung or name in healthy_names:
                    expected += 1  # a report that will be delivered
                if name in healthy_names:
                    sent[str(json.loads(data)["mtId"])] = (t0, t1 - t0)
            threads_peak = max(threads_peak, rss_kb(server.proc.pid)["Threads"])
        conn.close()
        # wait for the healthy reports (the hung ones never come)
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            health = server.health()
            threads_peak = max(threads_peak, rss_kb(server.proc.pid)["Threads"])
            if (health.get("callbacks_delivered") or 0) >= expected:
                break
            time.sleep(0.2)
        health = server.health()
        # the fake's own times, to split the lateness: scheduler, lane queue, HTTP
        offset = time.time() - time.monotonic()
        stored = {m["id"]: m for m in get_json(
            server.url + "/_fakemms/api/messages?limit=100000")["messages"]}
        callbacks = {c["message_id"]: c for c in get_json(
            server.url + "/_fakemms/api/callbacks")["callbacks"] if c["attempts"]}
    finally:
        if spy is not None:
            try:
                spy.wait(args.rounds * args.interval + args.wait + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        code, took = server.stop()
        got = receivers.stop()
        tracebacks = server.count_tracebacks()
    late = []
    early = []  # reports due before the first hung attempt could time out
    arrived = set()
    for _port, at, mt_id in got["records"]:
        if mt_id in sent and mt_id not in arrived:
            arrived.add(mt_id)
            late.append((at - sent[mt_id][0] - args.after) * 1000)
            if sent[mt_id][0] + args.after < start + args.timeout:
                early.append(late[-1])
    late.sort()
    early.sort()
    stages: dict[str, list[float]] = {"fired": [], "queued": [], "http": []}
    for _port, at, mt_id in got["records"]:
        if mt_id in sent and mt_id in stored and mt_id in callbacks:
            due = wall(stored[mt_id]["created_at"]) + args.after
            created = wall(callbacks[mt_id]["created_at"])
            attempt = wall(callbacks[mt_id]["attempts"][0]["at"])
            stages["fired"].append((created - due) * 1000)
            stages["queued"].append((attempt - created) * 1000)
            stages["http"].append((at + offset - attempt) * 1000)
    for values in stages.values():
        values.sort()
    return {"label": label, "hung": hung, "healthy": args.healthy, "sent": len(sent),
            "arrived": len(arrived), "errors": errors, "stages_ms": stages, "late_ms": late,
            "early_ms": early,
            "send_ms_p50": statistics.median(v[1] for v in sent.values()) * 1000 if sent else 0,
            "threads_peak": threads_peak, "health": health, "exit": code,
            "exit_seconds": round(took, 2), "tracebacks": tracebacks}


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def describe(res: dict, goal_ms: float) -> str:
    late = res["late_ms"]
    p = lambda q: percentile(late, q)  # noqa: E731
    worst = late[-1] if late else float("nan")
    verdict = "ok" if late and worst <= goal_ms and res["arrived"] == res["sent"] else "MISSED"
    h = res["health"]
    return (f"| {res['label']:<22} | {res['hung']:>4} | {res['arrived']:>4}/{res['sent']:<4} | "
            f"{p(50):>7.1f} | {p(99):>7.1f} | {worst:>7.1f} | {res['send_ms_p50']:>6.1f} | "
            f"{res['threads_peak']:>7} | {h.get('lanes', '-'):>5} | "
            f"{h.get('callbacks_shed', '-'):>4} | {res['tracebacks']:>2} | "
            f"{res['exit']} in {res['exit_seconds']:g} s | {verdict:<6} | "
            f"{percentile(res['early_ms'], 50):>6.1f} | "
            f"{percentile(res['early_ms'], 99):>6.1f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--healthy", type=int, default=50)
    ap.add_argument("--hung", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20, help="sends per account")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between rounds")
    ap.add_argument("--after", type=float, default=0.2, help="report delay, seconds")
    ap.add_argument("--timeout", type=float, default=2.0, help="callback timeout, seconds")
    ap.add_argument("--wait", type=float, default=20.0,
                    help="at most this long for the healthy reports after the last round")
    ap.add_argument("--control", action=argparse.BooleanOptionalAction, default=True,
                    help="a third phase: the other accounts' receivers answer at once (the "
                         "same traffic as with hung ones, nothing hung)")
    ap.add_argument("--goal-ms", type=float, default=100.0, help="allowed lateness")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--py-spy", metavar="FILE",
                    help="profile the fake in each phase (py-spy record --gil, raw) into "
                         "FILE.baseline, FILE.hung, FILE.control (py-spy must be on PATH)")
    args = ap.parse_args(argv)

    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"load average {m['load']}")
    print(f"{args.healthy} healthy receivers, {args.hung} hung (callback timeout "
          f"{args.timeout:g} s); reports due {args.after:g} s after each send; {args.rounds} "
          f"rounds every {args.interval:g} s, one send per account each", flush=True)
    with tempfile.TemporaryDirectory(prefix="fakemms-bench-lanes-") as tmp:
        work = Path(tmp)
        results = [run_phase(args, work, "baseline", "baseline (no hung)"),
                   run_phase(args, work, "hung", f"with {args.hung} hung", others=args.hung)]
        if args.control:
            results.append(run_phase(args, work, "control", f"control: {args.hung} healthy",
                                     others=args.hung, others_hung=False))
    print(f"\nlateness of healthy reports, ms after due (goal <= {args.goal_ms:g})")
    print("| phase                  | hung | arrived   |  median |     p99 |     max | send "
          "ms | threads | lanes | shed | tb | SIGTERM exit  | goal   | early median | p99 |")
    print("|------------------------|------|-----------|---------|---------|---------|-----"
          "---|---------|-------|------|----|---------------|--------|--------|--------|")
    for res in results:
        print(describe(res, args.goal_ms))
    print("\nwhere the time goes, ms, p50 / p99 (the fake's own times: due -> job fired -> "
          "attempt started -> arrival at the receiver)")
    for res in results:
        st = res["stages_ms"]
        print(f"  {res['label']:<22} " + "; ".join(
            f"{k} {percentile(v, 50):.1f} / {percentile(v, 99):.1f}" for k, v in st.items())
            + f" ({len(st['fired'])} reports)")
    for res in results[1:]:
        if results[0]["late_ms"] and res["late_ms"]:
            ratio = [percentile(res["late_ms"], q) / max(1e-9, percentile(results[0]["late_ms"], q))
                     for q in (50, 99)]
            print(f"{res['label']} / baseline: median x{ratio[0]:.2f}, p99 x{ratio[1]:.2f}")
    m2 = machine()
    print(f"load average at the end {m2['load']} ({m2['date']})")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "machine_end": m2,
                                               "args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
