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

Parts: ``journal`` (the connection, group commit, loading), ``recovery`` (what happens when
the file takes no write), ``rows`` (the schema and the statements; no I/O).
"""

from fakemms.persistence.journal import SqliteJournal
from fakemms.persistence.rows import SCHEMA_VERSION, Loaded, Op

__all__ = ["SCHEMA_VERSION", "Loaded", "Op", "SqliteJournal"]
