"""The callback dispatcher: a worker pool that sends callbacks, retries as the provider does,
and records every attempt. Nothing is dropped silently: a callback ends delivered or failed.

Rules (openmarket-mms-receive.txt, provider-notes.md): success is what each protocol documents
(``Callback.success``); anything else, or no answer within ``timeout_seconds``, is retried after
``retry_delays`` (the last one repeating) until ``give_up_after_seconds``, then recorded failed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from fakemms.clock import Clock
from fakemms.models import iso
from fakemms.scheduler import Scheduler
from fakemms.store import Store

log = logging.getLogger(__name__)

BODY_LIMIT = 4096  # bytes of each answer kept on the attempt record


def http_200(response: requests.Response) -> str | None:
    """OpenMarket HTTP: HTTP 200 (the body is ignored). None = success, else the reason."""
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


@dataclass
class Attempt:
    number: int
    at: float
    outcome: str  # success | rejected | timeout | connection-error
    status: int | None = None
    latency_ms: float | None = None
    body: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "at": iso(self.at), "outcome": self.outcome,
                "status": self.status, "latency_ms": self.latency_ms, "body": self.body,
                "reason": self.reason}


@dataclass
class Callback:
    id: str
    kind: str  # report | mo
    message_id: str
    account: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    protocol: str  # http | mm7-x.y.z | legacy-get | legacy-post
    created_at: float
    success: Callable[[requests.Response], str | None] = field(default=http_200, repr=False)
    auth: tuple[str, str] | None = None
    params: list[tuple[str, str]] | None = None  # query (legacy GET)
    state: str = "pending"  # pending | in-flight | retrying | delivered | failed
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_at: float | None = None
    decision: str | None = None
    gate: threading.Event | None = field(default=None, repr=False)
    note: str | None = None
    timeout: float | None = None  # seconds to wait for the answer; None: the dispatcher's

    def to_dict(self, body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "message_id": self.message_id,
            "account": self.account, "url": self.url, "method": self.method,
            "protocol": self.protocol, "state": self.state, "created_at": iso(self.created_at),
            "next_attempt_at": iso(self.next_attempt_at), "decision": self.decision,
            "note": self.note, "headers": self.headers, "params": self.params,
            "attempts": [a.to_dict() for a in self.attempts],
        }
        if body:
            out["body"] = self.body.decode("utf-8", "replace")
        return out


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, scheduler: Scheduler, *,
                 timeout_seconds: float, retry_delays: list[float],
                 give_up_after_seconds: float, workers: int = 8,
                 user_agent: str = "OpenMarket") -> None:
        self.store = store
        self.clock = clock
        self.scheduler = scheduler
        self.timeout_seconds = timeout_seconds
        self.retry_delays = list(retry_delays)
        self.give_up_after_seconds = give_up_after_seconds
        self.user_agent = user_agent
        self._queue: queue.Queue[Callback | None] = queue.Queue()
        self._busy = 0
        self._idle = threading.Condition()
        self._local = threading.local()
        self._generation = 0
        self._threads = [threading.Thread(target=self._work, name=f"fakemms-callback-{i}",
                                          daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    # --- submitting -------------------------------------------------------------------------
    def submit(self, callback: Callback, *, at: float | None = None) -> Callback:
        """Record the callback and send it now (or at ``at`` on the clock)."""
        with self.store.lock:
            self.store.callbacks[callback.id] = callback
        self.store.publish("callback.created", {"id": callback.id, "kind": callback.kind,
                                                "message_id": callback.message_id})
        if at is None or at <= self.clock.now():
            self._enqueue(callback)
        else:
            callback.next_attempt_at = at
            self.scheduler.at(at, lambda: self._enqueue(callback), f"callback {callback.id}")
        return callback

    def send_now(self, callback: Callback) -> Callback:
        """Record and attempt in the calling thread (a report sent before the 202, a fault)."""
        with self.store.lock:
            self.store.callbacks[callback.id] = callback
        self.store.publish("callback.created", {"id": callback.id, "kind": callback.kind,
                                                "message_id": callback.message_id})
        with self._idle:
            self._busy += 1
        try:
            self._attempt(callback, self._generation)
        finally:
            self._done()
        return callback

    def _enqueue(self, callback: Callback) -> None:
        if callback.state in ("delivered", "failed"):
            return
        with self._idle:
            self._busy += 1
        callback.state = "in-flight"
        self._queue.put(callback)

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
        """Forget queued work (reset): attempts under way finish but are not retried."""
        self._generation += 1
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._done()

    # --- sending ----------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # callbacks go where the config says, never via a proxy
            self._local.session = session
        return session

    def _work(self) -> None:
        while True:
            callback = self._queue.get()
            if callback is None:
                return
            try:
                generation = self._generation
                if callback.gate is not None:
                    # A callback never overtakes the answer to the request that caused it.
                    callback.gate.wait(30)
                self._attempt(callback, generation)
            except Exception:
                log.exception("callback %s: attempt failed unexpectedly", callback.id)
            finally:
                self._done()

    def _done(self) -> None:
        with self._idle:
            self._busy -= 1
            if self._busy <= 0:
                self._busy = 0
                self._idle.notify_all()

    def _attempt(self, callback: Callback, generation: int) -> None:
        number = len(callback.attempts) + 1
        timeout = callback.timeout or self.timeout_seconds
        started_at = self.clock.now()
        t0 = Clock.monotonic()
        headers = {"User-Agent": self.user_agent, **callback.headers}
        attempt = Attempt(number=number, at=started_at, outcome="success")
        try:
            response = self._session().request(
                callback.method, callback.url, params=callback.params, data=callback.body or None,
                headers=headers, auth=callback.auth, timeout=(min(10.0, timeout), timeout),
                allow_redirects=False,
            )
            attempt.status = response.status_code
            attempt.body = response.content[:BODY_LIMIT].decode("utf-8", "replace")
            reason = callback.success(response)
            if reason:
                attempt.outcome, attempt.reason = "rejected", reason
        except requests.Timeout:
            attempt.outcome = "timeout"
            attempt.reason = f"no answer within {timeout:g} s"
        except requests.RequestException as exc:
            attempt.outcome, attempt.reason = "connection-error", _short(exc)
        attempt.latency_ms = round((Clock.monotonic() - t0) * 1000, 3)
        callback.attempts.append(attempt)
        if generation != self._generation:
            return  # the store was reset while this attempt was under way
        if attempt.outcome == "success":
            callback.state, callback.next_attempt_at = "delivered", None
            self.store.publish("callback.delivered", self._event(callback, attempt))
            return
        delay = self.retry_delays[min(number - 1, len(self.retry_delays) - 1)]
        if self.clock.now() + delay - callback.created_at > self.give_up_after_seconds:
            callback.state, callback.next_attempt_at = "failed", None
            self.store.publish("callback.failed", self._event(callback, attempt))
            return
        callback.state = "retrying"
        callback.next_attempt_at = self.clock.now() + delay
        self.scheduler.at(callback.next_attempt_at, lambda: self._enqueue(callback),
                          f"retry {callback.id}")
        self.store.publish("callback.attempt", self._event(callback, attempt))

    @staticmethod
    def _event(callback: Callback, attempt: Attempt) -> dict[str, Any]:
        return {"id": callback.id, "kind": callback.kind, "message_id": callback.message_id,
                "account": callback.account, "state": callback.state,
                "attempt": attempt.to_dict()}


def _short(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused"
    return f"{exc.__class__.__name__}: {text[:200]}"
