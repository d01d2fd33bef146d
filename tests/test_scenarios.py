"""The scenario library and the scenario engine, end to end: every file in scenarios/ runs
against a real receiver on the virtual clock; rule matching, faults, seeded replay, MO scripts,
the event stream, 2,000 reports, reset; `fakemms check`, config `scenarios:` and `serve`."""

from __future__ import annotations

import email
import http.client
import io
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ACCOUNT, om_body
from PIL import Image

from fakemms.app import create_app
from fakemms.cli import main as cli_main
from fakemms.config import load_config
from fakemms.errors import ConfigError
from fakemms.server import ServerThread

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
US_MOBILE = re.compile(r"^1\d{3}555\d{4}$")  # generate.phone_number, region US


# --- helpers ----------------------------------------------------------------------------------
def config(receiver: Any, seed: int = 1, **extra: Any) -> dict[str, Any]:
    """Account acme (the library's MO account): reports to /dlr, MOs to /mo; virtual clock."""
    account = {**ACCOUNT,
               "mt_configs": {"config1": {"dlr_url": receiver.url("/dlr"), "region": "US"}},
               "mo": {"url": receiver.url("/mo"), "format": "http", "region": "US"}}
    cfg: dict[str, Any] = {"accounts": [account], "clock": "virtual", "seed": seed,
                           "callbacks": {"retry_delays": [15, 60, 300], "timeout_seconds": 2,
                                         "give_up_after_seconds": 86400}}
    cfg.update(extra)
    return cfg


def load(fake: Any, name_or_text: str, method: str = "PUT") -> requests.Response:
    text = ((SCENARIOS / f"{name_or_text}.yaml").read_text()
            if "\n" not in name_or_text else name_or_text)
    r = fake.http.request(method, fake.url + "/_fakemms/api/scenarios", data=text,
                          headers={"Content-Type": "application/yaml"}, timeout=10)
    assert r.status_code in (200, 201), r.text
    return r


def send(fake: Any, destination: str, source: str = "88600",
         subject: str | None = None) -> requests.Response:
    fields = {"type": "MT", "source": source, "destination": destination, "mtConfig": "config1"}
    if subject is not None:
        fields["subject"] = subject
    return fake.send(om_body(fields))


def advance(fake: Any, duration: str | float) -> dict[str, Any]:
    key = "seconds" if isinstance(duration, int | float) else "duration"
    r = fake.post("/_fakemms/api/clock/advance", json={key: duration})
    assert r.status_code == 200, r.text
    return r.json()


def reports(receiver: Any) -> list[tuple[str, str]]:
    """(mtId, status) of every delivery report received, in arrival order."""
    return [(r.json["mtId"], r.json["status"]) for r in receiver.received if r.path == "/dlr"]


