"""Benchmark: the full OpenMarket send path against a static 202 stub, in the same run.

    .venv/bin/python bench/send.py [--connections 8] [--threads 2] [--duration 3]
                                   [--rounds 4] [--servers default] [--config FILE]
                                   [--serve-runs 5]

The full path is ``POST /mms/v2/send`` with a 1 KB multipart body (auth, guards, MIME parse,
JSON Schema validation, store, report scheduled) on fakemms; the baseline is pytest-httpserver
answering the same request with a fixed 202 JSON body (threaded, as its werkzeug server serves
it). Each server runs in its own subprocess on 127.0.0.1 (port 0); the load comes from wrk
(``-t2 -c8``, keep-alive where the server allows, a Lua script posting the same body). Runs
alternate stub/fakemms (ABBA over rounds) so drift hits both alike; the load average is
printed with each figure. Also times ``fakemms serve`` from spawn to its first healthy answer.

Bounded: every wrk run lasts ``--duration`` seconds. Prints figures and ratios; asserts nothing
(it is a measurement, not a test).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HOST,
    add_wrk_arguments,
    machine,
    run_abba,
    start_fakemms,
    start_stub,
    start_trivial,
    time_serve_to_healthy,
    wrk_script,
)

BOUNDARY = "mimeboundary"
USER, PASSWORD = "fakemms", "fakemms"  # the embedded default account (MT configuration config1)


def send_body(size: int = 1024) -> bytes:
    """An OpenMarket send body of exactly ``size`` bytes: JSON part, then one text part padded
    to fit, a blank line above each boundary (the document's layout)."""
    fields = {"type": "MT", "source": "88600", "destination": "12515550130",
              "mtConfig": "config1", "subject": "Benchmark"}

    def build(text: bytes) -> bytes:
        out = b""
        for headers, data in (
            ({"Content-Type": "application/json", "Content-Id": "main"},
             json.dumps(fields).encode()),
            ({"Content-Type": "text/plain; charset=utf-8", "Content-Id": "text.txt"}, text),
        ):
            out += f"--{BOUNDARY}\r\n".encode()
            out += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
            out += b"\r\n" + data + b"\r\n\r\n"
        return out + f"--{BOUNDARY}--\r\n".encode()

    pad = size - len(build(b""))
    text = (b"Hello from the benchmark. " * (pad // 26 + 1))[:pad]
    body = build(text)
    assert len(body) == size, len(body)
    return body


HEADERS = {
    "Content-Type": f"multipart/mixed; boundary={BOUNDARY}",
    "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
}


def check_once(port: int, body: bytes) -> str:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request("POST", "/mms/v2/send", body=body, headers=HEADERS)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 202:
        raise SystemExit(f"fakemms answered {resp.status}: {data[:300]!r}")
    return json.loads(data)["mtId"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_arguments(ap)
    ap.add_argument("--servers", default="default",
                    help="HTTP servers to serve fakemms with, comma-separated: default "
                         "(fakemms.server.ServerThread as `fakemms serve` runs it), close "
                         "(the same, keep_alive=False), werkzeug, waitress[:THREADS] (bare), "
                         "cheroot[:THREADS], gunicorn[:THREADS] (those two if installed), "
                         "trivial-NAME (a bare 202 app on server NAME)")
    ap.add_argument("--config", help="fakemms configuration file (default: embedded defaults)")
    ap.add_argument("--serve-runs", type=int, default=5,
                    help="times to start `fakemms serve` for the start-up figure (0: skip)")
    args = ap.parse_args(argv)

    levels = [int(c) for c in args.connections.split(",") if c]
    names = [s for s in args.servers.split(",") if s]
    body = send_body()
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"load average {m['load']}")
    print(f"body {len(body)} bytes; wrk -t{args.threads}, {args.rounds} ABBA round(s) x "
          f"{args.duration} s per cell (after a 1 s warm-up per target); fakemms config: "
          f"{args.config or 'embedded defaults'}")

    targets = {"stub": start_stub()}
    try:
        for name in names:
            try:
                if name.startswith("trivial-"):
                    targets[name] = start_trivial(name.split("-", 1)[1])
                else:
                    targets[f"fakemms[{name}]"] = proc = start_fakemms(name, args.config)
                    check_once(proc.port, body)
            except RuntimeError as exc:
                print(f"skipped {name}: {str(exc).strip().splitlines()[-1]}")
        order = list(targets)
        with tempfile.TemporaryDirectory() as tmp:
            script = wrk_script(Path(tmp), "POST", "/mms/v2/send", body, HEADERS)
            results = run_abba({name: (proc.port, proc.proc.pid, script)
                                for name, proc in targets.items()}, levels, args)
    finally:
        for proc in targets.values():
            proc.stop()

    print()
    print(f"| {'target':<22} | {'conn':>4} | {'req/s':>7} | {'x stub':>6} | {'p50 ms':>6} | "
          f"{'p99 ms':>6} | {'p99 max':>7} | {'errors':>6} | {'server CPU us':>13} | "
          f"{'wrk CPU us':>10} | {'load':>9} |")
    print(f"|{'-' * 24}|{'-' * 6}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 9}|"
          f"{'-' * 8}|{'-' * 15}|{'-' * 12}|{'-' * 11}|")
    for c in levels:
        base = results[("stub", c)].rps
        for name in order:
            res = results[(name, c)]
            ratio = res.rps / base if base else float("nan")
            load = f"{min(res.loads):.1f}-{max(res.loads):.1f}"
            print(f"| {name:<22} | {c:>4} | {res.rps:>7.0f} | {ratio:>5.2f}x | {res.p50:>6.2f} | "
                  f"{res.p99:>6.2f} | {res.p99_max:>7.2f} | {res.errors:>6} | "
                  f"{res.cpu_us_per_request:>13.0f} | {res.client_cpu_us_per_request:>10.0f} | "
                  f"{load:>9} |")
    if 8 in levels:
        print()
        base = results[("stub", 8)].rps
        for name in order[1:]:
            res = results[(name, 8)]
            ratio = res.rps / base if base else float("nan")
            met = ratio >= 1.0 and res.p99 < 20.0
            print(f"goal at 8 connections (>= 1.00x the stub, p99 < 20 ms): {name}: "
                  f"{ratio:.2f}x, p99 {res.p99:.1f} ms: {'met' if met else 'not met'}")

    if args.serve_runs > 0:
        runs = time_serve_to_healthy(args.serve_runs)
        times = [wall for wall, _ in runs]
        cpu = [c for _, c in runs]
        print()
        print(f"`fakemms serve` to healthy over {len(times)} runs: "
              f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
              f"max {max(times):.3f} s (goal <= 0.5 s); server CPU by then: median "
              f"{statistics.median(cpu):.2f} s; load average {machine()['load']}")


if __name__ == "__main__":
    main()
