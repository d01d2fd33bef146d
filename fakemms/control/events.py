"""Control API: the live event stream (server-sent events) for the UI and wait_for helpers."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator

from flask import Response, request

from fakemms.control.blueprint import backend, bp
from fakemms.store import CLOSED

KEEPALIVE_SECONDS = 2.0  # also how soon a closed stream frees its thread


def _format(event: dict) -> str:
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"


@bp.get("/api/events")
def events() -> Response:
    """``?since=SEQ`` (or Last-Event-ID) replays the buffered events after SEQ first."""
    store = backend().store
    since_raw = request.args.get("since") or request.headers.get("Last-Event-ID") or ""
    since = int(since_raw) if since_raw.isdigit() else None
    subscription, backlog = store.subscribe(since)
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
            store.unsubscribe(subscription)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
