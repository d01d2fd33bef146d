"""Benchmark: reliability under four attacks (issue 18), against a real ``fakemms serve``.

    .venv/bin/python bench/reliability.py [--attacks slow,held,disk,kill] [--quick]

Each attack gets a fresh ``fakemms serve`` (a subprocess on 127.0.0.1: tests/loadgen.py's
``Server``, its config in a temp dir) with one account, ``om``, whose delivery reports
(``default_report``, 1 s after the accept) go to a live receiver in this process
(``fakemms.testing.AppReceiver``). Per attack one row:

- sent: every ``POST /mms/v2/send`` made (the attack's load and the normal sends below);
- acknowledged: answered 2xx with an ``mtId``;
- stored: the messages the control API lists (after the restart, where there is one);
- delivered: acknowledged or stored messages the receiver got a report for (at least once);
- lost: acknowledged but not stored, or stored but not reported within the deadline;
- a normal send during the attack: a ``POST /mms/v2/send`` every 0.25 s, each on a fresh
  connection (``requests.post``, no session), timeout 5 s: p50, p99, max, how many took over 1 s,
  how many timed out (a timed-out send counts its 5 s in p50 and max; a connection error is
  counted apart and not in them).

The attacks:

1. slow: 20 raw-socket clients declare ``Content-Length: 2000000`` (10 on
   ``POST /_fakemms/ui/login``, 10 on ``POST /SendMMS``) and drip one byte every 2 s, 20 s.
2. held: 2,000 keep-alive connections, each after one ``GET /_fakemms/health``, held idle
   (RLIMIT_NOFILE raised soft to hard here; the server inherits it); meanwhile 2,000 sends at 8
   threads, each on a new connection; the normal-send figures are those sends'.
3. disk: persistence on a 1 MiB tmpfs (``mount``, root; otherwise the row says skipped) with
   a 400 KB filler file; 300 sends of ~8 KB at 8 threads; the filler removed; the time until
   health answers 200 again; ``kill -9``; a restart on the same file.
4. kill: persistence on a temp file; 8 threads send continuously, each send on a new
   connection; ``kill -9`` after 3 s; a restart on the same file.

The goal printed beside the figures: no acknowledged message lost, and a normal send answered
in under 1 s during every attack. Bounded: every phase has a count and a deadline; traffic to
127.0.0.1 only; about 3 minutes (``--quick``: about one). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import HOST, machine, percentile  # noqa: E402
from loadgen import PASSWORD, Plan, Server, om_send, report_message_id, server_config  # noqa: E402

from fakemms.testing import AppReceiver  # noqa: E402

PROBE_EVERY = 0.25  # s between normal sends
TIMEOUT = 5.0  # s a send may take before it counts as timed out
GOAL = 1.0  # s: a normal send answered within this during every attack
ATTACKS = ("slow", "held", "disk", "kill")
_numbers = itertools.count(1)  # every send's destination differs


@dataclass
class Sizes:
    """How much of each attack (``--quick`` scales them down)."""

    slow_clients: int = 20
    slow_seconds: float = 20.0
    held: int = 2000
    held_sends: int = 2000
    held_seconds: float = 45.0  # the sends stop here, however many are left
    disk_sends: int = 300
    kill_after: float = 3.0
    report_deadline: float = 30.0  # s after the attack (or the restart) for every report


QUICK = Sizes(slow_clients=10, slow_seconds=8.0, held=500, held_sends=500, held_seconds=20.0,
              disk_sends=150, kill_after=1.5, report_deadline=15.0)


# --- sends ------------------------------------------------------------------------------------
@dataclass
class Send:
    status: int  # 0: no answer
    id: str | None  # the mtId of a 2xx
    latency: float  # s
    error: str = ""  # "timeout", or the exception's class name


def send_mt(url: str, size: int = 0) -> Send:
    """One OpenMarket send on a connection of its own; ``size``: its text part's length."""
    n = next(_numbers)
    body, headers = om_send(f"1255{n:07d}", f"reliability {n} ".ljust(size, "x"))
    t0 = time.monotonic()
    try:
        r = requests.post(f"{url}/mms/v2/send", data=body, headers=headers,
                          auth=("om", PASSWORD), timeout=TIMEOUT)
    except requests.Timeout:
        return Send(0, None, time.monotonic() - t0, "timeout")
    except requests.RequestException as exc:
        return Send(0, None, time.monotonic() - t0, type(exc).__name__)
    latency = time.monotonic() - t0
    mid = None
    if 200 <= r.status_code < 300:
        try:
            mid = str(r.json()["mtId"])
        except (ValueError, KeyError, TypeError):
            pass
    return Send(r.status_code, mid, latency)


