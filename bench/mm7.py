"""Benchmark: the full MM7 SubmitReq path beside the OpenMarket HTTP send path, in the same run.

    .venv/bin/python bench/mm7.py [--concurrency 8] [--duration 3] [--rounds 4]

One fakemms process (``fakemms.server.ServerThread``, what ``fakemms serve`` uses, with the
embedded default configuration) on 127.0.0.1 serves both paths, started as a subprocess of this
script so the load generator never shares its GIL. The load comes from this process: one
thread per client, each on its own socket (kept alive when the server allows; reconnecting,
timed, when it answers ``Connection: close``), the request encoded once, every request timed
on its own (a minimal generator of its own, so this script depends on nothing but the
package). Runs alternate MM7/HTTP (ABBA over rounds) so drift hits both.

- MM7: ``POST /mm7``, ``multipart/related`` SOAP 1.1 SubmitReq (REL-6-MM7-1-4, 6.8.0) with a
  nested ``multipart/mixed`` holding one text part: Basic auth, guards, MIME split, defusedxml
  parse, validation, media and size checks, SMIL generation, store, SubmitRsp. Expected: 200.
- HTTP: ``POST /mms/v2/send``, a 1 KB multipart body (JSON part + a text part of the same
  text as the SubmitReq's). Expected: 202.

The goal (issue 4) is MM7 >= 0.8x the HTTP path's req/s. Bounded: each run stops after
``--duration`` seconds or ``--max-requests`` requests. Prints figures and the ratio; asserts
nothing (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
USER, PASSWORD = "fakemms", "fakemms"  # the embedded default account (MT configuration config1)
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
OUTER, INNER, OM = "mm7-outer-boundary", "mm7-inner-boundary", "mimeboundary"
TEXT_SIZE = 850


def text(size: int = TEXT_SIZE) -> bytes:
    return (b"Hello from the benchmark. " * (size // 26 + 1))[:size]


def send_body() -> bytes:
    """The HTTP send body: JSON part, then the text part, a blank line above each boundary."""
    fields = {"type": "MT", "source": "88600", "destination": "12515550130",
              "mtConfig": "config1", "subject": "Benchmark"}
    out = b""
    for headers, data in (("Content-Type: application/json\r\nContent-Id: main",
                           json.dumps(fields).encode()),
                          ("Content-Type: text/plain; charset=utf-8\r\nContent-Id: text.txt",
                           text())):
        out += f"--{OM}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n\r\n"
    return out + f"--{OM}--\r\n".encode()


SEND_HEADERS = {"Content-Type": f"multipart/mixed; boundary={OM}", "Authorization": AUTH}


def submit_body() -> bytes:
    """A SubmitReq as real VASPs send it: SOAP part named by ``start``, content a nested
    multipart/mixed with one text part (the HTTP body's text)."""
    soap = (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<env:Header><mm7:TransactionID xmlns:mm7="{NS}" env:mustUnderstand="1">bench-1'
        "</mm7:TransactionID></env:Header><env:Body>"
        f'<SubmitReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version>'
        "<SenderIdentification><VASPID>bench</VASPID><VASID>config1</VASID>"
        "<SenderAddress><ShortCode>88600</ShortCode></SenderAddress></SenderIdentification>"
        "<Recipients><To><Number>12515550130</Number></To></Recipients>"
        "<DeliveryReport>true</DeliveryReport><Subject>Benchmark</Subject>"
        '<Content href="cid:content" allowAdaptations="true"/></SubmitReq>'
        "</env:Body></env:Envelope>"
    ).encode()
    inner = (f"--{INNER}\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-ID: <text.txt>\r\n\r\n").encode() + text() + f"\r\n--{INNER}--\r\n".encode()
    return (f"--{OUTER}\r\nContent-Type: text/xml; charset=utf-8\r\n"
            "Content-ID: <soap-start>\r\n\r\n").encode() + soap + (
        f"\r\n--{OUTER}\r\nContent-Type: multipart/mixed; boundary={INNER}\r\n"
        "Content-ID: <content>\r\n\r\n").encode() + inner + f"--{OUTER}--\r\n".encode()


MM7_HEADERS = {
    "Content-Type": (f'multipart/related; type="text/xml"; start="<soap-start>"; '
                     f'boundary="{OUTER}"'),
    "SOAPAction": '""',
    "Authorization": AUTH,
}


# --- the load generator -----------------------------------------------------------------------
def encode_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def roundtrip(sock: socket.socket, request: bytes) -> tuple[int, bytes, bool]:
    """Send, read one answer by its Content-Length; (status, body, the server closes)."""
    sock.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the answer's headers")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {n.strip().lower(): v.strip() for n, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(fields["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the answer's body")
        rest += chunk
    closes = fields.get("connection", "").lower() == "close" or lines[0].startswith("HTTP/1.0")
    return int(lines[0].split(" ", 2)[1]), rest, closes


@dataclass
class Result:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, expected answers only
    errors: int = 0
    server_cpu: float = 0.0

    def merge(self, other: Result) -> None:
        self.elapsed += other.elapsed
        self.latencies.extend(other.latencies)
        self.errors += other.errors
        self.server_cpu += other.server_cpu

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        """Nearest-rank percentile, milliseconds."""
        values = sorted(self.latencies)
        if not values:
            return float("nan")
        return values[max(1, min(len(values), round(q / 100 * len(values) + 0.5))) - 1] * 1e3

    @property
    def cpu_us(self) -> float:
        n = len(self.latencies) + self.errors
        return self.server_cpu / n * 1e6 if n else float("nan")


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(port: int, path: str, body: bytes, headers: dict[str, str], *, concurrency: int,
             duration: float, warmup: float, max_requests: int, expect: int,
             server_pid: int) -> Result:
    """``concurrency`` closed-loop clients for ``warmup`` (not counted) + ``duration`` s or
    ``max_requests`` counted requests, whichever ends first."""
    request = encode_request(path, body, headers)
    result, lock, budget = Result(), threading.Lock(), [max_requests]
    gate = threading.Barrier(concurrency + 1)
    phase = {"from": 0.0, "stop": 0.0}

    def worker() -> None:
        sock: socket.socket | None = None
        lats, errors = [], 0
        gate.wait()
        while (t0 := time.perf_counter()) < phase["stop"]:
            counted = t0 >= phase["from"]
            if counted:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
            try:
                sock = sock or connect(port)  # a new connection is part of the request's time
                status, _, closes = roundtrip(sock, request)
            except (OSError, ValueError, KeyError):
                if sock is not None:
                    sock.close()
                sock = None
                errors += counted
                continue
            if closes:
                sock.close()
                sock = None
            if counted:
                if status == expect:
                    lats.append(time.perf_counter() - t0)
                else:
                    errors += 1
        if sock is not None:
            sock.close()
        with lock:
            result.latencies.extend(lats)
            result.errors += errors

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    cpu0 = process_cpu(server_pid)
    now = time.perf_counter()
    phase["from"], phase["stop"] = now + warmup, now + warmup + duration
    gate.wait()
    for t in threads:
        t.join(timeout=warmup + duration + 30)
    result.elapsed = max(1e-9, min(time.perf_counter(), phase["stop"]) - phase["from"])
    result.server_cpu = process_cpu(server_pid) - cpu0
    return result


# --- the server, in a subprocess -----------------------------------------------------------------
def serve() -> None:
    """Run as ``bench/mm7.py --serve``: print ``READY <port>``, serve until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from fakemms.app import create_app
    from fakemms.server import ServerThread

    server = ServerThread(create_app({"host": HOST, "port": 0}), HOST, 0, quiet=True).start()
    print(f"READY {server.port}", flush=True)
    sys.stdin.read()
    server.stop()


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise SystemExit(f"the fakemms subprocess did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=5)


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in
                   Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def check_once(port: int, path: str, body: bytes, headers: dict[str, str], status: int,
               needle: bytes) -> None:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        got, data, _ = roundtrip(sock, encode_request(path, body, headers))
    if got != status or needle not in data:
        raise SystemExit(f"{path} answered {got}: {data[:400]!r}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", default="8", help="comma-separated client counts")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=0.3, help="seconds before each run counts")
    ap.add_argument("--max-requests", type=int, default=50_000, help="cap per measured run")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds per concurrency")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve()
        return

    levels = [int(c) for c in args.concurrency.split(",") if c]
    mm7, http = submit_body(), send_body()
    targets = {
        "mm7 SubmitReq": ("/mm7", mm7, MM7_HEADERS, 200),
        "http send": ("/mms/v2/send", http, SEND_HEADERS, 202),
    }
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}")
    print(f"bodies: SubmitReq {len(mm7)} bytes, HTTP send {len(http)} bytes; {args.rounds} "
          f"round(s) x {args.duration:g} s per cell (+{args.warmup:g} s warm-up)")

    results: dict[tuple[str, int], Result] = {}
    server = Server()
    try:
        check_once(server.port, "/mm7", mm7, MM7_HEADERS, 200, b"<StatusCode>1000</StatusCode>")
        check_once(server.port, "/mms/v2/send", http, SEND_HEADERS, 202, b"mtId")
        order = list(targets)
        for c in levels:
            for r in range(args.rounds):
                for name in (order if r % 2 == 0 else order[::-1]):
                    path, body, headers, status = targets[name]
                    res = run_load(server.port, path, body, headers, concurrency=c,
                                   duration=args.duration, max_requests=args.max_requests,
                                   warmup=args.warmup, expect=status,
                                   server_pid=server.proc.pid)
                    results.setdefault((name, c), Result()).merge(res)
    finally:
        server.stop()

    print()
    print(f"| {'path':<14} | {'conc':>4} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | "
          f"{'errors':>6} | {'server CPU us/req':>17} |")
    print(f"|{'-' * 16}|{'-' * 6}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 19}|")
    for c in levels:
        for name in targets:
            res = results[(name, c)]
            print(f"| {name:<14} | {c:>4} | {res.rps:>7.0f} | {res.p(50):>7.2f} | "
                  f"{res.p(99):>7.2f} | {res.errors:>6} | {res.cpu_us:>17.0f} |")
    print()
    for c in levels:
        a, b = results[("mm7 SubmitReq", c)], results[("http send", c)]
        ratio = a.rps / b.rps if b.rps else float("nan")
        verdict = "met" if ratio >= 0.8 else "NOT met"
        print(f"concurrency {c}: MM7 / HTTP = {ratio:.2f}x req/s "
              f"(p50 {a.p(50) / b.p(50):.2f}x, p99 {a.p(99) / b.p(99):.2f}x); "
              f"goal >= 0.8x {verdict}")


if __name__ == "__main__":
    main()
