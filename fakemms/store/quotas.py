"""The accounts' counts against their limits: messages per day and per month, prepaid credit
used, and each account's TPS bucket. ``guards`` decides what the limits are; these are the
counts, changed atomically. Not kept by a journal (docs/service.md, "Not kept")."""

from __future__ import annotations

import threading
from collections.abc import Callable

# A TPS rule: the account's bucket (tokens, stamp) or None -> (taken, the bucket to keep)
TokenRule = Callable[[tuple[float, float] | None], tuple[bool, tuple[float, float]]]


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
                prepaid_credit: int | None, take_token: TokenRule | None = None) -> str | None:
        """Count one message against the account's limits, atomically. ``take_token`` gets
        the account's TPS bucket (None at first) and returns (taken, the bucket to keep).
        Returns what refused the message ("day", "month", "credit", "tps"), or None."""
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
            if take_token is not None:
                taken, bucket = take_token(self._buckets.get(username))
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

    def dump(self) -> dict[str, dict]:
        with self._lock:
            return {"usage": {k: dict(v) for k, v in self._usage.items()},
                    "credit_used": dict(self._credit_used)}
