"""Durable state, optional: a write-through journal of the store in one SQLite file.

With ``persistence: {path: FILE}`` the store writes every change it makes (messages with
their parts and raw request, reports, callbacks with their attempts), and the scheduler its
pending jobs, to FILE as they happen; on start with the same file they are loaded back. The
file is in WAL mode; each change is one committed transaction, and a committed transaction
survives ``kill -9`` of the process with every ``synchronous`` setting (SQLite has written it
to the operating system). ``normal`` (the default) also keeps the file sound through a power
cut, losing at most the last changes; ``full`` loses none (an fsync per change); ``off``
skips the fsyncs at checkpoints too, fastest, and a power cut may corrupt the file. Without a
path nothing here is imported and the in-memory store is unchanged.

One connection, one writer at a time (SQLite has one anyway): request threads, callback lanes
and the scheduler queue their statements, and whichever thread commits next commits all that
is queued in one transaction (group commit), so commits stay few under concurrency.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakemms.errors import StateNotDurable
from fakemms.models import Attempt, Callback, Message, Part, Report, StoredJob, Success

SCHEMA_VERSION = 1
Op = tuple[str, tuple[Any, ...]]  # one statement and its parameters
RECOVERY_INTERVAL = 1.0  # s between tries while the file takes no writes
_PROBE = "write-probe"  # a meta row written and deleted to prove the file takes writes again
# what a write can fail with: SQLite's own (full, I/O, read-only, locked) and the OS's
_WRITE_ERRORS = (sqlite3.Error, OSError)
log = logging.getLogger(__name__)

_TABLES = """
CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                                     body TEXT NOT NULL, raw BLOB);
CREATE TABLE IF NOT EXISTS parts (message_id TEXT NOT NULL, idx INTEGER NOT NULL,
                                  meta TEXT NOT NULL, data BLOB NOT NULL,
                                  PRIMARY KEY (message_id, idx));
CREATE TABLE IF NOT EXISTS callbacks (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                                      message_id TEXT NOT NULL, body TEXT NOT NULL,
                                      payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS callbacks_by_message ON callbacks (message_id);
CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY, due REAL NOT NULL, kind TEXT NOT NULL,
                                 key TEXT, account TEXT, payload TEXT NOT NULL);
DROP INDEX IF EXISTS jobs_by_key; -- never read: a page written per job for nothing
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_STATE_TABLES = ("messages", "parts", "callbacks", "jobs", "meta")