def send_load(url: str, count: int, seconds: float, size: int = 0, threads: int = 8,
              stop: threading.Event | None = None) -> list[Send]:
    """Up to ``count`` sends at ``threads`` threads, each on a new connection, for at most
    ``seconds`` (or until ``stop`` is set)."""
    sent: list[Send] = []
    deadline = time.monotonic() + seconds
    left = itertools.count(count, -1)
    lock = threading.Lock()

    def worker() -> None:
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            with lock:
                if next(left) <= 0:
                    return
            sent.append(send_mt(url, size))

    with ThreadPoolExecutor(threads, thread_name_prefix="load") as pool:
        for _ in range(threads):
            pool.submit(worker)
    return sent


class Prober:
    """A normal send every ``PROBE_EVERY`` s, each on a fresh connection and in a thread of
    its own (a stuck one never delays the next), for at most ``limit`` s or until ``halt``."""

    def __init__(self, url: str, limit: float) -> None:
        self.url = url
        self.sends: list[Send] = []
        self.halted = threading.Event()
        self.pool = ThreadPoolExecutor(int(TIMEOUT / PROBE_EVERY) + 8,
                                       thread_name_prefix="probe")
        self.thread = threading.Thread(target=self._run, args=(limit,), daemon=True)
        self.thread.start()

    def _run(self, limit: float) -> None:
        t0 = time.monotonic()
        for k in range(int(limit / PROBE_EVERY)):
            if self.halted.wait(max(0.0, t0 + k * PROBE_EVERY - time.monotonic())):
                return
            self.pool.submit(lambda: self.sends.append(send_mt(self.url)))

    def stop(self) -> list[Send]:
        """No more probes; those in flight are waited for."""
        self.halted.set()
        self.thread.join()
        self.pool.shutdown(wait=True)
        return self.sends


# --- the server and its receiver --------------------------------------------------------------
def config(receiver: AppReceiver, state: Path | None = None) -> dict[str, Any]:
    """tests/loadgen.py's configuration, its ``om`` account only; ``state``: persistence."""
    cfg = server_config(Plan(report_after=1.0), receiver.url)
    cfg["accounts"] = [a for a in cfg["accounts"] if a["username"] == "om"]
    if state is not None:
        cfg["persistence"] = {"path": str(state)}
    return cfg


def kill9(server: Server) -> None:
    server.proc.kill()
    server.proc.wait(timeout=10)
    server.stop()  # the rest of its stop: session, log, temp dir


def stored_ids(server: Server) -> set[str]:
    listed = server.api("GET", "/messages", params={"limit": 10 ** 6}).json()["messages"]
    return {m["id"] for m in listed}


def reported_ids(receiver: AppReceiver) -> set[str]:
    return {mid for item in list(receiver.received) if (mid := report_message_id(item))}


