"""The store (thread-safe, bounded, resettable, dumpable), the clock and the seeded generator."""

from __future__ import annotations

import re
import threading
import time

import pytest

from fakemms.clock import Clock
from fakemms.models import Account, Message, Part
from fakemms.rng import Rng
from fakemms.store import Store


def msg(mid: str, *, direction: str = "mt", account: str = "acme", source: str = "88600",
        dest: str = "12515550130", status: str = "accepted", interface: str = "openmarket",
        parts: list[Part] | None = None) -> Message:
    return Message(id=mid, direction=direction, interface=interface, account=account,
                   source=source, destinations=[dest], created_at=1_900_000_000.0,
                   status=status, parts=parts or [])


# --- store ---------------------------------------------------------------------------------------
def test_oldest_messages_are_evicted_and_counted():
    store = Store(max_messages=3)
    for i in range(5):
        store.add_message(msg(str(i)))
    assert [m.id for m in store.list_messages()] == ["4", "3", "2"]
    assert store.get_message("0") is None and store.get_message("1") is None
    stats = store.stats()
    assert (stats["messages"], stats["evicted"], stats["max_messages"]) == (3, 2, 3)


def test_latest_names_the_newest():
    store = Store()
    assert store.get_message("latest") is None
    store.add_message(msg("1"))
    store.add_message(msg("2"))
    assert store.get_message("latest").id == "2"


def test_duplicate_ids_are_refused():
    store = Store()
    store.add_message(msg("1"))
    with pytest.raises(KeyError):
        store.add_message(msg("1"))


def test_unique_id_retries_on_collision():
    store = Store()
    store.add_message(msg("111"))
    candidates = iter(["111", "111", "222"])
    assert store.unique_id(lambda: next(candidates)) == "222"


def test_filters():
    store = Store()
    store.add_message(msg("1", account="a", dest="111111111"))
    store.add_message(msg("2", account="b", direction="mo", source="222222222", dest="88600",
                          status="Retrieved"))
    store.add_message(msg("3", account="a", interface="mm7", status="Expired"))
    assert [m.id for m in store.list_messages(direction="mt")] == ["3", "1"]
    assert [m.id for m in store.list_messages(account="a")] == ["3", "1"]
    assert [m.id for m in store.list_messages(number="222222222")] == ["2"]
    assert [m.id for m in store.list_messages(number="88600")] == ["3", "2", "1"]
    assert [m.id for m in store.list_messages(status="retrieved")] == ["2"]
    assert [m.id for m in store.list_messages(interface="mm7")] == ["3"]
    assert [m.id for m in store.list_messages(account="a", status="accepted")] == ["1"]
    assert store.list_messages(account="nobody") == []


def test_reset_forgets_messages_and_counters_but_keeps_accounts():
    store = Store(max_messages=1)
    store.set_accounts([Account("acme", "s3cret")])
    store.add_message(msg("1"))
    store.add_message(msg("2"))
    assert store.quotas.reserve("acme", ("day:2030-01-01", "month:2030-01"), max_per_day=None,
                                max_per_month=None, prepaid_credit=None, tps=1.0,
                                now=1.0) is None
    assert store.dump()["credit_used"] == {"acme": 1}
    store.reset()
    assert store.list_messages() == [] and store.evicted == 0
    dump = store.dump()
    assert dump["usage"] == {} and dump["credit_used"] == {}
    assert store.quotas.reserve("acme", ("day:2030-01-01", "month:2030-01"), max_per_day=None,
                                max_per_month=None, prepaid_credit=None, tps=1.0,
                                now=1.0) is None  # the bucket (empty at 1.0) is gone
    assert store.account("acme") is not None


def test_dump_holds_everything_as_json_ready_data():
    import json

    store = Store()
    store.set_accounts([Account("acme", "s3cret")])
    store.add_message(msg("1", parts=[Part("image/png", b"\x89PNG\x00", "a.png")]))
    dump = json.loads(json.dumps(store.dump()))
    assert dump["accounts"][0]["username"] == "acme"
    (m,) = dump["messages"]
    assert m["id"] == "1" and m["parts"][0]["base64"] == "iVBORwA="
    assert m["parts"][0]["size"] == 5
    assert dump["evicted"] == 0


