"""Faults on the application's side of callbacks (issue 14), over real sockets on a real clock.

The receiver (``fault_receiver.FaultReceiver``) is down, slow, silent, answers garbage or
resets connections; the fake sends delivery reports (OpenMarket REPORT, MM7
DeliveryReportReq, legacy GET) and MOs (OpenMarket multipart, MM7 DeliverReq, legacy POST and
GET). Every test then checks, from the control API and the receiver's log, that each callback
ended ``delivered`` or ``failed`` (none pending, none lost), that the receiver took each one
as delivered at most once, and that every attempt is recorded with its error.

Delays are short (``retry_delays`` 0.2 s and up); ``FAKEMMS_FAULTS=long`` runs them ten times
longer: the receiver down for the issue's 30 s.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from conftest import ACCOUNT, Fake, om_body
from fault_receiver import FaultReceiver, Hit, key_of_record

SCALE = 10.0 if os.environ.get("FAKEMMS_FAULTS") == "long" else 1.0
# callbacks.timeout_seconds (and the legacy gateway's): room for a good answer on a loaded
# machine; the tests of late answers use the short one
TIMEOUT = 1.0 * SCALE
SHORT_TIMEOUT = 0.5 * SCALE
DELAYS = [0.2 * SCALE, 0.4 * SCALE, 0.8 * SCALE]  # the last one repeats
GIVE_UP = 8.0 * SCALE
DOWN = 3.0 * SCALE  # the "down for 30 s", scaled

# what the fake sends, in turn: (kind, MT configuration or MO format, protocol family)
KINDS = [("report", "om", "openmarket"), ("report", "mm7", "mm7"), ("report", "leg", "legacy"),
         ("mo", "http", "openmarket"), ("mo", "mm7-6.8.0", "mm7"), ("mo", "legacy-post", "legacy"),
         ("mo", "legacy-get", "legacy")]

# how each receiver action must be recorded: (outcome, error); per protocol where they differ
EXPECTED: dict[str, tuple[str, str | None]] = {
    "ok": ("success", None),
    "slow": ("timeout", "timeout"), "hang": ("timeout", "timeout"),
    "trickle": ("timeout", "timeout"),
    "not-http": ("connection-error", "bad-answer"),
    "bad-status": ("connection-error", "bad-answer"),
    "redirect": ("rejected", "status"), "204": ("rejected", "status"),  # "non-200": retried
    "404": ("rejected", "status"), "503": ("rejected", "status"),
    "rst": ("connection-error", "reset"), "close": ("connection-error", "closed"),
    "close-mid-answer": ("connection-error", "cut-short"),
}
# HTTP 200 whose body the protocol reads: OpenMarket ignores it; the legacy gateway wants one
# that is not empty; MM7 wants the matching ...Rsp
BODY_200: dict[str, dict[str, tuple[str, str | None]]] = {
    "garbage-200": {"openmarket": ("success", None), "legacy": ("success", None),
                    "mm7": ("rejected", "content")},
    "empty-200": {"openmarket": ("success", None), "legacy": ("rejected", "content"),
                  "mm7": ("rejected", "content")},
    "bad-xml": {"openmarket": ("success", None), "legacy": ("success", None),
                "mm7": ("rejected", "content")},
    "endless-200": {"openmarket": ("success", None), "legacy": ("success", None),
                    "mm7": ("rejected", "content")},
}


def expected(action: str, family: str) -> tuple[str, str | None]:
    return BODY_200[action][family] if action in BODY_200 else EXPECTED[action]


def fault_config(receiver: FaultReceiver, *, give_up: float = GIVE_UP,
                 delays: list[float] = DELAYS, timeout: float = TIMEOUT,
                 **more: Any) -> dict[str, Any]:
    base = receiver.url("")
    account = {**ACCOUNT, "mt_configs": {
        "om": {"dlr_url": f"{base}/dlr/om", "dlr_protocol": "http", "region": "US"},
        "mm7": {"dlr_url": f"{base}/dlr/mm7", "dlr_protocol": "mm7-6.8.0", "region": "US"},
        "leg": {"dlr_url": f"{base}/dlr/legacy", "dlr_protocol": "legacy", "region": "US"}},
        "mo": {"url": f"{base}/mo", "format": "http"}}
    return {"accounts": [account], "clock": "real", "decision_header": False,
            "default_report": {"status": "Retrieved", "after": 0.05, "outcome_id": 1},
            "callbacks": {"timeout_seconds": timeout, "retry_delays": delays,
                          "give_up_after_seconds": give_up, "workers": 8},
            "legacy": {"timeout_seconds": timeout}, **more}


@pytest.fixture
def fault_receiver() -> Iterator[FaultReceiver]:
    receiver = FaultReceiver(slow_seconds=SHORT_TIMEOUT * 3, trickle_seconds=SHORT_TIMEOUT / 4)
    yield receiver
    receiver.stop()


def drive(fake: Fake, count: int, kinds: list[tuple[str, str, str]] = KINDS
          ) -> dict[str, str]:
    """Send ``count`` messages, every kind in turn; message id -> protocol family."""
    families: dict[str, str] = {}
    for i in range(count):
        kind, name, family = kinds[i % len(kinds)]
        if kind == "report":
            r = fake.send(om_body({"type": "MT", "source": "88600", "mtConfig": name,
                                   "destination": f"1251555{i:04d}"}))
            assert r.status_code == 202, r.text
            families[str(r.json()["mtId"])] = family
        else:
            r = fake.post("/_fakemms/api/mo", json={
                "account": "acme", "destination": "88600", "source": f"1251555{i:04d}",
                "format": name, "parts": [{"content_type": "text/plain", "text": f"MO {i}"}]})
            assert r.status_code == 201, r.text
            families[r.json()["id"]] = family
    return families


def settle(fake: Fake, expect: int, within: float) -> list[dict[str, Any]]:
    """Poll the control API until ``expect`` callbacks exist and all have ended."""
    deadline = time.monotonic() + within
    while True:
        found = fake.get("/_fakemms/api/callbacks").json()["callbacks"]
        ended = [c for c in found if c["state"] in ("delivered", "failed")]
        if len(found) >= expect and len(ended) == len(found):
            return found
        if time.monotonic() > deadline:
            states = Counter(c["state"] for c in found)
            raise AssertionError(f"after {within:g} s: {len(found)} of {expect} callbacks, "
                                 f"states {dict(states)}")
        time.sleep(0.05)


def seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def audit(fake: Fake, receiver: FaultReceiver, families: dict[str, str], records: list[dict],
          *, give_up: float = GIVE_UP, copies: int = 1) -> dict[str, Any]:
    """What every fault test asserts; returns figures for the test's own checks."""
    # none lost: each message has its callbacks (``copies``: a duplicate fault's second one)
    by_message = Counter(c["message_id"] for c in records)
    assert set(by_message) == set(families), "a message without its callback"
    assert set(by_message.values()) == {copies}
    # every attempt recorded, numbered in order, none after a success or after giving up
    refused = 0
    for c in records:
        attempts = c["attempts"]
        assert c["attempt_count"] == len(attempts) >= 1, c["id"]
        assert [a["number"] for a in attempts] == list(range(1, len(attempts) + 1))
        assert all(a["outcome"] != "success" for a in attempts[:-1]), c["id"]
        assert (attempts[-1]["outcome"] == "success") == (c["state"] == "delivered")
        assert c["next_attempt_at"] is None
        for a in attempts:
            assert (a["error"] is None) == (a["outcome"] == "success"), a
            assert a["outcome"] == "success" or a["reason"], a
        for a in attempts[1:]:  # a retry starts within the give-up time
            assert seconds(a["at"]) - seconds(c["created_at"]) <= give_up + 0.001, (c["id"], a)
        refused += sum(1 for a in attempts if a["error"] == "refused")
    # each attempt was a connection the receiver took, or a refused one
    hits = receiver.log()
    assert sum(c["attempt_count"] for c in records) == len(hits) + refused
    # attempt n of a callback is the n-th request with its bytes, recorded as answered
    keyed: dict[tuple, list[Hit]] = {}
    for hit in hits:
        if hit.key is not None:
            keyed.setdefault(hit.key, []).append(hit)
    keyless = sum(1 for h in hits if h.key is None)  # reset before the request was read
    unmatched = 0
    delivered: Counter[tuple] = Counter()
    for c in records:
        key = key_of_record(c)
        family = families[c["message_id"]]
        seen = [a for a in c["attempts"] if a["error"] != "refused"]
        got = keyed.get(key, [])
        if copies == 1 and not keyless:
            assert len(got) == len(seen), (c["id"], [h.action for h in got], seen)
            for hit, a in zip(got, seen, strict=True):
                assert (a["outcome"], a["error"]) == expected(hit.action, family), \
                    (c["id"], hit.action, a)
        elif copies == 1:
            assert len(got) <= len(seen), (c["id"], [h.action for h in got], seen)
            unmatched += len(seen) - len(got)
            if got:  # its last keyed request is its last attempt
                assert (seen[-1]["outcome"], seen[-1]["error"]) == \
                    expected(got[-1].action, family), (c["id"], got[-1].action, seen[-1])
        delivered[key] += c["state"] == "delivered"
    if copies == 1:
        assert unmatched == keyless
    # at most once: a request the receiver answered as success ended the callback
    taken = Counter(h.key for h in hits
                    if h.completed and expected(h.action, families_of(h, records, families))[0]
                    == "success")
    assert taken == +delivered
    return {"refused": refused, "hits": len(hits),
            "states": Counter(c["state"] for c in records)}


