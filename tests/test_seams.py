"""The seams under stress (issue "What it acknowledges it keeps, and it keeps serving"): slow
bodies, held connections, an absurd chunk size and the stop, over real sockets against the
real app. Each attack runs beside normal sends, which must keep being answered quickly."""

from __future__ import annotations

import contextlib
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import ACCOUNT, om_body
from test_cli import clean_env, free_port, wait_healthy

from fakemms.app import create_app
from fakemms.server import ServerThread

SEND_HEADERS = {"Content-Type": "multipart/mixed; boundary=mimeboundary"}


@pytest.fixture
def started() -> Iterator[list[ServerThread]]:
    servers: list[ServerThread] = []
    yield servers
    for server in servers:
        server.stop()


def fake(started: list[ServerThread], **http: object) -> ServerThread:
    server = ServerThread(create_app({"accounts": [ACCOUNT], "seed": 1, "clock": "virtual"}),
                          **http).start()  # type: ignore[arg-type]
    started.append(server)
    return server


def timed_send(url: str, n: int = 0) -> float:
    """One normal send on a connection of its own; its latency (5 s: a timeout)."""
    t0 = time.monotonic()
    try:
        r = requests.post(url + "/mms/v2/send", data=om_body(), auth=("acme", "s3cret"),
                          headers={**SEND_HEADERS, "Connection": "close"}, timeout=5)
        assert r.status_code == 202, r.text
    except requests.Timeout:
        return 5.0
    return time.monotonic() - t0


def drip(port: int, path: str, stop: threading.Event, answers: list[bytes]) -> None:
    """A client declaring 2,000,000 bytes of body and sending one every half second."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\n\r\n"
                     .encode())
        sock.settimeout(0.5)
        got = b""
        while not stop.is_set():
            try:
                sock.sendall(b"x")
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            except TimeoutError:
                continue
            except OSError:
                break
        answers.append(got)


def test_slow_bodies_never_stop_a_normal_send(started):
    """20 clients drip bodies to the UI's login form (open even behind the admin token) and
    to SendMMS: every normal send meanwhile is answered within 1 s (before: all timed out)."""
    server = fake(started)
    stop, answers = threading.Event(), []
    drippers = [threading.Thread(target=drip, args=(server.port, path, stop, answers))
                for path in ["/_fakemms/ui/login"] * 10 + ["/SendMMS"] * 10]
    for t in drippers:
        t.start()
    try:
        time.sleep(0.5)
        latencies = []
        deadline = time.monotonic() + 8  # past the 5 s grace of the minimum rate
        while time.monotonic() < deadline:
            latencies.append(timed_send(server.url))
            time.sleep(0.2)
    finally:
        stop.set()
        for t in drippers:
            t.join(10)
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    statuses = sorted(a.split(b" ", 2)[1].decode() if a else "none" for a in answers)
    # every dripper is answered: the login form's cap on its headers (413) while workers may
    # read bodies, else 408 at the minimum rate, whether a worker or the I/O thread read it
    assert "413" in statuses and set(statuses) <= {"408", "413"}, statuses


def test_a_body_read_by_the_app_meets_the_whole_request_deadline(started):
    """Before, each byte restarted the body's read deadline: one byte every 0.3 s kept a
    worker thread for ever. Now the whole request has ``request_timeout`` (here 2 s)."""
    server = fake(started, request_timeout=2.0, min_rate=0)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /SendMMS HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
        t0 = time.monotonic()
        sock.settimeout(0.3)
        answer = b""
        while time.monotonic() - t0 < 8 and not answer:
            try:
                sock.sendall(b"x")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
        elapsed = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert elapsed < 4, elapsed


@pytest.mark.parametrize(("path", "length"), [("/_fakemms/ui/login", 2_000_000),
                                             ("/_fakemms/api/mo", 20 * 1024 * 1024 + 1),
                                             ("/_fakemms/api/scenarios", 20 * 1024 * 1024 + 1)])
def test_paths_without_large_bodies_refuse_one_on_its_headers(started, path, length):
    """The UI's forms and the control API answer 413 on the Content-Length, before a byte of
    the body is sent (the login form is open even behind the admin token). A declared body
    under 1 MiB is read by the server's I/O thread first (no worker held), then refused."""
    server = fake(started)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        t0 = time.monotonic()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert time.monotonic() - t0 < 1.0
    assert b"limit" in answer  # the answer says why


