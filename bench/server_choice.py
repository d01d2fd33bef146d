"""Benchmark: which HTTP server runs ``fakemms serve``: waitress (as it is) or granian (WSGI).

    pip install granian==2.8.9     # not a dependency of fakemms: the script skips without it
    .venv/bin/python bench/server_choice.py [--blocking-threads 1,4,8] [--checks 1,2,3,4,5,6]
                                            [--duration 10] [--rounds 2] [--threads 2]

Servers, each in its own process on 127.0.0.1, each serving the same fakemms app with the
embedded defaults (one account, fakemms/fakemms, MT configuration config1) and one scenario
(subjects starting "slow" are answered after 1 s; the benchmark's own sends never match it):
- waitress: ``fakemms serve --quiet`` as it is (fakemms/server.py's wrapper over waitress);
- granian-bN: ``granian --interface wsgi --workers 1 --blocking-threads N --factory`` on
  bench/_granian_app.py (the same create_app(load_config()), app.close() at the worker's exit).

Checks, each printing figures per server, the ratio granian/waitress where one means anything,
and the 1-minute load average beside them (the machine is shared; it is not made quiet):
1. send rate: wrk -t2 -c8 -d10s on ``POST /mms/v2/send`` (bench/send.py's 1 KB body), 2 ABBA
   rounds (bench/_common.py's run_abba), req/s and p99;
2. slow bodies: 20 connections post ``Content-Length: 2000000`` to /_fakemms/ui/login (then
   /SendMMS) and drip one byte every 2 s for 20 s, while a normal send goes every 0.5 s (5 s
   client timeout): latency max and p50, timeouts;
3. held connections: 1,500 idle keep-alive connections (each made one GET /_fakemms/health,
   its socket then left open and unread), then 500 sends on new connections from 8 threads
   (5 s timeout, 60 s at most in all): p50/p99/max, timeouts;
4. framing probes on a raw socket: the status line (or "no answer") and whether the server
   closed the connection;
5. when the WSGI iterable's close() runs: a 32 MiB answer read by a client that waits 1 s
   after its head; close() before the client reads means before the answer was written;
6. graceful stop: SIGTERM with one request in flight (a send answered after 1 s): does it
   finish, how long the process takes to exit, did app.close() run; then SIGTERM with a
   request whose body stalls: does the process exit at all (killed after 20 s).
Also (with check 1): whether the app's background threads run (a send's default report,
Retrieved after 1 s, is applied by the scheduler thread).

Bounded: every loop has a count and a deadline; all traffic goes to 127.0.0.1. Prints figures;
asserts nothing (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import resource
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HOST,
    ROOT,
    add_wrk_arguments,
    free_port,
    machine,
    percentile,
    run_abba,
    wait_healthy,
    wrk_script,
)
from send import HEADERS, send_body  # noqa: E402

GRANIAN_PIN = "2.8.9"  # the version these figures were taken with
BENCH = Path(__file__).resolve().parent
SLOW_SCENARIO = """\
name: bench-slow
rules:
  - name: slow
    match: {subject: "/^slow/"}
    answer: {latency: 1s}
