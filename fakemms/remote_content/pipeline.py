"""Remote content in a message's pipeline (openmarket-mms-send.txt, Content Caching): fetch
each linked part, store the bytes, and decide what follows: the planned reports, or a Rejected
report that says why. Asynchronous after the 202 by default, or before it (``mode: sync``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from fakemms.clock import Clock
from fakemms.models import Message
from fakemms.remote_content.fetch import FetchResult, RemoteFetcher
from fakemms.scenario import ReportPlan
from fakemms.store import Store

log = logging.getLogger(__name__)


def needs_fetch(message: Message) -> bool:
    return any(p.remote_url and not p.data for p in message.parts)


def rejection(error: str | None) -> ReportPlan:
    """The report of a message whose content could not be fetched (outcomeId 9: Rejected)."""
    return ReportPlan(status="Rejected", offset=0.0, outcome_id=9,
                      description=f"Remote content could not be fetched: {error}")


class RemoteContent:
    def __init__(self, store: Store, clock: Clock, settings: dict[str, Any], *,
                 max_ratio: float = 200.0) -> None:
        self.store = store
        self.mode: str = settings["mode"]
        self.fetcher = RemoteFetcher(
            clock, timeout=(settings["connect_timeout"], settings["read_timeout"]),
            total_timeout=settings["total_timeout"], max_bytes=settings["max_bytes"],
            allowed_hosts=settings["allowed_hosts"], default_ttl=settings["default_ttl"],
            max_ratio=max_ratio, on_fetch=self._record)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fakemms-fetch")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._closing = False

    def then(self, message: Message, plans: list[ReportPlan],
             schedule: Callable[[Message, list[ReportPlan]], None]) -> None:
        """Fetch the message's remote parts, then ``schedule`` its reports (or a rejection)."""
        if self.mode == "sync":
            self._fetch(message, plans, schedule)
            return
        if self._closing:
            return
        future = self._pool.submit(self._fetch, message, plans, schedule)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _fetch(self, message: Message, plans: list[ReportPlan],
               schedule: Callable[[Message, list[ReportPlan]], None]) -> None:
        for index, part in enumerate(message.parts):
            if not part.remote_url or part.data:
                continue
            if self._closing:
                return
            result = self.fetcher.fetch(part.remote_url)
            self.store.record_message_fetch(message.id, result.to_dict())
            if not result.ok:
                schedule(message, [rejection(result.error)])
                return
            self.store.fill_part(message.id, index, result.data, result.content_type)
        schedule(message, plans)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
        if future.exception() is not None:
            log.error("remote content fetch failed", exc_info=future.exception())

    def _record(self, result: FetchResult) -> None:
        self.store.record_fetch(result.to_dict())

    def wait(self, timeout: float = 60.0) -> None:
        """Let fetches under way finish (virtual-clock advances use this)."""
        with self._lock:
            pending = set(self._pending)
        if pending:
            wait(pending, timeout=timeout)

    def reset(self) -> None:
        self.fetcher.reset()

    def close(self, timeout: float = 5.0) -> None:
        """No new fetches; wait up to ``timeout`` for those under way; join the pool."""
        self._closing = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.wait(timeout)
        self._pool.shutdown(wait=True)
