"""Control API: the live event stream (server-sent events) for the UI and wait_for helpers."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from typing import Any

from flask import Response, request

from fakemms.backend import backend
from fakemms.control.openapi import operation, query
from fakemms.store import CLOSED

KEEPALIVE_SECONDS = 2.0  # also how soon a closed stream frees its thread


def _format(event: dict) -> str:
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"


@operation("GET", "/api/events", params=[query(
    "since", "replay the buffered events after this sequence number first (or send "
    "Last-Event-ID)", type="integer", minimum=0)], answer={
    "description": "an event stream; each data line is an Event (components/schemas/Event)",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}})
def events(query: dict[str, Any]) -> Response:
    """Server-sent events (message, report, callback.*, clock, reset, ...)"""
    store = backend().store
    since = query.get("since")
    last_id = request.headers.get("Last-Event-ID", "")
    if since is None and last_id.isdigit():
        since = int(last_id)
    subscription, backlog = store.events.subscribe(since)
    last = backlog[-1]["seq"] if backlog else (since or 0)

    def stream() -> Iterator[str]:
        try:
            yield ": fakemms events\n\n"
            for event in backlog:
                yield _format(event)
            while True:
                try:
                    event = subscription.get(timeout=KEEPALIVE_SECONDS)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                if event is CLOSED:
                    return  # the fake is stopping, or this stream fell too far behind
                if event["seq"] > last:
                    yield _format(event)
        finally:
            store.events.unsubscribe(subscription)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
