"""Shared helpers for the benchmarks: servers in subprocesses, a load generator, percentiles.

Everything talks to 127.0.0.1 only. Each server under test runs in a process of its own (so the
load generator's threads never share its GIL); the load generator is the calling process, one
thread per simulated client, each with its own connection, kept alive while the server allows
(a minimal HTTP/1.1 client: http.client or requests would cost the machine more CPU per request
than some of the servers they measure). Every request is timed on its own; the server's and the
load generator's CPU time per request are read from /proc and the process clock.

Run as a script, this module is the server side: ``python bench/_common.py stub`` serves a
static 202 from pytest-httpserver, ``python bench/_common.py fakemms --server NAME`` serves the
fake's app on a chosen HTTP server. Both print ``READY <port>`` once they listen and exit when
their standard input closes.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STUB_BODY = b'{"mtId": 123456789012345}'


# --- the machine ------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --- statistics -------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted sequence."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    concurrency: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    sent: int = 0  # every request answered, warm-up included
    server_cpu: float = 0.0  # seconds of server process CPU over the whole run, warm-up included
    client_cpu: float = 0.0  # seconds of the load generator's CPU, likewise

    def merge(self, other: LoadResult) -> None:
        self.elapsed += other.elapsed
        self.sent += other.sent
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.latencies.extend(other.latencies)
        self.errors += other.errors
        for k, v in other.statuses.items():
            self.statuses[k] = self.statuses.get(k, 0) + v

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000.0  # ms

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu / self.sent * 1e6 if self.sent else float("nan")

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu / self.sent * 1e6 if self.sent else float("nan")


# --- load generation --------------------------------------------------------------------------
class RawConnection:
    """A minimal keep-alive HTTP/1.1 client on one socket: the request is encoded once, the
    answer is read by Content-Length. Far cheaper per request than http.client or requests, so
    the load generator stays small beside the server it measures (both share the machine)."""

    def __init__(self, port: int, request: bytes, timeout: float = 10.0) -> None:
        self.port = port
        self.request = request
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def roundtrip(self) -> int:
        """Send the request, read the whole answer; its status."""
        sock = self.sock or self._connect()
        sock.sendall(self.request)
        buf = b""
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the answer's headers")
            buf += chunk
        head = buf[:head_end].decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        close = lines[0].startswith("HTTP/1.0")
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding":
                raise ConnectionError("chunked answers are not supported by this client")
        have = len(buf) - head_end - 4
        if length is None:
            while sock.recv(65536):  # read to close
                pass
            close = True
        else:
            while have < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed inside the answer's body")
                have += len(chunk)
        if close:
            self.close()
        return status


def encode_request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def run_load(port: int, method: str, path: str, body: bytes, headers: dict[str, str], *,
             concurrency: int, duration: float, max_requests: int, warmup: float = 0.3,
             expect_status: int = 202, server_pid: int | None = None) -> LoadResult:
    """``concurrency`` threads, each on its own keep-alive connection, send the same request in a
    closed loop for ``warmup`` seconds (not counted) then ``duration`` seconds or until
    ``max_requests`` have been sent in all. Each request's latency is measured on its own."""
    result = LoadResult(concurrency)
    lock = threading.Lock()
    budget = [max_requests]
    start_gate = threading.Barrier(concurrency + 1)
    phase = {"measure_from": 0.0, "stop_at": 0.0}
    request = encode_request(method, path, body, headers)
    ends: list[float] = []

    def take() -> bool:
        with lock:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            return True

    def worker() -> None:
        conn = RawConnection(port, request)
        lats: list[float] = []
        statuses: dict[int, int] = {}
        errors = 0
        sent = 0
        last = 0.0
        start_gate.wait()
        perf = time.perf_counter
        while True:
            t0 = perf()
            if t0 >= phase["stop_at"]:
                break
            counted = t0 >= phase["measure_from"]
            if counted and not take():
                break
            try:
                status = conn.roundtrip()
            except (OSError, ValueError, IndexError):
                conn.close()
                if counted:
                    errors += 1
                continue
            t1 = perf()
            sent += 1
            if counted:
                last = t1
                statuses[status] = statuses.get(status, 0) + 1
                if status == expect_status:
                    lats.append(t1 - t0)
                else:
                    errors += 1
        conn.close()
        with lock:
            result.latencies.extend(lats)
            result.errors += errors
            result.sent += sent
            ends.append(last)
            for k, v in statuses.items():
                result.statuses[k] = result.statuses.get(k, 0) + v

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    cpu0 = process_cpu(server_pid)
    client0 = time.process_time()
    now = time.perf_counter()
    phase["measure_from"] = now + warmup
    phase["stop_at"] = now + warmup + duration
    start_gate.wait()
    for t in threads:
        t.join(timeout=warmup + duration + 30)
    # the measured window: from its start to the last counted answer
    measured_end = max(ends, default=0.0)
    result.elapsed = max(1e-9, measured_end - phase["measure_from"])
    result.server_cpu = process_cpu(server_pid) - cpu0
    result.client_cpu = time.process_time() - client0
    return result


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0.0 when unknown)."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    # live children too (gunicorn's worker): theirs is not in ours until they are reaped
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            total += sum(process_cpu(int(c)) for c in children.read_text().split())
        except OSError:
            pass
    return total