def wait_reported(receiver: AppReceiver, ids: set[str], timeout: float) -> set[str]:
    """The ids reported once each of ``ids`` is, or once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while not ids <= (got := reported_ids(receiver)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return got


def wait_health(url: str, timeout: float) -> float | None:
    """Seconds until ``GET /_fakemms/health`` answers 200; None if not within ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if requests.get(f"{url}/_fakemms/health", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return None


# --- one row ----------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    sends: list[Send] = field(default_factory=list)  # every send made (load and probes)
    normal: list[Send] = field(default_factory=list)  # the sends whose latency is shown
    stored: set[str] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0

    @property
    def acked(self) -> set[str]:
        return {s.id for s in self.sends if s.id}

    @property
    def delivered(self) -> set[str]:
        return (self.acked | self.stored) & self.reported

    @property
    def lost(self) -> set[str]:
        return (self.acked - self.stored) | (self.stored - self.reported)

    @property
    def acked_lost(self) -> set[str]:
        return self.acked & self.lost

    def latency(self) -> tuple[float, float, float, int, int, int]:
        """p50, p99 and max (s), over 1 s, timeouts, connection errors of the normal sends."""
        timed = sorted(s.latency for s in self.normal if s.status or s.error == "timeout")
        return (percentile(timed, 50), percentile(timed, 99), max(timed, default=float("nan")),
                sum(t > GOAL for t in timed), sum(s.error == "timeout" for s in self.normal),
                sum(bool(s.error) and s.error != "timeout" for s in self.normal))

    def met(self) -> bool:
        *_, worst, slow, timeouts, errors = self.latency()
        return not self.acked_lost and not slow and not timeouts and not errors \
            and bool(self.normal) and worst < GOAL


def answers(sends: list[Send]) -> str:
    """What the sends were answered: status codes and errors, most frequent first."""
    tally = Counter(str(s.status) if s.status else s.error for s in sends)
    return ", ".join(f"{k} x{n}" for k, n in tally.most_common()) or "none"


# --- 1. slow bodies ---------------------------------------------------------------------------
def drip(port: int, clients: int, seconds: float, ready: threading.Event) -> list[str]:
    """``clients`` raw sockets declare a 2,000,000-byte body (half on the UI's login, half on
    the legacy SendMMS) and send one byte of it every 2 s for ``seconds``; what became of
    them."""
    socks: list[socket.socket] = []
    try:
        for i in range(clients):
            path = "/_fakemms/ui/login" if i < clients // 2 else "/SendMMS"
            s = socket.create_connection((HOST, port), timeout=5)
            socks.append(s)
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      "Content-Length: 2000000\r\n\r\n".encode())
            s.setblocking(False)
        ready.set()
        t0 = time.monotonic()
        ended: dict[int, str] = {}  # client -> what ended it, and when
        for tick in range(int(seconds / 2) + 1):
            time.sleep(max(0.0, t0 + 2 * tick - time.monotonic()))
            for i, s in enumerate(socks):
                if i in ended:
                    continue
                try:
                    data = s.recv(4096)
                    ended[i] = (f"answered {data.split(b' ', 2)[1].decode()}" if data
                                else "closed by the server") + f" at {time.monotonic() - t0:.0f} s"
                    continue
                except BlockingIOError:
                    pass
                except OSError as exc:
                    ended[i] = f"{type(exc).__name__} at {time.monotonic() - t0:.0f} s"
                    continue
                try:
                    s.send(b"a")
                except BlockingIOError:
                    pass
                except OSError as exc:
                    ended[i] = f"{type(exc).__name__} at {time.monotonic() - t0:.0f} s"
        fates = Counter(ended.values())
        still = len(socks) - len(ended)
        return [f"{len(socks)} slow clients: {still} still dripping after {seconds:.0f} s"
                + "".join(f"; {n} {fate}" for fate, n in fates.most_common())]
    finally:
        ready.set()
        for s in socks:
            s.close()


def attack_slow(sizes: Sizes) -> Row:
    row = Row("1. slow bodies")
    with AppReceiver() as receiver:
        server = Server(config(receiver))
        try:
            ready = threading.Event()
            notes: list[str] = []
            dripper = threading.Thread(target=lambda: notes.extend(drip(
                server.port, sizes.slow_clients, sizes.slow_seconds, ready)), daemon=True)
            dripper.start()
            ready.wait(30)
            prober = Prober(server.url, sizes.slow_seconds)
            dripper.join(sizes.slow_seconds + 60)
            row.normal = row.sends = prober.stop()
            row.notes += notes
            row.stored = stored_ids(server)
            row.reported = wait_reported(receiver, row.acked | row.stored, sizes.report_deadline)
            row.notes.append(f"normal sends answered: {answers(row.normal)}")
        finally:
            server.stop()
    return row


# --- 2. held connections ----------------------------------------------------------------------
class Holder:
    """Keep-alive connections in an asyncio loop of its own (a thread): each sends one
    ``GET /_fakemms/health``, reads the answer (up to 10 s), and stays open, idle."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.tally: Counter = Counter()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _run(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self, count: int) -> None:
        self._run(self._open(count), 90)

    async def _open(self, count: int) -> None:
        connecting = asyncio.Semaphore(200)
        await asyncio.gather(*(self._one(connecting) for _ in range(count)))

    async def _one(self, connecting: asyncio.Semaphore) -> None:
        async with connecting:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(HOST, self.port), 5)
            except (OSError, TimeoutError):
                self.tally["not connected"] += 1
                return
        self.streams.append((reader, writer))
        writer.write(f"GET /_fakemms/health HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n\r\n"
                     .encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            await asyncio.wait_for(reader.readexactly(int(length.group(1)) if length else 0), 5)
            self.tally["answered"] += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.tally["no answer in 10 s"] += 1

    def still_open(self) -> int:
        async def count() -> int:
            return sum(not r.at_eof() for r, _ in self.streams)
        return self._run(count(), 10)

    def close(self) -> None:
        async def close_all() -> None:
            for _, writer in self.streams:
                writer.close()
        self._run(close_all(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def raise_nofile() -> str:
    """The soft limit on open files up to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return f"RLIMIT_NOFILE {soft} -> {hard}"


