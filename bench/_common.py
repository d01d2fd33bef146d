"""Shared helpers for the benchmarks: servers in subprocesses, a load generator, percentiles.

Everything talks to 127.0.0.1 only. Each server under test runs in a process of its own; the
load comes from wrk (the Debian package: C, an event loop per thread, keep-alive), driven with
a Lua script that posts the same body every time. A Python load generator topped out near 1,100
requests a second on this 2-core machine, under the servers it was measuring, so every ratio
read about 1.0x; wrk does not (docs/benchmarks.md). The server's and wrk's CPU time per request
are read from /proc and the children's rusage.

Run as a script, this module is the server side: ``python bench/_common.py stub`` serves a
static 202 from pytest-httpserver, ``python bench/_common.py fakemms --server NAME`` serves the
fake's app on a chosen HTTP server. Both print ``READY <port>`` once they listen and exit when
their standard input closes.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import re
import resource
import shutil
import socket
import statistics
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
        "commit": commit(),
    }


def commit() -> str:
    """This tree's ``git rev-parse --short HEAD``, ``+changes`` when files differ from it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" +changes" if git("status", "--porcelain", "--untracked-files=no") else "")


# --- statistics -------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted sequence."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass
class WrkResult:
    """One or more wrk runs against one target (rounds merged: req/s over the summed time,
    latency percentiles as the median of the rounds, ``p99_max`` the worst round's)."""

    connections: int
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0  # non-2xx/3xx answers + socket errors (connect, read, write, timeout)
    p50s: list[float] = field(default_factory=list)  # ms, one per round
    p99s: list[float] = field(default_factory=list)
    server_cpu: float = 0.0  # CPU seconds of the server process during the runs
    client_cpu: float = 0.0  # CPU seconds of wrk during the runs
    loads: list[float] = field(default_factory=list)  # 1-minute load average after each run

    def merge(self, other: WrkResult) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.errors += other.errors
        self.p50s += other.p50s
        self.p99s += other.p99s
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.loads += other.loads

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.p50s) if self.p50s else float("nan")

    @property
    def p99(self) -> float:
        return statistics.median(self.p99s) if self.p99s else float("nan")

    @property
    def p99_max(self) -> float:
        return max(self.p99s) if self.p99s else float("nan")

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu / self.requests * 1e6 if self.requests else float("nan")

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu / self.requests * 1e6 if self.requests else float("nan")


# --- load generation: wrk ---------------------------------------------------------------------
WRK = shutil.which("wrk")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk_script(tmp: Path, method: str, path: str, body: bytes, headers: dict[str, str]) -> Path:
    """A wrk Lua script that sends the same request (body read from a file) every time."""
    body_file = tmp / "body.bin"
    body_file.write_bytes(body)
    q = json.dumps  # a JSON string of ASCII text is a Lua string literal
    lines = [f"local f = assert(io.open({q(str(body_file))}, 'rb'))", "wrk.body = f:read('*a')",
             "f:close()", f"wrk.method = {q(method)}", f"wrk.path = {q(path)}"]
    lines += [f"wrk.headers[{q(k)}] = {q(v)}" for k, v in headers.items()]
    script = tmp / "request.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def run_wrk(port: int, script: Path, *, connections: int = 8, threads: int = 2,
            seconds: int = 3, server_pid: int | None = None) -> WrkResult:
    """One wrk run (keep-alive, ``connections`` over ``threads``) with ``--latency``."""
    if WRK is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    cpu0 = process_cpu(server_pid)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                          "--timeout", "5s", "--latency", "-s", str(script),
                          f"http://{HOST}:{port}"], capture_output=True, text=True,
                         timeout=seconds + 30, check=True).stdout
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = WrkResult(connections)
    res.server_cpu = process_cpu(server_pid) - cpu0
    res.client_cpu = (children1.ru_utime + children1.ru_stime
                      - children0.ru_utime - children0.ru_stime)
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if not m:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    res.requests = int(m.group(1))
    res.seconds = _ms(m.group(2) + m.group(3)) / 1000
    res.p50s = [_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))]  # type: ignore
    res.p99s = [_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))]  # type: ignore
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        res.errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      out):
        res.errors += sum(int(x) for x in m.groups())
    res.loads = [os.getloadavg()[0]]
    return res


def add_wrk_arguments(ap: argparse.ArgumentParser) -> None:
    """The wrk options the ABBA benchmarks share."""
    ap.add_argument("--connections", default="8", help="comma-separated wrk connection counts")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=4, help="ABBA rounds per connection count")


def run_abba(targets: dict[str, tuple[int, int | None, Path]], levels: Sequence[int],
             args: argparse.Namespace) -> dict[tuple[str, int], WrkResult]:
    """wrk against each target (name -> port, server pid, script): a 1 s warm-up each, not
    counted, then ``args.rounds`` rounds per connection count, the order reversed every other
    round (ABBA) so the machine's drift hits every target alike."""
    order = list(targets)
    for name in order:
        port, _, script = targets[name]
        run_wrk(port, script, connections=8, threads=args.threads, seconds=1)
    results: dict[tuple[str, int], WrkResult] = {}
    for c in levels:
        for r in range(args.rounds):
            for name in (order if r % 2 == 0 else order[::-1]):
                port, pid, script = targets[name]
                res = run_wrk(port, script, connections=c, threads=min(args.threads, c),
                              seconds=args.duration, server_pid=pid)
                results.setdefault((name, c), WrkResult(c)).merge(res)
    return results


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