def families_of(hit: Hit, records: list[dict], families: dict[str, str]) -> str:
    for c in records:
        if key_of_record(c) == hit.key:
            return families[c["message_id"]]
    raise AssertionError(f"the receiver got a callback the fake has no record of: {hit.key}")


def per_attempt(*actions: str) -> Callable[[Hit], str]:
    """The n-th attempt of every callback gets ``actions[n-1]``; the last one repeats."""
    return lambda hit: actions[min(hit.n, len(actions)) - 1]


# --- 1. down for a while, then up on the same port ------------------------------------------
def test_receiver_down_then_up(make_fake: Callable[..., Fake],
                               fault_receiver: FaultReceiver) -> None:
    fake = make_fake(fault_config(fault_receiver))
    families = drive(fake, 21)  # the receiver is not listening yet: connection refused
    deadline = time.monotonic() + 5
    while fake.get("/_fakemms/api/callbacks?state=retrying").json()["count"] < len(families):
        assert time.monotonic() < deadline, "the callbacks were not refused"
        time.sleep(0.05)
    down_until = time.time() + DOWN
    time.sleep(DOWN)  # the fault itself: nobody listens for DOWN seconds
    fault_receiver.up()
    records = settle(fake, len(families), DOWN + GIVE_UP)
    figures = audit(fake, fault_receiver, families, records)
    assert figures["states"] == {"delivered": len(families)}
    for c in records:
        refused = [a for a in c["attempts"] if a["error"] == "refused"]
        assert refused and all(seconds(a["at"]) < down_until + 0.1 for a in refused)
        assert all(a["reason"] == "connection refused" for a in refused)
        assert c["attempts"][-1]["outcome"] == "success"
    assert all(h.action == "ok" for h in fault_receiver.log())