# --- servers in subprocesses ------------------------------------------------------------------
class Subprocess:
    """A server in a child process; ``port`` is known once it has printed ``READY <port>``."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 ready: Callable[[str], int | None] | None = None, timeout: float = 20.0) -> None:
        self.argv = argv
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                     env={**os.environ, **(env or {})})
        ready = ready or _ready_line
        deadline = self.started + timeout
        self.port = 0
        assert self.proc.stdout is not None
        while time.perf_counter() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            port = ready(line)
            if port:
                self.port = port
                break
        if not self.port:
            self.stop()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"server did not start: {' '.join(argv)}\n{err}")
        # drain both pipes so a chatty server never blocks on a full one; keep stderr's tail
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=50)
        self.stderr_lines = 0
        threading.Thread(target=self._drain, args=(self.proc.stdout, None), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_tail),
                         daemon=True).start()

    def _drain(self, stream: IO[str] | None, keep: collections.deque[str] | None) -> None:
        if stream is None:
            return
        for line in stream:
            if keep is not None:
                keep.append(line)
                self.stderr_lines += 1

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

    def __enter__(self) -> Subprocess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ready_line(line: str) -> int | None:
    if line.startswith("READY "):
        return int(line.split()[1])
    return None


def start_stub() -> Subprocess:
    return Subprocess([sys.executable, str(Path(__file__).resolve()), "stub"])


def start_trivial(server: str = "werkzeug") -> Subprocess:
    return Subprocess([sys.executable, str(Path(__file__).resolve()), "trivial", "--server",
                       server])


def start_fakemms(server: str = "default", config: str | None = None) -> Subprocess:
    """The fake's app (embedded defaults, or ``config``) served by ``server`` (serve_app)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "fakemms", "--server", server]
    if config:
        argv += ["--config", config]
    return Subprocess(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.01)


def wait_healthy(url: str, timeout: float = 10.0) -> float:
    """Poll ``url`` until it answers 200; seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.002)
    raise TimeoutError(url)


def time_serve_to_healthy(runs: int = 5) -> list[tuple[float, float]]:
    """Per run: seconds from spawning ``fakemms serve`` to its first healthy answer, and the CPU
    seconds the server process had used by then (what a loaded machine does not inflate)."""
    exe = Path(sys.executable).with_name("fakemms")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "fakemms"]
    times = []
    for _ in range(runs):
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([*argv, "serve", "--host", HOST, "--port", str(port), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            url = f"http://{HOST}:{port}/_fakemms/health"
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("fakemms serve exited before it was healthy")
                try:
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.002)
                if time.perf_counter() - t0 > 20:
                    raise TimeoutError(url)
            times.append((time.perf_counter() - t0, process_cpu(proc.pid)))
        finally:
            proc.terminate()
            proc.wait(timeout=5)
    return times


# --- the server side (run as a script) --------------------------------------------------------
def _serve_stub() -> None:
    import logging

    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # quiet, like fakemms --quiet
    server = HTTPServer(host=HOST, port=0, threaded=True)
    server.expect_request("/mms/v2/send", method="POST").respond_with_data(
        STUB_BODY, status=202, content_type="application/json")
    server.start()
    _announce_and_wait(server.port)
    server.stop()


def _trivial_app(environ: dict, start_response: Callable) -> list[bytes]:
    """The static 202 as a bare WSGI app: what a server costs with (almost) no app at all."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("202 Accepted", [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(STUB_BODY)))])
    return [STUB_BODY]


