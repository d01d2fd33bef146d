"""One scheduler for everything timed (reports, MOs, retries, expiries), on the one clock.

Real mode: a thread fires each job when the clock reaches its due time. Paused or virtual
mode: nothing fires until ``advance`` moves the clock; then jobs fire in due order, and the
clock stops at each due time so a job that schedules another inside the window sees it fire too.
Jobs must be quick (they enqueue work; they do not do HTTP).

Each job names what it belongs to (``key``: a message or callback id; ``account``), so a reset,
an evicted message or a deleted account cancels exactly its jobs. A job holds ids, never the
objects: cancelled jobs are dropped from the heap in bulk, so memory follows the live jobs.
With a durable store (persistence), a job given a ``record`` (what to re-arm it from: a kind
and ids) is kept with the store's state until it fires or is cancelled, and ``restore``
re-arms it on start.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakemms.clock import Clock
from fakemms.models import StoredJob

if TYPE_CHECKING:
    from fakemms.store import Store

log = logging.getLogger(__name__)

LATENESS_SAMPLES = 10_000  # recent lateness figures kept, for the benchmark


@dataclass(order=True)
class Job:
    due: float
    seq: int
    name: str = field(compare=False)
    fn: Callable[[], None] = field(compare=False, repr=False)
    key: str | None = field(default=None, compare=False)
    account: str | None = field(default=None, compare=False)
    cancelled: bool = field(default=False, compare=False)
    # (kind, payload) kept with the store's state while pending; None: not kept
    record: tuple[str, dict[str, Any]] | None = field(default=None, compare=False, repr=False)


class Scheduler:
    def __init__(self, clock: Clock, store: Store | None = None) -> None:
        self.clock = clock
        self.store = store if store is not None and store.durable else None  # keeps jobs
        self._heap: list[Job] = []
        self._by_key: dict[str, list[Job]] = {}
        self._cancelled = 0  # cancelled jobs still in the heap
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._advance_lock = threading.Lock()
        self._firing = threading.Lock()  # held by the thread that fires due jobs
        self._stopped = False
        self.fired = 0
        self.dropped = 0  # jobs cancelled because what they belonged to was forgotten
        self.failed = 0  # jobs that raised
        self.lateness: deque[float] = deque(maxlen=LATENESS_SAMPLES)  # seconds late
        self._thread = threading.Thread(target=self._run, name="fakemms-scheduler", daemon=True)
        self._thread.start()
        clock.add_listener(self._wake)

    # --- scheduling -------------------------------------------------------------------------
    def at(self, due: float, fn: Callable[[], None], name: str = "job", *,
           key: str | None = None, account: str | None = None,
           record: tuple[str, dict[str, Any]] | None = None) -> Job | None:
        """Run ``fn`` when the clock reaches ``due``; None once the scheduler is stopped.
        ``record``: (kind, payload) to keep the job with the state until it fires."""
        store = self.store if record is not None else None
        job = Job(due, next(self._seq), name, fn, key, account, record=record if store
                  else None)
        if store is not None:  # kept before it can fire (and drop its row)
            store.keep_job(self._stored(job))
        with self._cond:
            if self._stopped:
                return None
            heapq.heappush(self._heap, job)
            if key is not None:
                self._by_key.setdefault(key, []).append(job)
            self._cond.notify()
        return job

    def restore(self, jobs: Iterable[Job]) -> None:
        """Re-arm jobs kept in a journal (their rows are there already), all at once so
        those already late fire in due order; later jobs number after them."""
        jobs = list(jobs)
        with self._cond:
            top = max((j.seq for j in jobs), default=-1)
            self._seq = itertools.count(max(top + 1, next(self._seq)))
            for job in jobs:
                heapq.heappush(self._heap, job)
                if job.key is not None:
                    self._by_key.setdefault(job.key, []).append(job)
            self._cond.notify()

    @staticmethod
    def _stored(job: Job) -> StoredJob:
        assert job.record is not None
        return StoredJob(job.seq, job.due, job.record[0], job.key, job.account, job.record[1])

    def after(self, delay: float, fn: Callable[[], None], name: str = "job", *,
              key: str | None = None, account: str | None = None,
              record: tuple[str, dict[str, Any]] | None = None) -> Job | None:
        return self.at(self.clock.now() + max(0.0, delay), fn, name, key=key, account=account,
                       record=record)

    def cancel_all(self) -> int:
        with self._cond:
            count = sum(1 for j in self._heap if not j.cancelled)
            for job in self._heap:
                job.cancelled = True
            self._heap.clear()
            self._by_key.clear()
            self._cancelled = 0
            self._cond.notify()
        return count

    def cancel_keys(self, keys: Iterable[str], *, dropped: bool = True) -> int:
        """Cancel the jobs of these messages or callbacks (``dropped``: count them as shed)."""
        count = 0
        recorded: list[int] = []
        with self._cond:
            for key in keys:
                for job in self._by_key.pop(key, ()):
                    if not job.cancelled:
                        job.cancelled = True
                        count += 1
                        if job.record is not None:
                            recorded.append(job.seq)
            self._cancelled += count
            if dropped:
                self.dropped += count
            self._compact()
        if recorded and self.store is not None:
            self.store.drop_jobs(seqs=recorded)
        return count

    def note_dropped(self) -> None:
        """A job fired for something already gone (its message evicted): counted."""
        with self._cond:
            self.dropped += 1

    def cancel_account(self, account: str) -> int:
        """Cancel every job of an account (it was deleted)."""
        count = 0
        with self._cond:
            for job in self._heap:
                if job.account == account and not job.cancelled:
                    job.cancelled = True
                    count += 1
                    if job.key is not None:
                        self._unindex(job)
            self._cancelled += count
            self._compact()
        if self.store is not None:
            self.store.drop_jobs(account=account)
        return count

    def _compact(self) -> None:
        # Cancelled jobs leave the heap in bulk once they are half of it (amortised O(1)).
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._heap = [j for j in self._heap if not j.cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _unindex(self, job: Job) -> None:
        jobs = self._by_key.get(job.key or "")
        if jobs is not None:
            try:
                jobs.remove(job)
            except ValueError:
                pass
            if not jobs:
                del self._by_key[job.key or ""]

    def pending(self) -> list[Job]:
        with self._cond:
            return sorted(j for j in self._heap if not j.cancelled)

    def pending_count(self) -> int:
        with self._cond:
            return len(self._heap) - self._cancelled

    def next_due(self) -> float | None:
        with self._cond:
            self._drop_cancelled_head()
            return self._heap[0].due if self._heap else None

    def _drop_cancelled_head(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
            self._cancelled = max(0, self._cancelled - 1)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"pending_jobs": len(self._heap) - self._cancelled, "fired_jobs": self.fired,
                    "dropped_jobs": self.dropped, "failed_jobs": self.failed}

    # --- firing -----------------------------------------------------------------------------
    def run_due(self) -> int:
        """Fire every job due by now, in due order; returns how many fired."""
        return self._fire_due(None, blocking=True)

    def help(self, limit: int = 2) -> int:
        """Fire up to ``limit`` due jobs in the caller's thread, unless another thread is
        firing one. Request threads call it for each message they accept, so firing keeps pace
        with accepting when the scheduler thread gets too little of the GIL under load (a
        real clock only: a paused one fires on advance)."""
        if self.clock.paused:
            return 0
        return self._fire_due(limit, blocking=False)

    def _fire_due(self, limit: int | None, *, blocking: bool) -> int:
        # One job at a time under ``_firing`` (taken per job, so helpers get their turn):
        # jobs fire one after another, in due order, whichever thread fires them.
        fired = 0
        while limit is None or fired < limit:
            if not self._firing.acquire(blocking=blocking):
                return fired
            try:
                with self._cond:
                    self._drop_cancelled_head()
                    if self._stopped or not self._heap or \
                            self._heap[0].due > self.clock.now():
                        return fired
                    job = heapq.heappop(self._heap)
                    if job.key is not None:
                        self._unindex(job)
                self._fire(job)
            finally:
                self._firing.release()
            fired += 1
        return fired

    def advance(self, seconds: float, settle: Callable[[], None] | None = None) -> int:
        """Move the clock forward, stopping at each due job; ``settle`` runs after each stop
        (the dispatcher waits there for the attempts it was handed)."""
        with self._advance_lock:
            target = self.clock.now() + seconds
            fired = 0
            while True:
                due = self.next_due()
                if due is None or due > target:
                    break
                if due > self.clock.now():
                    self.clock.advance(due - self.clock.now())
                fired += self.run_due()
                if settle:
                    settle()
            if target > self.clock.now():
                self.clock.advance(target - self.clock.now())
            fired += self.run_due()
            if settle:
                settle()
            return fired

    def _fire(self, job: Job) -> None:
        # under ``_firing``: one job at a time, so the counters here need no other lock
        self.lateness.append(self.clock.now() - job.due)
        self.fired += 1
        try:
            if job.record is not None and self.store is not None:
                # the row leaves with the job's first write (the report it records)
                with self.store.firing(job.seq):
                    job.fn()
            else:
                job.fn()
        except Exception:  # a failing job must not stop the scheduler
            self.failed += 1
            log.exception("scheduled job %s failed", job.name)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                self._drop_cancelled_head()
                if not self._heap or self.clock.paused:
                    self._cond.wait()
                    continue
                delay = self._heap[0].due - self.clock.now()
                if delay > 0:
                    self._cond.wait(min(delay, 1.0))
                    continue
            if not self.clock.paused:
                self.run_due()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop firing, forget what is pending, and join the thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self.clock.remove_listener(self._wake)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.cancel_all()