def test_an_absurd_chunk_size_is_refused_at_once(started):
    """``FFFFFFFFFFFFFFFFFFFF`` got no answer and a silent close ~17 s later."""
    server = fake(started)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        t0 = time.monotonic()
        sock.sendall(b"POST /mms/v2/send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert time.monotonic() - t0 < 1.0


def test_a_chunk_size_line_without_end_is_refused(started):
    """waitress rebuilt an endless chunk-size line on every read (quadratic) and answered
    nothing: a line over 4 KiB is a 400 (RFC 9112, 7.1)."""
    server = fake(started)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /mms/v2/send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"\r\n" + b"0" * 8192)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]


def hold(port: int, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections, each having asked for health and read its answer,
    then left open (as a client keeping its responses does)."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /_fakemms/health HTTP/1.1\r\nHost: x\r\n\r\n")
        held.append(sock)
    for sock in held:
        with contextlib.suppress(OSError):
            sock.recv(65536)
    return held


def sends(url: str, count: int, threads: int = 8) -> list[float]:
    with ThreadPoolExecutor(threads) as pool:
        return sorted(pool.map(lambda n: timed_send(url, n), range(count)))


def test_at_its_connection_limit_the_server_reclaims_idle_connections(started):
    """With 400 connections held open against a limit of 200, the server closes the oldest
    idle ones to make room: 300 sends, none waits (before: every send after the limit hung
    until idle connections timed out, 15 s)."""
    server = fake(started, connection_limit=200)
    held = hold(server.port, 400)
    try:
        latencies = sends(server.url, 300)
    finally:
        for sock in held:
            sock.close()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert p99 < 1.0 and latencies[-1] < 2.0, (p99, latencies[-5:])


@contextlib.contextmanager
def fd_limit(wanted: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard file-descriptor limit is {hard}, under {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_two_thousand_held_connections_then_two_thousand_sends(tmp_path: Path):
    """``fakemms serve`` on its defaults (the limit follows the fd limit it raises): 2,000
    connections held open, then 2,000 sends: p99 under 1 s, none over 2 s."""
    port = free_port()
    with fd_limit(8192):
        proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve", "--port", str(port),
                                 "--quiet"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=clean_env(
                                    FAKEMMS_ACCOUNT_USERNAME="acme",
                                    FAKEMMS_ACCOUNT_PASSWORD="s3cret",
                                    FAKEMMS_CLOCK="virtual"))
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, timeout=20)
            held = hold(port, 2000)
            try:
                latencies = sends(url, 2000)
            finally:
                for sock in held:
                    sock.close()
        finally:
            proc.terminate()
            proc.wait(10)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert p99 < 1.0 and latencies[-1] < 2.0, (p99, latencies[-5:])


def test_the_process_ends_when_the_log_says_stopped(tmp_path: Path):
    """SIGTERM with a report retrying, keep-alive connections, an event stream open and a
    body half sent: the stop is quick and the process exits right after "stopped in" (an
    open stream held it ~2 s, its keep-alive interval)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve", "--port", str(port),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=clean_env(FAKEMMS_ACCOUNT_USERNAME="acme",
                                          FAKEMMS_ACCOUNT_PASSWORD="s3cret",
                                          FAKEMMS_DLR_URL="http://127.0.0.1:9/dlr",
                                          FAKEMMS_PERSISTENCE_PATH=str(tmp_path / "s.db")))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=20)
        assert timed_send(url) < 5
        held = hold(port, 3)
        stream = requests.get(url + "/_fakemms/api/events", stream=True, timeout=10)
        assert stream.status_code == 200  # the web UI keeps one open per tab
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"POST /SendMMS HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        time.sleep(1.5)  # the report is attempted (refused) and retrying
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout is not None
        logged = None
        for line in proc.stdout:
            if b"stopped in" in line:
                logged = time.monotonic()
                took = float(line.split(b"stopped in", 1)[1].split()[0])
                break
        proc.wait(10)
        exited = time.monotonic()
        for sock in [*held, half]:
            sock.close()
        stream.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    assert logged is not None and proc.returncode == 0
    assert exited - logged < 0.5, exited - logged
    assert took < 1.0, took  # an open event stream used to hold the stop ~2 s (its keep-alive)