def attack_held(sizes: Sizes) -> Row:
    row = Row("2. held connections")
    row.notes.append(raise_nofile())
    with AppReceiver() as receiver:
        server = Server(config(receiver))
        holder = Holder(server.port)
        try:
            t0 = time.monotonic()
            holder.open(sizes.held)
            row.notes.append(f"{sizes.held} held connections in {time.monotonic() - t0:.1f} s: "
                             + ", ".join(f"{k} {n}" for k, n in holder.tally.most_common()))
            t0 = time.monotonic()
            row.normal = row.sends = send_load(server.url, sizes.held_sends, sizes.held_seconds)
            row.notes.append(f"{len(row.sends)} sends in {time.monotonic() - t0:.1f} s, "
                             f"answered {answers(row.sends)}; then {holder.still_open()} of the "
                             "held connections were not yet closed by the server")
        finally:
            holder.close()
        try:
            row.stored = stored_ids(server)
            row.reported = wait_reported(receiver, row.acked | row.stored, sizes.report_deadline)
        finally:
            server.stop()
    return row


# --- 3. full disk -----------------------------------------------------------------------------
def tmpfs_usage(disk: Path) -> str:
    st = os.statvfs(disk)
    files = ", ".join(f"{p.name} {p.stat().st_size // 1024} KB" for p in sorted(disk.iterdir()))
    return (f"the tmpfs holds {(st.f_blocks - st.f_bfree) * st.f_frsize // 1024} of "
            f"{st.f_blocks * st.f_frsize // 1024} KB ({files})")


def attack_disk(sizes: Sizes) -> Row:
    row = Row("3. full disk")
    with tempfile.TemporaryDirectory(prefix="fakemms-disk-") as tmp, AppReceiver() as receiver:
        disk = Path(tmp) / "small"
        disk.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            row.skipped = f"cannot mount a 1 MiB tmpfs ({r.stderr.strip() or r.returncode})"
            return row
        try:
            filler = disk / "filler"
            filler.write_bytes(b"\0" * 400_000)  # removed later: space comes back
            cfg = config(receiver, disk / "state.db")
            server = Server(cfg)
            try:
                prober = Prober(server.url, 60)
                load = send_load(server.url, sizes.disk_sends, 60, size=8000)
                row.normal = prober.stop()
                row.sends = load + row.normal
                health = requests.get(f"{server.url}/_fakemms/health", timeout=TIMEOUT)
                row.notes.append(f"{len(load)} sends of ~8 KB answered: {answers(load)}; "
                                 f"normal sends: {answers(row.normal)}; health then "
                                 f"{health.status_code} {health.json().get('reason', '')!r}")
                filler.unlink()
                healed = wait_health(server.url, 15)
                row.notes.append("filler removed: health 200 again after "
                                 + (f"{healed:.2f} s" if healed is not None
                                    else f"more than 15 s (gave up); then {tmpfs_usage(disk)}"
                                    f"; health {server.health().get('persistence')}"))
            finally:
                kill9(server)
            server = Server(cfg)  # the same file
            try:
                row.stored = stored_ids(server)
                row.reported = wait_reported(receiver, row.acked | row.stored,
                                             sizes.report_deadline)
            finally:
                server.stop()
        finally:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    return row


# --- 4. kill -9 under load --------------------------------------------------------------------
def attack_kill(sizes: Sizes) -> Row:
    row = Row("4. kill -9 under load")
    with tempfile.TemporaryDirectory(prefix="fakemms-kill-") as tmp, AppReceiver() as receiver:
        cfg = config(receiver, Path(tmp) / "state.db")
        server = Server(cfg)
        stop = threading.Event()
        load: list[Send] = []
        loader = threading.Thread(target=lambda: load.extend(send_load(
            server.url, 100_000, sizes.kill_after + 30, stop=stop)), daemon=True)
        prober = Prober(server.url, sizes.kill_after + 30)
        loader.start()
        time.sleep(sizes.kill_after)
        row.normal = prober.stop()  # the normal sends are those answered before the kill
        kill9(server)
        stop.set()
        loader.join(TIMEOUT + 30)
        row.sends = load + row.normal
        row.notes.append(f"kill -9 after {sizes.kill_after:.1f} s: {len(load)} load sends "
                         f"answered {answers(load)}; normal sends {answers(row.normal)}")
        t0 = time.monotonic()
        server = Server(cfg)  # the same file
        try:
            row.notes.append(f"restarted, healthy in {time.monotonic() - t0:.2f} s")
            row.stored = stored_ids(server)
            row.reported = wait_reported(receiver, row.acked | row.stored, sizes.report_deadline)
        finally:
            server.stop()
    return row


