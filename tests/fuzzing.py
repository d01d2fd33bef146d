"""Shared pieces of the fuzz tests (tests/test_fuzz_*.py): one real server per module, a
watch on its log for tracebacks, the stored-message count, and byte-level mutation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conftest import ACCOUNT, Fake
from hypothesis import strategies as st

from fakemms.app import create_app
from fakemms.server import ServerThread

# remote content only ever from 127.0.0.1: a fuzzed URL must not reach the network
FUZZ_CONFIG: dict[str, Any] = {"accounts": [ACCOUNT], "seed": 1,
                               "remote_content": {"allowed_hosts": ["127.0.0.1"]}}


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, or carrying a traceback, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        out = [f"{r.name}: {r.getMessage()}\n{self.format(r)}" for r in self.records]
        self.records.clear()
        return out


class FuzzFake(Fake):
    """A fake whose log is watched; ``assert_clean()`` fails on any traceback since the last
    call."""

    def __init__(self, server: ServerThread, log: ErrorLog) -> None:
        super().__init__(server)
        self.log = log

    def assert_clean(self) -> None:
        found = self.log.take()
        assert not found, "the server logged an error:\n" + "\n".join(found)

    def message_count(self) -> int:
        r = self.get("/_fakemms/api/messages", params={"limit": 1})
        assert r.status_code == 200, r.text
        return r.json()["count"]


@contextmanager
def fuzz_fake(config: dict[str, Any] | None = None) -> Iterator[FuzzFake]:
    """One real server on 127.0.0.1 for a whole module, its log watched from start to stop."""
    log = ErrorLog()
    root = logging.getLogger()
    root.addHandler(log)
    server = ServerThread(create_app({**FUZZ_CONFIG, **(config or {})})).start()
    try:
        fake = FuzzFake(server, log)
        yield fake
        fake.assert_clean()
    finally:
        server.stop()
        root.removeHandler(log)


# --- strategies ------------------------------------------------------------------------------
# text a client might send: odd unicode (controls, surrogates' neighbours, RTL, emoji, NUL)
odd_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", " ", "\x00", "\u202e", "\ufeff", "é" * 300, "😀", "\r\n", "a" * 300, "%00", "../"])
huge_text = st.sampled_from(["a" * 70_000, "\u00e9" * 40_000, "\U0001f600" * 20_000])
# a value of any JSON type, for the fields that must be strings or integers
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text
    | huge_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=6)
# what fits in an HTTP header value (latin-1, no line breaks)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                    blacklist_characters="\x7f"), max_size=80).map(str.strip)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, max_edits: int = 4) -> bytes:
    """``seed`` with a few random byte edits: flips, deletions, insertions, duplications,
    truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "delete", "insert", "repeat", "truncate"]))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16) | st.sampled_from(
                [b"\r\n", b"--", b"<", b"&", b"]]>", b"\x00", b"\xff\xfe", b"\r\n\r\n"]))
        elif kind == "repeat":
            end = min(len(data), at + draw(st.integers(1, 200)))
            data[at:at] = data[at:end]
        else:
            del data[at:]
    return bytes(data)