def test_receiver_down_past_give_up(make_fake: Callable[..., Fake],
                                    fault_receiver: FaultReceiver) -> None:
    give_up = 1.0 * SCALE
    fake = make_fake(fault_config(fault_receiver, give_up=give_up))
    families = drive(fake, 14)
    records = settle(fake, len(families), give_up + 5 * SCALE)
    figures = audit(fake, fault_receiver, families, records, give_up=give_up)
    assert figures["states"] == {"failed": len(families)}
    assert figures["hits"] == 0 and figures["refused"] > len(families)
    # up again: nothing more comes, the fake gave up (watched for two retry delays)
    fault_receiver.up()
    time.sleep(2 * DELAYS[-1])
    assert fault_receiver.log() == []
    assert fake.get("/_fakemms/health").json()["callbacks_busy"] == 0


# --- 2. answers after the timeout, or never ---------------------------------------------------
def pick(hit: Hit, *actions: str) -> str:
    """One of ``actions`` for each callback, the same on every attempt of it."""
    return actions[zlib.crc32(repr(hit.key).encode()) % len(actions)]


def test_receiver_slow_silent_or_trickling(make_fake: Callable[..., Fake],
                                           fault_receiver: FaultReceiver) -> None:
    """Each callback's first attempt is answered after the timeout, never, or a byte at a
    time (each byte within the read timeout: regression, such an answer held the lane for
    ever); the second is answered well."""
    fault_receiver.up()
    fault_receiver.answer = lambda hit: \
        pick(hit, "slow", "hang", "trickle") if hit.n == 1 else "ok"
    fake = make_fake(fault_config(fault_receiver, timeout=SHORT_TIMEOUT))
    families = drive(fake, 14)
    records = settle(fake, len(families), GIVE_UP + 14 * SHORT_TIMEOUT)
    audit(fake, fault_receiver, families, records)
    assert all(c["state"] == "delivered" and c["attempt_count"] == 2 for c in records)
    actions = Counter(h.action for h in fault_receiver.log() if h.n == 1)
    assert set(actions) == {"slow", "hang", "trickle"}, actions
    for c in records:  # cut at the timeout, not when the trickle ends (250 s)
        assert c["attempts"][0]["latency_ms"] < (3 * SHORT_TIMEOUT + 1) * 1000