def test_events_are_published_and_bounded():
    store = Store(max_events=3)
    q, backlog = store.events.subscribe()
    assert backlog == []
    for i in range(5):
        store.add_message(msg(str(i)))
    assert len(store.events.events()) == 3
    assert [e["data"]["id"] for e in store.events.events()] == ["2", "3", "4"]
    assert q.get_nowait()["type"] == "message"
    store.events.unsubscribe(q)


def test_concurrent_adds_lose_nothing():
    store = Store(max_messages=100_000)
    errors: list[BaseException] = []

    def add(t: int) -> None:
        try:
            for i in range(500):
                store.add_message(msg(f"{t}-{i}"))
                if i % 50 == 0:
                    store.list_messages(account="acme")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_messages()) == 4000


def test_concurrent_adds_past_the_bound_count_every_eviction():
    store = Store(max_messages=50)

    def add(t: int) -> None:
        for i in range(200):
            store.add_message(msg(f"{t}-{i}"))

    threads = [threading.Thread(target=add, args=(t,)) for t in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.stats()["messages"] == 50 and store.evicted == 950


# --- clock ---------------------------------------------------------------------------------------
def test_virtual_clock_stands_still_until_advanced():
    clock = Clock("virtual", start=1_000.0)
    assert clock.now() == 1_000.0 and clock.paused and clock.mode == "virtual"
    time.sleep(0.01)
    assert clock.now() == 1_000.0
    assert clock.advance(86400 * 3) == 1_000.0 + 86400 * 3
    assert clock.utcnow().isoformat() == "1970-01-04T00:16:40+00:00"


def test_real_clock_follows_wall_time_plus_advances():
    clock = Clock("real")
    assert abs(clock.now() - time.time()) < 1
    clock.advance(3600)
    assert 3599 < clock.now() - time.time() < 3601
    assert not clock.paused


def test_real_clock_can_start_elsewhere():
    clock = Clock("real", start=1_000.0)
    assert 1_000.0 <= clock.now() < 1_010.0


def test_clock_only_moves_forward():
    clock = Clock("virtual", start=5.0)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.now() == 5.0


def test_pause_resume_and_modes():
    clock = Clock("real")
    clock.set_mode("virtual")
    frozen = clock.now()
    time.sleep(0.01)
    assert clock.now() == frozen and clock.mode == "virtual"
    clock.set_mode("real")
    assert clock.mode == "real" and not clock.paused
    assert frozen <= clock.now() < frozen + 1
    with pytest.raises(ValueError):
        clock.set_mode("sundial")
    with pytest.raises(ValueError):
        Clock("sundial")


def test_listeners_hear_every_jump():
    clock = Clock("virtual", start=0.0)
    heard: list[float] = []
    clock.add_listener(lambda: heard.append(clock.now()))
    clock.advance(1)
    clock.advance(2.5)
    assert heard == [1.0, 3.5]
    assert clock.describe()["now"] == 3.5 and clock.describe()["mode"] == "virtual"


# --- random generator ----------------------------------------------------------------------------
def test_seed_replays_ids_exactly():
    a, b = Rng(42), Rng(42)
    assert [a.digits(15) for _ in range(5)] == [b.digits(15) for _ in range(5)]
    assert a.request_id() == b.request_id()
    assert Rng(1).digits(15) != Rng(2).digits(15)


def test_digits_have_exact_width_and_request_ids_the_documents_format():
    rng = Rng(3)
    assert all(len(str(rng.digits(15))) == 15 for _ in range(1000))
    pattern = re.compile(r"^015-[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-"
                         r"[0-9A-F]{12}$")
    assert all(pattern.match(rng.request_id()) for _ in range(100))


def test_reseed_restarts_the_sequence():
    rng = Rng(9)
    first = [rng.randint(0, 10**9) for _ in range(3)]
    rng.reseed(9)
    assert [rng.randint(0, 10**9) for _ in range(3)] == first
