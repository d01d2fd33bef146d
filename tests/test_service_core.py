"""The concurrency core for a long-running shared service: the scheduler, the dispatcher's
lanes, retries and give-up, the reset fence, eviction of jobs, account deletion, the clock
story and the lifecycle. Virtual clock, real HTTP, no sleeps as synchronisation."""

from __future__ import annotations

import threading
import time

import requests
from conftest import ACCOUNT, om_body, with_dlr

from fakemms.app import create_app
from fakemms.clock import Clock
from fakemms.scheduler import Scheduler
from fakemms.server import ServerThread


def virtual(url: str, **extra):
    cfg = with_dlr(url)
    cfg.update(clock="virtual", callbacks={"retry_delays": [10], "timeout_seconds": 5,
                                           "give_up_after_seconds": 35})
    cfg.update(extra)
    return cfg


def blocking_answer():
    """A receiver answer that blocks until released; ``arrived`` says it is under way."""
    arrived, release = threading.Event(), threading.Event()

    def answer(_item):
        arrived.set()
        release.wait(10)
        return 200, b""

    return answer, arrived, release


# --- scheduler ------------------------------------------------------------------------------
def test_scheduler_fires_in_due_order_and_cancels_by_key_and_account():
    clock = Clock("virtual", start=1000.0)
    scheduler = Scheduler(clock)
    try:
        fired: list[str] = []
        scheduler.at(1003, lambda: fired.append("c"), key="m1", account="a")
        scheduler.at(1001, lambda: fired.append("a"), key="m2", account="a")
        scheduler.at(1002, lambda: fired.append("b"), key="m3", account="b")
        scheduler.at(1004, lambda: fired.append("d"), account="b")
        assert scheduler.cancel_keys(["m1"]) == 1
        assert scheduler.cancel_account("b") == 2
        assert scheduler.pending_count() == 1
        assert scheduler.advance(10) == 1 and fired == ["a"]
        stats = scheduler.stats()
        assert stats["dropped_jobs"] == 1 and stats["fired_jobs"] == 1
    finally:
        scheduler.stop()


def test_scheduler_heap_sheds_cancelled_jobs():
    clock = Clock("virtual", start=0.0)
    scheduler = Scheduler(clock)
    try:
        for i in range(10_000):
            scheduler.at(100 + i, lambda: None, key=f"m{i}")
        scheduler.cancel_keys(f"m{i}" for i in range(9_000))
        assert scheduler.pending_count() == 1_000
        assert len(scheduler._heap) == 1_000  # compacted, not 10,000 tombstones
        assert len(scheduler._by_key) == 1_000
    finally:
        scheduler.stop()


def test_a_failing_job_is_counted_and_the_scheduler_goes_on():
    clock = Clock("virtual", start=0.0)
    scheduler = Scheduler(clock)
    try:
        fired = []
        scheduler.at(1, lambda: 1 / 0)
        scheduler.at(2, lambda: fired.append(2))
        assert scheduler.advance(5) == 2 and fired == [2]
        assert scheduler.stats()["failed_jobs"] == 1
    finally:
        scheduler.stop()


def test_scheduler_stop_joins_its_thread_and_refuses_new_jobs():
    scheduler = Scheduler(Clock("real"))
    scheduler.at(time.time() + 3600, lambda: None)
    scheduler.stop()
    assert not scheduler._thread.is_alive()
    assert scheduler.at(0, lambda: None) is None and scheduler.pending_count() == 0


# --- eviction bounds every job ----------------------------------------------------------------
def test_jobs_of_evicted_messages_are_dropped_and_counted(make_fake, receiver):
    fake = make_fake(virtual(receiver.url("/dlr"), max_messages=2))
    for _ in range(5):
        assert fake.send(om_body()).status_code == 202
    backend = fake.backend
    assert backend.scheduler.pending_count() == 2  # the reports of the 2 kept messages
    assert backend.scheduler.stats()["dropped_jobs"] == 3
    fired = fake.post("/_fakemms/api/clock/advance", json={"seconds": 5}).json()["fired"]
    assert fired == 2 and len(receiver.received) == 2
    health = fake.get("/_fakemms/health").json()
    assert health["dropped_jobs"] == 3 and health["failed_jobs"] == 0
    assert health["evicted"] == 3 and health["callbacks"] == 2