def test_retry_not_made_after_give_up_when_queued(make_fake: Callable[..., Fake],
                                                  fault_receiver: FaultReceiver) -> None:
    """Regression: a retry that waited in its lane (behind a silent receiver's timeouts) past
    the give-up time was still attempted. It now ends ``failed`` without another try."""
    fault_receiver.up()
    fault_receiver.answer = lambda hit: "hang"
    give_up = 1.0 * SCALE
    fake = make_fake(fault_config(fault_receiver, give_up=give_up, timeout=SHORT_TIMEOUT))
    families = drive(fake, 14)
    records = settle(fake, len(families), give_up + 14 * SHORT_TIMEOUT + 2 * SCALE)
    audit(fake, fault_receiver, families, records, give_up=give_up)
    assert {c["state"] for c in records} == {"failed"}
    assert all(a["error"] == "timeout" for c in records for a in c["attempts"])


# --- 3. garbage --------------------------------------------------------------------------------
GARBAGE = ("not-http", "bad-status", "redirect", "204", "404", "503", "empty-200", "bad-xml",
           "garbage-200", "ok")


def test_receiver_answers_garbage(make_fake: Callable[..., Fake],
                                  fault_receiver: FaultReceiver) -> None:
    """Each callback meets every kind of garbage in turn until its protocol takes an answer
    as success: OpenMarket at the first HTTP 200 (the body is ignored), the legacy gateway at
    the first 200 with a body, MM7 only at a real ...Rsp."""
    fault_receiver.up()
    fault_receiver.answer = per_attempt(*GARBAGE)
    delays = [d / 2 for d in DELAYS]  # ten attempts: retry sooner
    fake = make_fake(fault_config(fault_receiver, delays=delays))
    families = drive(fake, 14)
    records = settle(fake, len(families), GIVE_UP + 2 * SCALE)
    audit(fake, fault_receiver, families, records)
    assert {c["state"] for c in records} == {"delivered"}
    succeeded_at = {"openmarket": GARBAGE.index("empty-200") + 1,
                    "legacy": GARBAGE.index("bad-xml") + 1, "mm7": len(GARBAGE)}
    for c in records:
        assert c["attempt_count"] == succeeded_at[families[c["message_id"]]], c["id"]
        statuses = [a["status"] for a in c["attempts"][:6]]
        assert statuses == [None, None, 302, 204, 404, 503]


def test_unreadable_mm7_answer_is_recorded(make_fake: Callable[..., Fake],
                                           fault_receiver: FaultReceiver) -> None:
    """Regression: an MM7 answer declaring an unknown XML encoding made the success rule raise
    LookupError; the callback stayed ``in-flight`` for ever. It is now rejected and retried."""
    fault_receiver.up()
    fault_receiver.answer = per_attempt("bad-xml", "ok")
    fake = make_fake(fault_config(fault_receiver))
    families = drive(fake, 5)
    mm7 = {m for m, family in families.items() if family == "mm7"}
    records = settle(fake, len(families), 3 * SCALE)
    audit(fake, fault_receiver, families, records)
    for c in records:
        if c["message_id"] in mm7:
            first = c["attempts"][0]
            assert (first["outcome"], first["error"], first["status"]) == \
                ("rejected", "content", 200)
            assert first["reason"]
            assert c["state"] == "delivered" and c["attempt_count"] == 2


def test_endless_answer_is_read_up_to_a_limit(make_fake: Callable[..., Fake],
                                              fault_receiver: FaultReceiver) -> None:
    """Regression: an answer with no length that never ends was read to the end (memory
    growing, the lane held). The fake reads 1 MiB of it and judges that."""
    fault_receiver.up()
    fault_receiver.answer = per_attempt("endless-200", "ok")
    fake = make_fake(fault_config(fault_receiver))
    families = drive(fake, 7)
    records = settle(fake, len(families), 3 * SCALE)
    audit(fake, fault_receiver, families, records)
    for c in records:
        assert c["attempt_count"] == (2 if families[c["message_id"]] == "mm7" else 1)
        assert c["attempts"][0]["body"] == "x" * 4096  # the first 4 KiB, as always