RUNS: dict[str, Callable[[Sizes], Row]] = {
    "slow": attack_slow, "held": attack_held, "disk": attack_disk, "kill": attack_kill}


# --- the report -------------------------------------------------------------------------------
def print_table(rows: list[Row], deadline: float) -> None:
    print(f"| {'attack':<22} | {'sent':>5} | {'2xx':>5} | {'stored':>6} | {'delivered':>9} | "
          f"{'lost':>4} | {'2xx lost':>8} | {'p50 s':>6} | {'p99 s':>6} | {'max s':>6} | "
          f"{'> 1 s':>5} | "
          f"{'timeouts':>8} | {'conn err':>8} | {'goal':>7} |")
    print(f"|{'-' * 24}|{'-' * 7}|{'-' * 7}|{'-' * 8}|{'-' * 11}|{'-' * 6}|{'-' * 10}|"
          f"{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 7}|{'-' * 10}|{'-' * 10}|{'-' * 9}|")
    for row in rows:
        if row.skipped:
            print(f"| {row.name:<22} | skipped: {row.skipped} |")
            continue
        p50, p99, worst, slow, timeouts, errors = row.latency()
        print(f"| {row.name:<22} | {len(row.sends):>5} | {len(row.acked):>5} | "
              f"{len(row.stored):>6} | {len(row.delivered):>9} | {len(row.lost):>4} | "
              f"{len(row.acked_lost):>8} | {p50:>6.3f} | {p99:>6.3f} | {worst:>6.3f} | "
              f"{slow:>5} | "
              f"{timeouts:>8} | {errors:>8} | {'met' if row.met() else 'not met':>7} |")
    print()
    print("goal: 0 acknowledged-then-lost, and a normal send answered in under 1 s during every "
          "attack (no timeout, no connection error); latency: the normal sends of each attack "
          f"(held: its own sends); delivered within {deadline:.0f} s of the attack's end or "
          "of the restart")
    for row in rows:
        if row.skipped:
            continue
        print(f"\n{row.name} ({row.seconds:.0f} s):")
        for note in row.notes:
            print(f"  - {note}")
        if row.lost:
            print(f"  - lost: {len(row.acked - row.stored)} acknowledged but not stored, "
                  f"{len(row.stored - row.reported)} stored but not reported; e.g. "
                  f"{sorted(row.lost)[:5]}")
        if row.stored - row.acked:
            print(f"  - {len(row.stored - row.acked)} stored without a 2xx at the client (it "
                  "timed out, or the kill cut it, before the answer)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--attacks", default=",".join(ATTACKS),
                    help="comma-separated, from " + ", ".join(ATTACKS))
    ap.add_argument("--quick", action="store_true", help="a shorter version of each attack")
    args = ap.parse_args(argv)
    chosen = [a for a in args.attacks.split(",") if a]
    if unknown := [a for a in chosen if a not in RUNS]:
        ap.error(f"unknown attack(s) {unknown}; choose from {', '.join(ATTACKS)}")
    sizes = QUICK if args.quick else Sizes()
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"commit {m['commit']}; load average {m['load']}")
    print(f"attacks: {', '.join(chosen)}{' (quick)' if args.quick else ''}; fakemms serve "
          f"on {HOST}, one account, reports 1 s after each accept to a receiver in this process")
    t0 = time.monotonic()
    rows = []
    for name in chosen:
        started = time.monotonic()
        print(f"running {name} ...", flush=True)
        row = RUNS[name](sizes)
        row.seconds = time.monotonic() - started
        rows.append(row)
    print()
    print_table(rows, sizes.report_deadline)
    print(f"\nwhole run {time.monotonic() - t0:.0f} s; load average after "
          f"{machine()['load']}")


if __name__ == "__main__":
    main()
