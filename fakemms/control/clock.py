"""Control API: the fake's one clock (real or virtual) and its scheduled jobs."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from fakemms.backend import backend
from fakemms.control.openapi import operation
from fakemms.control.validate import duration


def _state() -> dict[str, Any]:
    be = backend()
    return {**be.clock.describe(), "pending_jobs": be.scheduler.pending_count()}


@operation("GET", "/api/clock", answer="ClockState")
def get_clock() -> Response:
    """The clock: mode, paused, now, and how many jobs wait on it"""
    return jsonify(_state())


@operation("PUT", "/api/clock", body="ClockModeIn", answer="ClockState")
def set_clock_mode(body: dict[str, Any]) -> Response:
    """Switch the clock: virtual (moves only with advance) or real (wall time again)"""
    backend().set_clock_mode(body["mode"])
    return jsonify(_state())


@operation("POST", "/api/clock/advance", body="ClockAdvanceIn", answer="ClockAdvanced")
def advance_clock(body: dict[str, Any]) -> Response:
    """Advance the clock; due jobs fire and their callbacks are attempted before the answer"""
    field = "seconds" if "seconds" in body else "duration"
    be = backend()
    fired = be.advance(duration(body[field], field))
    return jsonify({**be.clock.describe(), "fired": fired})


@operation("POST", "/api/clock/pause", answer="Clock")
def pause_clock() -> Response:
    """Freeze the clock"""
    be = backend()
    be.clock.pause()
    return jsonify(be.clock.describe())


@operation("POST", "/api/clock/resume", answer="Clock")
def resume_clock() -> Response:
    """Let the clock run again"""
    be = backend()
    be.clock.resume()
    return jsonify(be.clock.describe())
