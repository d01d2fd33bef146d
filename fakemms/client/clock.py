"""The clock operations of ``Client``: read, advance, pause, resume and switch the fake's
clock; and ``seconds``, how a duration goes to the API."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fakemms.client.models import ClockState


def seconds(duration: float | int | str | timedelta) -> float | str:
    """A duration for the API: seconds, a ``timedelta``, or a string like ``1h`` or ``500ms``
    (strings are passed on for the server to parse)."""
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    return duration


class ClockControl:
    """``GET``, ``PUT`` and ``POST /_fakemms/api/clock...``: the fake's one clock."""

    if TYPE_CHECKING:  # what the operations use of ``Client``
        def _json(self, method: str, path: str, **kw: Any) -> Any: ...

    def get_clock(self) -> ClockState:
        """The fake's clock: mode, paused, now."""
        return ClockState.from_dict(self._json("GET", "/_fakemms/api/clock"))

    def advance_clock(self, duration: float | str | timedelta) -> ClockState:
        """Move the clock (``3600``, ``"1h"``, ``"3d"``, a timedelta). Due reports and MOs
        fire, and their callbacks are attempted, before this returns."""
        value = seconds(duration)
        key = "duration" if isinstance(value, str) else "seconds"
        return ClockState.from_dict(self._json("POST", "/_fakemms/api/clock/advance",
                                               json_body={key: value}))

    def pause_clock(self) -> ClockState:
        """Freeze the clock where it stands (a real clock keeps what advance added)."""
        return ClockState.from_dict(self._json("POST", "/_fakemms/api/clock/pause"))

    def resume_clock(self) -> ClockState:
        """Let a paused clock run again from where it stood."""
        return ClockState.from_dict(self._json("POST", "/_fakemms/api/clock/resume"))

    def set_clock_mode(self, mode: str) -> ClockState:
        """``virtual``: time moves only with ``advance_clock``; ``real``: it runs again."""
        return ClockState.from_dict(self._json("PUT", "/_fakemms/api/clock",
                                               json_body={"mode": mode}))
