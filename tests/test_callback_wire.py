"""What the application's receiver gets from the dispatcher, byte for byte: the request line,
the headers in their order and the body of one callback of each protocol, against what the
dispatcher sent when it used requests (``tests/data/callback_wire.json``, written by
``tests/callback_wire.py``)."""

from __future__ import annotations

import json

from callback_wire import EXPECTED, capture


def test_each_protocol_sends_the_recorded_bytes() -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    got = capture()
    assert list(got) == list(expected)
    for name in expected:
        assert got[name] == expected[name], name
