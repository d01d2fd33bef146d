"""When the file takes no write (disk full, an I/O error, a read-only file system, the file
removed): the failure recorded and logged once per change, and a thread that, every
``RECOVERY_INTERVAL`` seconds, writes what is queued and proves the file takes a write as
large as the largest send refused before the journal calls itself healthy again."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from fakemms.persistence.rows import PROBE

RECOVERY_INTERVAL = 1.0  # s between tries while the file takes no writes
# what a write can fail with: SQLite's own (full, I/O, read-only, locked) and the OS's
WRITE_ERRORS = (sqlite3.Error, OSError)
log = logging.getLogger("fakemms.persistence")


class Recovery:
    """The journal's failure state and its way back (a part of ``SqliteJournal``)."""

    path: Path
    failure: str | None
    _conn: sqlite3.Connection | None
    _lock: threading.Lock
    _closed: threading.Event
    _identity: tuple[int, int]
    _last_failed_bytes: int
    _recovering: bool
    _recovery: threading.Thread | None

    if TYPE_CHECKING:
        def _commit_pending(self) -> None: ...

        def _configure(self, conn: sqlite3.Connection) -> None: ...

    def _check_file(self) -> None:
        """A state file removed (or replaced) under the open connection takes writes that no
        restart will see: refuse them instead (an ``os.stat`` per commit)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise sqlite3.OperationalError(f"the state file {self.path} was removed") from None
        if (st.st_dev, st.st_ino) != self._identity:
            raise sqlite3.OperationalError(f"the state file {self.path} was replaced")

    def _failed(self, exc: BaseException) -> str:
        """Record a write failure (logged once per change of state) and start the thread that
        retries; the reason, for the caller's error."""
        reason = f"cannot write {self.path}: {exc}"
        if self.failure != reason:
            self.failure = reason
            log.error("persistence failing: %s; sends are refused until it writes again "
                      "(docs/service.md#durable-state)", reason)
        if not self._recovering:  # under _lock, as the thread's decision to end is
            self._recovering = True
            self._recovery = threading.Thread(target=self._recover, name="fakemms-journal",
                                              daemon=True)
            self._recovery.start()
        return reason

    def _recovered(self) -> None:
        self.failure = None
        self._last_failed_bytes = 0
        log.warning("persistence writing again to %s", self.path)

    def _recover(self) -> None:
        """While the file refuses writes: every ``RECOVERY_INTERVAL`` s, write what is queued
        and prove that a batch the size of the largest refused one fits now (a small write
        that happens to fit does not make the fake healthy)."""
        while not self._closed.wait(RECOVERY_INTERVAL):
            with self._lock:
                if self.failure is None or self._closed.is_set():
                    self._recovering = False
                    return
                try:
                    self._reopen_if_removed()
                    self._checkpoint()
                    self._commit_pending()
                    self._probe()
                except WRITE_ERRORS as exc:
                    self._failed_again(exc)

    def _checkpoint(self) -> None:
        """Move what the WAL holds into the file and empty the WAL: on a small disk the WAL
        (checkpointed by SQLite only past 1,000 pages) can be most of what fills it, and the
        space it frees is what the queued changes need. A failure here is no news."""
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass

    def _failed_again(self, exc: BaseException) -> None:
        reason = f"cannot write {self.path}: {exc}"
        if self.failure != reason:
            self.failure = reason
            log.error("persistence failing: %s", reason)

    def _probe(self) -> None:
        """Write (and then delete) a row as large as the largest send refused: healthy again
        means such a send would now be kept."""
        conn = self._conn
        if conn is None:
            raise sqlite3.OperationalError(f"the state file {self.path} is not open")
        self._check_file()
        filler = json.dumps("x" * max(4096, self._last_failed_bytes))
        try:
            conn.execute("BEGIN")
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         (PROBE, filler))
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        conn.execute("DELETE FROM meta WHERE key=?", (PROBE,))
        self._recovered()

    def _reopen_if_removed(self) -> None:
        """The state file was removed: write a new one at its path from the open connection
        (SQLite's backup API: it still holds every committed row) and go on there. Written
        beside it first and moved in once the old connection is closed, so the old WAL
        (same name) is gone before a connection opens the new file."""
        old = self._conn
        if old is not None:
            if self.path.exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = self.path.with_name(self.path.name + ".new")
            target = sqlite3.connect(fresh)
            try:
                old.backup(target)
            finally:
                target.close()
            self._conn = None
            try:
                old.close()
            except sqlite3.Error:
                pass
            os.replace(fresh, self.path)
            log.warning("persistence: %s was removed; written anew from the running fake",
                        self.path)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                               timeout=1.0)
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
