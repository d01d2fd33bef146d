"""Benchmark: load with everything on, beside the same load with no callbacks, in the same run.

    .venv/bin/python bench/load.py [--senders 50] [--per-sender 400] [--wrk-seconds 5]
                                   [--rounds 1] [--skip-python] [--skip-wrk]

1. The load of tests/test_load.py (tests/loadgen.py): ``--senders`` concurrent senders
   (threads, one requests Session each) x ``--per-sender`` messages, OpenMarket sends and MM7
   SubmitReqs in turn, over four accounts (one with a TPS limit of 20, one with a daily limit
   of 1/16 of the sends), against ``fakemms serve`` (a subprocess); delivery reports (one or two
   a message, OpenMarket and MM7) go to a live ``AppReceiver`` in this process. Baseline, the
   same run: the same load on a fresh server whose accounts have no ``dlr_url`` (reports
   recorded, none sent). Figures: sends/s, reports delivered/s, p50/p99 send latency, lost
   reports, duplicate ids, the server's RSS and CPU per send.
2. Plain load with wrk (``-t2 -c8``, keep-alive, the same OpenMarket send each time) on the
   ``om`` account, reports due 0.2 s after each send so that they flow for nearly the whole
   run: callbacks on beside callbacks off, each on a fresh server; then the store's
   count against wrk's 2xx count (the store may hold up to 8 more: requests in flight when wrk
   stops are served but not counted by wrk), and every stored message's report delivered.

``max_messages`` is 50,000 so nothing is evicted before its reports fall due (the scheduler
drops the reports of evicted messages, counted as ``dropped_jobs``). Bounded: every phase has a
timeout; traffic to 127.0.0.1 only. ``--rounds N`` alternates the runs (on/off, off/on, ...)
so that the machine's load drifts over both alike. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import machine, run_wrk, wrk_script  # noqa: E402
from loadgen import (  # noqa: E402
    PASSWORD,
    Plan,
    Server,
    check,
    expected_reports,
    om_send,
    percentile,
    run_senders,
    scenario,
    server_config,
    wait_delivered,
)

from fakemms.testing import AppReceiver  # noqa: E402


def reports_per_second(receiver: AppReceiver) -> float:
    stamps = sorted(r.at for r in receiver.received)
    if len(stamps) < 2 or stamps[-1] == stamps[0]:
        return float("nan")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def python_load(plan: Plan) -> dict[str, object]:
    receiver = AppReceiver().start()
    server = Server(server_config(plan, receiver.url), [scenario(plan)])
    try:
        rss0, cpu0 = server.rss_mb(), server.cpu_seconds()
        t0 = time.monotonic()
        sent = run_senders(server.url, plan)
        wall = time.monotonic() - t0
        cpu = server.cpu_seconds() - cpu0
        expected = expected_reports(sent) if plan.callbacks else 0
        health = wait_delivered(server, receiver, expected, timeout=300) if expected \
            else server.health()
        drained = time.monotonic() - t0
        out = check(server, receiver, sent, health)
        latencies = [s.latency * 1000 for s in sent]
        return {
            "sends": len(sent), "accepted": out.accepted, "wall": wall,
            "sends_per_s": len(sent) / wall, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "reports": out.reports_received,
            "reports_expected": out.reports_expected if plan.callbacks else 0, "reports_per_s":
            reports_per_second(receiver), "drained": drained,
            "lost": sum(out.lost_reports.values()) if plan.callbacks else 0,
            "dup_ids": len(out.duplicate_ids),
            "dup_reports": sum(out.extra_reports.values()),
            "problems": out.problems() if plan.callbacks else
            [p for p in out.problems() if "callbacks" not in p and "lost reports" not in p],
            "rss": server.rss_mb(), "rss0": rss0, "cpu_us": cpu / len(sent) * 1e6,
            "dropped_jobs": health.get("dropped_jobs"), "evicted": health.get("evicted"),
            "by_outcome": dict(out.by_outcome), "load": machine()["load"],
        }
    finally:
        server.stop()
        receiver.stop()


def wrk_load(seconds: int, callbacks: bool, module: str = "fakemms") -> dict[str, object]:
    # reports due 0.2 s after each send, so they flow for nearly the whole run
    plan = Plan(callbacks=callbacks, report_after=0.2)
    receiver = AppReceiver().start()
    server = Server(server_config(plan, receiver.url), module=module)
    try:
        body, headers = om_send("12515550130", "wrk load")
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"om:{PASSWORD}".encode()).decode()
        with tempfile.TemporaryDirectory() as tmp:
            script = wrk_script(Path(tmp), "POST", "/mms/v2/send", body, headers)
            res = run_wrk(server.port, script, connections=8, threads=2, seconds=seconds,
                          server_pid=server.proc.pid)
        accepted = res.requests - res.errors
        t0 = time.monotonic()
        stored = -1
        while stored != (stored := server.health()["messages"]):
            time.sleep(0.3)  # until wrk's last requests in flight have been served too
        health = wait_delivered(server, receiver, stored if callbacks else 0, timeout=120)
        return {"rps": res.rps, "p50": res.p50, "p99": res.p99, "errors": res.errors,
                "accepted": accepted, "stored": health["messages"],
                "reports": len(receiver.received), "drain": time.monotonic() - t0,
                "reports_per_s": reports_per_second(receiver),
                "delivered": health["callbacks_delivered"],
                "dropped_jobs": health["dropped_jobs"], "evicted": health["evicted"],
                "rss": server.rss_mb(), "cpu_us": res.cpu_us_per_request,
                "load": f"{res.loads[0]:.2f}"}
    finally:
        server.stop()
        receiver.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--senders", type=int, default=50)
    ap.add_argument("--per-sender", type=int, default=400)
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="ABBA rounds (on/off, then off/on, ...) of each part")
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--skip-wrk", action="store_true")
    args = ap.parse_args(argv)
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"load average {m['load']}")

    orders = [(True, False) if r % 2 == 0 else (False, True) for r in range(args.rounds)]
    name = {True: "callbacks on", False: "no callbacks"}
    if not args.skip_python:
        total = args.senders * args.per_sender
        runs = []
        for r, order in enumerate(orders):
            for callbacks in order:
                plan = Plan(senders=args.senders, per_sender=args.per_sender,
                            day_limit=max(1, total // 16), callbacks=callbacks)
                runs.append((r + 1, callbacks, python_load(plan)))
        rate = {c: sum(x["sends"] for _, k, x in runs if k == c)
                / sum(x["wall"] for _, k, x in runs if k == c) for c in (True, False)}
        print(f"\n1. {args.senders} senders x {args.per_sender} (HTTP and MM7 in turn, "
              "4 accounts, TPS 20 and a daily limit on two), Python senders (requests), "
              f"{args.rounds} ABBA round(s)")
        print("| round | run | sends/s | x baseline | p50 ms | p99 ms | accepted | "
              "reports delivered | reports/s | lost | dup ids | dup reports | dropped jobs | "
              "evicted | RSS MB (start) | server CPU us/send | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r, callbacks, x in runs:
            print(f"| {r} | {name[callbacks]} | {x['sends_per_s']:.0f} | "
                  f"{x['sends_per_s'] / rate[False]:.2f}x | "
                  f"{x['p50']:.1f} | {x['p99']:.1f} | {x['accepted']} | "
                  f"{x['reports']}/{x['reports_expected']} | {x['reports_per_s']:.0f} | "
                  f"{x['lost']} | {x['dup_ids']} | {x['dup_reports']} | {x['dropped_jobs']} | "
                  f"{x['evicted']} | {x['rss']:.0f} ({x['rss0']:.0f}) | {x['cpu_us']:.0f} | "
                  f"{x['load']} |")
        print(f"over all rounds: callbacks on {rate[True]:.0f} sends/s, no callbacks "
              f"{rate[False]:.0f} sends/s: {rate[True] / rate[False]:.2f}x")
        for r, callbacks, x in runs:
            print(f"round {r}, {name[callbacks]}: outcomes {x['by_outcome']}; all reports in "
                  f"{x['drained']:.1f} s from the first send; problems: {x['problems'] or 'none'}")

    if not args.skip_wrk:
        wruns = [(r + 1, c, wrk_load(args.wrk_seconds, c))
                 for r, order in enumerate(orders) for c in order]
        base = sum(x["rps"] for _, c, x in wruns if not c) / args.rounds
        on = sum(x["rps"] for _, c, x in wruns if c) / args.rounds
        print(f"\n2. wrk -t2 -c8, {args.wrk_seconds} s, OpenMarket send on account om, "
              f"reports 0.2 s after each send, {args.rounds} ABBA round(s)")
        print("| round | run | sends/s | x baseline | p50 ms | p99 ms | non-2xx | "
              "stored / wrk 2xx | reports delivered | reports/s | dropped jobs | evicted | "
              "RSS MB | server CPU us/send | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r, callbacks, x in wruns:
            print(f"| {r} | {name[callbacks]} | {x['rps']:.0f} | {x['rps'] / base:.2f}x | "
                  f"{x['p50']:.1f} | {x['p99']:.1f} | {x['errors']} | "
                  f"{x['stored']}/{x['accepted']} | {x['delivered']} | "
                  f"{x['reports_per_s']:.0f} | {x['dropped_jobs']} | {x['evicted']} | "
                  f"{x['rss']:.0f} | {x['cpu_us']:.0f} | {x['load']} |")
        print(f"over all rounds: callbacks on {on:.0f} sends/s, no callbacks {base:.0f}: "
              f"{on / base:.2f}x; reports at the receiver at most "
              f"{max(x['drain'] for _, c, x in wruns if c):.1f} s after wrk ended")


if __name__ == "__main__":
    main()