def test_callbacks_are_evicted_with_their_messages(make_fake, receiver):
    fake = make_fake(virtual(receiver.url("/dlr"), max_messages=3))
    for _ in range(3):
        fake.send(om_body())
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 5})
    assert fake.get("/_fakemms/api/callbacks").json()["count"] == 3
    for _ in range(2):
        fake.send(om_body())
    callbacks = fake.get("/_fakemms/api/callbacks").json()["callbacks"]
    kept = {m["id"] for m in fake.get("/_fakemms/api/messages").json()["messages"]}
    assert len(callbacks) == 1 and callbacks[0]["message_id"] in kept
    assert fake.get("/_fakemms/health").json()["evicted_callbacks"] == 2


# --- dispatcher: retries, give-up, attempts bounded -------------------------------------------
def test_retries_then_gives_up_on_the_virtual_clock(make_fake, receiver):
    receiver.answer = lambda r: (503, b"busy")
    fake = make_fake(virtual(receiver.url("/dlr")))
    mt = fake.send(om_body()).json()["mtId"]
    for seconds in (1, 10, 10, 10):  # attempts at 1, 11, 21, 31 s; the next would pass 35 s
        fake.post("/_fakemms/api/clock/advance", json={"seconds": seconds})
    (cb,) = fake.get(f"/_fakemms/api/messages/{mt}/callbacks").json()["callbacks"]
    assert cb["state"] == "failed" and cb["attempt_count"] == 4
    assert [a["number"] for a in cb["attempts"]] == [1, 2, 3, 4]
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 3600})
    assert len(receiver.received) == 4
    assert fake.backend.scheduler.pending_count() == 0


def test_attempts_kept_per_callback_are_bounded(make_fake, receiver):
    receiver.answer = lambda r: (500, b"")
    fake = make_fake(virtual(receiver.url("/dlr"), callbacks={
        "retry_delays": [1], "timeout_seconds": 5, "give_up_after_seconds": 100}))
    fake.backend.store.max_attempts = 5
    fake.send(om_body())
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 30})
    (cb,) = fake.get("/_fakemms/api/callbacks").json()["callbacks"]
    assert cb["attempt_count"] == 30 and len(cb["attempts"]) == 5
    assert cb["attempts_dropped"] == 25
    assert [a["number"] for a in cb["attempts"]] == [1, 27, 28, 29, 30]  # first and latest


# --- the reset fence --------------------------------------------------------------------------
def test_an_attempt_under_way_at_reset_is_neither_retried_nor_recorded(make_fake, receiver):
    answer, arrived, release = blocking_answer()
    receiver.answer = answer
    fake = make_fake(with_dlr(receiver.url("/dlr")) | {
        "default_report": {"status": "Retrieved", "after": 0},
        "callbacks": {"retry_delays": [0.2], "timeout_seconds": 5}})
    fake.send(om_body())
    assert arrived.wait(10)
    assert fake.post("/_fakemms/api/reset").status_code == 200
    receiver.answer = lambda r: (500, b"")  # would be retried, were it still counted
    release.set()
    assert fake.backend.dispatcher.wait_idle(10)
    assert fake.get("/_fakemms/api/callbacks").json()["count"] == 0
    assert fake.backend.scheduler.pending_count() == 0
    assert fake.get("/_fakemms/health").json()["callbacks_busy"] == 0


def test_reset_cancels_pending_reports_and_retries(make_fake, receiver):
    receiver.answer = lambda r: (503, b"")
    fake = make_fake(virtual(receiver.url("/dlr")))
    fake.send(om_body())
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})  # first attempt: retrying
    fake.send(om_body())  # its report still due
    assert fake.backend.scheduler.pending_count() == 2
    fake.post("/_fakemms/api/reset")
    assert fake.backend.scheduler.pending_count() == 0
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 3600})
    assert len(receiver.received) == 1


