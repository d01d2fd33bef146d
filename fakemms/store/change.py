"""One unit of change of the store's kept state: memory and journal see the same change.

A method of the store that changes what a journal keeps is a ``mutation``: it runs with the
store's lock held and is handed a ``Change``, on which it names the rows that record what it
changed (a message, its parts, callbacks, messages dropped). When it returns, the rows are
queued with the journal in the order of change and, after the lock is let go (so one commit
carries many threads' changes), committed before the method returns to its caller. A store
method can change kept state only through a ``Change``: with no journal the change's methods
do nothing, and the in-memory store is the whole story.

``transient`` marks the methods that change memory only, by choice (docs/service.md, "Not
kept"): a callback marked in flight, accounts set at run time, limit counters.
tests/test_store_units.py enumerates both kinds and proves each mutation survives a restart.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    from fakemms.models import Callback, Message, StoredJob
    from fakemms.persistence import Op, SqliteJournal

P = ParamSpec("P")
R = TypeVar("R")


class Changeable(Protocol):
    def change(self) -> AbstractContextManager[Change]: ...


S = TypeVar("S", bound=Changeable)


class Change:
    """The rows one unit of change writes (none without a journal)."""

    __slots__ = ("journal", "ops")

    def __init__(self, journal: SqliteJournal | None) -> None:
        self.journal = journal
        self.ops: list[Op] = []

    def message(self, message: Message, *, new: bool = False,
                evicted: Iterable[str] = ()) -> None:
        """The message's row (all of it when ``new``), and the rows of those it evicted."""
        if self.journal is not None:
            self.ops += self.journal.message_ops(message, new=new, evicted=evicted)

    def parts(self, message: Message, index: int | None = None) -> None:
        """Every part of the message, or the one at ``index``."""
        if self.journal is not None:
            self.ops += self.journal.parts_ops(message, index)

    def callbacks(self, callbacks: Iterable[Callback], *, new: bool = False) -> None:
        if self.journal is not None:
            self.ops += self.journal.callback_ops(callbacks, new=new)

    def dropped(self, message_ids: Iterable[str]) -> None:
        """Messages gone from memory (evicted, withdrawn): their rows go too."""
        if self.journal is not None:
            self.ops += self.journal.drop_messages_ops(message_ids)

    def job(self, job: StoredJob) -> None:
        """A pending job, kept until it fires or is cancelled."""
        if self.journal is not None:
            self.ops.append(self.journal.job_op(job))

    def jobs_dropped(self, *, seqs: Iterable[int] = (), keys: Iterable[str] = (),
                     account: str | None = None) -> None:
        """Jobs that fired or were cancelled: by number, by what they belong to, by account."""
        if self.journal is not None:
            self.ops += [self.journal.drop_job_op(seq) for seq in seqs]
            self.ops += self.journal.drop_jobs_ops(keys=keys, account=account)

    def meta(self, key: str, value: Any) -> None:
        if self.journal is not None:
            self.ops.append(self.journal.meta_op(key, value))

    def cleared(self) -> None:
        """Everything forgotten (reset)."""
        if self.journal is not None:
            self.ops += self.journal.clear_ops()


def mutation(method: Callable[Concatenate[S, Change, P], R]) -> Callable[Concatenate[S, P], R]:
    """A store method that changes kept state: one unit of change (see the module)."""

    @functools.wraps(method)
    def run(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.change() as tx:
            return method(self, tx, *args, **kwargs)

    run.kept = True  # type: ignore[attr-defined]
    return run


def transient(method: Callable[P, R]) -> Callable[P, R]:
    """A store method that changes memory only, by choice: nothing of it is kept."""
    method.kept = False  # type: ignore[attr-defined]
    return method
