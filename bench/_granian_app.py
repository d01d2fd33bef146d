"""The app factory granian serves in bench/server_choice.py (``granian --interface wsgi
--factory _granian_app:create_app``, working directory bench/): the same fakemms app as
``fakemms serve`` builds (embedded defaults, then $FAKEMMS_CONFIG and FAKEMMS_* from the
environment), nothing in fakemms/ changed.

granian has no shutdown hook inside a WSGI worker process: once its server stops, the worker
function returns and the process exits through multiprocessing's exit path, which runs
``multiprocessing.util.Finalize`` callbacks (with an ``exitpriority``) but not ``atexit`` when
the worker was forked. So ``app.close()`` (stop the scheduler and callback threads, close the
SQLite journal) is registered as such a finalizer, and says on stderr when it ran.

``create_probe`` is a bare WSGI app for the close() timing check: ``GET /big`` answers
``BIG`` bytes from an iterable whose ``close()`` records ``time.monotonic()`` (system-wide
on Linux, so comparable across processes); ``GET /closed`` answers that time.
"""

from __future__ import annotations

import multiprocessing.util
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

BIG = 32 * 1024 * 1024  # larger than loopback's socket buffers on both sides together


def _close(app: Any) -> None:
    t0 = time.monotonic()
    app.close(5.0)
    print(f"BENCH-APP-CLOSED {time.monotonic() - t0:.3f} s", file=sys.stderr, flush=True)


def create_app() -> Callable:
    from fakemms.app import create_app as make
    from fakemms.config import load_config

    app = make(load_config(None))
    multiprocessing.util.Finalize(None, _close, args=(app,), exitpriority=100)
    print(f"BENCH-APP-CREATED pid {os.getpid()}", file=sys.stderr, flush=True)
    return app


class _Body:
    def __init__(self, state: dict) -> None:
        self.state = state

    def __iter__(self) -> Iterator[bytes]:
        yield b"x" * BIG

    def close(self) -> None:
        self.state["closed"] = time.monotonic()


def create_probe() -> Callable:
    state: dict[str, float] = {}

    def app(environ: dict, start_response: Callable) -> Any:
        if environ["PATH_INFO"] == "/closed":
            body = repr(state.get("closed", 0.0)).encode()
            start_response("200 OK", [("Content-Type", "text/plain"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        state.pop("closed", None)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(BIG))])
        return _Body(state)

    return app