"""
TIMEOUT = 5.0  # client timeout of every normal send


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def fmt_ms(x: float) -> str:
    return "-" if x != x else f"{x * 1000:.1f}"  # NaN: no sample


def ratio(a: float, b: float) -> str:
    if not b or a != a or b != b:
        return "-"
    return f"{a / b:.2f}x" if a / b >= 0.1 else f"{a / b:.3f}x"


# --- servers ----------------------------------------------------------------------------------
class Server:
    """One server process on a port of its own; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str],
                 tmp: Path) -> None:
        self.name, self.port = name, port
        self.err_path = tmp / f"{name}-{port}.err"
        self.out_path = tmp / f"{name}-{port}.out"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=ROOT, env={**os.environ, **env},
                                         start_new_session=True)
        try:
            wait_healthy(f"http://{HOST}:{port}/_fakemms/health", timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{name} did not start:\n{self.stderr()[-2000:]}") from None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        """stderr, then stdout (``fakemms serve`` logs both to stdout once it runs)."""
        try:
            return (self.err_path.read_text(errors="replace")
                    + self.out_path.read_text(errors="replace"))
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> float | None:
        """SIGTERM, then seconds until the process exited (None: killed after ``timeout``)."""
        if self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            return time.monotonic() - t0
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the worker too
            self.proc.wait()
            return None


def server_argv(name: str, port: int) -> list[str]:
    exe = Path(sys.executable)
    if name == "waitress":
        fakemms = exe.with_name("fakemms")
        base = [str(fakemms)] if fakemms.exists() else [sys.executable, "-m", "fakemms"]
        return [*base, "serve", "--host", HOST, "--port", str(port), "--quiet"]
    threads = name.removeprefix("granian-b")
    target = "_granian_app:create_probe" if threads.endswith("-probe") else \
        "_granian_app:create_app"
    threads, _, backpressure = threads.removesuffix("-probe").partition("-bp")
    extra = ["--backpressure", backpressure] if backpressure else []
    granian = exe.with_name("granian")
    base = [str(granian)] if granian.exists() else [sys.executable, "-m", "granian"]
    return [*base, "--interface", "wsgi", "--factory", "--host", HOST, "--port", str(port),
            "--workers", "1", "--blocking-threads", threads, "--no-access-log",
            "--log-level", "warning", "--working-dir", str(BENCH), *extra, target]


def start(name: str, env: dict[str, str], tmp: Path) -> Server:
    port = free_port()
    return Server(name, server_argv(name, port), port, env, tmp)


# --- clients ----------------------------------------------------------------------------------
def send_once(port: int, body: bytes, timeout: float = TIMEOUT) -> tuple[int | None, float, str]:
    """One OpenMarket send on a new connection: (status or None, seconds, error)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", "/mms/v2/send", body=body, headers=HEADERS)
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - t0, ""
    except TimeoutError:
        return None, time.monotonic() - t0, "timeout"
    except OSError as exc:
        return None, time.monotonic() - t0, type(exc).__name__
    finally:
        conn.close()


def latency_summary(results: list[tuple[int | None, float, str]]) -> dict[str, object]:
    lat = sorted(dt for _, dt, _ in results)
    return {"n": len(results), "ok": sum(1 for s, _, _ in results if s and s < 300),
            "timeouts": sum(1 for _, _, e in results if e == "timeout"),
            "errors": sum(1 for s, _, e in results if e and e != "timeout" or (s or 0) >= 300),
            "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "max": lat[-1] if lat else float("nan"), "load": load()}


# --- check 2: slow bodies ---------------------------------------------------------------------
def slow_bodies(port: int, path: str, body: bytes, conns: int = 20, seconds: float = 20.0,
                drip: float = 2.0, every: float = 0.5) -> dict[str, object]:
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 2000000\r\n\r\n").encode()
    drips: list[socket.socket] = []
    for _ in range(conns):
        s = socket.create_connection((HOST, port), timeout=2)
        s.sendall(head)
        s.setblocking(False)
        drips.append(s)
    results: list[tuple[int | None, float, str]] = []
    lock = threading.Lock()

    def one() -> None:
        r = send_once(port, body)
        with lock:
            results.append(r)

    senders: list[threading.Thread] = []
    alive = set(range(conns))
    answered: list[str] = []
    closed_at: list[float] = []
    t0 = time.monotonic()
    next_send, next_drip = t0, t0 + drip
    while (now := time.monotonic()) < t0 + seconds:
        if now >= next_send and len(senders) < int(seconds / every) + 1:
            t = threading.Thread(target=one, daemon=True)
            t.start()
            senders.append(t)
            next_send += every
        if now >= next_drip:
            for i in list(alive):
                try:
                    drips[i].send(b"a")
                except OSError:
                    alive.discard(i)
                    closed_at.append(now - t0)
            next_drip += drip
        poll = select.poll()
        for i in alive:
            poll.register(drips[i], select.POLLIN)
        for fd, _ in poll.poll(0):
            i = next(j for j in alive if drips[j].fileno() == fd)
            s = drips[i]
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                answered.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
            alive.discard(i)
            closed_at.append(now - t0)
        time.sleep(max(0.0, min(next_send, next_drip, t0 + seconds) - time.monotonic(), 0.02))
    for t in senders:
        t.join(TIMEOUT + 2)
    for s in drips:
        s.close()
    out = latency_summary(results)
    out["drips_gone"] = len(closed_at)
    out["drips_first_gone"] = min(closed_at) if closed_at else None
    out["drips_answers"] = sorted(set(answered))
    return out


# --- check 3: held connections ----------------------------------------------------------------
def held_connections(port: int, body: bytes, held: int = 1500, sends: int = 500,
                     threads: int = 8, setup_seconds: float = 10.0,
                     send_seconds: float = 60.0) -> dict[str, object]:
    t_start = time.monotonic()
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    get = f"GET /_fakemms/health HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    connect_errors = 0
    for _ in range(held):
        s = socket.socket()
        s.setblocking(False)
        rc = s.connect_ex((HOST, port))
        if rc not in (0, 115):  # EINPROGRESS
            connect_errors += 1
            s.close()
            continue
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, "connect")
    answered = 0
    deadline = time.monotonic() + setup_seconds
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj  # type: ignore[assignment]
            if key.data == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    sel.unregister(s)
                    connect_errors += 1
                    continue
                try:
                    s.send(get)
                except OSError:
                    sel.unregister(s)
                    continue
                sel.modify(s, selectors.EVENT_READ, "answer")
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data.startswith(b"HTTP/1.1 200"):
                    answered += 1
                sel.unregister(s)  # kept open, unread from here on
    unanswered = len(sel.get_map())
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
    setup_load = load()

    end = time.monotonic() + send_seconds
    results: list[tuple[int | None, float, str]] = []
    skipped = 0
    first_ok: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        nonlocal skipped
        if time.monotonic() > end:
            with lock:
                skipped += 1
            return
        r = send_once(port, body)
        with lock:
            results.append(r)
            if r[0] == 202:
                first_ok.append(time.monotonic() - t_start)

    t_sends = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(sends)))
    sends_s = time.monotonic() - t_sends
    out = latency_summary(results)
    # what the server did to the held connections meanwhile
    gone = 0
    for s in socks:
        poll = select.poll()  # select() cannot watch descriptors over 1023
        poll.register(s, select.POLLIN)
        try:
            if poll.poll(0) and not s.recv(65536):
                gone += 1
        except OSError:
            gone += 1
        s.close()
    out.update({"held_open": len(socks), "held_answered": answered,
                "held_unanswered": unanswered, "connect_errors": connect_errors,
                "held_closed_by_server": gone, "skipped": skipped, "setup_load": setup_load,
                "setup_s": t_sends - t_start, "sends_s": sends_s,
                "first_ok": min(first_ok) if first_ok else None})
    return out


