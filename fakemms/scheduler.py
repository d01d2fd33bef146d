"""One scheduler for everything timed (reports, MOs, retries, expiries), on the one clock.

Real mode: a thread fires each job when the clock reaches its due time. Paused or virtual
mode: nothing fires until ``advance`` moves the clock; then jobs fire in due order, and the
clock stops at each due time so a job that schedules another inside the window sees it fire too.
Jobs must be quick (they enqueue work; they do not do HTTP).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from fakemms.clock import Clock

log = logging.getLogger(__name__)


@dataclass(order=True)
class Job:
    due: float
    seq: int
    name: str = field(compare=False)
    fn: Callable[[], None] = field(compare=False, repr=False)
    cancelled: bool = field(default=False, compare=False)


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[Job] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._advance_lock = threading.Lock()
        self._stopped = False
        self.lateness: list[float] = []  # seconds late, for the benchmark (bounded)
        self._thread = threading.Thread(target=self._run, name="fakemms-scheduler", daemon=True)
        self._thread.start()
        clock.add_listener(self._wake)

    # --- scheduling -------------------------------------------------------------------------
    def at(self, due: float, fn: Callable[[], None], name: str = "job") -> Job:
        job = Job(due, next(self._seq), name, fn)
        with self._cond:
            heapq.heappush(self._heap, job)
            self._cond.notify()
        return job

    def after(self, delay: float, fn: Callable[[], None], name: str = "job") -> Job:
        return self.at(self.clock.now() + max(0.0, delay), fn, name)

    def cancel_all(self) -> None:
        with self._cond:
            for job in self._heap:
                job.cancelled = True
            self._heap.clear()
            self._cond.notify()

    def pending(self) -> list[Job]:
        with self._cond:
            return sorted(j for j in self._heap if not j.cancelled)

    def next_due(self) -> float | None:
        with self._cond:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0].due if self._heap else None

    # --- firing -----------------------------------------------------------------------------
    def run_due(self) -> int:
        """Fire every job due by now, in due order; returns how many fired."""
        fired = 0
        while True:
            with self._cond:
                if not self._heap or self._heap[0].due > self.clock.now():
                    return fired
                job = heapq.heappop(self._heap)
            if job.cancelled:
                continue
            self._fire(job)
            fired += 1

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
        if len(self.lateness) < 100_000:
            self.lateness.append(self.clock.now() - job.due)
        try:
            job.fn()
        except Exception:  # a failing job must not stop the scheduler
            log.exception("scheduled job %s failed", job.name)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                if not self._heap or self.clock.paused:
                    self._cond.wait()
                    continue
                delay = self._heap[0].due - self.clock.now()
                if delay > 0:
                    self._cond.wait(min(delay, 1.0))
                    continue
            if not self.clock.paused:
                self.run_due()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
