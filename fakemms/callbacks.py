"""The callback dispatcher: sends callbacks, retries as the provider does, and records every
attempt. Nothing is dropped silently: a callback ends delivered, failed or cancelled (a reset,
its message evicted or cancelled, its account deleted), and shed callbacks are counted.

Each destination (scheme, host and port of the URL) has a lane of its own: a bounded queue and
up to ``per_destination`` threads, started when work arrives and ended when the lane has been
idle a moment. One application's dead endpoint so never delays another's callbacks.

Rules (openmarket-mms-receive.txt, provider-notes.md): success is what each protocol documents
(``Callback.success``); anything else, or no answer within ``timeout_seconds``, is retried after
``retry_delays`` (the last one repeating) until ``give_up_after_seconds``, then recorded failed.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3

from fakemms import callback_http
from fakemms.callback_http import AnswerTimeout, classify, new_pool, read_answer
from fakemms.clock import Clock
from fakemms.models import AnswerGate, Attempt, Callback
from fakemms.outbound import judge
from fakemms.scheduler import Scheduler
from fakemms.store import Store

log = logging.getLogger(__name__)

BODY_LIMIT = 4096  # bytes of each answer kept on the attempt record
LANE_LINGER_SECONDS = 2.0  # an idle lane thread waits this long for more work, then ends
LANE_BACKLOG = 10_000  # callbacks queued for one destination; more are shed (counted)
UNREACHABLE = ("refused", "timeout", "connection")  # errors that mean nobody answered
GATE_WAIT_SECONDS = 30.0  # at most this long for the answer a callback must not overtake


@dataclass(eq=False)
class _Lane:
    key: str
    cond: threading.Condition
    pool: urllib3.PoolManager  # its connections, kept alive while the lane lives
    queue: deque[Callback] = field(default_factory=deque)
    workers: int = 0  # threads alive for this lane
    idle: int = 0  # of which waiting for work
    # the last attempt found nobody answering (timeout, refused): one attempt at a time until
    # it answers again, so a dead endpoint holds one thread, not ``per_destination``
    unreachable: bool = False


def destination(url: str) -> str:
    """The lane a URL's callbacks queue in: scheme, host and port."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
    except ValueError:
        return url


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, scheduler: Scheduler, *,
                 timeout_seconds: float, retry_delays: list[float],
                 give_up_after_seconds: float, per_destination: int = 4,
                 lane_backlog: int = LANE_BACKLOG, user_agent: str = "OpenMarket") -> None:
        self.store = store
        self.clock = clock
        self.scheduler = scheduler
        self.timeout_seconds = timeout_seconds
        self.retry_delays = list(retry_delays)
        self.give_up_after_seconds = give_up_after_seconds
        self.per_destination = max(1, per_destination)
        self.lane_backlog = lane_backlog
        self.user_agent = user_agent
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._lanes: dict[str, _Lane] = {}
        self._threads: set[threading.Thread] = set()
        self._busy = 0  # callbacks queued or under way
        self._closing = False
        # counters, read by stats(); lane threads and request threads change them, always
        # under self._lock
        self.shed = 0  # callbacks refused because their lane's backlog was full
        self.dropped = 0  # retries not made: the callback was evicted with its message
        self.cancelled = 0  # queued callbacks not sent: reset, account deleted, MT cancelled
        self.delivered = 0
        self.failed = 0

    # --- submitting -------------------------------------------------------------------------
    def submit(self, callback: Callback, *, at: float | None = None) -> Callback:
        """Send the callback (already recorded in the store) now, or at ``at`` on the clock."""
        if at is None or at <= self.clock.now():
            self._enqueue(callback)
        else:
            self.store.set_callback_state(callback, "pending", at)
            self._schedule(callback, at)
        return callback

    def send_now(self, callback: Callback) -> Callback:
        """Attempt in the calling thread (a report sent before the 202, a fault)."""
        with self._lock:
            self._busy += 1
        try:
            self._process(callback, None)
        finally:
            self._done()
        return callback

    def _schedule(self, callback: Callback, at: float) -> None:
        # the job holds the callback's id: a forgotten callback is not kept alive by it
        self.scheduler.at(at, functools.partial(self.due, callback.id),
                          f"callback {callback.id}", key=callback.message_id,
                          account=callback.account)

    def due(self, callback_id: str) -> None:
        """A callback's (re)attempt is due: queue it, if it is still kept."""
        callback = self.store.get_callback(callback_id)
        if callback is None:
            with self._lock:
                self.dropped += 1  # its message was evicted (or forgotten) before the retry
            return
        self._enqueue(callback)

    def _enqueue(self, callback: Callback) -> None:
        if callback.cancelled or callback.state in ("delivered", "failed"):
            return
        key = destination(callback.url)
        with self._lock:
            if self._closing:
                return
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane(key, threading.Condition(self._lock),
                                                new_pool(self.per_destination))
            if len(lane.queue) >= self.lane_backlog:
                self.shed += 1
                shed = True
            else:
                shed = False
                lane.queue.append(callback)
                self._busy += 1
                if lane.idle:
                    lane.cond.notify()
                elif lane.workers < (1 if lane.unreachable else self.per_destination):
                    self._start_worker(lane)
        if shed:
            attempt = Attempt(number=callback.attempt_count + 1, at=self.clock.now(),
                              outcome="shed", error="shed",
                              reason=f"more than {self.lane_backlog} callbacks queued for {key}")
            self.store.record_attempt(callback, attempt, "failed", None)

    def _start_worker(self, lane: _Lane) -> None:
        lane.workers += 1
        thread = threading.Thread(target=self._lane_worker, args=(lane,), daemon=True,
                                  name=f"fakemms-callback {lane.key}")
        self._threads.add(thread)
        thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no attempt is queued or under way (virtual-clock advances use this)."""
        limit = self.timeout_seconds + 5 if timeout is None else timeout
        deadline = Clock.monotonic() + limit
        with self._idle:
            while self._busy:
                left = deadline - Clock.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def reset(self) -> None:
        """Forget queued work (reset); attempts under way are fenced by the store."""
        self.drop_cancelled(everything=True)

    def drop_cancelled(self, everything: bool = False) -> int:
        """Take cancelled callbacks (or every callback) out of the lanes' queues."""
        dropped = 0
        with self._lock:
            for lane in self._lanes.values():
                kept = deque(c for c in lane.queue if not everything and not c.cancelled)
                dropped += len(lane.queue) - len(kept)
                lane.queue = kept
            self.cancelled += dropped
            self._busy -= dropped
            if self._busy <= 0:
                self._busy = 0
                self._idle.notify_all()
        return dropped

    def close(self, timeout: float = 5.0) -> bool:
        """Send nothing more; let attempts under way finish within ``timeout``; join every
        thread. True when all ended in time."""
        with self._lock:
            self._closing = True
            for lane in self._lanes.values():
                self._busy -= len(lane.queue)
                lane.queue.clear()
                lane.cond.notify_all()
            self._busy = max(0, self._busy)
            self._idle.notify_all()
            threads = list(self._threads)
        deadline = Clock.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - Clock.monotonic()))
        return not any(t.is_alive() for t in threads)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"callbacks_queued": sum(len(lane.queue) for lane in self._lanes.values()),
                    "callbacks_busy": self._busy, "lanes": len(self._lanes),
                    "callback_threads": len(self._threads), "callbacks_shed": self.shed,
                    "callbacks_dropped": self.dropped, "callbacks_cancelled": self.cancelled,
                    "callbacks_delivered": self.delivered, "callbacks_failed": self.failed}

    # --- sending ----------------------------------------------------------------------------
    def _lane_worker(self, lane: _Lane) -> None:
        while True:
            with self._lock:
                deadline = Clock.monotonic() + LANE_LINGER_SECONDS
                while not lane.queue and not self._closing:
                    left = deadline - Clock.monotonic()
                    if left <= 0:
                        break
                    lane.idle += 1
                    lane.cond.wait(left)
                    lane.idle -= 1
                spare = lane.unreachable and lane.workers > 1  # one is enough
                if not lane.queue or self._closing or spare:
                    lane.workers -= 1
                    gone = lane.workers == 0 and not lane.queue and \
                        self._lanes.get(lane.key) is lane
                    if gone:
                        del self._lanes[lane.key]
                    self._threads.discard(threading.current_thread())
                    break
                callback = lane.queue.popleft()
            try:
                attempt = self._process(callback, lane.pool)
                if attempt is not None:
                    lane.unreachable = attempt.error in UNREACHABLE
            except Exception:
                log.exception("callback %s: attempt failed unexpectedly", callback.id)
            finally:
                self._done()
        if gone:
            lane.pool.clear()  # the lane is gone: close its connections

    def _done(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy <= 0:
                self._busy = 0
                self._idle.notify_all()

    def _wait_gate(self, gate: AnswerGate) -> None:
        # A callback never overtakes the answer to the request that caused it.
        deadline = Clock.monotonic() + GATE_WAIT_SECONDS
        while not gate.wait(0.1):
            if self._closing or Clock.monotonic() > deadline:
                return

    def _process(self, callback: Callback, pool: urllib3.PoolManager | None
                 ) -> Attempt | None:
        """One attempt; None when none was made (cancelled, or a retry that waited in its
        lane past the give-up time: it is recorded failed without another try)."""
        if callback.gate is not None:
            self._wait_gate(callback.gate)
        start = self.clock.now()  # the attempt's time: the give-up rule judges this one
        if callback.attempt_count and start - callback.created_at > self.give_up_after_seconds:
            if self.store.end_callback(callback, "failed"):
                with self._lock:
                    self.failed += 1
            return None
        if not self.store.start_attempt(callback):
            with self._lock:
                self.cancelled += 1  # cancelled while it waited in its lane
            return None
        attempt = attempt_once(callback, pool, start,
                               timeout=callback.timeout or self.timeout_seconds,
                               user_agent=self.user_agent)
        now = self.clock.now()
        if attempt.outcome == "success":
            state, next_at = "delivered", None
        else:
            delay = self.retry_delays[min(attempt.number - 1, len(self.retry_delays) - 1)]
            if now + delay - callback.created_at > self.give_up_after_seconds:
                state, next_at = "failed", None
            else:
                state, next_at = "retrying", now + delay
        if not self.store.record_attempt(callback, attempt, state, next_at):
            return attempt  # forgotten meanwhile: neither retried nor counted
        if state == "retrying":
            self._schedule(callback, next_at)  # type: ignore[arg-type]
        else:
            with self._lock:
                if state == "delivered":
                    self.delivered += 1
                else:
                    self.failed += 1
        return attempt


def attempt_once(callback: Callback, pool: urllib3.PoolManager | None, at: float, *,
                 timeout: float, user_agent: str) -> Attempt:
    """One attempt of ``callback`` (on ``pool``, or a pool of its own), judged and timed;
    never raises: what went wrong is the attempt's outcome, error and reason."""
    number = callback.attempt_count + 1
    t0 = Clock.monotonic()
    attempt = Attempt(number=number, at=at, outcome="success")
    own = pool is None
    pool = pool or new_pool(1)
    try:
        with callback_http.request(pool, callback, user_agent, timeout) as response:
            attempt.status = response.status
            content = read_answer(response, t0 + timeout)
        attempt.body = content[:BODY_LIMIT].decode("utf-8", "replace")
        try:
            reason = judge(callback.success, response.status, response.headers, content)
        except Exception as exc:  # noqa: BLE001 - an answer the rule cannot read
            reason = f"the answer could not be read: {callback_http.text(exc)}"
        if reason:
            attempt.outcome, attempt.reason = "rejected", reason
            attempt.error = "status" if response.status != 200 else "content"
    except AnswerTimeout:
        attempt.outcome, attempt.error = "timeout", "timeout"
        attempt.reason = f"no complete answer within {timeout:g} s"
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        attempt.error, attempt.reason = classify(exc)
        attempt.outcome = "timeout" if attempt.error == "timeout" else "connection-error"
        if attempt.error == "timeout":
            attempt.reason = f"no answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - whatever it is, the callback is not lost
        log.warning("callback %s: attempt %d failed unexpectedly", callback.id, number,
                    exc_info=True)
        attempt.outcome, attempt.error = "connection-error", "internal"
        attempt.reason = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    finally:
        if own:
            pool.clear()
    attempt.latency_ms = round((Clock.monotonic() - t0) * 1000, 3)
    return attempt
