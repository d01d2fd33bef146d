"""Accounts and scenarios over the control API: PATCH is a JSON Merge Patch (RFC 7396), a
username in the body must be the path's, a refused change changes nothing, and POSTing a
scenario whose name is loaded replaces it in place."""

from __future__ import annotations

import json

import pytest
from conftest import ACCOUNT, om_body

ACC = "/_fakemms/api/accounts/acme"
SCENARIOS = "/_fakemms/api/scenarios"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
REVEAL = "?reveal=passwords"  # passwords answer masked otherwise
FULL = {**ACCOUNT, "tps": 5, "mo": {"url": "http://127.0.0.1:9/mo", "username": "mo-user",
                                    "password": "mo-pw", "format": "http"},
        "mt_configs": {"config1": {"dlr_url": "http://127.0.0.1:9/dlr", "region": "UK"}}}


@pytest.fixture
def fake(make_fake):
    f = make_fake({"accounts": [FULL], "clock": "virtual"})
    yield f
    f.http.close()


def patch(fake, body, headers=MERGE_PATCH):
    return fake.http.patch(fake.url + ACC + REVEAL, data=json.dumps(body), headers=headers,
                           timeout=10)


def account(fake) -> dict:
    r = fake.get(ACC + REVEAL)
    assert r.status_code == 200, r.text
    return r.json()


def test_patching_mo_url_keeps_the_mo_credentials(fake):
    r = patch(fake, {"mo": {"url": "http://127.0.0.1:9/new"}})
    assert r.status_code == 200, r.text
    assert r.json()["mo"] == {"url": "http://127.0.0.1:9/new", "format": "http",
                              "username": "mo-user", "password": "mo-pw", "region": "US"}
    assert account(fake)["mo"] == r.json()["mo"]


def test_nested_mt_configs_merge_and_null_removes(fake):
    r = patch(fake, {"mt_configs": {"config1": {"dlr_url": "http://127.0.0.1:9/v2"},
                                    "config2": {"region": "IE"}}})
    assert r.status_code == 200, r.text
    configs = account(fake)["mt_configs"]
    assert configs["config1"]["dlr_url"] == "http://127.0.0.1:9/v2"
    assert configs["config1"]["region"] == "UK"  # kept
    assert configs["config2"]["region"] == "IE"
    assert patch(fake, {"mt_configs": {"config2": None}}).status_code == 200
    assert list(account(fake)["mt_configs"]) == ["config1"]


def test_null_puts_a_setting_back_to_its_default(fake):
    assert patch(fake, {"tps": None, "mo": {"username": None}}).status_code == 200
    got = account(fake)
    assert got["tps"] is None and got["mo"]["username"] is None
    assert got["mo"]["password"] == "mo-pw"
    assert patch(fake, {"mo": None}).status_code == 200
    assert account(fake)["mo"] is None


def test_passwords_are_masked_unless_asked_for(fake):
    for path in (ACC, "/_fakemms/api/accounts", "/_fakemms/api/dump"):
        body = fake.get(path).text
        assert "s3cret" not in body and "mo-pw" not in body and "********" in body, path
        revealed = fake.get(path + REVEAL).text
        assert "s3cret" in revealed and "mo-pw" in revealed, path
    got = fake.get(ACC).json()
    assert got["password"] == got["mo"]["password"] == "********"
    assert got["mt_configs"]["config1"]["password"] is None  # none set: null, not masked
    r = patch(fake, {"tps": 7}, headers={"Content-Type": "application/json"})
    assert r.json()["password"] == "s3cret"
    masked = fake.http.patch(fake.url + ACC, json={"tps": 8}, timeout=10).json()
    assert masked["password"] == masked["mo"]["password"] == "********"
    assert fake.get(ACC + "?reveal=all").status_code == 400


def test_plain_json_patches_the_same_way(fake):
    r = fake.http.patch(fake.url + ACC, json={"mo": {"format": "mm7-6.8.0"}}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["mo"]["format"] == "mm7-6.8.0" and r.json()["mo"]["username"] == "mo-user"


@pytest.mark.parametrize("body, field", [
    ({"tps": -1}, "tps"),
    ({"mo": {"format": "fax"}}, "mo.format"),
    ({"mt_configs": {"config1": {"short_code": "12"}}}, "mt_configs.config1.short_code"),
    ({"password": None}, "(top level)"),  # the result must still be an account
    ({"allowed_ips": ["not-an-ip"]}, "account.allowed_ips[0]"),
    ({"colour": "red"}, "(top level)"),
])
def test_a_refused_patch_changes_nothing(fake, body, field):
    before = account(fake)
    r = patch(fake, body)
    assert r.status_code == 400, r.text
    assert any(p.startswith(f"{field}:") for p in r.json()["error"]["problems"]), r.text
    assert account(fake) == before


def test_a_username_other_than_the_paths_is_refused(fake):
    before = account(fake)
    for method, body in (("PATCH", {"username": "other"}),
                         ("PUT", {"username": "other", "password": "x"})):
        r = fake.http.request(method, fake.url + ACC, json=body, timeout=10)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["problems"][0].startswith("username:")
    assert account(fake) == before
    assert fake.get("/_fakemms/api/accounts/other").status_code == 404
    # the same username is fine
    assert patch(fake, {"username": "acme", "tps": 9}).json()["tps"] == 9


def test_put_refused_before_anything_is_deleted(fake):
    assert fake.send(om_body()).status_code == 202
    r = fake.http.put(fake.url + ACC, json={"password": "x", "allowed_ips": ["999.1.1.1"]},
                      timeout=10)
    assert r.status_code == 400, r.text
    assert account(fake)["password"] == "s3cret"
    assert fake.get("/_fakemms/api/messages").json()["count"] == 1


def test_creating_an_existing_account_is_409(fake):
    r = fake.post("/_fakemms/api/accounts", json={"username": "acme", "password": "x"})
    assert r.status_code == 409 and "acme" in r.json()["error"]["description"]
    assert account(fake)["password"] == "s3cret"


# --- scenarios -------------------------------------------------------------------------------
def names(fake) -> list[tuple[str, str | None]]:
    return [(s["name"], s["description"]) for s in fake.get(SCENARIOS).json()["scenarios"]]


def test_posting_a_loaded_name_replaces_it_in_place(fake):
    refuse = {"name": "a", "description": "refuse", "rules": [
        {"name": "all", "answer": {"error": 15201}}]}
    assert fake.post(SCENARIOS, json=[refuse, {"name": "b"}]).status_code == 201
    assert fake.send(om_body()).json()["error"]["code"] == 15201
    r = fake.post(SCENARIOS, json={"name": "a", "description": "accept"})
    assert r.status_code == 201, r.text
    assert names(fake) == [("a", "accept"), ("b", "")]
    assert fake.send(om_body()).status_code == 202  # the new "a" decides


def test_a_refused_scenario_list_loads_none_of_it(fake):
    assert fake.post(SCENARIOS, json={"name": "kept"}).status_code == 201
    for body in ([{"name": "new"}, {"name": "bad", "rules": [{"nom": "x"}]}],
                 [{"name": "twice"}, {"name": "twice"}]):
        r = fake.post(SCENARIOS, json=body)
        assert r.status_code == 400, r.text
    problems = r.json()["error"]["problems"]
    assert problems == ["name: 'twice' is given twice"]
    assert names(fake) == [("kept", "")]
    r = fake.http.put(fake.url + SCENARIOS, json=[{"name": "x"}, {"name": "x"}], timeout=10)
    assert r.status_code == 400 and names(fake) == [("kept", "")]
