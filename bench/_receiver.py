"""Callback receivers for the benchmarks, in a subprocess of their own (asyncio, one thread).

``python bench/_receiver.py --healthy N --hung M [--record]`` listens on N + M ports of
127.0.0.1, each on its own port (the fake's callback lanes are per scheme, host and port):

- healthy: answer every request ``200 OK`` at once (keep-alive). With ``--record``, note each
  request's arrival (``time.monotonic()``, system-wide on Linux, so comparable with the parent's)
  and the ``mtId`` of its body;
- hung: accept the connection, read what comes, never answer (the fake's callback times out).

Prints ``READY {"healthy": [ports], "hung": [ports]}`` once listening; when its standard input
closes, prints ``DONE {"received": n, "records": [[port, arrival, mtId], ...]}`` and exits.
Its own lifetime is bounded too (``--max-seconds``). Asyncio, not http.server: a thousand
callbacks a second cost it little, so the receiver never slows the fake it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK"
MT_ID = re.compile(rb'"mtId"\s*:\s*"?([^",}\s]+)')


class Tally:
    def __init__(self, record: bool) -> None:
        self.record = record
        self.received = 0
        self.records: list[tuple[int, float, str]] = []


class Healthy(asyncio.Protocol):
    def __init__(self, port: int, tally: Tally) -> None:
        self.port = port
        self.tally = tally
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            self.tally.received += 1
            if self.tally.record:
                m = MT_ID.search(body)
                self.tally.records.append((self.port, now, m.group(1).decode() if m else ""))
            assert self.transport is not None
            self.transport.write(ANSWER)


class Hung(asyncio.Protocol):
    """Accepts, reads, never answers; the connection stays open until the caller gives up."""

    def data_received(self, data: bytes) -> None:
        pass


async def serve(healthy: int, hung: int, tally: Tally, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    ports: dict[str, list[int]] = {"healthy": [], "hung": []}
    for kind, count in (("healthy", healthy), ("hung", hung)):
        for _ in range(count):
            if kind == "healthy":
                holder: dict[str, int] = {}
                srv = await loop.create_server(
                    lambda h=holder: Healthy(h["port"], tally), HOST, 0, backlog=512)
                holder["port"] = srv.sockets[0].getsockname()[1]
            else:
                srv = await loop.create_server(Hung, HOST, 0, backlog=512)
            servers.append(srv)
            ports[kind].append(srv.sockets[0].getsockname()[1])
    print("READY " + json.dumps(ports), flush=True)
    stdin_closed = loop.create_future()

    def wait_stdin() -> None:  # a daemon thread: never holds the process up at exit
        sys.stdin.read()
        loop.call_soon_threadsafe(lambda: stdin_closed.done() or stdin_closed.set_result(None))

    threading.Thread(target=wait_stdin, daemon=True).start()
    try:
        await asyncio.wait_for(stdin_closed, max_seconds)
    except TimeoutError:
        pass
    for srv in servers:
        srv.close()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="callback receivers for the benchmarks")
    ap.add_argument("--healthy", type=int, default=1)
    ap.add_argument("--hung", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="note each request's arrival")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    args = ap.parse_args(argv)
    tally = Tally(args.record)
    asyncio.run(serve(args.healthy, args.hung, tally, args.max_seconds))
    print("DONE " + json.dumps({"received": tally.received, "records": tally.records}),
          flush=True)


class Receivers:
    """The receivers' subprocess, seen from the benchmark."""

    def __init__(self, healthy: int = 1, hung: int = 0, record: bool = False,
                 max_seconds: float = 3600.0) -> None:
        import subprocess

        argv = [sys.executable, str(Path(__file__).resolve()), "--healthy", str(healthy),
                "--hung", str(hung), "--max-seconds", str(max_seconds)]
        if record:
            argv.append("--record")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"receivers did not start: {line!r}")
        ports = json.loads(line[6:])
        self.healthy: list[int] = ports["healthy"]
        self.hung: list[int] = ports["hung"]
        self.result: dict | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 30.0) -> dict:
        """Close the receivers; what they received."""
        if self.result is None:
            import subprocess

            try:
                out, _ = self.proc.communicate(input="", timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
            done = [ln for ln in out.splitlines() if ln.startswith("DONE ")]
            self.result = json.loads(done[-1][5:]) if done else {"received": -1, "records": []}
        return self.result

    def __enter__(self) -> Receivers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
