"""Benchmark: this tree beside another commit's, same run (the house's redesign must not make
the fake slower than the spread between rounds of the same commit).

    git worktree add /tmp/before COMMIT
    .venv/bin/python bench/trees.py --before /tmp/before [--rounds 3] [--duration 3]

Starts ``fakemms`` from each tree (each tree's own bench/_common.py, so each its own
package) on its embedded defaults, and from each again with persistence on, then drives wrk
through every target in ABBA rounds (the order reversed every other round): the OpenMarket
send path and an MM7 SubmitReq. Prints req/s, p99, server CPU per request, this tree's ratio
to the other, and the spread between rounds of the same target (worst / best round).

Bounded: every wrk run lasts ``--duration`` seconds. Asserts nothing (a measurement).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HOST,
    Subprocess,
    add_wrk_arguments,
    machine,
    run_wrk,
    wrk_script,
)
from mm7 import MM7_HEADERS, submit_body  # noqa: E402
from send import HEADERS, check_once, send_body  # noqa: E402


def start(tree: Path, config: str | None = None) -> Subprocess:
    argv = [sys.executable, str(tree / "bench" / "_common.py"), "fakemms", "--server",
            "default"]
    return Subprocess(argv + (["--config", config] if config else []))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", help="the other commit's work tree (without it: skipped)")
    add_wrk_arguments(ap)
    args = ap.parse_args(argv)
    if not args.before:
        print("bench/trees.py: skipped (give --before TREE: `git worktree add /tmp/before "
              "COMMIT`)")
        return
    before = Path(args.before).resolve()
    here = Path(__file__).resolve().parents[1]
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"commit {m.get('commit', '?')}; load average {m['load']}")
    print(f"wrk -t{args.threads} -c8 to {HOST}, {args.rounds} ABBA round(s) x {args.duration} s "
          "per cell (after a 1 s warm-up per target)")
    with tempfile.TemporaryDirectory() as tmp:
        targets = {}
        for label, tree in (("before", before), ("after", here)):
            targets[f"{label}, memory"] = start(tree)
            config = Path(tmp) / f"{label}.yaml"
            config.write_text(f"persistence: {{path: {Path(tmp) / label}.db}}\n")
            targets[f"{label}, persistence"] = start(tree, str(config))
        try:
            body, mm7 = send_body(), submit_body()
            for proc in targets.values():
                check_once(proc.port, body)
            scripts = {"send": wrk_script(Path(tmp), "POST", "/mms/v2/send", body, HEADERS),
                       "mm7": wrk_script(Path(tmp), "POST", "/mm7", mm7, MM7_HEADERS)}
            rows = measure(targets, scripts, args)
        finally:
            for proc in targets.values():
                proc.stop()
    report(rows)
    print(f"load average after: {machine()['load']}")


def measure(targets: dict[str, Subprocess], scripts: dict[str, Path],
            args: argparse.Namespace) -> dict[tuple[str, str], list]:
    rows: dict[tuple[str, str], list] = {}
    order = list(targets)
    for proc in targets.values():
        for script in scripts.values():
            run_wrk(proc.port, script, connections=8, threads=args.threads, seconds=1)
    for path, script in scripts.items():
        for r in range(args.rounds):
            for name in (order if r % 2 == 0 else order[::-1]):
                proc = targets[name]
                res = run_wrk(proc.port, script, connections=8, threads=args.threads,
                              seconds=args.duration, server_pid=proc.proc.pid)
                rows.setdefault((path, name), []).append(res)
    return rows


def report(rows: dict[tuple[str, str], list]) -> None:
    print()
    print("| path | target | req/s (mean) | rounds: worst/best | p99 ms (max) | CPU us/req | "
          "errors | after/before |")
    print("|---|---|---|---|---|---|---|---|")
    for (path, name), results in rows.items():
        rps = [r.rps for r in results]
        mean = sum(rps) / len(rps)
        twin = rows[(path, name.replace("after", "before"))]
        base = sum(r.rps for r in twin) / len(twin)
        ratio = f"{mean / base:.2f}x" if name.startswith("after") and base else ""
        cpu = sum(r.cpu_us_per_request for r in results) / len(results)
        print(f"| {path} | {name} | {mean:.0f} | {min(rps) / max(rps):.2f} | "
              f"{max(r.p99 for r in results):.1f} | {cpu:.0f} | "
              f"{sum(r.errors for r in results)} | {ratio} |")


if __name__ == "__main__":
    main()
