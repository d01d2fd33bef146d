"""The accounts' counts against their limits: messages per day and per month, prepaid credit
used, and each account's TPS bucket. ``guards`` decides what the limits are; these are the
counts, changed atomically. Not kept by a journal (docs/service.md, "Not kept")."""

from __future__ import annotations

import threading
from typing import Any


class Quotas:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Every count back to zero (reset)."""
        with self._lock:
            self._usage: dict[str, dict[str, int]] = {}  # account -> {"day:..": n, ...}
            self._credit_used: dict[str, int] = {}
            self._buckets: dict[str, tuple[float, float]] = {}  # account -> (tokens, stamp)

    def forget(self, username: str) -> None:
        """An account deleted: its counts go with it."""
        with self._lock:
            self._usage.pop(username, None)
            self._credit_used.pop(username, None)
            self._buckets.pop(username, None)

    def reserve(self, username: str, periods: tuple[str, str], *,
                max_per_day: int | None, max_per_month: int | None,
                prepaid_credit: int | None, tps: float | None = None, now: float = 0.0
                ) -> str | None:
        """Count one message against the account's limits, atomically: ``tps`` messages a
        second (a token bucket, read at clock time ``now``), the day's and month's counts,
        the prepaid credit. Returns what refused the message ("day", "month", "credit",
        "tps"), or None."""
        day, month = periods
        with self._lock:
            usage = self._usage.setdefault(username, {})
            if max_per_day is not None and usage.get(day, 0) >= max_per_day:
                return "day"
            if max_per_month is not None and usage.get(month, 0) >= max_per_month:
                return "month"
            used = self._credit_used.get(username, 0)
            if prepaid_credit is not None and used >= prepaid_credit:
                return "credit"
            if tps is not None:
                taken, bucket = take_token(self._buckets.get(username), tps, now)
                self._buckets[username] = bucket
                if not taken:
                    return "tps"
            # only the current periods are kept: the counts cannot grow over a long run
            self._usage[username] = {day: usage.get(day, 0) + 1,
                                     month: usage.get(month, 0) + 1}
            self._credit_used[username] = used + 1
            return None

    def release(self, username: str, periods: tuple[str, str]) -> None:
        """Give back one message ``reserve`` counted (the request was refused after all)."""
        with self._lock:
            usage = self._usage.setdefault(username, {})
            for key in periods:
                if usage.get(key, 0) > 0:
                    usage[key] -= 1
            used = self._credit_used.get(username, 0)
            if used > 0:
                self._credit_used[username] = used - 1

    def dump(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {"usage": {k: dict(v) for k, v in self._usage.items()},
                    "credit_used": dict(self._credit_used)}


def take_token(bucket: tuple[float, float] | None, rate: float,
               now: float) -> tuple[bool, tuple[float, float]]:
    """Token bucket: capacity max(tps, 1), refilled at tps tokens a second of clock time."""
    capacity = max(rate, 1.0)
    tokens, stamp = bucket if bucket is not None else (capacity, now)
    tokens = min(capacity, tokens + max(0.0, now - stamp) * rate)
    # ``now`` was read before the quotas' lock: a thread preempted in between arrives with an
    # older reading than the stamp. The stamp never moves back, or the next request would be
    # credited the same interval twice (more than ``tps`` a second under concurrency).
    stamp = max(stamp, now)
    # A virtual clock near 1.7e9 s moves in steps of ~2.4e-7 s, so advancing by exactly
    # 1/tps may refill 0.9999998 tokens; a microsecond of refill is close enough to whole.
    if tokens < 1.0 - rate * 1e-6:
        return False, (tokens, stamp)
    return True, (tokens - 1.0, stamp)
