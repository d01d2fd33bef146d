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
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakemms.callbacks import Attempt, Callback, http_200
from fakemms.models import Message, Part, Report
from fakemms.protocols.legacy.callbacks import legacy_success
from fakemms.protocols.mm7.callbacks import Mm7Success

SCHEMA_VERSION = 1
Op = tuple[str, tuple[Any, ...]]  # one statement and its parameters

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
class StoredJob:
    """A pending scheduler job as kept: what to re-arm (``kind``, ``payload``) and when."""

    seq: int
    due: float
    kind: str  # report | mo
    key: str | None
    account: str | None
    payload: dict[str, Any]


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
        self._lock = threading.Lock()  # the writer: one commit at a time
        self._queue_lock = threading.Lock()  # held only to queue statements or take them
        self._pending: list[Op] = []
        self._queued = 0  # batches of statements queued, ever
        self._committed = 0  # of which committed (or dropped: closed)
        self._local = threading.local()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=1.0)
        # one process owns the file: a second fakemms on it fails at start ("database is
        # locked"), and the WAL needs no shared-memory index (fewer system calls per commit)
        self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._conn.executescript(_TABLES)
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ValueError(f"{self.path}: a fakemms state file of version {version}, "
                             f"this fakemms reads version {SCHEMA_VERSION}")
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._message_seq = self._max("messages") + 1
        self._callback_seq = self._max("callbacks") + 1
        self.writes = 0  # transactions committed

    def _max(self, table: str) -> int:
        assert self._conn is not None
        return self._conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {table}").fetchone()[0]

    # --- writing ----------------------------------------------------------------------------
    def apply(self, ops: Iterable[Op]) -> None:
        """``enqueue`` then ``flush``: the statements are committed when this returns."""
        self.enqueue(ops)
        self.flush()

    def enqueue(self, ops: Iterable[Op]) -> None:
        """Queue statements (with any this thread deferred) to commit together, in the order
        they were queued: callers queue under the lock that orders their changes (the
        store's), and ``flush`` after letting it go, so one commit carries what many threads
        queued meanwhile (group commit)."""
        deferred = getattr(self._local, "ops", None)
        if deferred:
            self._local.ops = None
            ops = [*deferred, *ops]
        ops = list(ops)
        if not ops:
            return
        with self._queue_lock:
            self._pending.extend(ops)
            self._queued += 1
            self._local.ticket = self._queued

    def flush(self) -> None:
        """Return once everything this thread queued is committed: by this thread, in one
        transaction with whatever else is queued, or already by another. A no-op once closed:
        an attempt still under way at shutdown has nowhere to go."""
        ticket = getattr(self._local, "ticket", 0)
        if ticket <= self._committed or getattr(self._local, "held", 0):
            return
        with self._lock:
            if ticket <= self._committed:
                return  # another thread's commit carried it
            with self._queue_lock:
                ops, self._pending = self._pending, []
                upto = self._queued
            conn = self._conn
            if conn is not None and ops:
                conn.execute("BEGIN")
                try:
                    for sql, params in ops:
                        conn.execute(sql, params)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                self.writes += 1
            self._committed = upto

    @contextmanager
    def held(self) -> Iterator[None]:
        """This thread's flushes wait for the end of the block, then go as one commit: an
        accepted MT and its report jobs are one transaction, committed before the answer.
        Only the commit waits: the order of the queued rows stays the order of change."""
        self._local.held = getattr(self._local, "held", 0) + 1
        try:
            yield
        finally:
            self._local.held -= 1
            if not self._local.held:
                self.flush()

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
            out.meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
            return out

    def counts(self) -> dict[str, int]:
        """Rows per table (tests, benchmarks)."""
        with self._lock:
            assert self._conn is not None, "journal closed"
            return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in _STATE_TABLES}

    def close(self) -> None:
        """Checkpoint and close; later writes are dropped. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


# --- rows <-> objects ------------------------------------------------------------------------
# one encoder for every row: json.dumps with options builds a new one per call
_json = json.JSONEncoder(default=str, separators=(",", ":")).encode


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


_RULES = {"http_200": http_200, "legacy": legacy_success}


def _rule_name(callback: Callback) -> Any:
    rule = callback.success
    if isinstance(rule, Mm7Success):
        return ["mm7", rule.expected, rule.transaction_id]
    for name, fn in _RULES.items():
        if rule is fn:
            return name
    return "http_200"  # a rule fakemms does not know by name (none today)


def _callback_body(c: Callback) -> str:
    return _json({
        "id": c.id, "kind": c.kind, "message_id": c.message_id, "account": c.account,
        "url": c.url, "method": c.method, "headers": c.headers, "protocol": c.protocol,
        "created_at": c.created_at, "success": _rule_name(c),
        "auth": list(c.auth) if c.auth else None,
        "params": [list(p) for p in c.params] if c.params is not None else None,
        "state": c.state, "attempts": [vars(a) for a in c.attempts],
        "attempt_count": c.attempt_count, "attempts_dropped": c.attempts_dropped,
        "cancelled": c.cancelled, "next_attempt_at": c.next_attempt_at,
        "decision": c.decision, "note": c.note, "timeout": c.timeout,
    })


def _callback(body: dict[str, Any], payload: bytes) -> Callback:
    rule = body.pop("success")
    body["success"] = Mm7Success(rule[1], rule[2]) if isinstance(rule, list) \
        else _RULES.get(rule, http_200)
    body["auth"] = tuple(body["auth"]) if body["auth"] else None
    if body["params"] is not None:
        body["params"] = [tuple(p) for p in body["params"]]
    body["attempts"] = [Attempt(**a) for a in body["attempts"]]
    return Callback(body=payload, **body)
