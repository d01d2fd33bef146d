"""Benchmark: CPU per delivery report, in process, on the virtual clock; trees side by side.

    .venv/bin/python bench/callback_cpu.py [--tree NAME=PATH ...] [--reports 3000] [--rounds 3]

Each run is a child process (``PYTHONPATH=PATH``, so each tree's own fakemms is measured with
this virtual environment's libraries): an app on the virtual clock with one account whose
delivery reports go to ``bench/_receiver.py`` (another process, asyncio, keep-alive, answers
200 at once). ``--reports`` OpenMarket REPORTs are scheduled two ways:

- serial: each due at its own second; one advance fires them in order and waits for each
  attempt before the next (one lane thread at work: the cost of an attempt, no contention);
- burst: all due at once, ``--workers`` lane threads sending them.

Figures: the child's CPU (every thread) per report from the first firing to the last
delivery, reports a second, and every report delivered. ``--tree`` names the code measured
(default: this checkout); ``--rounds`` alternate the trees' order (ABBA) so that the
machine's drift hits them alike. Traffic to 127.0.0.1 only; every phase is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from _common import machine  # noqa: E402


def child(reports: int, mode: str, workers: int) -> dict[str, float]:
    from fakemms.app import create_app
    from fakemms.models import Message, Part
    from fakemms.scenario import ReportPlan

    receiver = subprocess.Popen([sys.executable, str(BENCH / "_receiver.py"), "--healthy", "1",
                                 "--max-seconds", "300"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        line = receiver.stdout.readline()  # type: ignore[union-attr]
        port = json.loads(line.split(" ", 1)[1])["healthy"][0]
        app = create_app({"accounts": [{"username": "acme", "password": "s3cret",
                                        "mt_configs": {"c": {
                                            "dlr_url": f"http://127.0.0.1:{port}/dlr"}}}],
                          "clock": "virtual", "default_report": None, "max_messages": 100_000,
                          "callbacks": {"workers": workers}})
        be = app.extensions["fakemms"]
        now = be.clock.now()
        for i in range(reports):
            message = Message(id=be.core.new_message_id(), direction="mt",
                              interface="openmarket", account="acme", source="88600",
                              destinations=["12515550130"], created_at=now, mt_config="c",
                              parts=[Part("text/plain", b"x")])
            message.answered.set()
            be.store.add_message(message)
            plan = ReportPlan(status="Retrieved", offset=1.0 + (i if mode == "serial" else 0),
                              outcome_id=1, description="ok")
            be.reports.schedule(message, [plan])
        cpu0, wall0 = time.process_time(), time.perf_counter()
        be.advance(reports + 2)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        states = [c["state"] for c in be.store.callback_dicts()]
        be.close()
    finally:
        out, _ = receiver.communicate("", timeout=60)
    received = json.loads(out.strip().splitlines()[-1].split(" ", 1)[1])["received"]
    return {"cpu_us": cpu / reports * 1e6, "per_second": reports / wall,
            "delivered": states.count("delivered"), "received": received}


def run(tree: Path, reports: int, mode: str, workers: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--reports", str(reports),
                           "--workers", str(workers)], env=env, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", action="append", default=[],
                        help="NAME=PATH of a fakemms checkout (repeatable)")
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--child", choices=("serial", "burst"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.reports, args.child, args.workers)))
        return
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": str(ROOT)}
    m = machine()
    print(f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, {m['date']}, "
          f"load {m['load']}")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    order = list(trees)
    for r in range(args.rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            for mode in ("serial", "burst"):
                res = run(Path(trees[name]), args.reports, mode, args.workers)
                results.setdefault((name, mode), []).append(res)
                print(f"  round {r + 1} {name:>8} {mode:>6}: {res['cpu_us']:7.0f} us/report "
                      f"{res['per_second']:7.0f}/s delivered {res['delivered']}/{args.reports} "
                      f"received {res['received']}", flush=True)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\n{'tree':>8} {'mode':>6} {'CPU us/report':>14} {'(min-max)':>13} "
          f"{'reports/s':>10} {'lost':>5}")
    for (name, mode), rows in results.items():
        cpu = [row["cpu_us"] for row in rows]
        lost = sum(args.reports - row["delivered"] for row in rows)
        print(f"{name:>8} {mode:>6} {statistics.median(cpu):14.0f} "
              f"{f'{min(cpu):.0f}-{max(cpu):.0f}':>13} "
              f"{statistics.median(row['per_second'] for row in rows):10.0f} {lost:>5}")


if __name__ == "__main__":
    main()
