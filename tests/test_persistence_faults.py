"""Durable state when the file takes no writes (issue: a full disk turned 202s into lost
messages). A send whose rows are not written gets no 2xx and leaves nothing in memory; every
2xx survives a restart and its reports are sent; health says why, and heals by itself.

Three layers: the journal alone with a failing COMMIT injected at its connection (fast), a fake
in this process on a real file held to its size by ``PRAGMA max_page_count`` (a real
SQLITE_FULL, no mount), and ``fakemms serve`` on a tmpfs that really fills, killed with -9."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from conftest import PNG_1PX, om_body, with_dlr
from loadgen import real_submit
from test_cli import free_port
from test_persistence import Server, a_message, started, wait_for

from fakemms import errors
from fakemms.persistence import SqliteJournal


class FailingCommits:
    """The journal's SQLite connection, with COMMIT failing as a full disk fails it while
    ``broken`` is set (everything else goes to the real connection)."""

    def __init__(self, conn: sqlite3.Connection, message: str = "database or disk is full"):
        self.conn = conn
        self.message = message
        self.broken = False

    def execute(self, sql: str, *args: Any) -> Any:
        if self.broken and sql == "COMMIT":
            raise sqlite3.OperationalError(self.message)
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def until(check: Any, timeout: float, what: str) -> None:
    """``wait_for`` that says what it waited for."""
    try:
        wait_for(check, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


def ids_in(journal: SqliteJournal) -> list[str]:
    return [m.id for m in journal.load().messages]


# --- the journal alone ---------------------------------------------------------------------------
def test_rows_of_a_failed_commit_are_never_reported_written(tmp_path):
    """Thread B queued its rows; A's commit carried them and failed. B must not find the
    queue empty and call them written (the bug that lost 165 of 203 accepted messages)."""
    journal = SqliteJournal(tmp_path / "state.db")
    conn = journal._conn = FailingCommits(journal._conn)  # type: ignore[assignment]
    queued, go_on, outcome = threading.Event(), threading.Event(), {}

    def thread_b() -> None:
        journal.enqueue(journal.message_ops(a_message("100000000000002"), new=True))
        queued.set()
        go_on.wait(5)
        try:
            journal.flush(strict=True)
            outcome["b"] = "written"
        except errors.StateNotDurable as exc:
            outcome["b"] = str(exc)

    b = threading.Thread(target=thread_b)
    b.start()
    assert queued.wait(5)
    conn.broken = True
    journal.apply(journal.message_ops(a_message("100000000000001"), new=True))  # A: not strict
    assert journal.failure and "disk is full" in journal.failure
    go_on.set()
    b.join(5)
    assert "disk is full" in outcome["b"]  # B is told: its rows are not in the file
    assert journal.unwritten() == 1  # A's batch waits; B's was taken back
    conn.broken = False
    wait_for(lambda: journal.failure is None, timeout=5)  # the recovery thread writes A's
    assert ids_in(journal) == ["100000000000001"] and journal.unwritten() == 0
    journal.close()


def test_a_strict_flush_takes_only_its_own_rows_back(tmp_path):
    journal = SqliteJournal(tmp_path / "state.db")
    conn = journal._conn = FailingCommits(journal._conn)  # type: ignore[assignment]
    conn.broken = True
    journal.apply([journal.meta_op("clock", {"mode": "real"})])  # a background write: kept
    with pytest.raises(errors.StateNotDurable), journal.held():
        journal.enqueue(journal.message_ops(a_message(), new=True))
    assert journal.unwritten() == 1
    conn.broken = False
    wait_for(lambda: journal.failure is None, timeout=5)
    loaded = journal.load()
    assert loaded.messages == [] and loaded.meta == {"clock": {"mode": "real"}}
    journal.close()


def test_a_real_sqlite_full_from_max_page_count(tmp_path):
    """No mount needed: SQLite refuses to grow the file past max_page_count."""
    journal = SqliteJournal(tmp_path / "state.db")
    journal.apply(journal.message_ops(a_message("100000000000001"), new=True))
    pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[union-attr]
    journal._conn.execute(f"PRAGMA max_page_count={pages}")  # type: ignore[union-attr]
    big = a_message("100000000000002")
    big.parts[1].data = os.urandom(200_000)
    with pytest.raises(errors.StateNotDurable, match="full"), journal.held():
        journal.enqueue(journal.message_ops(big, new=True))
    assert journal.failure and "full" in journal.failure
    time.sleep(1.5)  # the probe (a row the size of the refused batch) still fails
    assert journal.failure
    journal._conn.execute("PRAGMA max_page_count=1000000")  # type: ignore[union-attr]
    wait_for(lambda: journal.failure is None, timeout=5)
    assert ids_in(journal) == ["100000000000001"]
    assert "write-probe" not in journal.load().meta
    journal.close()


def test_a_removed_state_file_is_refused_then_written_anew(tmp_path):
    path = tmp_path / "state.db"
    journal = SqliteJournal(path)
    journal.apply(journal.message_ops(a_message("100000000000001"), new=True))
    path.unlink()
    with pytest.raises(errors.StateNotDurable, match="removed"), journal.held():
        journal.enqueue(journal.message_ops(a_message("100000000000002"), new=True))
    wait_for(lambda: journal.failure is None, timeout=5)
    assert path.exists()
    journal.apply(journal.message_ops(a_message("100000000000003"), new=True))
    journal.close()
    again = SqliteJournal(path)
    assert ids_in(again) == ["100000000000001", "100000000000003"]
    again.close()


# --- a fake in this process, on a real file held to its size ------------------------------------
def mm7_submit(fake: Any) -> requests.Response:
    """The real-world SubmitReq of tests/data (with its 75 KB JPEG)."""
    body, headers = real_submit()
    return fake.post("/mm7", data=body, auth=("acme", "s3cret"), headers=headers)


def legacy_send(fake: Any) -> requests.Response:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pic.png", PNG_1PX + os.urandom(50_000))
    return fake.post("/SendMMS", data={"user": "acme", "pass": "s3cret", "to": "447700900123",
                                       "from": "88600"},
                     files={"mms.zip": ("mms.zip", buf.getvalue(), "application/zip")})


def big_send(fake: Any, n: int, size: int = 60_000) -> requests.Response:
    return fake.send(om_body({"type": "MT", "source": "88600", "mtConfig": "config1",
                              "destination": f"1555123{n:04d}"},
                             [({"Content-Type": "image/png", "Content-Id": "p.png"},
                               PNG_1PX + os.urandom(size))]))


def fill(conn: Any) -> None:
    """Hold the file to the size it has: a send needing a page more is refused."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")


