"""Benchmark: scheduler and callback lateness, and send -> report on the virtual clock.

1. Lateness at 100 and 500 due callbacks a second (real clock): reports are scheduled at a
   steady rate; we measure how late the scheduler fires each job (due -> fired) and how late
   the receiver gets it (due -> received, the receiver running in its own process). Baseline,
   measured in the same run: a bare thread sleeping until each due time and calling a no-op.
   Goal: scheduler lateness p99 <= 20 ms at 500/s.
2. Send -> report received on the virtual clock: POST /mms/v2/send, then POST
   /_fakemms/api/clock/advance (which returns once the report was delivered). Baseline: the
   send alone. Goal: median <= 10 ms.

Traffic goes to 127.0.0.1 only; every loop is bounded. Run: .venv/bin/python bench/callbacks.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import _common  # bench/ is on sys.path when a benchmark runs as a script
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import om_body  # noqa: E402

from fakemms.app import create_app  # noqa: E402
from fakemms.models import Message, Part  # noqa: E402
from fakemms.scenario import ReportPlan  # noqa: E402
from fakemms.server import ServerThread  # noqa: E402

RECEIVER = r"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
stamps = []
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        stamps.append(time.time())
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
print("READY", srv.server_address[1], flush=True)
sys.stdin.read()
print(json.dumps(stamps), flush=True)
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]


def start_receiver() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    return proc, int(line[1])


def stop_receiver(proc: subprocess.Popen) -> list[float]:
    out, _ = proc.communicate("", timeout=30)
    return json.loads(out.strip().splitlines()[-1])


def baseline_lateness(rate: float, seconds: float) -> list[float]:
    """A bare thread sleeping until each due time: the floor of what Python can do here."""
    count = int(rate * seconds)
    start = time.time() + 0.2
    late = []
    for i in range(count):
        due = start + i / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        late.append(time.time() - due)
    return late


def scheduler_lateness(rate: float, seconds: float) -> dict[str, float]:
    proc, port = start_receiver()
    app = create_app({"accounts": [{"username": "acme", "password": "s3cret", "mt_configs": {
        "config1": {"dlr_url": f"http://127.0.0.1:{port}/dlr"}}}],
        "default_report": None, "callbacks": {"workers": 16}})
    be = app.extensions["fakemms"]
    count = int(rate * seconds)
    start = time.time() + 0.5
    dues = []
    for i in range(count):
        message = Message(id=be.core.new_message_id(), direction="mt", interface="openmarket",
                          account="acme", source="88600", destinations=["12515550130"],
                          created_at=start + i / rate, mt_config="config1",
                          parts=[Part("text/plain", b"x")])
        message.answered.set()
        be.store.add_message(message)
        plan = ReportPlan(status="Retrieved", offset=0.0, outcome_id=1, description="ok")
        be.scheduler.at(message.created_at, lambda m=message, p=plan: be.reports.fire(m.id, p))
        dues.append(message.created_at)
    be.scheduler.lateness.clear()
    deadline = time.time() + seconds + 30
    while time.time() < deadline:
        states = [c["state"] for c in be.store.callback_dicts()]
        if len(states) == count and all(s == "delivered" for s in states):
            break
        time.sleep(0.05)
    received = stop_receiver(proc)
    fired = [x * 1000 for x in be.scheduler.lateness]
    # receipts are not matched one to one: compare sorted due times with sorted receipts
    delivery = [(r - d) * 1000 for r, d in zip(sorted(received), sorted(dues), strict=False)]
    be.scheduler.stop()
    return {"fired_p50": pct(fired, 50), "fired_p99": pct(fired, 99),
            "recv_p50": pct(delivery, 50), "recv_p99": pct(delivery, 99),
            "delivered": len(received), "count": count}


def virtual_round_trip(n: int) -> dict[str, float]:
    proc, port = start_receiver()
    app = create_app({"accounts": [{"username": "acme", "password": "s3cret", "mt_configs": {
        "config1": {"dlr_url": f"http://127.0.0.1:{port}/dlr"}}}], "clock": "virtual"})
    server = ServerThread(app).start()
    http = requests.Session()
    # the baseline's sends go to a number whose rule sends no report
    http.put(server.url + "/_fakemms/api/scenarios", json={"name": "bench", "rules": [
        {"name": "silent", "match": {"destination": "19995550100"}, "reports": []}]})
    body = om_body()
    silent = om_body({"type": "MT", "source": "88600", "destination": "19995550100",
                      "mtConfig": "config1"})
    headers = {"Content-Type": "multipart/mixed; boundary=mimeboundary"}
    send_only, round_trip = [], []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            r = http.post(server.url + "/mms/v2/send", data=silent if i % 2 else body,
                          headers=headers,
                          auth=("acme", "s3cret"), timeout=10)
            t1 = time.perf_counter()
            assert r.status_code == 202, r.text
            if i % 2:  # alternate: half the sends alone (baseline), half with the advance
                send_only.append((t1 - t0) * 1000)
                continue
            a = http.post(server.url + "/_fakemms/api/clock/advance", json={"seconds": 1},
                          timeout=30)
            assert a.status_code == 200
            round_trip.append((time.perf_counter() - t0) * 1000)
        delivered = len(stop_receiver(proc))
    finally:
        http.close()
        server.stop()
    return {"send_p50": statistics.median(send_only), "trip_p50": statistics.median(round_trip),
            "trip_p99": pct(round_trip, 99), "delivered": delivered, "sent_with_advance":
            len(round_trip)}


def main() -> None:
    m = _common.machine()
    print(f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, {m['date']}")
    seconds = float(os.environ.get("BENCH_SECONDS", "4"))
    print("\n1. lateness (ms), real clock")
    print(f"{'rate/s':>7} {'fired p50':>10} {'fired p99':>10} {'recv p50':>9} {'recv p99':>9} "
          f"{'base p99':>9} {'p99/base':>9} {'delivered':>10}")
    for rate in (100, 500):
        base = [x * 1000 for x in baseline_lateness(rate, min(seconds, 2))]
        r = scheduler_lateness(rate, seconds)
        base_p99 = max(pct(base, 99), 0.001)
        print(f"{rate:>7} {r['fired_p50']:>10.2f} {r['fired_p99']:>10.2f} {r['recv_p50']:>9.2f} "
              f"{r['recv_p99']:>9.2f} {base_p99:>9.2f} {r['fired_p99'] / base_p99:>9.1f} "
              f"{r['delivered']:>5}/{r['count']}")
    print("\n2. send -> report received, virtual clock (ms)")
    v = virtual_round_trip(int(os.environ.get("BENCH_TRIPS", "400")))
    print(f"send alone p50 {v['send_p50']:.2f} | send+advance+delivery p50 {v['trip_p50']:.2f} "
          f"p99 {v['trip_p99']:.2f} | ratio {v['trip_p50'] / v['send_p50']:.2f}x | "
          f"reports delivered {v['delivered']}/{v['sent_with_advance']}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