# --- 4. resets -----------------------------------------------------------------------------------
def test_receiver_resets_connections(make_fake: Callable[..., Fake],
                                     fault_receiver: FaultReceiver) -> None:
    """Reset after the request (RST), closed without an answer (FIN), closed halfway through
    the answer; one callback in four meets a receiver that answers 503 for ever."""
    fault_receiver.up()
    steps = per_attempt("rst", "close", "close-mid-answer", "ok")
    fault_receiver.answer = lambda hit: "503" if pick(hit, *"abcd") == "a" else steps(hit)
    give_up = 3.0 * SCALE
    fake = make_fake(fault_config(fault_receiver, give_up=give_up))
    families = drive(fake, 28)
    records = settle(fake, len(families), give_up + 3 * SCALE)
    figures = audit(fake, fault_receiver, families, records, give_up=give_up)
    assert figures["states"]["failed"] and figures["states"]["delivered"]
    for c in records:
        errors = [a["error"] for a in c["attempts"]]
        if c["state"] == "delivered":
            assert errors == ["reset", "closed", "cut-short", None]
        else:
            assert set(errors) == {"status"} and len(errors) >= 4


def test_receiver_resets_before_reading(make_fake: Callable[..., Fake],
                                        fault_receiver: FaultReceiver) -> None:
    """Connections reset at once, or closed with the request half read: the receiver cannot
    tell which callback they carried; the counts still add up."""
    fault_receiver.up()
    fault_receiver.before = lambda hit: \
        {0: "rst", 1: "close-mid-request"}.get(hit.index % 3)
    fake = make_fake(fault_config(fault_receiver, delays=[d / 2 for d in DELAYS]))
    families = drive(fake, 14)
    records = settle(fake, len(families), GIVE_UP)
    figures = audit(fake, fault_receiver, families, records)
    assert figures["states"] == {"delivered": len(families)}
    failed = Counter(a["error"] for c in records for a in c["attempts"] if a["error"])
    assert set(failed) <= {"reset", "closed"} and sum(failed.values()) >= len(families) // 2


# --- a scenario that asks for duplicates (and an early report) ---------------------------------
def test_duplicates_only_where_a_scenario_asks(make_fake: Callable[..., Fake],
                                               fault_receiver: FaultReceiver,
                                               tmp_path: Any) -> None:
    scenario = tmp_path / "untidy.yaml"
    scenario.write_text(
        "name: untidy\nrules:\n  - name: all\n    reports:\n"
        "      - {status: Deferred, after: 0.05s}\n      - {status: Retrieved, after: 0.1s}\n"
        "    faults:\n      - {kind: early, status: Deferred}\n"
        "      - {kind: duplicate, status: Retrieved, delay: 0.1s}\n")
    fault_receiver.up()
    fault_receiver.answer = per_attempt("rst", "ok")
    fake = make_fake(fault_config(fault_receiver, scenarios=[str(scenario)]))
    families = drive(fake, 12, [k for k in KINDS if k[0] == "report"])
    records = settle(fake, 3 * len(families), GIVE_UP)
    audit(fake, fault_receiver, families, records, copies=3)
    assert {c["state"] for c in records} == {"delivered"}
    notes = Counter(c["note"] for c in records)
    assert notes == {"early": len(families), "duplicate": len(families), None: len(families)}


def test_header_value_http_cannot_carry(make_fake: Callable[..., Fake],
                                        fault_receiver: FaultReceiver, tmp_path: Any) -> None:
    """Regression: a scenario named outside Latin-1 put a header value http.client cannot
    encode on its callbacks (UnicodeEncodeError): they stayed in-flight for ever. The value
    now goes out percent-encoded as UTF-8."""
    scenario = tmp_path / "named.yaml"
    scenario.write_text("name: 名前\nmo:\n  - {name: \"ルール\", account: acme, at: 0.05s, "
                        "count: 3, every: 0.05s}\n", encoding="utf-8")
    fault_receiver.up()
    fake = make_fake(fault_config(fault_receiver, scenarios=[str(scenario)],
                                  decision_header=True))
    records = settle(fake, 3, 3 * SCALE)
    assert [(c["state"], c["attempt_count"]) for c in records] == [("delivered", 1)] * 3
    for hit in fault_receiver.log():
        assert hit.request is not None and hit.action == "ok"
        assert unquote(hit.request.headers["X-Fake-Decision"]) == "名前/ルール"