# --- deleting an account forgets its pending work ---------------------------------------------
def test_deleting_an_account_cancels_its_reports_mos_and_retries(make_fake, receiver):
    receiver.answer = lambda r: (503, b"")
    other = {"username": "other", "password": "pw",
             "mt_configs": {"config1": {"dlr_url": receiver.url("/other")}}}
    fake = make_fake(virtual(receiver.url("/dlr")) | {"accounts": [
        {**ACCOUNT, "mt_configs": {"config1": {"dlr_url": receiver.url("/dlr")}},
         "mo": {"url": receiver.url("/mo")}}, other]})
    fake.send(om_body())
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})  # acme's report: retrying
    fake.send(om_body())  # a report due
    fake.send(om_body(), auth=("other", "pw"))
    scheduled = {"name": "later-mo", "mo": [{"account": "acme", "at": "10s", "to": "88600"}]}
    fake.post("/_fakemms/api/scenarios", json=scheduled)
    before = len(receiver.received)
    assert fake.http.delete(fake.url + "/_fakemms/api/accounts/acme").status_code == 200
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 60})
    paths = [r.path for r in receiver.received[before:]]
    assert paths and set(paths) == {"/other"}  # nothing more for acme: no retry, report, MO
    states = {c["account"]: c["state"] for c in
              fake.get("/_fakemms/api/callbacks").json()["callbacks"]}
    assert states["acme"] == "cancelled"


# --- lanes: no head-of-line blocking ------------------------------------------------------------
def test_a_hung_destination_does_not_delay_another(make_fake, receiver):
    from receiver import Receiver

    answer, arrived, release = blocking_answer()
    hung = Receiver(answer).start()
    try:
        cfg = {"accounts": [
            {"username": "hung", "password": "pw",
             "mt_configs": {"config1": {"dlr_url": hung.url("/dlr")}}},
            {"username": "fine", "password": "pw",
             "mt_configs": {"config1": {"dlr_url": receiver.url("/dlr")}}}],
            "default_report": {"status": "Retrieved", "after": 0},
            "callbacks": {"workers": 2, "timeout_seconds": 30}}
        fake = make_fake(cfg)
        for _ in range(6):  # more than the hung lane's threads: its queue holds the rest
            fake.send(om_body(), auth=("hung", "pw"))
        assert arrived.wait(10)
        fake.send(om_body(), auth=("fine", "pw"))
        receiver.wait_for(1, timeout=10)  # delivered while the hung lane is still blocked
        assert not release.is_set()
        stats = fake.get("/_fakemms/health").json()
        assert stats["lanes"] >= 1 and stats["callbacks_queued"] >= 4
    finally:
        release.set()
        hung.stop()


# --- the clock story ---------------------------------------------------------------------------
def test_mode_real_and_reset_bring_the_clock_back_to_wall_time(make_fake):
    fake = make_fake({"clock": "real"})
    fake.http.put(fake.url + "/_fakemms/api/clock", json={"mode": "virtual"})
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 3 * 86400})
    assert fake.get("/_fakemms/api/clock").json()["now"] > time.time() + 2 * 86400
    clock = fake.http.put(fake.url + "/_fakemms/api/clock", json={"mode": "real"}).json()
    assert clock["mode"] == "real" and abs(clock["now"] - time.time()) < 60
    fake.http.put(fake.url + "/_fakemms/api/clock", json={"mode": "virtual"})
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 86400})
    fake.post("/_fakemms/api/reset")
    clock = fake.get("/_fakemms/api/clock").json()
    assert clock["mode"] == "real" and not clock["paused"]
    assert abs(clock["now"] - time.time()) < 60


def test_reset_keeps_a_virtual_configured_clock_virtual_at_wall_time(make_fake):
    fake = make_fake({"clock": "virtual"})
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 86400})
    fake.post("/_fakemms/api/reset")
    clock = fake.get("/_fakemms/api/clock").json()
    assert clock["mode"] == "virtual" and clock["paused"]
    assert abs(clock["now"] - time.time()) < 60


def test_event_sequence_only_grows_across_resets(make_fake):
    fake = make_fake()
    fake.send(om_body())
    before = fake.get("/_fakemms/health").json()["event_seq"]
    fake.post("/_fakemms/api/reset")
    fake.send(om_body())
    assert fake.get("/_fakemms/health").json()["event_seq"] > before + 1