def test_a_send_the_file_cannot_keep_is_refused_forgotten_and_heals(tmp_path, receiver):
    path = tmp_path / "state.db"
    config = {**with_dlr(receiver.url("/dlr")), "seed": 1, "clock": "virtual",
              "persistence": {"path": str(path)}}
    fake = started(config)
    try:
        journal = fake.backend.store.journal
        accepted = [str(big_send(fake, i).json()["mtId"]) for i in range(2)]
        fill(journal._conn)
        r = big_send(fake, 3)
        assert r.status_code == 500 and r.json()["error"]["code"] == 15000, r.text
        assert r.headers["Retry-After"] == "5" and "X-Request-Id" in r.headers
        r = mm7_submit(fake)  # MM7: a fault, Server Error
        assert r.status_code == 500 and "<StatusCode>3000</StatusCode>" in r.text, r.text
        assert r.headers["Retry-After"] == "5"
        r = legacy_send(fake)
        assert r.status_code == 500 and r.headers["Retry-After"] == "5", r.text
        health = fake.get("/_fakemms/health")
        assert health.status_code == 503 and "full" in health.json()["reason"]
        assert health.json()["persistence"]["status"] == "failing"
        # nothing of the refused sends in memory: what the API shows, a restart shows
        listed = [m["id"] for m in fake.get("/_fakemms/api/messages").json()["messages"]]
        assert sorted(listed) == sorted(accepted)
        assert fake.backend.scheduler.pending_count() == 2  # the two accepted sends' reports
        # reports fall due while the file is full: sent anyway, written when it allows
        assert fake.post("/_fakemms/api/clock/advance", json={"seconds": 2}).status_code == 200
        got = receiver.wait_for(2)
        assert sorted(x.json["mtId"] for x in got) == sorted(accepted)
        assert journal.unwritten() > 0
        journal._conn.execute("PRAGMA max_page_count=1000000")
        start = time.monotonic()
        wait_for(lambda: fake.get("/_fakemms/health").status_code == 200, timeout=5)
        healed = time.monotonic() - start
        assert healed < 5 and journal.unwritten() == 0
        accepted.append(str(big_send(fake, 4).json()["mtId"]))
    finally:
        fake.server.stop()
    again = started(config)
    try:
        listed = [m["id"] for m in again.get("/_fakemms/api/messages").json()["messages"]]
        assert sorted(listed) == sorted(accepted)
        reports = [again.get(f"/_fakemms/api/messages/{mid}").json()["reports"]
                   for mid in accepted[:2]]
        assert all(r and r[0]["status"] == "Retrieved" for r in reports)
        assert again.backend.scheduler.pending_count() == 1  # the last send's report only
    finally:
        again.server.stop()