def by_message(receiver: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for mt_id, status in reports(receiver):
        out[mt_id].append(status)
    return dict(out)


def parse_mo(item: Any) -> tuple[dict[str, Any], list[tuple[str, str | None, bytes]]]:
    """The MO callback as the receive document lays it out: JSON part ``main``, then parts."""
    ctype = item.headers["Content-Type"]
    assert ctype.startswith("multipart/mixed; boundary=")
    msg = email.message_from_bytes(f"Content-Type: {ctype}\r\n\r\n".encode() + item.body)
    first, *rest = msg.get_payload()
    assert first["Content-Id"] == "main" and first.get_content_type() == "application/json"
    details = json.loads(first.get_payload(decode=True))
    assert details["type"] == "MO" and isinstance(details["moId"], int)
    return details, [(p.get_content_type(), p["Content-Id"], p.get_payload(decode=True))
                     for p in rest]


def mos(receiver: Any) -> list[tuple[dict[str, Any], list[tuple[str, str | None, bytes]]]]:
    return [parse_mo(r) for r in receiver.received if r.path == "/mo"]


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every pixel: a broken file raises here
    return image


# --- the library: each file end to end ----------------------------------------------------------
TESTED = {"happy-path", "expired", "rejected", "mixed-outcomes", "throttled-burst",
          "flaky-receiver", "mo-conversation", "duplicates-and-reorder"}


def test_every_library_file_has_an_end_to_end_test():
    shipped = {p.stem for p in SCENARIOS.glob("*.yaml")}
    assert shipped == TESTED


def test_library_files_document_themselves():
    import yaml

    for path in SCENARIOS.glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        assert data["name"] == path.stem, path
        assert len(data["description"]) > 20, path
        assert path.read_text().startswith(f"# {path.stem}:"), path  # a comment says what it shows
        accounts = {m["account"] for m in data.get("mo") or []}
        assert accounts <= {"acme"}, path  # the account of examples/config.yaml


def test_happy_path(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "happy-path")
    sent = []
    for number in ("12025550101", "447700900123", "10360871000"):  # a test number too
        r = send(fake, number)
        assert r.status_code == 202 and r.headers["X-Fake-Decision"] == "happy-path/retrieved"
        sent.append(str(r.json()["mtId"]))
    advance(fake, "1s")
    assert reports(receiver) == []
    advance(fake, "1s")
    got = [r.json for r in receiver.received]
    assert sorted(g["mtId"] for g in got) == sorted(sent)
    for g in got:
        assert (g["status"], g["outcomeId"], g["outcomeDescription"], g["userAgent"]) == (
            "Retrieved", 1, "Message retrieved by the handset", "HTC One")
    assert all(r.headers["X-Fake-Decision"] == "happy-path/retrieved" for r in receiver.received)
    for mt_id in sent:
        assert fake.get(f"/_fakemms/api/messages/{mt_id}").json()["status"] == "Retrieved"
    advance(fake, "1d")
    assert len(receiver.received) == 3


def test_expired(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "expired")
    ids = {str(send(fake, n).json()["mtId"]) for n in ("12025550101", "12025550102")}
    advance(fake, "29s")
    assert reports(receiver) == []
    advance(fake, "1s")
    assert sorted(reports(receiver)) == sorted((i, "Deferred") for i in ids)
    assert {r.json["outcomeId"] for r in receiver.received} == {4}
    advance(fake, "2d")
    assert len(receiver.received) == 2
    advance(fake, "1d")
    assert by_message(receiver) == {i: ["Deferred", "Expired"] for i in ids}
    expired = [r.json for r in receiver.received if r.json["status"] == "Expired"]
    assert {(e["outcomeId"], e["outcomeDescription"]) for e in expired} == {
        (6, "Message expired")}
    for mt_id in ids:
        msg = fake.get(f"/_fakemms/api/messages/{mt_id}").json()
        assert msg["status"] == "Expired"
        assert [r["status"] for r in msg["reports"]] == ["Deferred", "Expired"]


def test_rejected(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "rejected")
    r = send(fake, "15550001234")
    assert (r.status_code, r.json()["error"]["code"]) == (403, 15201)
    assert r.json()["error"]["description"] == "Invalid destination number."
    assert r.headers["X-Fake-Decision"] == "rejected/invalid-destination"
    r = send(fake, "12025550101", source="99999")
    assert (r.status_code, r.json()["error"]["code"]) == (403, 15202)
    assert r.headers["X-Fake-Decision"] == "rejected/invalid-source"
    ok = send(fake, "12025550101", source="99998")  # not only nines: accepted
    assert ok.status_code == 202 and ok.headers["X-Fake-Decision"] == "rejected/operator-rejects"
    mt_id = str(ok.json()["mtId"])
    advance(fake, "4s")
    assert reports(receiver) == []
    advance(fake, "1s")
    (got,) = receiver.received
    assert got.json == {"type": "REPORT", "mtId": mt_id, "date": got.json["date"],
                        "status": "Rejected", "outcomeId": 9,
                        "outcomeDescription": "Recipient not found on mobile operator"}
    advance(fake, "1d")
    assert len(receiver.received) == 1  # refused sends: no message, no report
    assert fake.get("/_fakemms/api/messages").json()["count"] == 1


def test_mixed_outcomes(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "mixed-outcomes")
    refused = send(fake, "15550009999")
    assert refused.json()["error"]["code"] == 15201
    assert refused.headers["X-Fake-Decision"] == "mixed-outcomes/refuse-1555"
    uk = send(fake, "447700900123")
    assert uk.headers["X-Fake-Decision"] == "mixed-outcomes/uk-expires"
    t0 = time.monotonic()
    slow = send(fake, "12025550100", subject="slow lane")
    assert time.monotonic() - t0 >= 0.5  # added latency is wall time
    assert slow.headers["X-Fake-Decision"] == "mixed-outcomes/slow"
    plain = [str(send(fake, f"1202555{i:04d}").json()["mtId"]) for i in range(40)]

    advance(fake, "500ms")
    got = by_message(receiver)
    assert set(got) == set(plain)
    duplicated = {m for m, statuses in got.items() if len(statuses) == 2}
    assert all(statuses == ["Retrieved"] * len(statuses) for statuses in got.values())
    assert 0 < len(duplicated) < 15  # probability 0.1, seeded
    notes = Counter(c["note"] for c in fake.get("/_fakemms/api/callbacks").json()["callbacks"])
    assert notes["duplicate"] == len(duplicated)

    advance(fake, "500ms")
    assert by_message(receiver)[str(slow.json()["mtId"])] in (["Retrieved"],
                                                              ["Retrieved", "Retrieved"])
    advance(fake, "4s")  # t = 5 s: the first MO
    ((details, parts),) = mos(receiver)
    assert details["destinations"] == ["88600"] and US_MOBILE.match(details["source"])
    assert details["subject"]  # generated with faker
    (text_type, _, text), (image_type, _, image) = parts
    assert (text_type, text) == ("text/plain", b"STOP")
    assert image_type == "image/jpeg" and decode_image(image).format == "JPEG"
    advance(fake, "5s")  # t = 10 s
    assert by_message(receiver)[str(uk.json()["mtId"])] == ["Deferred"]
    advance(fake, "1m")  # t = 70 s: MOs at 35 s and 65 s
    assert len(mos(receiver)) == 3
    advance(fake, "3d")
    assert by_message(receiver)[str(uk.json()["mtId"])] == ["Deferred", "Expired"]
    assert len(mos(receiver)) == 3  # count: 3


def test_throttled_burst_refuses_route_and_a_seeded_share(make_fake, receiver):
    def burst(seed: int) -> list[str]:
        fake = make_fake(config(receiver, seed=seed))
        load(fake, "throttled-burst")
        outcome = []
        for i in range(10):
            r = send(fake, f"1212555{i:04d}" if i % 2 else f"1646555{i:04d}")
            assert (r.status_code, r.json()["error"]["code"]) == (429, 15406)
            assert r.json()["error"]["description"] == "TPS limit exceeded."
            assert r.headers["X-Fake-Decision"] == "throttled-burst/congested-route"
        for i in range(40):
            r = send(fake, f"1303555{i:04d}")
            outcome.append(r.headers["X-Fake-Decision"])
            if r.status_code == 202:
                assert r.headers["X-Fake-Decision"] == "throttled-burst/delivered"
            else:
                assert (r.status_code, r.json()["error"]["code"]) == (429, 15406)
        accepted = outcome.count("throttled-burst/delivered")
        before = len(receiver.received)
        advance(fake, "1s")
        assert len(receiver.received) - before == accepted
        return outcome

    first = burst(7)
    assert 3 <= first.count("throttled-burst/random-throttle") <= 20  # one in four, seeded
    assert burst(7) == first  # the same seed refuses the same sends
    assert burst(8) != first


def test_account_tps_throttles_for_real(make_fake, receiver):
    """The other half of a throttled burst: the account's `tps` (config), a token bucket."""
    cfg = config(receiver)
    cfg["accounts"][0]["tps"] = 5
    fake = make_fake(cfg)
    codes = [send(fake, "12025550100").status_code for _ in range(8)]
    assert codes == [202] * 5 + [429] * 3
    r = send(fake, "12025550100")
    assert r.json()["error"]["code"] == 15406
    advance(fake, "1s")  # the virtual clock refills the bucket only when it moves
    assert [send(fake, "12025550100").status_code for _ in range(6)] == [202] * 5 + [429]


def test_flaky_receiver(make_fake, receiver):
    """Early Deferred (before the 202) and a duplicated Retrieved, with a receiver that fails
    every callback's first attempt: the provider retries, the app sees each report twice."""
    seen_request_ids: set[str] = set()
    lock = threading.Lock()

    def first_attempt_fails(item: Any) -> tuple[int, bytes]:
        with lock:
            rid = item.headers["X-Request-Id"]
            if rid in seen_request_ids:
                return 200, b""
            seen_request_ids.add(rid)
            return 500, b"try again"

    receiver.answer = first_attempt_fails
    fake = make_fake(config(receiver))
    load(fake, "flaky-receiver")
    r = send(fake, "12025550100")
    returned_at = time.time()
    mt_id = str(r.json()["mtId"])
    (early,) = receiver.received  # already there, though the virtual clock has not moved
    assert early.json["status"] == "Deferred" and early.json["mtId"] == mt_id
    assert early.at <= returned_at
    advance(fake, "15s")  # the retry of the early report
    advance(fake, "16s")  # t = 31 s: Retrieved (fails once)
    advance(fake, "15s")  # its retry
    assert reports(receiver) == [(mt_id, "Deferred")] * 2 + [(mt_id, "Retrieved")] * 2
    advance(fake, "105s")  # t = 151 s: the duplicate, two minutes after the Retrieved
    advance(fake, "15s")
    assert reports(receiver) == [(mt_id, "Deferred")] * 2 + [(mt_id, "Retrieved")] * 4
    callbacks = fake.get(f"/_fakemms/api/messages/{mt_id}/callbacks").json()["callbacks"]
    assert [(c["note"], c["state"], [a["status"] for a in c["attempts"]]) for c in callbacks] == [
        ("early", "delivered", [500, 200]),
        (None, "delivered", [500, 200]),
        ("duplicate", "delivered", [500, 200]),
    ]
    assert all(c["decision"] == "flaky-receiver/untidy" for c in callbacks)


def test_mo_conversation(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "mo-conversation")
    advance(fake, "1s")
    ((opt_in, parts),) = mos(receiver)
    assert (opt_in["source"], opt_in["destinations"], opt_in["subject"]) == (
        "12015550123", ["88600"], "Join")
    assert parts == [("text/plain", "text.txt", b"START")]
    advance(fake, "9s")  # t = 10 s: the first photo
    advance(fake, "2m")  # t = 130 s: photos at 70 s and 130 s
    photos = mos(receiver)[1:]
    assert len(photos) == 3
    for details, parts in photos:
        assert (details["source"], details["subject"]) == ("12015550123", "My photo")
        (t, tid, text), (i, iid, image) = parts
        assert (t, tid, text) == ("text/plain", "text.txt", b"Here is my photo")
        assert (i, iid) == ("image/jpeg", "photo.jpg")
        assert decode_image(image).format == "JPEG"
    assert len({d["moId"] for d, _ in photos}) == 3

    reply = send(fake, "12015550123")  # the application answers the subscriber
    assert reply.headers["X-Fake-Decision"] == "mo-conversation/reply-to-subscriber"
    advance(fake, "3s")
    assert reports(receiver) == [(str(reply.json()["mtId"]), "Retrieved")]
    assert receiver.received[-1].json["userAgent"] == "iPhone"

    advance(fake, "3m")  # t = 5 m 13 s: first stranger
    advance(fake, "10m")  # second stranger
    strangers = mos(receiver)[4:]
    assert len(strangers) == 2
    for details, parts in strangers:
        assert US_MOBILE.match(details["source"]) and details["subject"]
        (i, _, image), (t, _, text) = parts
        assert i == "image/png" and decode_image(image).format == "PNG"
        assert t == "text/plain" and len(text.decode()) > 10
    advance(fake, "1d")
    assert len(mos(receiver)) == 6
    stored = fake.get("/_fakemms/api/messages?direction=mo").json()["messages"]
    assert len(stored) == 6 and {m["account"] for m in stored} == {"acme"}


def test_duplicates_and_reorder(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "duplicates-and-reorder")
    uk, lost, plain = (str(send(fake, n).json()["mtId"])
                       for n in ("447700900123", "14155550100", "12025550100"))
    advance(fake, "5s")
    assert reports(receiver) == [(plain, "Retrieved"), (uk, "Retrieved")]  # 2 s, then 5 s
    advance(fake, "1h")
    assert by_message(receiver) == {
        plain: ["Retrieved", "Retrieved"],  # scenario-wide duplicate, 30 s later
        uk: ["Retrieved", "Deferred"],  # reordered: the stale Deferred comes last
        lost: ["Retrieved", "Retrieved"],  # its Deferred dropped; the Retrieved duplicated
    }
    msg = fake.get(f"/_fakemms/api/messages/{lost}").json()
    assert [(r["status"], r["callback_id"] is None) for r in msg["reports"]] == [
        ("Deferred", True), ("Retrieved", False), ("Retrieved", False)]  # drop: recorded only
    assert fake.get(f"/_fakemms/api/messages/{uk}").json()["status"] == "Deferred"


# --- rules: validation, matching, order ---------------------------------------------------------
def test_invalid_scenario_via_control_api_is_400_naming_the_path(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "happy-path")
    url = fake.url + "/_fakemms/api/scenarios"
    bad_yaml = ("name: bad\nrules:\n  - name: r\n"
                "    reports: [{status: Delivered, after: 2 weeks}]\n")
    r = fake.http.put(url, data=bad_yaml, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400
    problems = r.json()["error"]["problems"]
    assert any(p.startswith("rules[0].reports[0].status:") and "Delivered" in p
               for p in problems)
    assert any(p.startswith("rules[0].reports[0].after:") for p in problems)
    r = fake.http.post(url, json={"name": "bad", "rules": [
        {"name": "ok"}, {"name": "r", "answer": {"error": 12345}}]})
    assert r.status_code == 400
    assert r.json()["error"]["problems"][0].startswith("rules[1].answer.error: 12345 is not")
    r = fake.http.post(url, json={"name": "bad", "rules": [
        {"name": "r", "match": {"subject": "/([a-z/"}}]})
    assert r.status_code == 400 and "rules[0].match.subject: bad regular expression" in r.text
    r = fake.http.put(url, data="name: [unclosed", headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400 and "invalid YAML" in r.text
    r = fake.http.post(url, json={"name": "bad", "mo": [{"account": "acme", "every": "-1s"}]})
    assert r.status_code == 400 and "mo[0].every" in r.text
    # a refused load changes nothing
    assert [s["name"] for s in fake.get("/_fakemms/api/scenarios").json()["scenarios"]] == [
        "happy-path"]


def test_glob_and_regex_matching(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, """
name: match
rules:
  - {name: glob-exact, match: {destination: "12025550100"}}
  - {name: glob-prefix, match: {destination: "44*"}}
  - {name: glob-one-char, match: {destination: "1?0*"}}
  - {name: regex-anywhere, match: {subject: "/urgent/"}}
  - {name: regex-anchored, match: {destination: "/^33[0-9]{9}$/"}}
  - {name: glob-case, match: {subject: "Promo*"}}
  - {name: source-and-account, match: {source: "/^8/", account: acme, protocol: openmarket}}
""")

    def decision(destination: str, subject: str | None = None, source: str = "12345") -> str:
        r = send(fake, destination, source=source, subject=subject)
        assert r.status_code == 202, r.text
        return r.headers["X-Fake-Decision"].removeprefix("match/")

    assert decision("12025550100") == "glob-exact"
    assert decision("447700900123") == "glob-prefix"
    assert decision("14447700900") != "glob-prefix"  # a glob matches the whole value
    assert decision("13025550100") == "glob-one-char"
    assert decision("19995550100", subject="very urgent!") == "regex-anywhere"  # search
    assert decision("19995550100", subject="URGENT") == "default"  # regex is case-sensitive
    assert decision("33612345678") == "regex-anchored"
    assert decision("336123456789") == "default"
    assert decision("19995550100", subject="Promotion") == "glob-case"
    assert decision("19995550100", subject="promotion") == "default"  # globs too
    assert decision("19995550100", source="88600") == "source-and-account"


def test_first_match_wins_within_and_across_scenarios(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, """
name: first
rules:
  - name: refuse-uk
    match: {destination: "44*"}
    answer: {error: 15201}
  - name: uk-mobile
    match: {destination: "447*"}
    reports: [{status: Forwarded, after: 1s}]
""")
    load(fake, """
name: second
rules:
  - name: everything
    reports: [{status: Indeterminate, after: 1s}]
  - name: never
    match: {destination: "1*"}
    answer: {error: 15202}
""", method="POST")
    r = send(fake, "447700900123")  # matches both rules of `first`: the first one decides
    assert r.json()["error"]["code"] == 15201 and r.headers["X-Fake-Decision"] == "first/refuse-uk"
    r = send(fake, "12025550100")  # no rule of `first`: `second`'s catch-all, before `never`
    assert r.status_code == 202 and r.headers["X-Fake-Decision"] == "second/everything"
    advance(fake, "1s")
    assert reports(receiver) == [(str(r.json()["mtId"]), "Indeterminate")]
    # replace with the two in the other order: `second` now decides everything
    fake.http.delete(fake.url + "/_fakemms/api/scenarios")
    load(fake, """
name: second
rules: [{name: everything, reports: [{status: Indeterminate, after: 1s}]}]
""")
    assert send(fake, "447700900123").headers["X-Fake-Decision"] == "second/everything"


def test_rule_without_reports_keeps_default_and_test_numbers(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "name: s\nrules:\n  - {name: slow-ok, answer: {latency: 10ms}}\n")
    a = send(fake, "10360871000")
    b = send(fake, "12025550100")
    assert a.headers["X-Fake-Decision"] == b.headers["X-Fake-Decision"] == "s/slow-ok"
    advance(fake, "1s")
    assert sorted(reports(receiver)) == sorted([(str(a.json()["mtId"]), "Deferred"),
                                                (str(b.json()["mtId"]), "Retrieved")])


# --- faults ----------------------------------------------------------------------------------
FAULTS = """
name: faults
rules:
  - name: dup
    match: {destination: "1001*"}
    reports: [{status: Retrieved, after: 1s}]
    faults: [{kind: duplicate, status: Retrieved, delay: 10s}]
  - name: swap
    match: {destination: "1002*"}
    reports: [{status: Deferred, after: 1s}, {status: Forwarded, after: 1s},
              {status: Retrieved, after: 1s}]
    faults: [{kind: reorder, status: Forwarded}]
  - name: drop
    match: {destination: "1003*"}
    reports: [{status: Deferred, after: 1s}, {status: Retrieved, after: 1s}]
    faults: [{kind: drop, status: Retrieved}]
  - name: early
    match: {destination: "1004*"}
    reports: [{status: Deferred, after: 5s}, {status: Retrieved, after: 5s}]
    faults: [{kind: early, status: Retrieved}]
"""


def test_fault_duplicate_reorder_drop(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, FAULTS)
    dup, swap, drop = (str(send(fake, n).json()["mtId"])
                       for n in ("10015550100", "10025550100", "10035550100"))
    advance(fake, "1s")
    assert by_message(receiver)[dup] == ["Retrieved"]
    advance(fake, "9s")
    assert by_message(receiver)[dup] == ["Retrieved"]
    advance(fake, "1s")  # the duplicate, `delay` after the original
    got = by_message(receiver)
    assert got[dup] == ["Retrieved", "Retrieved"]
    assert got[swap] == ["Deferred", "Retrieved", "Forwarded"]  # Forwarded swapped with next
    assert got[drop] == ["Deferred"]
    dup_bodies = [r.json for r in receiver.received if r.json["mtId"] == dup]
    assert dup_bodies[0] == dup_bodies[1]  # the same report again, date included
    dup_requests = [r for r in receiver.received if r.json["mtId"] == dup]
    assert dup_requests[0].headers["X-Request-Id"] != dup_requests[1].headers["X-Request-Id"]
    # reordered reports keep the dates they happened at: sorting by date restores the order
    swapped = [r.json for r in receiver.received if r.json["mtId"] == swap]
    assert [b["status"] for b in sorted(swapped, key=lambda b: b["date"])] == [
        "Deferred", "Forwarded", "Retrieved"]
    events = fake.get(f"/_fakemms/api/messages/{drop}").json()
    assert events["status"] == "Retrieved"  # dropped: recorded on the message, never sent
    advance(fake, "1d")
    assert by_message(receiver)[drop] == ["Deferred"]


def test_fault_early_report_arrives_before_the_202(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, FAULTS)
    answered = threading.Event()
    arrived_before_answer: list[tuple[str, bool]] = []

    def record(item: Any) -> tuple[int, bytes]:
        arrived_before_answer.append((item.json["status"], not answered.is_set()))
        return 200, b""

    receiver.answer = record
    conn = http.client.HTTPConnection("127.0.0.1", fake.server.port, timeout=10)
    try:
        conn.request("POST", "/mms/v2/send", body=om_body(
            {"type": "MT", "source": "88600", "destination": "10045550100",
             "mtConfig": "config1"}), headers={
            "Authorization": "Basic YWNtZTpzM2NyZXQ=",
            "Content-Type": "multipart/mixed; boundary=mimeboundary"})
        response = conn.getresponse()
        answered.set()
        assert response.status == 202
        mt_id = str(json.loads(response.read())["mtId"])
        assert response.getheader("X-Fake-Decision") == "faults/early"
    finally:
        conn.close()
    assert reports(receiver) == [(mt_id, "Retrieved")]  # virtual clock never moved
    advance(fake, "5s")
    assert reports(receiver) == [(mt_id, "Retrieved"), (mt_id, "Deferred")]
    assert arrived_before_answer == [("Retrieved", True), ("Deferred", False)]
    advance(fake, "1d")
    assert len(receiver.received) == 2  # the early one is not sent again on schedule


def fault_pattern(make_fake: Any, receiver: Any, seed: int) -> list[tuple[str, tuple[str, ...]]]:
    """Per send: the deciding rule and the statuses the receiver got, for a seeded scenario."""
    fake = make_fake(config(receiver, seed=seed))
    load(fake, """
name: chance
rules:
  - {name: maybe-refused, probability: 0.3, answer: {error: 15406}}
  - name: maybe-faulty
    reports: [{status: Deferred, after: 1s}, {status: Retrieved, after: 1s}]
faults:
  - {kind: duplicate, status: Retrieved, probability: 0.5}
  - {kind: drop, status: Deferred, probability: 0.3}
""")
    start = len(receiver.received)
    sent = []
    for i in range(30):
        r = send(fake, f"1202555{i:04d}")
        sent.append((r.headers["X-Fake-Decision"], str(r.json().get("mtId"))))
    advance(fake, "10s")
    got: dict[str, list[str]] = defaultdict(list)
    for item in receiver.received[start:]:
        got[item.json["mtId"]].append(item.json["status"])
    return [(decision, tuple(got.get(mt_id, []))) for decision, mt_id in sent]


def test_probabilities_replay_exactly_with_the_same_seed(make_fake, receiver):
    first = fault_pattern(make_fake, receiver, seed=99)
    again = fault_pattern(make_fake, receiver, seed=99)
    other = fault_pattern(make_fake, receiver, seed=100)
    assert first == again
    assert first != other
    outcomes = Counter(statuses for _, statuses in first)
    # every combination shows up, so the pattern is not trivially constant
    assert {(), ("Deferred", "Retrieved"), ("Deferred", "Retrieved", "Retrieved"),
            ("Retrieved",), ("Retrieved", "Retrieved")} == set(outcomes)
    assert outcomes[()] == Counter(d for d, _ in first)["chance/maybe-refused"]


# --- MO scripts: seeded content ------------------------------------------------------------------
GENERATED_MO = """
name: generated
mo:
  - name: everything-generated
    account: acme
    at: 1s
    every: 1m
    count: 3
    to: 88600
    parts:
      - {content_type: image/png, generate: true}
      - {content_type: image/jpeg, generate: true}
      - {content_type: image/gif, generate: true}
      - {content_type: text/plain, generate: true}
"""


def mo_run(make_fake: Any, receiver: Any, seed: int) -> list[tuple[Any, ...]]:
    fake = make_fake(config(receiver, seed=seed))
    load(fake, GENERATED_MO)
    start = len(receiver.received)
    advance(fake, "3m")
    items = [parse_mo(r) for r in receiver.received[start:]]
    assert len(items) == 3
    return [(d["moId"], d["source"], d["subject"], d["mobileOperatorId"], tuple(parts))
            for d, parts in items]


def test_mo_generated_content_replays_with_the_same_seed(make_fake, receiver):
    first = mo_run(make_fake, receiver, seed=5)
    assert mo_run(make_fake, receiver, seed=5) == first
    other = mo_run(make_fake, receiver, seed=6)
    assert [m[1] for m in other] != [m[1] for m in first]
    assert [m[4] for m in other] != [m[4] for m in first]
    assert len({m[1] for m in first}) > 1  # not one number repeated
    for _, source, subject, operator, parts in first:
        assert US_MOBILE.match(source) and subject and operator in (383, 79, 350, 474)
        (png_t, _, png), (jpg_t, _, jpg), (gif_t, _, gif), (txt_t, _, txt) = parts
        assert [png_t, jpg_t, gif_t, txt_t] == ["image/png", "image/jpeg", "image/gif",
                                                "text/plain"]
        for data, fmt in ((png, "PNG"), (jpg, "JPEG"), (gif, "GIF")):
            image = decode_image(data)
            assert image.format == fmt and 8 <= image.width <= 32
        assert txt.decode().strip()


def test_scenario_mo_carries_its_decision_and_text_its_charset(make_fake, receiver):
    """MO callbacks a `mo:` script makes carry X-Fake-Decision (README), and text given as a
    string goes out as UTF-8 saying so; a charset the script names is kept and used."""
    fake = make_fake(config(receiver))
    load(fake, "name: hello\nmo:\n  - name: greet\n    account: acme\n    at: 1s\n"
               "    parts:\n      - {content_type: text/plain, text: 'Grüße ☃'}\n"
               "      - {content_type: text/plain; charset=iso-8859-1, text: 'Grüße'}\n")
    advance(fake, "1s")
    (got,) = receiver.wait_for(1)
    assert got.headers["X-Fake-Decision"] == "hello/greet"
    msg = email.message_from_bytes(f"Content-Type: {got.headers['Content-Type']}\r\n\r\n"
                                   .encode() + got.body)
    _, utf8, latin1 = msg.get_payload()
    assert (utf8.get_content_type(), utf8.get_content_charset()) == ("text/plain", "utf-8")
    assert utf8.get_payload(decode=True) == "Grüße ☃".encode()
    assert latin1.get_content_charset() == "iso-8859-1"
    assert latin1.get_payload(decode=True) == "Grüße".encode("iso-8859-1")
    quiet = make_fake(config(receiver, decision_header=False))
    load(quiet, "name: q\nmo: [{name: m, account: acme, at: 1s}]\n")
    advance(quiet, "1s")
    assert "X-Fake-Decision" not in receiver.wait_for(2)[1].headers


def test_decision_named_outside_latin1_goes_out_percent_encoded_on_the_answer(make_fake, receiver):
    """Regression: a rule named in Japanese made the 202 raise UnicodeEncodeError (a 500 with
    the message already stored). Its X-Fake-Decision goes out percent-encoded as UTF-8."""
    from urllib.parse import unquote
    fake = make_fake(config(receiver))
    load(fake, "name: 名前\nrules:\n  - name: ルール\n    match: {destination: '*'}\n")
    r = send(fake, "12025550100")
    assert r.status_code == 202, r.text
    assert unquote(r.headers["X-Fake-Decision"]) == "名前/ルール"
    assert r.headers["X-Fake-Decision"].isascii()


# --- events, volume, reset ----------------------------------------------------------------------
def test_event_stream_delivers_message_report_and_callback_events(make_fake, receiver):
    fake = make_fake(config(receiver))
    stream = fake.http.get(fake.url + "/_fakemms/api/events", stream=True, timeout=(2, 5))
    try:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        mt_id = str(send(fake, "12025550100").json()["mtId"])
        advance(fake, "1s")
        assert len(receiver.received) == 1
        seen: dict[str, dict] = {}
        kind = None
        deadline = time.monotonic() + 5
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind:
                seen.setdefault(kind, json.loads(line.removeprefix("data: "))["data"])
            if {"message", "report", "callback.delivered"} <= seen.keys():
                break
            assert time.monotonic() < deadline, f"events so far: {sorted(seen)}"
    finally:
        stream.close()
    assert seen["message"]["id"] == mt_id and seen["message"]["direction"] == "mt"
    assert (seen["report"]["message_id"], seen["report"]["status"]) == (mt_id, "Retrieved")
    assert seen["callback.created"]["message_id"] == mt_id
    delivered = seen["callback.delivered"]
    assert delivered["message_id"] == mt_id and delivered["attempt"]["status"] == 200


def test_2000_reports_none_lost(make_fake, receiver):
    """400 MTs with five reports each, due at five instants, delivered by one advance."""
    statuses = ["Deferred", "Indeterminate", "Forwarded", "Unrecognised", "Retrieved"]
    fake = make_fake(config(receiver))
    load(fake, "name: volume\nrules:\n  - name: five\n    reports:\n" + "".join(
        f"      - {{status: {s}, after: 1s}}\n" for s in statuses))
    body = om_body()
    sent = {str(fake.send(body).json()["mtId"]) for _ in range(400)}
    assert len(sent) == 400
    result = advance(fake, "1m")
    assert result["fired"] == 2000
    got = by_message(receiver)  # asserted right after the advance: nothing still in flight
    assert set(got) == sent
    assert all(s == statuses for s in got.values())  # each once, in order
    assert len({r.headers["X-Request-Id"] for r in receiver.received}) == 2000
    listed = fake.get("/_fakemms/api/callbacks?state=delivered").json()
    assert listed["count"] == 2000
    assert all(len(c["attempts"]) == 1 for c in listed["callbacks"])
    advance(fake, "1d")
    assert len(receiver.received) == 2000


def test_reset_cancels_pending_reports_and_rearms_mo_scripts(make_fake, receiver):
    fake = make_fake(config(receiver))
    load(fake, "expired")
    load(fake, "name: later\nmo: [{account: acme, at: 10s, to: '88600'}]\n", method="POST")
    for n in range(3):
        send(fake, f"1202555010{n}")
    advance(fake, "5s")
    assert fake.get("/_fakemms/api/clock").json()["pending_jobs"] == 7  # 3 x 2 reports, 1 MO
    assert fake.post("/_fakemms/api/reset").status_code == 200
    assert fake.get("/_fakemms/api/clock").json()["pending_jobs"] == 1  # the MO, re-armed
    advance(fake, "6s")  # the MO was due at 10 s from load: cancelled
    assert receiver.received == []
    advance(fake, "4s")  # re-armed 10 s from the reset
    assert [r.path for r in receiver.received] == ["/mo"]
    advance(fake, "5d")
    assert [r.path for r in receiver.received] == ["/mo"]  # no report ever came
    assert fake.get("/_fakemms/api/messages?direction=mt").json()["count"] == 0


# --- fakemms check -------------------------------------------------------------------------------
def test_check_accepts_every_shipped_scenario_and_the_example_config(capsys):
    files = sorted(str(p) for p in SCENARIOS.glob("*.yaml"))
    assert cli_main(["check", *files, str(ROOT / "examples" / "config.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{f}: ok (scenario)" for f in files] + [
        f"{ROOT / 'examples' / 'config.yaml'}: ok"]


def test_check_as_a_command(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nrules:\n  - name: r\n    answer: {error: 99999}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
    ok = subprocess.run([sys.executable, "-m", "fakemms", "check", "scenarios/happy-path.yaml",
                         "scenarios/mo-conversation.yaml"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("ok (scenario)") == 2
    bad = subprocess.run([sys.executable, "-m", "fakemms", "check", str(broken)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"{broken}: rules[0].answer.error: 99999 is not a documented")


def test_check_names_file_path_and_problem(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules:\n  - name: r\n    reports: [{status: Bogus}]\n"
                   "mo: [{account: acme, parts: [{content_type: text/plain, text: a, "
                   "generate: true}]}]\n")
    assert cli_main(["check", str(tmp_path / "bad.yaml")]) == 1
    err = capsys.readouterr().err.splitlines()
    (line,) = err
    assert line.startswith(f"{bad}: rules[0].reports[0].status: 'Bogus' is not one of [")
    # the statuses the documents name (openmarket-mms-overview.txt, mm7-api.txt) are offered
    assert all(f"'{s}'" in line for s in ("Retrieved", "Expired", "Rejected", "Forwarded",
                                          "Indeterminate", "Deferred"))
    bad.write_text("name: bad\nmo: [{account: acme, parts: [{content_type: text/plain, "
                   "text: a, generate: true}]}]\n")
    assert cli_main(["check", str(bad)]) == 1
    assert capsys.readouterr().err == (
        f"{bad}: mo[0].parts[0]: give one of text, base64 or generate\n")
    # --scenario forces the scenario schema on a file that does not look like one
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    assert cli_main(["check", str(empty)]) == 0  # an empty configuration is valid
    assert cli_main(["check", "--scenario", str(empty)]) == 1
    assert "(top level): 'name' is a required property" in capsys.readouterr().err


def test_check_config_validates_the_scenarios_it_lists(tmp_path, capsys):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "bad.yaml").write_text("name: bad\nfaults: [{kind: explode}]\n")
    cfg = tmp_path / "fake.yaml"
    cfg.write_text("scenarios: [lib/bad.yaml, lib/missing.yaml]\n")
    assert cli_main(["check", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'lib' / 'bad.yaml'}: faults[0].kind: 'explode' is not one of" in err
    assert f"{tmp_path / 'lib' / 'missing.yaml'}: cannot read" in err
    assert f"{cfg}: scenarios: lib/bad.yaml is invalid" in err


# --- loading from the config file and from `fakemms serve` ---------------------------------------
def test_config_scenarios_are_loaded_relative_to_the_config_file(tmp_path, receiver,
                                                                 monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy(SCENARIOS / "rejected.yaml", tmp_path / "lib")
    shutil.copy(SCENARIOS / "expired.yaml", tmp_path / "lib")
    cfg_path = tmp_path / "conf" / "fake.yaml"
    cfg_path.write_text(json.dumps({**config(receiver), "port": 0, "scenarios": [
        "../lib/rejected.yaml", str(tmp_path / "lib" / "expired.yaml")]}))
    monkeypatch.chdir(ROOT)  # not the config's directory
    server = ServerThread(create_app(load_config(cfg_path, env={}))).start()
    try:
        base = server.url + "/_fakemms/api"
        names = [s["name"] for s in requests.get(base + "/scenarios", timeout=5).json()[
            "scenarios"]]
        assert names == ["rejected", "expired"]
        body = om_body({"type": "MT", "source": "88600", "destination": "15550001111",
                        "mtConfig": "config1"})
        r = requests.post(server.url + "/mms/v2/send", data=body, auth=("acme", "s3cret"),
                          headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"},
                          timeout=5)
        assert r.json()["error"]["code"] == 15201
        assert r.headers["X-Fake-Decision"] == "rejected/invalid-destination"
    finally:
        server.stop()
    (tmp_path / "lib" / "expired.yaml").write_text("name: x\nrules: [{name: r, answer: 1}]\n")
    with pytest.raises(ConfigError) as info:
        create_app(load_config(cfg_path, env={}))
    assert info.value.source == str(tmp_path / "lib" / "expired.yaml")
    assert info.value.problems[0].startswith("rules[0].answer: 1 is not of type 'object'")


def _serve(args: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    """Start `fakemms serve --port 0` and read its URL from the banner (bounded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "fakemms", "serve", "--port", "0",
                             "--quiet", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                return proc, match.group(1)
    finally:
        selector.close()
    raise AssertionError(f"fakemms serve did not start: {_stop(proc)}")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_serve_with_scenario_flag_and_config_list(tmp_path, receiver):
    (tmp_path / "conf").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy(SCENARIOS / "expired.yaml", tmp_path / "lib")
    shutil.copy(SCENARIOS / "mo-conversation.yaml", tmp_path / "lib")
    (tmp_path / "conf" / "fake.yaml").write_text(json.dumps(
        {**config(receiver), "scenarios": ["../lib/expired.yaml"]}))

    # the config's own list, relative to the config file
    proc, url = _serve(["--config", "conf/fake.yaml"], cwd=tmp_path)
    try:
        listed = requests.get(url + "/_fakemms/api/scenarios", timeout=5).json()["scenarios"]
        assert [s["name"] for s in listed] == ["expired"]
    finally:
        _stop(proc)

    # --scenario paths are relative to the current directory and replace the config's list
    proc, url = _serve(["--config", "conf/fake.yaml", "--scenario", "lib/mo-conversation.yaml",
                        "--scenario", str(SCENARIOS / "happy-path.yaml")], cwd=tmp_path)
    try:
        listed = requests.get(url + "/_fakemms/api/scenarios", timeout=5).json()["scenarios"]
        assert [s["name"] for s in listed] == ["mo-conversation", "happy-path"]
        r = requests.post(url + "/_fakemms/api/clock/advance", json={"seconds": 1}, timeout=5)
        assert r.status_code == 200
        (details, parts) = parse_mo(receiver.wait_for(1)[0])
        assert (details["source"], parts[0][2]) == ("12015550123", b"START")
    finally:
        _stop(proc)

    # a broken scenario: exit 2, file, path and problem on stderr
    (tmp_path / "lib" / "broken.yaml").write_text("name: broken\nrules: [{name: r, x: 1}]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
    done = subprocess.run([sys.executable, "-m", "fakemms", "serve", "--port", "0",
                           "--scenario", "lib/broken.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "lib/broken.yaml: rules[0]: Additional properties are not allowed ('x'" in done.stderr
