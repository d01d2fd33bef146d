"""The one clock: real, paused or virtual time. Nothing else reads the time.

Real mode follows the wall clock (plus any offset gained by advancing); virtual mode is a
paused clock that moves only through ``advance``. Listeners hear about every jump so the
scheduler can fire what became due.

One story for a shared server: switching to real mode (``set_mode("real")``) and ``reset``
bring the clock back to wall time, so a run that advanced three days does not leave the next
run three days ahead; ``resume`` after ``pause`` keeps what ``advance`` added.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    def __init__(self, mode: str = "real", start: float | None = None) -> None:
        if mode not in ("real", "virtual"):
            raise ValueError(f"clock mode must be 'real' or 'virtual', not {mode!r}")
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None
        self._listeners: list[Callable[[], None]] = []
        self.mode = mode
        self.configured_mode = mode
        if mode == "virtual":
            self._frozen = time.time() if start is None else start
        elif start is not None:
            self._offset = start - time.time()

    def now(self) -> float:
        """Seconds since the epoch, as this clock sees it."""
        frozen = self._frozen
        return frozen if frozen is not None else time.time() + self._offset

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    @staticmethod
    def monotonic() -> float:
        """Wall-clock intervals (timeouts, latencies); never virtual."""
        return time.monotonic()

    @staticmethod
    def sleep_wall(seconds: float) -> None:
        """Added latency on an answer: wall time, whatever the clock's mode."""
        if seconds > 0:
            time.sleep(seconds)

    @property
    def paused(self) -> bool:
        return self._frozen is not None

    def pause(self) -> None:
        with self._lock:
            if self._frozen is None:
                self._frozen = time.time() + self._offset

    def resume(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - time.time()
                self._frozen = None
                self.mode = "real"
        self._notify()

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds
        self._notify()
        return self.now()

    def set_mode(self, mode: str) -> None:
        """Virtual: freeze where the clock stands. Real: the wall clock again, at wall time."""
        if mode == "virtual":
            self.pause()
            self.mode = "virtual"
        elif mode == "real":
            with self._lock:
                self._frozen = None
                self._offset = 0.0
                self.mode = "real"
            self._notify()
        else:
            raise ValueError(f"clock mode must be 'real' or 'virtual', not {mode!r}")

    def reset(self) -> None:
        """Back to the configured mode at wall time (a virtual clock restarts frozen at now)."""
        with self._lock:
            self._offset = 0.0
            self.mode = self.configured_mode
            self._frozen = time.time() if self.mode == "virtual" else None
        self._notify()

    def state(self) -> dict:
        """What ``restore`` needs to put this clock back where it stands (persistence)."""
        with self._lock:
            return {"mode": self.mode, "configured_mode": self.configured_mode,
                    "frozen": self._frozen, "offset": self._offset}

    def restore(self, state: dict) -> bool:
        """Back to a saved ``state``: a virtual (or paused) clock at the time it stood at, a
        real one with the offset ``advance`` gave it. Refused (False) when the configured mode
        has changed since: the configuration wins."""
        if state.get("configured_mode") != self.configured_mode:
            return False
        with self._lock:
            self.mode = state["mode"]
            self._frozen = state["frozen"]
            self._offset = float(state["offset"])
        self._notify()
        return True

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def describe(self) -> dict:
        return {"mode": self.mode, "paused": self.paused, "now": self.now(),
                "iso": self.utcnow().isoformat()}