# --- lifecycle ------------------------------------------------------------------------------------
def test_fifty_apps_created_and_closed_leave_no_thread():
    from receiver import Receiver

    def ours() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("fakemms")}

    before = ours()
    receiver = Receiver().start()
    for i in range(50):
        cfg = with_dlr(receiver.url("/dlr")) | {"default_report": {"status": "Retrieved",
                                                                   "after": 0}}
        server = ServerThread(create_app(cfg)).start()
        if i % 10 == 0:  # some of them send a callback: a lane thread starts
            r = requests.post(server.url + "/mms/v2/send", data=om_body(),
                              auth=("acme", "s3cret"), timeout=5,
                              headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"})
            assert r.status_code == 202
            receiver.wait_for(i // 10 + 1)
        server.stop()
    receiver.stop()
    assert len(receiver.received) == 5
    for thread in ours() - before:  # stopped: each ends (a connection thread within moments)
        thread.join(5)
    left = ours() - before
    assert not left, sorted(t.name for t in left)


def test_unloading_a_scenario_cancels_the_mos_it_scheduled(make_fake, receiver):
    fake = make_fake(virtual(receiver.url("/dlr")) | {"accounts": [
        {**ACCOUNT, "mo": {"url": receiver.url("/mo")}}]})
    scripted = {"name": "later-mo", "mo": [{"account": "acme", "at": "10s", "to": "88600",
                                            "count": 3, "every": "10s"}]}
    assert fake.post("/_fakemms/api/scenarios", json=scripted).status_code == 201
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 10})
    assert len(receiver.received) == 1
    assert fake.http.delete(fake.url + "/_fakemms/api/scenarios/later-mo").status_code == 200
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 60})
    assert len(receiver.received) == 1  # its two other MOs went with it
    fake.post("/_fakemms/api/scenarios", json=scripted)
    fake.post("/_fakemms/api/scenarios", json=scripted)  # replaced: scheduled once, not twice
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 30})
    assert len(receiver.received) == 4


def test_a_callback_under_way_when_its_message_is_evicted_is_still_sent_and_counted(
        make_fake, receiver):
    answer, arrived, release = blocking_answer()
    receiver.answer = answer
    fake = make_fake(with_dlr(receiver.url("/dlr")) | {
        "max_messages": 1, "default_report": {"status": "Retrieved", "after": 0},
        "callbacks": {"retry_delays": [0.1], "timeout_seconds": 5, "workers": 1}})
    fake.send(om_body())
    assert arrived.wait(10)  # the first report is under way
    fake.send(om_body())  # evicts the first message; its report is queued behind it
    release.set()
    receiver.wait_for(2)
    assert fake.backend.dispatcher.wait_idle(10)
    health = fake.get("/_fakemms/health").json()
    assert health["callbacks_delivered"] == 2 and health["evicted_callbacks"] == 1
    assert health["callbacks_cancelled"] == 0 and health["callbacks_dropped"] == 0


def test_an_unreachable_destination_is_tried_one_attempt_at_a_time(make_fake):
    import socket

    with socket.socket() as hung:  # accepts (the backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}/dlr"
        fake = make_fake(with_dlr(url) | {
            "default_report": {"status": "Retrieved", "after": 0},
            "callbacks": {"workers": 4, "timeout_seconds": 0.5, "retry_delays": [60]}})
        for _ in range(8):
            fake.send(om_body())
        stats = fake.backend.dispatcher.stats
        deadline = time.monotonic() + 10
        while fake.backend.dispatcher.failed + sum(
                1 for c in fake.backend.store.callback_dicts() if c["attempt_count"]) < 5:
            assert time.monotonic() < deadline, stats()
            time.sleep(0.05)
        # after its first timeouts the lane keeps one thread for the rest of its queue
        while stats()["callback_threads"] > 1:
            assert time.monotonic() < deadline, stats()
            time.sleep(0.05)
        assert stats()["callbacks_queued"] >= 1 and stats()["callback_threads"] == 1