# --- fakemms serve on a tmpfs that fills; kill -9; restart -------------------------------------
def mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): "
                    "the max_page_count tests cover SQLITE_FULL without one")


@pytest.fixture
def tmpfs(tmp_path):
    where = tmp_path / "small"
    mounted = []

    def mount(size: str) -> Path:
        mount_tmpfs(where, size)
        mounted.append(where)
        return where

    yield mount
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def test_a_full_tmpfs_loses_no_accepted_message_across_kill_9(tmp_path, tmpfs, receiver):
    disk = tmpfs("1m")
    filler = disk / "filler"
    filler.write_bytes(b"\0" * 400_000)  # freed later: space comes back
    config = tmp_path / "config.yaml"
    port = free_port()
    config.write_text(yaml.safe_dump({
        "port": port, "seed": 3, "persistence": {"path": str(disk / "state.db")},
        "default_report": {"status": "Retrieved", "after": "2s"},
        **with_dlr(receiver.url("/dlr"))}))
    server = Server(config, port)
    codes: dict[str, int] = {}
    accepted: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        body = om_body({"type": "MT", "source": "88600", "mtConfig": "config1",
                        "destination": f"1555{i:07d}"},
                       [({"Content-Type": "image/png", "Content-Id": "p.png"},
                         PNG_1PX + os.urandom(8_000))])
        r = requests.post(server.url + "/mms/v2/send", data=body, auth=("acme", "s3cret"),
                          headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"},
                          timeout=10)
        with lock:
            codes[str(r.status_code)] = codes.get(str(r.status_code), 0) + 1
            if r.status_code == 202:
                accepted.append(str(r.json()["mtId"]))
            else:
                assert r.status_code == 500 and r.headers["Retry-After"] == "5", r.text
                assert r.json()["error"]["code"] == 15000

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(300)))
        assert codes.get("500", 0) > 0 and accepted, codes  # the disk did fill
        health = requests.get(server.url + "/_fakemms/health", timeout=5)
        assert health.status_code == 503 and "full" in health.json()["reason"]
        listed = server.get("/_fakemms/api/messages?limit=1000")
        assert sorted(m["id"] for m in listed["messages"]) == sorted(accepted)
        filler.unlink()
        start = time.monotonic()
        try:
            until(lambda: requests.get(server.url + "/_fakemms/health",
                                       timeout=5).status_code == 200, 6, "healthy again")
        except AssertionError as exc:
            server.proc.kill()
            log = server.proc.communicate(timeout=10)[1].decode(errors="replace")
            raise AssertionError(f"{exc}; the server said:\n{log[-4000:]}") from None
        assert time.monotonic() - start < 5
        server.kill()
        # restart on a copy, on a disk with room: every 202 is there
        kept = tmp_path / "kept.db"
        shutil.copy(disk / "state.db", kept)
        if (disk / "state.db-wal").exists():
            shutil.copy(disk / "state.db-wal", tmp_path / "kept.db-wal")
        config.write_text(config.read_text().replace(str(disk / "state.db"), str(kept)))
        server = Server(config, port)
        listed = server.get("/_fakemms/api/messages?limit=1000")
        assert sorted(m["id"] for m in listed["messages"]) == sorted(accepted)
        # and each accepted message's report reaches the application (at least once)
        def reported() -> bool:
            return {x.json["mtId"] for x in receiver.received} >= set(accepted)

        until(reported, 20, f"a report for each of {len(accepted)} accepted messages")
    finally:
        server.stop()