@dataclass
class Loaded:
    """What a journal held: messages in arrival order, callbacks in creation order."""

    messages: list[Message] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    jobs: list[StoredJob] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class SqliteJournal:
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
        self._conn.executescript(_TABLES)
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ValueError(f"{self.path}: a fakemms state file of version {version}, "
                             f"this fakemms reads version {SCHEMA_VERSION}")
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._message_seq = self._max("messages") + 1
        self._callback_seq = self._max("callbacks") + 1
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
        file takes writes again (a report, an attempt: done anyway, written late). A no-op
        once closed: an attempt still under way at shutdown has nowhere to go."""
        mine = self._mine()
        if not mine or self._held():
            return
        with self._lock:
            with self._queue_lock:
                if not self._outstanding.intersection(mine):
                    mine.clear()  # another thread's commit carried it
                    return
            try:
                self._commit_pending()
            except _WRITE_ERRORS as exc:
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
            _rollback(conn)  # a failed COMMIT leaves the transaction open (SQLITE_FULL)
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

    def _check_file(self) -> None:
        """A state file removed (or replaced) under the open connection takes writes that no
        restart will see: refuse them instead (an ``os.stat`` per commit)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise sqlite3.OperationalError(f"the state file {self.path} was removed") from None
        if (st.st_dev, st.st_ino) != self._identity:
            raise sqlite3.OperationalError(f"the state file {self.path} was replaced")

    # --- failure and recovery -------------------------------------------------------------------
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
                    self._commit_pending()
                    self._probe()
                except _WRITE_ERRORS as exc:
                    self._failed_again(exc)

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
                         (_PROBE, filler))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        conn.execute("DELETE FROM meta WHERE key=?", (_PROBE,))
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

    def message_ops(self, message: Message, *, new: bool = False,
                    evicted: Iterable[str] = ()) -> list[Op]:
        """A message's row (all of it when ``new``: parts and raw request too), and the rows
        of the messages it evicted."""
        flat = self.drop_messages_ops(evicted)
        if new:
            with self._queue_lock:
                seq, self._message_seq = self._message_seq, self._message_seq + 1
            flat.append(("INSERT OR REPLACE INTO messages (id, seq, body, raw) VALUES (?,?,?,?)",
                         (message.id, seq, _message_body(message), message.raw_request)))
            flat += self.parts_ops(message, fresh=True)
        else:
            flat.append(("UPDATE messages SET body=? WHERE id=?",
                         (_message_body(message), message.id)))
        return flat

    @staticmethod
    def drop_messages_ops(ids: Iterable[str]) -> list[Op]:
        """The rows of messages gone (evicted): theirs, their parts' and callbacks'."""
        return [op for mid in ids for op in _drop_message(mid)]

    @staticmethod
    def parts_ops(message: Message, index: int | None = None, fresh: bool = False
                  ) -> list[Op]:
        """Every part of the message (``fresh``: it has none stored yet), or the one at
        ``index``."""
        ops: list[Op] = []
        if index is None and not fresh:
            ops.append(("DELETE FROM parts WHERE message_id=?", (message.id,)))
        for n, part in enumerate(message.parts):
            if index is None or n == index:
                ops.append(("INSERT OR REPLACE INTO parts (message_id, idx, meta, data) "
                            "VALUES (?,?,?,?)", (message.id, n, _part_meta(part), part.data)))
        return ops

    def callback_ops(self, callbacks: Iterable[Callback], *, new: bool = False) -> list[Op]:
        ops: list[Op] = []
        for callback in callbacks:
            if new:
                with self._queue_lock:
                    seq, self._callback_seq = self._callback_seq, self._callback_seq + 1
                ops.append(("INSERT OR REPLACE INTO callbacks (id, seq, message_id, body, "
                            "payload) VALUES (?,?,?,?,?)", (callback.id, seq, callback.message_id,
                                                            _callback_body(callback),
                                                            callback.body)))
            else:
                ops.append(("UPDATE callbacks SET body=? WHERE id=?",
                            (_callback_body(callback), callback.id)))
        return ops

    @staticmethod
    def job_op(job: StoredJob) -> Op:
        return ("INSERT OR REPLACE INTO jobs (seq, due, kind, key, account, payload) "
                "VALUES (?,?,?,?,?,?)", (job.seq, job.due, job.kind, job.key, job.account,
                                         _json(job.payload)))

    @staticmethod
    def drop_job_op(seq: int) -> Op:
        return ("DELETE FROM jobs WHERE seq=?", (seq,))

    @staticmethod
    def drop_jobs_ops(*, keys: Iterable[str] = (), account: str | None = None) -> list[Op]:
        ops: list[Op] = [("DELETE FROM jobs WHERE key=?", (key,)) for key in keys]
        if account is not None:
            ops.append(("DELETE FROM jobs WHERE account=?", (account,)))
        return ops

    @staticmethod
    def meta_op(key: str, value: Any) -> Op:
        return ("INSERT OR REPLACE INTO meta (key, value) VALUES (?,?)", (key, json.dumps(value)))

    @staticmethod
    def clear_ops() -> list[Op]:
        return [(f"DELETE FROM {table}", ()) for table in _STATE_TABLES]

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
                out.messages.append(_message(json.loads(body), parts.get(mid, []),
                                             bytes(raw or b"")))
            for body, payload in conn.execute("SELECT body, payload FROM callbacks ORDER BY seq"):
                out.callbacks.append(_callback(json.loads(body), bytes(payload)))
            for seq, due, kind, key, account, payload in conn.execute(
                    "SELECT seq, due, kind, key, account, payload FROM jobs ORDER BY due, seq"):
                out.jobs.append(StoredJob(seq, due, kind, key, account, json.loads(payload)))
            out.meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")
                        if k != _PROBE}
            return out

    def counts(self) -> dict[str, int]:
        """Rows per table (tests, benchmarks)."""
        with self._lock:
            assert self._conn is not None, "journal closed"
            return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in _STATE_TABLES}

    def close(self) -> None:
        """Write what is still queued if the file takes it, stop retrying, checkpoint and
        close; later writes are dropped. Idempotent."""
        with self._lock:
            try:
                if self._conn is not None and self._pending:
                    self._commit_pending()
            except _WRITE_ERRORS as exc:
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


