"""The journal itself: one SQLite connection and one writer at a time (SQLite has one
anyway). Request threads, callback lanes and the scheduler queue their statements, and
whichever thread commits next commits all that is queued in one transaction (group commit),
so commits stay few under concurrency. What happens when the file takes no write is in
``recovery``."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fakemms.errors import StateNotDurable
from fakemms.models import Part
from fakemms.persistence.recovery import WRITE_ERRORS, Recovery, log, rollback
from fakemms.persistence.rows import (
    PROBE,
    SCHEMA_VERSION,
    STATE_TABLES,
    TABLES,
    Loaded,
    Op,
    RowBuilder,
    StoredJob,
    decode_callback,
    decode_message,
)


class SqliteJournal(RowBuilder, Recovery):
    """The store's sink: each ``apply`` is one transaction. Builders (``*_ops``) turn objects
    into statements under the caller's lock, so the rows follow the objects' order of change."""

    def __init__(self, path: str | Path, synchronous: str = "normal") -> None:
        if synchronous not in ("off", "normal", "full"):
            raise ValueError(f"synchronous must be off, normal or full, not {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self._lock = threading.Lock()  # the writer: one commit at a time
        self._queue_lock = threading.Lock()  # held only to queue statements or take them
        self._pending: list[tuple[int, list[Op]]] = []  # (ticket, statements), in order
        self._outstanding: set[int] = set()  # tickets queued, not yet committed nor dropped
        self._queued = 0  # batches of statements queued, ever (the last ticket)
        self._local = threading.local()
        self.failure: str | None = None  # why the file takes no writes now (health)
        self._last_failed_bytes = 0
        self._recovery: threading.Thread | None = None
        self._recovering = False  # a recovery thread is at work (changed under _lock)
        self._closed = threading.Event()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=1.0)
        self._configure(self._conn)
        self._conn.executescript(TABLES)
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ValueError(f"{self.path}: a fakemms state file of version {version}, "
                             f"this fakemms reads version {SCHEMA_VERSION}")
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        RowBuilder.__init__(self, self._max("messages") + 1, self._max("callbacks") + 1)
        self.writes = 0  # transactions committed

    def _configure(self, conn: sqlite3.Connection) -> None:
        # one process owns the file: a second fakemms on it fails at start ("database is
        # locked"), and the WAL needs no shared-memory index (fewer system calls per commit)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)

    def _max(self, table: str) -> int:
        assert self._conn is not None
        return int(self._conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {table}").fetchone()[0])

    # --- writing ----------------------------------------------------------------------------
    def apply(self, ops: Iterable[Op], *, strict: bool = False) -> None:
        """``enqueue`` then ``flush``."""
        self.enqueue(ops)
        self.flush(strict=strict)

    def enqueue(self, ops: Iterable[Op]) -> None:
        """Queue statements (with any this thread deferred) to commit together, in the order
        they were queued: callers queue under the lock that orders their changes (the
        store's), and ``flush`` after letting it go, so one commit carries what many threads
        queued meanwhile (group commit). Each call is one batch with a ticket of its own."""
        deferred = getattr(self._local, "ops", None)
        if deferred:
            self._local.ops = None
            ops = [*deferred, *ops]
        ops = list(ops)
        if not ops:
            return
        with self._queue_lock:
            self._queued += 1
            self._pending.append((self._queued, ops))
            self._outstanding.add(self._queued)
            self._mine().append(self._queued)

    def _held(self) -> int:
        """How deep this thread is in ``held`` blocks."""
        held: int = getattr(self._local, "held", 0)
        return held

    def _mine(self) -> list[int]:
        """This thread's tickets not yet known committed."""
        mine = getattr(self._local, "tickets", None)
        if mine is None:
            mine = self._local.tickets = []
        return mine

    def flush(self, *, strict: bool = False) -> None:
        """Return once everything this thread queued is committed: by this thread, in one
        transaction with whatever else is queued, or already by another.

        When the file cannot take it (disk full, I/O error, read-only, removed): ``strict``
        takes this thread's batches back out of the queue (they will never be written) and
        raises ``StateNotDurable``, for a change the caller undoes and refuses (a send gets
        no 2xx); otherwise the batches stay queued and are written, in order, as soon as the
        file takes writes again (a report, an attempt: done anyway, written late). While the
        journal is failing, nothing but its recovery thread tries to write. A no-op once
        closed: an attempt still under way at shutdown has nowhere to go."""
        mine = self._mine()
        if not mine or self._held():
            return
        with self._lock:
            with self._queue_lock:
                if not self._outstanding.intersection(mine):
                    mine.clear()  # another thread's commit carried it
                    return
            try:
                if self.failure is not None:
                    # while failing only the recovery thread writes: it first empties the
                    # WAL into the file, so freed space is not eaten by late reports first
                    raise sqlite3.OperationalError(self.failure.partition(": ")[2]
                                                   or self.failure)
                self._commit_pending()
            except WRITE_ERRORS as exc:
                reason = self._failed(exc)
                if not strict:
                    mine.clear()  # the recovery thread writes them
                    return
                with self._queue_lock:
                    drop = set(mine)
                    refused = [b for b in self._pending if b[0] in drop]
                    self._pending = [b for b in self._pending if b[0] not in drop]
                    self._outstanding.difference_update(drop)
                self._last_failed_bytes = max(self._last_failed_bytes, _batches_size(refused))
                mine.clear()
                raise StateNotDurable(reason) from None
            mine.clear()

    def _commit_pending(self) -> None:
        """Commit every queued batch in one transaction (the writer lock held). On failure
        they go back to the head of the queue, in order, and the error is raised."""
        with self._queue_lock:
            batches, self._pending = self._pending, []
        conn = self._conn
        if self._closed.is_set() or not batches:  # closed: nowhere to go
            with self._queue_lock:
                self._outstanding.difference_update(t for t, _ in batches)
            return
        if conn is None:  # between two files (see _reopen_if_removed)
            with self._queue_lock:
                self._pending[:0] = batches
            raise sqlite3.OperationalError(f"the state file {self.path} is not open")
        try:
            self._check_file()
            conn.execute("BEGIN")
            for _, ops in batches:
                for sql, params in ops:
                    conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # a failed COMMIT leaves the transaction open (SQLITE_FULL)
            with self._queue_lock:
                self._pending[:0] = batches
            raise
        with self._queue_lock:
            self._outstanding.difference_update(t for t, _ in batches)
        self.writes += 1  # healthy again only by the recovery thread's proof (_probe)

    def unwritten(self) -> int:
        """Batches of changes queued and not yet in the file (health)."""
        with self._queue_lock:
            return len(self._pending)


    @contextmanager
    def held(self) -> Iterator[None]:
        """This thread's flushes wait for the end of the block, then go as one strict commit:
        an accepted MT and its report jobs are one transaction, committed before the answer,
        or taken back and ``StateNotDurable`` raised. Only the commit waits: the order of the
        queued rows stays the order of change."""
        self._local.held = getattr(self._local, "held", 0) + 1
        try:
            yield
        except BaseException:
            self._local.held -= 1
            if not self._local.held:
                self.flush()  # what was changed before the failure is kept, as it stays
            raise
        self._local.held -= 1
        if not self._local.held:
            self.flush(strict=True)

    @contextmanager
    def deferred(self, ops: list[Op]) -> Iterator[None]:
        """Let ``ops`` ride with this thread's next write (or go alone at the end): a fired
        job's row leaves in the same transaction as the report it recorded, so after a crash
        a job has either fired and left, or neither."""
        self._local.ops = [*ops, *(getattr(self._local, "ops", None) or [])]
        try:
            yield
        finally:
            self.apply(())

    # --- reading ----------------------------------------------------------------------------
    def load(self) -> Loaded:
        """Everything the file holds, as the store's objects."""
        with self._lock:
            conn = self._conn
            assert conn is not None, "journal closed"
            parts: dict[str, list[Part]] = {}
            for mid, meta, data in conn.execute(
                    "SELECT message_id, meta, data FROM parts ORDER BY message_id, idx"):
                parts.setdefault(mid, []).append(Part(data=bytes(data), **json.loads(meta)))
            out = Loaded()
            for mid, body, raw in conn.execute("SELECT id, body, raw FROM messages ORDER BY seq"):
                out.messages.append(decode_message(json.loads(body), parts.get(mid, []),
                                             bytes(raw or b"")))
            for body, payload in conn.execute("SELECT body, payload FROM callbacks ORDER BY seq"):
                out.callbacks.append(decode_callback(json.loads(body), bytes(payload)))
            for seq, due, kind, key, account, payload in conn.execute(
                    "SELECT seq, due, kind, key, account, payload FROM jobs ORDER BY due, seq"):
                out.jobs.append(StoredJob(seq, due, kind, key, account, json.loads(payload)))
            out.meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")
                        if k != PROBE}
            return out

    def counts(self) -> dict[str, int]:
        """Rows per table (tests, benchmarks)."""
        with self._lock:
            assert self._conn is not None, "journal closed"
            return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in STATE_TABLES}

    def close(self) -> None:
        """Write what is still queued if the file takes it, stop retrying, checkpoint and
        close; later writes are dropped. Idempotent."""
        with self._lock:
            try:
                if self._conn is not None and self._pending:
                    self._commit_pending()
            except WRITE_ERRORS as exc:
                log.error("persistence: %d batches of changes never written to %s: %s",
                          self.unwritten(), self.path, exc)
        self._closed.set()
        recovery = self._recovery
        if recovery is not None and recovery is not threading.current_thread():
            recovery.join(5.0)
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:  # a full disk can refuse the final checkpoint
                log.error("persistence: closing %s: %s", self.path, exc)


def _batches_size(batches: list[tuple[int, list[Op]]]) -> int:
    """About how many bytes the batches' rows take (their text and blob parameters)."""
    return sum(len(p) if isinstance(p, str | bytes) else 8
               for _, ops in batches for _, params in ops for p in params)
