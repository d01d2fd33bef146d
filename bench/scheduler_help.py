"""Benchmark: request threads helping the scheduler fire due reports, on beside off.

    .venv/bin/python bench/scheduler_help.py [--seconds 5] [--rounds 2]

``MtService.submit`` calls ``scheduler.help()`` after each accepted MT: the request thread
fires up to two jobs already due, so that firing keeps pace with accepting when the scheduler
thread gets too little of the GIL. This runs bench/load.py's wrk load (``-t2 -c8``, reports
due 0.2 s after each send, to a live receiver in this process) against ``fakemms serve`` as
it is and with ``help`` off (bench/_serve_without_help.py), in ABBA rounds, and prints the
send rate, how long after wrk ended the last report reached the receiver, the reports
delivered and the jobs dropped. Asserts nothing (a measurement).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import machine  # noqa: E402
from load import wrk_load  # noqa: E402

MODULES = {"help on": "fakemms", "help off": "bench._serve_without_help"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"commit {m.get('commit', '?')}; load average {m['load']}")
    print("| round | run | sends/s | p99 ms | reports delivered / stored | last report after "
          "wrk ended, s | dropped jobs | server CPU us/send |")
    print("|---|---|---|---|---|---|---|---|")
    order = list(MODULES)
    for r in range(args.rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            x = wrk_load(args.seconds, True, MODULES[name])
            print(f"| {r + 1} | {name} | {x['rps']:.0f} | {x['p99']:.1f} | "
                  f"{x['delivered']}/{x['stored']} | {x['drain']:.2f} | {x['dropped_jobs']} | "
                  f"{x['cpu_us']:.0f} |", flush=True)
    print(f"load average after: {machine()['load']}")


if __name__ == "__main__":
    main()