# --- rows <-> objects ------------------------------------------------------------------------
# one encoder for every row: json.dumps with options builds a new one per call
_json = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _batches_size(batches: list[tuple[int, list[Op]]]) -> int:
    """About how many bytes the batches' rows take (their text and blob parameters)."""
    return sum(len(p) if isinstance(p, str | bytes) else 8
               for _, ops in batches for _, params in ops for p in params)


def _drop_message(message_id: str) -> list[Op]:
    return [("DELETE FROM messages WHERE id=?", (message_id,)),
            ("DELETE FROM parts WHERE message_id=?", (message_id,)),
            ("DELETE FROM callbacks WHERE message_id=?", (message_id,))]


def _message_body(m: Message) -> str:
    return _json({
        "id": m.id, "direction": m.direction, "interface": m.interface, "account": m.account,
        "source": m.source, "destinations": m.destinations, "created_at": m.created_at,
        "mt_config": m.mt_config, "subject": m.subject,
        "mobile_operator_id": m.mobile_operator_id, "ccs": m.ccs, "bccs": m.bccs,
        "warnings": m.warnings, "status": m.status, "request_id": m.request_id,
        "decision": m.decision, "reports": [vars(r) for r in m.reports],
        "callback_ids": m.callback_ids, "extra": m.extra,
    })


def _message(body: dict[str, Any], parts: list[Part], raw: bytes) -> Message:
    body["reports"] = [Report(**r) for r in body["reports"]]
    message = Message(parts=parts, raw_request=raw, **body)
    message.answered.set()  # its answer went out, or never will: nothing waits for it
    return message


def _part_meta(p: Part) -> str:
    return _json({"content_type": p.content_type, "content_id": p.content_id,
                  "transfer_encoding": p.transfer_encoding, "remote_url": p.remote_url,
                  "filename": p.filename, "generated": p.generated})


def _success(stored: Any) -> Success:
    """A stored success rule: a dict of ``Success``'s fields; files of the first version
    hold ``"http_200"``, ``"legacy"`` or ``["mm7", expected, transaction_id]``."""
    if isinstance(stored, dict):
        return Success(**stored)
    if isinstance(stored, list):
        return Success("mm7", stored[1], stored[2])
    return Success("legacy" if stored == "legacy" else "http_200")


def _callback_body(c: Callback) -> str:
    return _json({
        "id": c.id, "kind": c.kind, "message_id": c.message_id, "account": c.account,
        "url": c.url, "method": c.method, "headers": c.headers, "protocol": c.protocol,
        "created_at": c.created_at, "success": vars(c.success),
        "auth": list(c.auth) if c.auth else None,
        "params": [list(p) for p in c.params] if c.params is not None else None,
        "state": c.state, "attempts": [vars(a) for a in c.attempts],
        "attempt_count": c.attempt_count, "attempts_dropped": c.attempts_dropped,
        "cancelled": c.cancelled, "next_attempt_at": c.next_attempt_at,
        "decision": c.decision, "note": c.note, "timeout": c.timeout,
    })


def _callback(body: dict[str, Any], payload: bytes) -> Callback:
    body["success"] = _success(body.pop("success"))
    body["auth"] = tuple(body["auth"]) if body["auth"] else None
    if body["params"] is not None:
        body["params"] = [tuple(p) for p in body["params"]]
    body["attempts"] = [Attempt(**a) for a in body["attempts"]]
    return Callback(body=payload, **body)
