"""The journal's rows: the SQLite schema, the statements that record each change (built
under the store's lock, so rows follow the order of change), and the rows read back as the
store's objects. No I/O here: the journal executes what these build."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fakemms.models import Attempt, Callback, Message, Part, Report, StoredJob, Success

SCHEMA_VERSION = 1
Op = tuple[str, tuple[Any, ...]]  # one statement and its parameters
PROBE = "write-probe"  # a meta row written and deleted to prove the file takes writes again

TABLES = """
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
STATE_TABLES = ("messages", "parts", "callbacks", "jobs", "meta")


@dataclass
class Loaded:
    """What a journal held: messages in arrival order, callbacks in creation order."""

    messages: list[Message] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    jobs: list[StoredJob] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)



class RowBuilder:
    """The statements that record changes; rows of new messages and callbacks are numbered
    in the order they were built (``seq``), so a load reads them back in arrival order."""

    def __init__(self, message_seq: int = 1, callback_seq: int = 1) -> None:
        self._seq_lock = threading.Lock()
        self._message_seq = message_seq
        self._callback_seq = callback_seq


    def message_ops(self, message: Message, *, new: bool = False,
                    evicted: Iterable[str] = ()) -> list[Op]:
        """A message's row (all of it when ``new``: parts and raw request too), and the rows
        of the messages it evicted."""
        flat = self.drop_messages_ops(evicted)
        if new:
            with self._seq_lock:
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
                with self._seq_lock:
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
        return [(f"DELETE FROM {table}", ()) for table in STATE_TABLES]


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


def decode_message(body: dict[str, Any], parts: list[Part], raw: bytes) -> Message:
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


def decode_callback(body: dict[str, Any], payload: bytes) -> Callback:
    body["success"] = _success(body.pop("success"))
    body["auth"] = tuple(body["auth"]) if body["auth"] else None
    if body["params"] is not None:
        body["params"] = [tuple(p) for p in body["params"]]
    body["attempts"] = [Attempt(**a) for a in body["attempts"]]
    return Callback(body=payload, **body)