# --- check 4: framing probes ------------------------------------------------------------------
_AUTH = f"Authorization: {HEADERS['Authorization']}\r\n".encode()  # so the app reads the body


def probes(body: bytes) -> list[tuple[str, bytes]]:
    """(label, raw request); the sends carry the account's credentials and, where framed
    validly, the benchmark's send body, so only the framing can make them fail."""
    send = (b"POST /mms/v2/send HTTP/1.1\r\nHost: h\r\n" + _AUTH
            + f"Content-Type: {HEADERS['Content-Type']}\r\n".encode())
    chunked = f"{len(body):X}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    return [
        ("Content-Length: 5 with Transfer-Encoding: chunked (a valid chunked send)",
         send + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked),
        ("chunk size FFFFFFFFFFFFFFFFFFFF",
         send + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"),
        ("obs-fold header line",
         b"GET /_fakemms/health HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n"),
        ("HTTP/1.0 with Transfer-Encoding (a valid chunked send)",
         send.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Transfer-Encoding: chunked\r\n\r\n"
         + chunked),
        ("head over 64 KiB (a 70,000-byte header)",
         b"GET /_fakemms/health HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 70_000
         + b"\r\n\r\n"),
    ]


def probe(port: int, raw: bytes, wait: float = 3.0) -> str:
    """The status line the server answered (or "no answer"), and whether it then closed."""
    try:
        s = socket.create_connection((HOST, port), timeout=wait)
    except OSError as exc:
        return f"connect failed ({type(exc).__name__})"
    try:
        try:
            s.sendall(raw)
        except OSError:
            pass
        data = b""
        deadline = time.monotonic() + wait
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                return (data.decode(errors="replace") or "no answer") + " (closed)"
            data += chunk
        if b"\r\n" not in data:
            return "no answer (open)"
        head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
        line = head[0]
        ctype = next((h.split(":", 1)[1].strip() for h in head[1:]
                      if h.lower().startswith("content-type:")), "none")
        s.settimeout(0.3)
        closed = "open"
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                if not s.recv(65536):
                    closed = "closed"
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = "closed"
                break
        return f"{line} ({closed}; Content-Type {ctype})"
    finally:
        s.close()


