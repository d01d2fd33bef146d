"""Benchmark: the pytest plugin's session start and per-test overhead, beside
pytest-httpserver's in the same run.

1. Session start. (a) Cold, in a fresh process: import, build, listen and answer a first
   request (fakemms: ``create_app`` + ``ServerThread`` + ``GET /_fakemms/health``;
   pytest-httpserver: ``HTTPServer(port=0).start()`` + a first request). (b) Warm (modules
   imported): build, start, first answer, stop, repeated.
2. Per-test overhead, measured inside pytest: a test session of N trivial tests per fixture
   (``fakemms``, ``httpserver``, none), each in its own pytest process; a small plugin times
   every test's setup + teardown phases. The first test's setup is the session start as pytest
   sees it; the median of the others, minus the no-fixture baseline, is the per-test cost.
   Also the shared-server mode (``FAKEMMS_URL`` on a separately started ``fakemms serve``),
   where each test gets its own account (created and deleted over HTTP).
3. The reset alone: ``Backend.reset()`` (what the in-process ``fakemms`` fixture runs) beside
   ``HTTPServer.clear()`` (what ``httpserver`` runs), repeated.

Goals (issue 6): start <= 100 ms, reset <= 1 ms. Traffic goes to 127.0.0.1 only.
Run: .venv/bin/python bench/fixture.py  (BENCH_TESTS sets N, default 300)
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import _common  # bench/ is on sys.path when a benchmark runs as a script

ROOT = Path(__file__).resolve().parents[1]
N_TESTS = int(os.environ.get("BENCH_TESTS", "300"))
COLD_RUNS = 5
WARM_RUNS = 20
RESET_RUNS = 2000

COLD_FAKEMMS = r"""
import time, urllib.request
t0 = time.perf_counter()
from fakemms.app import create_app
from fakemms.server import ServerThread
t1 = time.perf_counter()
server = ServerThread(create_app({}), "127.0.0.1", 0).start()
with urllib.request.urlopen(server.url + "/_fakemms/health") as r:
    assert r.status == 200
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.3f} {(t2 - t1) * 1000:.3f}")
server.stop()
"""

COLD_HTTPSERVER = r"""
import time, urllib.request
t0 = time.perf_counter()
from pytest_httpserver import HTTPServer
t1 = time.perf_counter()
server = HTTPServer(host="127.0.0.1", port=0)
server.expect_request("/").respond_with_data("ok")
server.start()
with urllib.request.urlopen(server.url_for("/")) as r:
    assert r.status == 200
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.3f} {(t2 - t1) * 1000:.3f}")
server.stop()
"""

TIMING_CONFTEST = r"""
import json, os, time
import pytest

TIMES = []

@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    t = time.perf_counter()
    try:
        return (yield)
    finally:
        item._bench_setup = time.perf_counter() - t

