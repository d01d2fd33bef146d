"""Benchmark: the OpenMarket send path with persistence on beside off, in the same run.

    .venv/bin/python bench/persistence.py [--connections 8] [--threads 2] [--duration 3]
                                          [--rounds 4]

Three fakemms servers, each in its own subprocess on 127.0.0.1: the embedded defaults (state
in memory only), the same with ``persistence: {path: FILE}`` (a temporary SQLite file, the
default ``synchronous: normal``), and with ``synchronous: off``. wrk sends each
``POST /mms/v2/send`` with the 1 KB multipart body of bench/send.py, in turn (the order
reversed every other round) so drift hits all alike; each accepted MT also schedules its
report one second later, so the file sees the message, its parts and raw request, the report
job, and (once ``max_messages`` is reached) an eviction per send. Prints req/s, p50/p99, the
ratio to off, the server CPU per request, and the files' size and rows at the end.

Bounded: every wrk run lasts ``--duration`` seconds. Asserts nothing (a measurement).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HOST, add_wrk_arguments, machine, run_abba, start_fakemms, wrk_script  # noqa: E402
from send import HEADERS, check_once, send_body  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_arguments(ap)
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.connections.split(",") if c]
    body = send_body()
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"load average {m['load']}")
    print(f"body {len(body)} bytes to {HOST}; wrk -t{args.threads}, {args.rounds} ABBA "
          f"round(s) x {args.duration} s per cell (after a 1 s warm-up per target)")

    with tempfile.TemporaryDirectory() as tmp:
        targets = {"persistence off": start_fakemms()}
        files = {}
        for sync in ("normal", "off"):
            files[sync] = state = Path(tmp) / f"state-{sync}.db"
            config = Path(tmp) / f"persist-{sync}.yaml"
            config.write_text(f"persistence: {{path: {state}, synchronous: {sync}}}\n")
            targets[f"on, sync {sync}"] = start_fakemms(config=str(config))
        try:
            for proc in targets.values():
                check_once(proc.port, body)
            script = wrk_script(Path(tmp), "POST", "/mms/v2/send", body, HEADERS)
            results = run_abba({name: (proc.port, proc.proc.pid, script)
                                for name, proc in targets.items()}, levels, args)
        finally:
            for proc in targets.values():
                proc.stop()
        sizes, rows = {}, {}
        for sync, state in files.items():
            sizes[sync] = sum(p.stat().st_size for p in Path(tmp).glob(f"{state.name}*"))
            conn = sqlite3.connect(state)
            rows[sync] = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                          for t in ("messages", "parts", "callbacks", "jobs")}
            conn.close()

    print()
    print(f"| {'target':<16} | {'conn':>4} | {'req/s':>7} | {'x off':>6} | {'p50 ms':>6} | "
          f"{'p99 ms':>6} | {'p99 max':>7} | {'errors':>6} | {'server CPU us':>13} | "
          f"{'load':>9} |")
    print(f"|{'-' * 18}|{'-' * 6}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 9}|"
          f"{'-' * 8}|{'-' * 15}|{'-' * 11}|")
    for c in levels:
        base = results[("persistence off", c)].rps
        for name in targets:
            res = results[(name, c)]
            ratio = res.rps / base if base else float("nan")
            load = f"{min(res.loads):.1f}-{max(res.loads):.1f}"
            print(f"| {name:<16} | {c:>4} | {res.rps:>7.0f} | {ratio:>5.2f}x | {res.p50:>6.2f} | "
                  f"{res.p99:>6.2f} | {res.p99_max:>7.2f} | {res.errors:>6} | "
                  f"{res.cpu_us_per_request:>13.0f} | {load:>9} |")
    print()
    for sync in files:
        print(f"state file, sync {sync}, at the end (WAL included): {sizes[sync] / 1e6:.1f} MB;"
              " rows: " + ", ".join(f"{t} {n}" for t, n in rows[sync].items()))


if __name__ == "__main__":
    main()