# --- check 5: when close() runs ---------------------------------------------------------------
def close_timing(port: int) -> tuple[float, float]:
    """(close() time minus the moment the client started reading, seconds the client then
    took to read the whole answer)."""
    from _granian_app import BIG

    s = socket.create_connection((HOST, port), timeout=20)
    try:
        s.sendall(f"GET /big HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the head")
            data += chunk
        got = len(data.split(b"\r\n\r\n", 1)[1])
        time.sleep(1.0)  # the client does not read for 1 s: what the server wrote waits
        t_read = time.monotonic()
        while got < BIG:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        t_done = time.monotonic()
    finally:
        s.close()
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", "/closed")
        closed = float(conn.getresponse().read())
    finally:
        conn.close()
    return closed - t_read, t_done - t_read


# --- check 6: graceful stop -------------------------------------------------------------------
def graceful_stop(srv: Server, slow_body: bytes) -> dict[str, object]:
    result: list[tuple[int | None, float, str]] = []
    t = threading.Thread(target=lambda: result.append(send_once(srv.port, slow_body, 10.0)))
    t.start()
    time.sleep(0.3)  # the send is in flight: answered at 1 s
    exit_s = srv.stop(timeout=20.0)
    t.join(12)
    status, dt, err = result[0] if result else (None, float("nan"), "no result")
    err_text = srv.stderr()
    closed = ("BENCH-APP-CLOSED" in err_text) if srv.name != "waitress" else \
        ("stopped in" in err_text)
    return {"status": status or err, "latency": dt, "exit": exit_s,
            "rc": srv.proc.returncode, "app_closed": closed, "load": load()}


def stop_with_stalled_body(srv: Server) -> dict[str, object]:
    """SIGTERM while a request's body is stalled (Content-Length 2000000, 10 bytes sent)."""
    s = socket.create_connection((HOST, srv.port), timeout=2)
    s.sendall((f"POST /_fakemms/ui/login HTTP/1.1\r\nHost: {HOST}\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\n"
               "Content-Length: 2000000\r\n\r\nnext=%2F&a=").encode())
    time.sleep(0.5)
    try:
        exit_s = srv.stop(timeout=20.0)
    finally:
        s.close()
    return {"exit": exit_s, "rc": srv.proc.returncode, "load": load()}


def background_threads(port: int, body: bytes) -> str:
    status, _, err = send_once(port, body)
    if status != 202:
        return f"send answered {status or err}"
    time.sleep(2.5)  # the default report: Retrieved 1 s after the 202
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", "/_fakemms/api/messages/latest")
        msg = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return f"status {msg.get('status')!r} 2.5 s after the 202"


# --- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_arguments(ap)
    ap.set_defaults(duration=10, rounds=2)
    ap.add_argument("--blocking-threads", default="1,4,8",
                    help="granian --blocking-threads values, comma-separated; N-bpM also sets "
                         "--backpressure M (granian's cap on accepted connections per worker, "
                         "default 1024)")
    ap.add_argument("--checks", default="1,2,3,4,5,6", help="which checks to run")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("granian") is None:
        print(f"granian is not installed: `pip install granian=={GRANIAN_PIN}` to run this "
              "comparison (it is not a dependency of fakemms). Skipped.")
        return
    import granian

    checks = {int(c) for c in args.checks.split(",") if c}
    names = ["waitress"] + [f"granian-b{n}" for n in args.blocking_threads.split(",") if n]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it too
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"load average {m['load']}")
    print(f"granian {granian.__version__} (figures taken with {GRANIAN_PIN}); waitress via "
          f"`fakemms serve`; RLIMIT_NOFILE {soft} -> {hard}")
    body = send_body()
    slow_body = body.replace(b'"subject": "Benchmark"', b'"subject": "slow bench"')
    assert slow_body != body

    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        scenario = tmp / "slow.yaml"
        scenario.write_text(SLOW_SCENARIO)
        env = {"FAKEMMS_SCENARIOS": str(scenario), "PYTHONPATH": str(ROOT)}

        if checks & {1, 4}:
            servers = {n: start(n, env, tmp) for n in names}
            try:
                if 1 in checks:
                    check_send_rate(servers, body, args, tmp)
                    print()
                    for n, srv in servers.items():
                        print(f"background threads, {n}: {background_threads(srv.port, body)}")
                if 4 in checks:
                    check_probes(servers, body)
            finally:
                for srv in servers.values():
                    srv.stop()
        if 2 in checks:
            check_slow_bodies(names, env, tmp, body)
        if 3 in checks:
            check_held(names, env, tmp, body)
        if 5 in checks:
            check_close(names, env, tmp)
        if 6 in checks:
            check_stop(names, env, tmp, slow_body)


