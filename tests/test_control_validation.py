"""The control API refuses what its OpenAPI schemas refuse: a 400 JSON error whose problems
name each field, and nothing stored or changed. Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest
from conftest import ACCOUNT, om_body

CLOCK = "/_fakemms/api/clock"
ADVANCE = "/_fakemms/api/clock/advance"
MO = "/_fakemms/api/mo"
GOOD_MO = {"account": "acme", "destination": "88600"}


@pytest.fixture
def fake(make_fake):
    acc = {**ACCOUNT, "mo": {"url": "http://127.0.0.1:9/mo"}}
    f = make_fake({"accounts": [acc], "clock": "virtual"})
    yield f
    f.http.close()


def refused(r, *fields: str, status: int = 400) -> list[str]:
    """The answer is the JSON error ``status`` and names each of ``fields``."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == status
    if fields:
        for name in fields:
            assert any(p.startswith(f"{name}:") for p in error["problems"]), error
            assert name in error["description"]
    return error.get("problems", [])


def now(fake) -> float:
    return fake.get(CLOCK).json()["now"]


def stored(fake) -> tuple[int, int]:
    health = fake.get("/_fakemms/health").json()
    return health["messages"], health["callbacks"]


# --- clock -----------------------------------------------------------------------------------
@pytest.mark.parametrize("body, field", [
    ({"seconds": -5}, "seconds"),
    ({"seconds": 1e308}, "seconds"),
    ({"seconds": 10 * 366 * 86400}, "seconds"),
    ({"duration": "99999d"}, "duration"),
    ({"duration": "soon"}, "duration"),
    ({"seconds": True}, "seconds"),
    ({"seconds": "-1h"}, "seconds"),
])
def test_advance_refuses_bad_durations_and_the_clock_stays(fake, body, field):
    before = now(fake)
    refused(fake.post(ADVANCE, json=body), field)
    assert now(fake) == before


@pytest.mark.parametrize("body", [{}, {"seconds": 1, "duration": "1s"}, {"secs": 1}, [5]])
def test_advance_needs_exactly_one_duration(fake, body):
    refused(fake.post(ADVANCE, json=body), "(top level)")


@pytest.mark.parametrize("body", [{"seconds": 3600}, {"seconds": "1h"}, {"duration": "1h"},
                                  {"duration": 3600}, {"duration": "3600000ms"}])
def test_advance_takes_seconds_or_duration_strings(fake, body):
    before = now(fake)
    r = fake.post(ADVANCE, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["now"] == pytest.approx(before + 3600)


def test_nan_and_infinity_are_not_json(fake):
    for literal in ("NaN", "Infinity", "-Infinity"):
        r = fake.post(ADVANCE, data=f'{{"seconds": {literal}}}',
                      headers={"Content-Type": "application/json"})
        assert "invalid JSON" in refused(r, "(top level)")[0]


def test_clock_mode_is_an_enum(fake):
    refused(fake.http.put(fake.url + CLOCK, json={"mode": "sundial"}, timeout=10), "mode")
    assert fake.get(CLOCK).json()["mode"] == "virtual"


# --- MO --------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, field", [
    ({"ccs": 5}, "ccs"),
    ({"bccs": ["ok", 7]}, "bccs[1]"),
    ({"subject": {"text": "hi"}}, "subject"),
    ({"destination": 88600}, "destination"),
    ({"mobile_operator_id": "77"}, "mobile_operator_id"),
    ({"type": "fax"}, "type"),
    ({"format": "mm7-9.9.9"}, "format"),
    ({"parts": [{"text": "no type"}]}, "parts[0]"),
    ({"parts": [{"content_type": "text/plain", "text": 5}]}, "parts[0].text"),
    ({"parts": [{"content_type": "image/png", "base64": "not base64!"}]}, "parts[0].base64"),
])
def test_bad_mo_is_refused_naming_the_field_and_nothing_is_stored(fake, extra, field):
    refused(fake.post(MO, json={**GOOD_MO, **extra}), field)
    assert stored(fake) == (0, 0)


def test_mo_missing_fields_and_typos_are_named(fake):
    problems = refused(fake.post(MO, json={"acount": "acme"}), "(top level)")
    text = " ".join(problems)
    assert "'account' is a required property" in text
    assert "'destination' is a required property" in text
    assert "'acount' was unexpected" in text
    assert stored(fake) == (0, 0)


def test_a_good_mo_is_still_accepted(fake):
    r = fake.post(MO, json={**GOOD_MO, "subject": "hi", "ccs": ["12025550100"],
                            "parts": [{"content_type": "text/plain", "text": "hello"}]})
    assert r.status_code == 201, r.text
    message = fake.get(f"/_fakemms/api/messages/{r.json()['id']}").json()
    assert message["subject"] == "hi" and message["ccs"] == ["12025550100"]


def test_a_body_that_is_not_json_is_415(fake):
    r = fake.post(MO, data="account=acme&destination=88600",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    refused(r, status=415)
    assert "application/json" in r.json()["error"]["description"]
    r = fake.post(MO, data=b"{not json", headers={"Content-Type": "application/json"})
    refused(r, "(top level)")
    assert stored(fake) == (0, 0)


# --- reports ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body, field", [
    ({"status": "Delivered"}, "status"),
    ({}, "(top level)"),
    ({"status": "Expired", "after": -1}, "after"),
    ({"status": "Expired", "after": "later"}, "after"),
    ({"status": "Expired", "outcome_id": "5"}, "outcome_id"),
    ({"status": "Expired", "colour": "red"}, "(top level)"),
])
def test_bad_report_is_refused_and_none_is_sent(fake, body, field):
    r = fake.send(om_body())
    assert r.status_code == 202, r.text
    mt = r.json()["mtId"]
    pending = fake.get(CLOCK).json()["pending_jobs"]  # the default report's
    refused(fake.post(f"/_fakemms/api/messages/{mt}/reports", json=body), field)
    assert fake.get(f"/_fakemms/api/messages/{mt}").json()["reports"] == []
    assert fake.get(CLOCK).json()["pending_jobs"] == pending


# --- query parameters ------------------------------------------------------------------------
@pytest.mark.parametrize("path, params, name", [
    ("/_fakemms/api/messages", {"limit": "-1"}, "?limit"),
    ("/_fakemms/api/messages", {"limit": "lots"}, "?limit"),
    ("/_fakemms/api/messages", {"limit": "1.5"}, "?limit"),
    ("/_fakemms/api/messages", {"direction": "sideways"}, "?direction"),
    ("/_fakemms/api/messages", {"interface": "carrier-pigeon"}, "?interface"),
    ("/_fakemms/api/callbacks", {"kind": "dlr"}, "?kind"),
    ("/_fakemms/api/callbacks", {"state": "lost"}, "?state"),
    ("/_fakemms/api/events", {"since": "yesterday"}, "?since"),
])
def test_bad_query_parameters_are_named(fake, path, params, name):
    refused(fake.get(path, params=params), name)


def test_limit_zero_counts_without_listing(fake):
    assert fake.send(om_body()).status_code == 202
    body = fake.get("/_fakemms/api/messages", params={"limit": "0"}).json()
    assert body == {"count": 1, "messages": []}