@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    t = time.perf_counter()
    try:
        return (yield)
    finally:
        TIMES.append([item._bench_setup, time.perf_counter() - t])

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(TIMES, f)
"""


def machine() -> str:
    m = _common.machine()
    return f"{m['nproc']} cores, {m['cpu']}, Python {m['python']}, {m['date'][:10]}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def cold(script: str) -> tuple[float, float]:
    """Median import ms and start-to-first-answer ms over fresh processes."""
    imports, starts = [], []
    for _ in range(COLD_RUNS):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=60, cwd=ROOT, check=True).stdout.split()
        imports.append(float(out[0]))
        starts.append(float(out[1]))
    return median(imports), median(starts)


def warm_fakemms() -> float:
    import urllib.request

    from fakemms.app import create_app
    from fakemms.server import ServerThread

    times = []
    for _ in range(WARM_RUNS):
        t = time.perf_counter()
        server = ServerThread(create_app({}), "127.0.0.1", 0).start()
        with urllib.request.urlopen(server.url + "/_fakemms/health") as r:
            assert r.status == 200
        times.append(time.perf_counter() - t)
        server.stop()
        server.app.extensions["fakemms"].scheduler.stop()
    return median(times) * 1000


def warm_httpserver() -> float:
    import logging
    import urllib.request

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines
    from pytest_httpserver import HTTPServer

    times = []
    for _ in range(WARM_RUNS):
        t = time.perf_counter()
        server = HTTPServer(host="127.0.0.1", port=0)
        server.expect_request("/").respond_with_data("ok")
        server.start()
        with urllib.request.urlopen(server.url_for("/")) as r:
            assert r.status == 200
        times.append(time.perf_counter() - t)
        server.stop()
    return median(times) * 1000


def resets() -> tuple[float, float]:
    """Median ms of Backend.reset() (with a few messages stored) and HTTPServer.clear()."""
    from pytest_httpserver import HTTPServer

    from fakemms.app import create_app

    backend = create_app({}).extensions["fakemms"]
    fm = []
    for _ in range(RESET_RUNS):
        t = time.perf_counter()
        backend.reset()
        fm.append(time.perf_counter() - t)
    backend.scheduler.stop()
    server = HTTPServer(host="127.0.0.1", port=0)
    hs = []
    for _ in range(RESET_RUNS):
        server.expect_request("/").respond_with_data("ok")
        t = time.perf_counter()
        server.clear()
        hs.append(time.perf_counter() - t)
    return median(fm) * 1000, median(hs) * 1000


def in_pytest(workdir: Path, fixture: str, env: dict[str, str]) -> tuple[float, float, float]:
    """(first test setup ms, median setup+teardown ms of the others, wall s) for N tests."""
    name = f"test_{fixture or 'none'}.py"
    args = fixture if fixture else ""
    (workdir / name).write_text(textwrap.dedent(f"""
        import pytest

        @pytest.mark.parametrize("n", range({N_TESTS}))
        def test_it({args}{", " if args else ""}n):
            pass
    """))
    out = workdir / f"{fixture or 'none'}.json"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
                   cwd=workdir, env={**env, "BENCH_OUT": str(out)}, check=True,
                   capture_output=True, timeout=300)
    wall = time.perf_counter() - t
    times = json.loads(out.read_text())
    first = times[0][0] * 1000
    rest = [(s + td) * 1000 for s, td in times[1:]]
    return first, median(rest), wall


def external_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve", "--port", "0",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "FAKEMMS_CONFIG": ""})
    line = proc.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"fakemms serve did not start: {line!r}")
    return proc, match.group(1)


def main() -> None:
    print(f"Machine: {machine()}")
    print(f"\n1. Session start (cold: median of {COLD_RUNS} fresh processes; warm: median of "
          f"{WARM_RUNS} in this process)")
    fm_import, fm_cold = cold(COLD_FAKEMMS)
    hs_import, hs_cold = cold(COLD_HTTPSERVER)
    fm_warm, hs_warm = warm_fakemms(), warm_httpserver()
    print(f"   {'':28} {'fakemms':>10} {'httpserver':>11} {'ratio':>7}")
    for label, a, b in (("import (cold)", fm_import, hs_import),
                        ("build + start + 1st answer", fm_cold, hs_cold),
                        ("same, warm", fm_warm, hs_warm)):
        print(f"   {label:28} {a:8.2f} ms {b:8.2f} ms {a / b:6.2f}x")

    print(f"\n2. Inside pytest: {N_TESTS} trivial tests per session, setup + teardown timed")
    env = {k: v for k, v in os.environ.items() if k not in ("FAKEMMS_URL", "PYTEST_ADDOPTS")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "conftest.py").write_text(TIMING_CONFTEST)
        (work / "pytest.ini").write_text("[pytest]\n")
        none = in_pytest(work, "", env)
        fm = in_pytest(work, "fakemms", env)
        hs = in_pytest(work, "httpserver", env)
        proc, url = external_server()
        try:
            shared = in_pytest(work, "fakemms", {**env, "FAKEMMS_URL": url})
        finally:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()
    print(f"   {'':30} {'1st setup':>10} {'per test':>10} {'over none':>10} {'session':>8}")
    rows = (("no fixture", none), ("fakemms (in process)", fm), ("httpserver", hs),
            ("fakemms (FAKEMMS_URL shared)", shared))
    for label, (first, per, wall) in rows:
        print(f"   {label:30} {first:7.2f} ms {per:7.3f} ms {per - none[1]:7.3f} ms "
              f"{wall:6.2f} s")
    fm_over, hs_over = fm[1] - none[1], hs[1] - none[1]
    print(f"   per-test overhead ratio fakemms / httpserver: {fm_over / hs_over:.2f}x; "
          f"session start ratio: {(fm[0] - none[0]) / (hs[0] - none[0]):.2f}x")

    print(f"\n3. The reset alone (median of {RESET_RUNS})")
    fm_reset, hs_reset = resets()
    print(f"   Backend.reset() {fm_reset * 1000:.1f} us, HTTPServer.clear() "
          f"{hs_reset * 1000:.1f} us, ratio {fm_reset / hs_reset:.2f}x")

    start_in_pytest = fm[0] - none[0]
    print("\nGoals (issue 6):")
    print(f"   start <= 100 ms: warm {fm_warm:.1f} ms, first test setup in pytest "
          f"{start_in_pytest:.1f} ms, cold with imports {fm_import + fm_cold:.1f} ms")
    print(f"   reset <= 1 ms: per-test overhead {fm_over:.3f} ms, reset alone "
          f"{fm_reset:.3f} ms")


if __name__ == "__main__":
    main()