def check_send_rate(servers: dict[str, Server], body: bytes, args: argparse.Namespace,
                    tmp: Path) -> None:
    print(f"\n## 1. send rate: wrk -t{args.threads} -c8 -d{args.duration}s, {args.rounds} ABBA "
          f"rounds, POST /mms/v2/send ({len(body)} bytes)")
    script = wrk_script(tmp, "POST", "/mms/v2/send", body, HEADERS)
    res = run_abba({n: (s.port, s.pid, script) for n, s in servers.items()}, [8], args)
    base = res[("waitress", 8)]
    print(f"| {'server':<17} | {'req/s':>7} | {'x waitress':>10} | {'p50 ms':>6} | "
          f"{'p99 ms':>6} | {'p99 max':>7} | {'x waitress p99':>14} | {'errors':>6} | "
          f"{'server CPU us/req':>17} | {'load':>9} |")
    print("|" + "|".join("-" * (w + 2) for w in (17, 7, 10, 6, 6, 7, 14, 6, 17, 9)) + "|")
    for n in servers:
        r = res[(n, 8)]
        loads = f"{min(r.loads):.2f}-{max(r.loads):.2f}"
        print(f"| {n:<17} | {r.rps:>7.0f} | {ratio(r.rps, base.rps):>10} | {r.p50:>6.2f} | "
              f"{r.p99:>6.2f} | {r.p99_max:>7.2f} | {ratio(r.p99, base.p99):>14} | "
              f"{r.errors:>6} | {r.cpu_us_per_request:>17.0f} | {loads:>9} |")


def check_probes(servers: dict[str, Server], body: bytes) -> None:
    print("\n## 4. framing probes (status line or no answer; connection then closed or open)")
    for label, raw in probes(body):
        print(f"- {label}:")
        for n, srv in servers.items():
            print(f"    {n:<17} {probe(srv.port, raw)}")


def check_slow_bodies(names: list[str], env: dict[str, str], tmp: Path, body: bytes) -> None:
    for path in ("/_fakemms/ui/login", "/SendMMS"):
        print(f"\n## 2. slow bodies: 20 x POST {path} Content-Length 2000000, a byte every "
              f"2 s for 20 s; a send every 0.5 s (timeout {TIMEOUT:g} s), fresh server each")
        print(f"| {'server':<17} | {'sends':>5} | {'2xx':>4} | {'timeouts':>8} | "
              f"{'other':>5} | {'p50 ms':>8} | {'max ms':>8} | {'x waitress max':>14} | "
              f"{'drips ended by server':<34} | {'load':>5} |")
        print("|" + "|".join("-" * (w + 2) for w in (17, 5, 4, 8, 5, 8, 8, 14, 34, 5)) + "|")
        base_max = float("nan")
        for n in names:
            srv = start(n, env, tmp)
            try:
                r = slow_bodies(srv.port, path, body)
            finally:
                srv.stop()
            if n == "waitress":
                base_max = r["max"]  # type: ignore[assignment]
            first = r["drips_first_gone"]
            gone = (f"{r['drips_gone']}/20" + (f", first at {first:.1f} s" if first else "")
                    + (f" {r['drips_answers']}" if r["drips_answers"] else ""))
            print(f"| {n:<17} | {r['n']:>5} | {r['ok']:>4} | {r['timeouts']:>8} | "
                  f"{r['errors']:>5} | {fmt_ms(r['p50']):>8} | {fmt_ms(r['max']):>8} | "  # type: ignore[arg-type]
                  f"{ratio(r['max'], base_max):>14} | {gone:<34} | {r['load']:>5} |")  # type: ignore[arg-type]


