"""Benchmark: memory and pending work of ``fakemms serve`` over a long run of sends.

    .venv/bin/python bench/memory.py [--sends 1000000] [--marks 20] [--modes dlr,nodlr]
                                     [--stub-seconds 20] [--max-seconds 3600]

``fakemms serve`` (a subprocess; default store: ``max_messages`` 10,000; default report after
1 s) takes ``POST /mms/v2/send`` (the 1 KB body of bench/send.py) from wrk (-t2 -c8, keep-alive,
a Lua script) without a pause until ``--sends`` have been accepted. At each mark (every
``sends / marks`` sends, counted by the server: messages kept + evicted) it samples, under load:
the server's RSS (/proc/PID/status VmRSS), its threads, the counters of GET /_fakemms/health
(pending jobs, store sizes, callback lanes) and the tracebacks in its log (stderr).

Modes: ``dlr``, the default account's ``dlr_url`` points at a fast local receiver (a subprocess,
bench/_receiver.py), so every send makes a report callback that is really delivered; ``nodlr``,
no ``dlr_url`` (reports are recorded, nothing is sent). Baselines in the same run: the server's
RSS right after it starts, and the pytest-httpserver stub's RSS under the same load for
``--stub-seconds`` (0: skip).

Goals (issue 9): RSS <= 200 MB after 1M sends, growth < 10 % over the second half, pending
jobs bounded, no traceback. Bounded: ``--max-seconds`` per mode; every process it starts is
stopped at the end; traffic to 127.0.0.1 only. Prints a table per mode and a summary; with
``--json FILE`` also writes every sample there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HOST, ROOT, machine, process_cpu, start_stub  # noqa: E402
from _receiver import Receivers  # noqa: E402
from send import HEADERS, send_body  # noqa: E402

TRACEBACK = b"Traceback (most recent call last)"
LUA = """\
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
"""
HEALTH_FIELDS = ["pending_jobs", "fired_jobs", "dropped_jobs", "failed_jobs", "messages",
                 "evicted", "callbacks", "evicted_callbacks", "events", "subscribers", "lanes",
                 "callbacks_queued", "callbacks_busy", "callback_threads", "callbacks_shed",
                 "callbacks_delivered", "callbacks_failed"]


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and Threads of a process."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def get_json(url: str, timeout: float = 10.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class Server:
    """``fakemms serve --config FILE --port 0 --quiet``, its stderr in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fakemms", "serve", "--config", str(config), "--port", "0",
             "--quiet"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.log, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        self.port = 0
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            self.stop()
            raise RuntimeError("fakemms serve did not start:\n" + log.read_text())
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain
        self.url = f"http://{HOST}:{self.port}"
        self._offset = 0
        self.tracebacks = 0
        self.first_traceback = ""

    def health(self) -> dict:
        return get_json(self.url + "/_fakemms/health")

    def sends(self) -> int:
        h = self.health()
        return int(h["messages"]) + int(h["evicted"])

    def count_tracebacks(self) -> int:
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1  # whole lines only
        data = data[:cut]
        self._offset += cut
        self.tracebacks += data.count(TRACEBACK)
        if not self.first_traceback and TRACEBACK in data:
            start = data.index(TRACEBACK)
            self.first_traceback = data[max(0, start - 300):start + 3000].decode(
                "utf-8", "replace")
        return self.tracebacks

    def stop(self, timeout: float = 15.0) -> tuple[int | None, float]:
        """SIGTERM, as docker stop would; exit code and seconds to exit."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode, time.monotonic() - t0


class Wrk:
    """wrk -t2 -c8 posting the body, until stopped (SIGINT) or ``max_seconds``."""

    def __init__(self, url: str, body_file: Path, lua: Path, *, threads: int, connections: int,
                 max_seconds: float) -> None:
        headers = [a for k, v in HEADERS.items() for a in ("-H", f"{k}: {v}")]
        self.proc = subprocess.Popen(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(max_seconds)}s",
             "--timeout", "10s", "-s", str(lua), *headers, url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "BENCH_BODY": str(body_file)})

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out


def wrk_figures(out: str) -> dict[str, float]:
    """Requests, non-2xx answers and socket errors from wrk's summary."""
    figures: dict[str, float] = {"requests": 0, "non_2xx": 0, "socket_errors": 0}
    m = re.search(r"(\d+) requests in", out)
    if m:
        figures["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        figures["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        figures["socket_errors"] = sum(int(g) for g in m.groups())
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        figures["rps"] = float(m.group(1))
    return figures


def run_mode(mode: str, args: argparse.Namespace, work: Path, body_file: Path,
             lua: Path) -> dict:
    receivers = Receivers(healthy=1, max_seconds=args.max_seconds + 120) \
        if mode == "dlr" else None
    dlr_url = f"http://{HOST}:{receivers.healthy[0]}/dlr" if receivers else None
    config = work / f"{mode}.yaml"
    config.write_text(json.dumps({"accounts": [{
        "username": "fakemms", "password": "fakemms",
        "mt_configs": {"config1": {"dlr_url": dlr_url, "dlr_protocol": "http",
                                   "region": "US"}}}]}))
    server = Server(config, work / f"{mode}.stderr")
    samples: list[dict] = []
    result: dict = {"mode": mode, "samples": samples}
    wrk = None
    try:
        time.sleep(1.0)  # let it settle: the start-up figure is what an idle server holds
        start = rss_kb(server.proc.pid)
        result["rss_start_mb"] = start["VmRSS"] / 1024
        marks = [round(args.sends * (i + 1) / args.marks) for i in range(args.marks)]
        t0 = time.monotonic()
        cpu0 = process_cpu(server.proc.pid)
        wrk = Wrk(server.url + "/mms/v2/send", body_file, lua, threads=args.threads,
                  connections=args.connections, max_seconds=args.max_seconds)
        last_sends, last_t = 0, t0
        for mark in marks:
            while True:
                sends = server.sends()
                now = time.monotonic()
                if sends >= mark or wrk.proc.poll() is not None or now - t0 > args.max_seconds:
                    break
                time.sleep(args.poll)
            health = server.health()
            proc = rss_kb(server.proc.pid)
            sample = {"sends": int(health["messages"]) + int(health["evicted"]),
                      "elapsed": round(now - t0, 1),
                      "rps": (sends - last_sends) / max(1e-9, now - last_t),
                      "rss_mb": proc["VmRSS"] / 1024, "hwm_mb": proc["VmHWM"] / 1024,
                      "threads": proc["Threads"], "tracebacks": server.count_tracebacks(),
                      **{k: health.get(k) for k in HEALTH_FIELDS}}
            samples.append(sample)
            print(row(sample), flush=True)
            last_sends, last_t = sends, now
            if wrk.proc.poll() is not None or now - t0 > args.max_seconds:
                print(f"stopped early at {sends} sends (wrk ended or --max-seconds)")
                break
        wout = wrk.stop()
        wrk = None
        result["load_seconds"] = time.monotonic() - t0
        result["server_cpu_s"] = process_cpu(server.proc.pid) - cpu0
        result["wrk"] = wrk_figures(wout)
        # after the load: the reports still due fire (1 s), the lanes drain and idle out
        time.sleep(args.settle)
        health = server.health()
        proc = rss_kb(server.proc.pid)
        result["after"] = {"rss_mb": proc["VmRSS"] / 1024, "threads": proc["Threads"],
                           "tracebacks": server.count_tracebacks(),
                           **{k: health.get(k) for k in HEALTH_FIELDS}}
    finally:
        if wrk is not None:
            wrk.stop()
        code, took = server.stop()
        result["exit"] = {"code": code, "seconds": round(took, 2)}
        result["tracebacks"] = server.count_tracebacks()
        result["first_traceback"] = server.first_traceback
        if receivers:
            result["received"] = receivers.stop()["received"]
    return result


def run_stub(args: argparse.Namespace, body_file: Path, lua: Path) -> dict:
    """pytest-httpserver's static 202 under the same wrk load, for its RSS."""
    stub = start_stub()
    try:
        time.sleep(1.0)
        start = rss_kb(stub.proc.pid)["VmRSS"] / 1024
        wrk = Wrk(f"http://{HOST}:{stub.port}/mms/v2/send", body_file, lua,
                  threads=args.threads, connections=args.connections,
                  max_seconds=args.stub_seconds)
        wrk.proc.wait(args.stub_seconds + 30)
        figures = wrk_figures(wrk.stop())
        end = rss_kb(stub.proc.pid)["VmRSS"] / 1024
    finally:
        stub.stop()
    return {"rss_start_mb": start, "rss_end_mb": end, **figures}


COLUMNS = [("sends", 8, "d"), ("elapsed", 7, ".0f"), ("rps", 6, ".0f"), ("rss_mb", 7, ".1f"),
           ("threads", 7, "d"), ("pending_jobs", 7, "d"), ("dropped_jobs", 7, "d"),
           ("failed_jobs", 6, "d"), ("messages", 8, "d"), ("callbacks", 9, "d"),
           ("events", 7, "d"), ("lanes", 5, "d"), ("callbacks_queued", 6, "d"),
           ("callbacks_shed", 6, "d"), ("callbacks_delivered", 9, "d"), ("tracebacks", 6, "d")]
HEADS = ["sends", "s", "req/s", "RSS MB", "threads", "pending", "dropped", "failed", "messages",
         "callbacks", "events", "lanes", "queued", "shed", "delivered", "tb"]


def header() -> str:
    cells = [f"{h:>{w}}" for h, (_, w, _) in zip(HEADS, COLUMNS, strict=True)]
    return "| " + " | ".join(cells) + " |\n|" + "|".join("-" * (w + 2) for _, w, _ in
                                                        COLUMNS) + "|"


def row(sample: dict) -> str:
    cells = []
    for key, width, fmt in COLUMNS:
        value = sample.get(key)
        cells.append(f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}")
    return "| " + " | ".join(cells) + " |"


def summarize(result: dict, sends_goal: int) -> list[str]:
    samples = result["samples"]
    if not samples:
        return [f"{result['mode']}: no sample"]
    end = samples[-1]
    half = min(samples, key=lambda s: abs(s["sends"] - end["sends"] / 2))
    growth = (end["rss_mb"] - half["rss_mb"]) / half["rss_mb"] * 100
    max_pending = max(s["pending_jobs"] or 0 for s in samples)
    tb = result["tracebacks"]
    after = result.get("after", {})
    ok = lambda b: "ok" if b else "MISSED"  # noqa: E731
    lines = [
        f"{result['mode']}: {end['sends']} sends in {result.get('load_seconds', 0):.0f} s "
        f"({end['sends'] / max(1e-9, result.get('load_seconds', 1)):.0f}/s), server CPU "
        f"{result.get('server_cpu_s', 0):.0f} s; wrk: {result.get('wrk', {})}",
        f"  RSS at start {result['rss_start_mb']:.1f} MB; after the run {end['rss_mb']:.1f} MB "
        f"[goal <= 200: {ok(end['rss_mb'] <= 200)}]; peak (VmHWM) {end['hwm_mb']:.1f} MB",
        f"  growth over the second half ({half['sends']} -> {end['sends']} sends): "
        f"{growth:+.1f} % [goal < 10 %: {ok(growth < 10)}]",
        f"  max pending jobs {max_pending} [bounded: see the column]; tracebacks {tb} "
        f"[goal 0: {ok(tb == 0)}]",
        f"  settled after the load: RSS {after.get('rss_mb', float('nan')):.1f} MB, threads "
        f"{after.get('threads')}, pending {after.get('pending_jobs')}, callbacks "
        f"{after.get('callbacks')}, delivered {after.get('callbacks_delivered')}, failed "
        f"{after.get('callbacks_failed')}, shed {after.get('callbacks_shed')}"
        + (f", receiver got {result['received']}" if "received" in result else ""),
        f"  SIGTERM: exit {result['exit']['code']} in {result['exit']['seconds']} s",
    ]
    if end["sends"] < sends_goal * 0.95:
        lines.append(f"  NOTE: stopped at {end['sends']} of {sends_goal} sends")
    if result["first_traceback"]:
        lines.append("  first traceback:\n" + "\n".join(
            "    " + ln for ln in result["first_traceback"].splitlines()[:40]))
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sends", type=int, default=1_000_000)
    ap.add_argument("--marks", type=int, default=20, help="samples over the run")
    ap.add_argument("--modes", default="dlr,nodlr", help="dlr, nodlr (comma-separated)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections")
    ap.add_argument("--stub-seconds", type=float, default=20.0,
                    help="seconds of the same load on the pytest-httpserver stub (0: skip)")
    ap.add_argument("--max-seconds", type=float, default=3600.0, help="bound per mode")
    ap.add_argument("--poll", type=float, default=0.25, help="seconds between counter polls")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds after the load before the last sample")
    ap.add_argument("--json", help="write every sample to this file")
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")

    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"load average {m['load']}")
    print(f"{args.sends} sends per mode, wrk -t{args.threads} -c{args.connections} keep-alive, "
          f"1 KB body; fakemms serve with the default store and default report (1 s)",
          flush=True)
    out: dict = {"machine": m, "args": vars(args), "modes": {}}
    with tempfile.TemporaryDirectory(prefix="fakemms-bench-memory-") as tmp:
        work = Path(tmp)
        body_file = work / "body.bin"
        body_file.write_bytes(send_body())
        lua = work / "send.lua"
        lua.write_text(LUA)
        if args.stub_seconds > 0:
            stub = run_stub(args, body_file, lua)
            out["stub"] = stub
            print(f"stub (pytest-httpserver) under the same load for {args.stub_seconds:g} s: "
                  f"{stub['requests']:.0f} requests ({stub.get('rps', 0):.0f}/s), RSS "
                  f"{stub['rss_start_mb']:.1f} -> {stub['rss_end_mb']:.1f} MB", flush=True)
        for mode in [s for s in args.modes.split(",") if s]:
            what = "reports delivered to a local receiver" if mode == "dlr" else "no dlr_url"
            print(f"\n== {mode} ({what})")
            print(header(), flush=True)
            result = run_mode(mode, args, work, body_file, lua)
            out["modes"][mode] = result
            print("\n".join(summarize(result, args.sends)), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=1))
    m2 = machine()
    print(f"\nload average at the end {m2['load']} ({m2['date']})")
    out["machine_end"] = m2
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