def _serve_fakemms(server_name: str, config: str | None) -> None:
    from fakemms.app import create_app
    from fakemms.config import load_config

    app = create_app(load_config(config, overrides={"host": HOST, "port": 0}))
    serve_app(app, server_name)


def serve_app(app: Callable, server_name: str) -> None:
    """Serve a WSGI app on 127.0.0.1, any port, with the named server; return when stdin closes.

    default: fakemms.server.ServerThread as ``fakemms serve`` runs it (keep-alive); close: the
    same with ``keep_alive=False``; werkzeug: werkzeug's threaded development server (what
    fakemms.server was before, and what pytest-httpserver uses); waitress[:THREADS];
    cheroot[:THREADS]; gunicorn[:THREADS] (one gthread worker; not in-process, so not a
    candidate for the tests' servers, measured for reference). waitress, cheroot and gunicorn
    are not dependencies of fakemms: install them to measure them.
    """
    name, _, n = server_name.partition(":")
    threads = int(n or 8)
    if name in ("default", "close"):
        from fakemms.server import ServerThread

        keep_alive = False if name == "close" else None
        srv = ServerThread(app, HOST, 0, quiet=True, keep_alive=keep_alive).start()
        _announce_and_wait(srv.port)
        srv.stop()
    elif name == "werkzeug":
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Handler(WSGIRequestHandler):
            def log_request(self, *a: object) -> None:
                pass

        ws = make_server(HOST, 0, app, threaded=True, request_handler=Handler)
        threading.Thread(target=ws.serve_forever, daemon=True).start()
        _announce_and_wait(ws.socket.getsockname()[1])
        ws.shutdown()
    elif name == "waitress":
        import logging

        import waitress

        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a line per queued task
        ws = waitress.create_server(app, host=HOST, port=0, threads=threads)
        threading.Thread(target=ws.run, daemon=True).start()
        _announce_and_wait(ws.effective_port)
    elif name == "cheroot":
        from cheroot import wsgi

        cs = wsgi.Server((HOST, 0), app, numthreads=threads)
        cs.prepare()
        threading.Thread(target=cs.serve, daemon=True).start()
        _announce_and_wait(cs.bind_addr[1])
        cs.stop()
    elif name == "gunicorn":
        import signal

        from gunicorn.app.base import BaseApplication

        port = free_port()

        class App(BaseApplication):
            def load_config(self) -> None:
                for k, v in {"bind": f"{HOST}:{port}", "workers": 1, "threads": threads,
                             "worker_class": "gthread", "accesslog": None,
                             "loglevel": "warning", "keepalive": 30}.items():
                    self.cfg.set(k, v)

            def load(self) -> Callable:
                return app

        def announce_when_listening() -> None:
            wait_listening(port)
            _announce_and_wait(port)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=announce_when_listening, daemon=True).start()
        App().run()
    else:
        raise SystemExit(f"unknown server {server_name!r}")


def _announce_and_wait(port: int) -> None:
    print(f"READY {port}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="benchmark server side")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("stub")
    fm = sub.add_parser("fakemms")
    fm.add_argument("--server", default="default",
                    help="default, close, werkzeug, waitress[:THREADS], cheroot[:THREADS], "
                         "gunicorn[:THREADS] (see serve_app)")
    fm.add_argument("--config")
    tr = sub.add_parser("trivial", help="a bare WSGI app answering the static 202")
    tr.add_argument("--server", default="werkzeug")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # this tree's fakemms, whatever the environment has installed
    if args.what == "stub":
        _serve_stub()
    elif args.what == "trivial":
        serve_app(_trivial_app, args.server)
    else:
        _serve_fakemms(args.server, args.config)


if __name__ == "__main__":
    main()