def check_held(names: list[str], env: dict[str, str], tmp: Path, body: bytes) -> None:
    print("\n## 3. held connections: 1,500 idle keep-alive (one GET /_fakemms/health each, "
          "then unread), then 500 sends on new connections from 8 threads (timeout 5 s, "
          "60 s budget); fresh server each")
    print(f"| {'server':<17} | {'held answered':>13} | {'sends':>5} | {'2xx':>4} | "
          f"{'timeouts':>8} | {'skipped':>7} | {'p50 ms':>8} | {'p99 ms':>8} | {'max ms':>8} | "
          f"{'x waitress p99':>14} | {'held closed by server':>21} | {'first 2xx at':>12} | "
          f"{'sends took':>10} | {'load':>11} |")
    print("|" + "|".join("-" * (w + 2) for w in (17, 13, 5, 4, 8, 7, 8, 8, 8, 14, 21, 12, 10,
                                                   11)) + "|")
    base_p99 = float("nan")
    for n in names:
        srv = start(n, env, tmp)
        try:
            r = held_connections(srv.port, body)
        finally:
            srv.stop()
        if n == "waitress":
            base_p99 = r["p99"]  # type: ignore[assignment]
        held = f"{r['held_answered']}/{r['held_open']}"
        loads = f"{r['setup_load']}/{r['load']}"
        first = "never" if r["first_ok"] is None else f"{r['first_ok']:.1f} s"
        print(f"| {n:<17} | {held:>13} | {r['n']:>5} | {r['ok']:>4} | {r['timeouts']:>8} | "
              f"{r['skipped']:>7} | {fmt_ms(r['p50']):>8} | {fmt_ms(r['p99']):>8} | "  # type: ignore[arg-type]
              f"{fmt_ms(r['max']):>8} | {ratio(r['p99'], base_p99):>14} | "  # type: ignore[arg-type]
              f"{r['held_closed_by_server']:>21} | {first:>12} | {r['sends_s']:>8.1f} s | "
              f"{loads:>11} |")


def check_close(names: list[str], env: dict[str, str], tmp: Path) -> None:
    print("\n## 5. when close() runs: a 32 MiB answer, the client waits 1 s after its head "
          "(negative: close() ran before the client read, i.e. before the answer was written)")
    from _granian_app import create_probe

    from fakemms.server import ServerThread

    st = ServerThread(create_probe(), HOST, 0, quiet=True).start()
    try:
        rows = [("waitress (fakemms.server)", close_timing(st.port))]
    finally:
        st.stop(2.0)
    threads = sorted({n.removeprefix("granian-b").partition("-bp")[0] for n in names
                      if n != "waitress"})
    for b in threads[:1]:
        port = free_port()
        proc = subprocess.Popen(server_argv(f"granian-b{b}-probe", port), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, **env}, start_new_session=True)
        try:
            wait_healthy(f"http://{HOST}:{port}/closed", timeout=30)
            rows.append((f"granian-b{b}", close_timing(port)))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for n, (close_at, read_s) in rows:
        when = "BEFORE" if close_at < 0 else "after"
        print(f"- {n:<26} close() at {close_at:+.3f} s from the client's first read "
              f"({when} the client read; the client then read for {read_s:.3f} s); "
              f"load {load()}")


def check_stop(names: list[str], env: dict[str, str], tmp: Path, slow_body: bytes) -> None:
    print("\n## 6. graceful stop: SIGTERM 0.3 s into a send answered after 1 s")
    for n in names:
        srv = start(n, env, tmp)
        r = graceful_stop(srv, slow_body)
        exit_s = "killed after 20 s" if r["exit"] is None else f"{r['exit']:.2f} s"
        print(f"- {n:<17} in-flight send: {r['status']} after {r['latency']:.2f} s; process "
              f"exited {exit_s} after SIGTERM (rc {r['rc']}); app.close() ran: "
              f"{r['app_closed']}; load {r['load']}")
    print("   SIGTERM 0.5 s into a login whose body stalls (Content-Length 2000000, 10 bytes "
          "sent):")
    for n in names:
        srv = start(n, env, tmp)
        r = stop_with_stalled_body(srv)
        exit_s = ("had not exited 20 s after SIGTERM: killed" if r["exit"] is None
                  else f"exited {r['exit']:.2f} s after SIGTERM")
        print(f"- {n:<17} process {exit_s} (rc {r['rc']}); "
              f"load {r['load']}")


if __name__ == "__main__":
    main()
