"""The control API, first part (CONTRACT section 5): health, messages and filters, one message,
its parts, reset, dump and the OpenAPI document, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from conftest import ACCOUNT, PNG_1PX, om_body
from jsonschema import Draft202012Validator

FIELDS = {"type": "MT", "source": "88600", "destination": "12515550130", "mtConfig": "config1"}
OTHER = {"username": "beta", "password": "pw", "mt_configs": {"cfgB": {"dlr_url": None}}}


@pytest.fixture
def make_fake(make_fake) -> Iterator:
    """conftest's make_fake, closing each fake's client session (no ResourceWarning later)."""
    made: list = []

    def start(config: dict | None = None):
        made.append(make_fake(config))
        return made[-1]

    yield start
    for f in made:
        f.http.close()


@pytest.fixture
def fake(make_fake):
    """Two accounts and a virtual clock, so no report changes a message's status mid-test."""
    return make_fake({"accounts": [ACCOUNT, OTHER], "clock": "virtual"})


def send(fake, auth=("acme", "s3cret"), **fields) -> str:
    body = om_body({**FIELDS, **fields}, parts=[
        ({"Content-Type": "text/plain; charset=utf-8", "Content-Id": "t.txt"}, b"hello"),
        ({"Content-Type": "image/png", "Content-Id": "p.png",
          "Content-Transfer-Encoding": "base64"}, base64.encodebytes(PNG_1PX)),
    ])
    r = fake.send(body, auth=auth)
    assert r.status_code == 202, r.text
    return str(r.json()["mtId"])


def listing(fake, **params) -> list[str]:
    r = fake.get("/_fakemms/api/messages", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] >= len(body["messages"])
    return [m["id"] for m in body["messages"]]


def expect_json_error(r, status: int, fragment: str = "") -> None:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"]["code"] == status
    assert fragment in r.json()["error"]["description"]


# --- health --------------------------------------------------------------------------------------
def test_health_reports_counts_and_clock(fake):
    r = fake.get("/_fakemms/health")
    assert r.status_code == 200
    health = r.json()
    assert health["status"] == "ok"
    assert health["messages"] == 0 and health["evicted"] == 0
    assert health["clock"]["mode"] == "virtual" and health["seed"] == 1
    send(fake)
    assert fake.get("/_fakemms/health").json()["messages"] == 1


def test_eviction_is_bounded_and_counted_in_health(make_fake):
    fake = make_fake({"max_messages": 3, "clock": "virtual"})
    ids = [send(fake, destination=f"1251555010{i}") for i in range(5)]
    assert listing(fake) == ids[:1:-1]
    for gone in ids[:2]:
        expect_json_error(fake.get(f"/_fakemms/api/messages/{gone}"), 404, gone)
    health = fake.get("/_fakemms/health").json()
    assert (health["messages"], health["evicted"], health["max_messages"]) == (3, 2, 3)


# --- messages ------------------------------------------------------------------------------------
def test_messages_newest_first_with_filters(fake):
    a1 = send(fake, destination="447700900001")
    b1 = send(fake, auth=("beta", "pw"), mtConfig="cfgB", source="447700900999",
              destination="447700900002")
    a2 = send(fake, destination="447700900003", subject="second")
    assert listing(fake) == [a2, b1, a1]
    assert listing(fake, direction="mt") == [a2, b1, a1]
    assert listing(fake, direction="mo") == []
    assert listing(fake, account="acme") == [a2, a1]
    assert listing(fake, account="beta") == [b1]
    assert listing(fake, number="447700900002") == [b1]  # a destination
    assert listing(fake, number="447700900999") == [b1]  # a source
    assert listing(fake, number="88600") == [a2, a1]
    assert listing(fake, status="accepted") == [a2, b1, a1]
    assert listing(fake, status="Retrieved") == []
    assert listing(fake, interface="openmarket") == [a2, b1, a1]
    assert listing(fake, interface="mm7") == []
    assert listing(fake, account="acme", number="447700900003") == [a2]
    r = fake.get("/_fakemms/api/messages", params={"limit": 1}).json()
    assert r["count"] == 3 and [m["id"] for m in r["messages"]] == [a2]


def test_summary_fields(fake):
    mt = send(fake, subject="hi there")
    (summary,) = fake.get("/_fakemms/api/messages").json()["messages"]
    assert summary["id"] == mt and summary["direction"] == "mt"
    assert summary["account"] == "acme" and summary["mt_config"] == "config1"
    assert summary["subject"] == "hi there" and summary["parts"] == 2
    assert summary["warnings"] == 0 and summary["status"] == "accepted"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", summary["created_at"])


@pytest.mark.parametrize("params, fragment", [
    ({"direction": "sideways"}, "direction"),
    ({"limit": "lots"}, "limit"),
])
def test_bad_filters_are_400(fake, params, fragment):
    expect_json_error(fake.get("/_fakemms/api/messages", params=params), 400, fragment)


def test_one_message_and_latest(fake):
    expect_json_error(fake.get("/_fakemms/api/messages/latest"), 404)
    first = send(fake)
    second = send(fake, subject="newest")
    latest = fake.get("/_fakemms/api/messages/latest").json()
    assert latest["id"] == second and latest["subject"] == "newest"
    one = fake.get(f"/_fakemms/api/messages/{first}").json()
    assert one["id"] == first and one["subject"] is None
    assert [p["content_id"] for p in one["parts"]] == ["t.txt", "p.png"]
    assert one["parts"][1]["size"] == len(PNG_1PX)
    assert one["parts"][1]["transfer_encoding"] == "base64"
    assert one["warnings"] == [] and one["reports"] == []
    assert re.match(r"^015-", one["request_id"])


def test_parts_are_raw_bytes_with_their_content_type(fake):
    mt = send(fake)
    text = fake.get(f"/_fakemms/api/messages/{mt}/parts/0")
    assert text.status_code == 200 and text.content == b"hello"
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.headers["Content-Id"] == "t.txt"
    png = fake.get("/_fakemms/api/messages/latest/parts/1")
    assert png.content == PNG_1PX and png.headers["Content-Type"] == "image/png"


def test_parts_endpoint_404s(fake):
    mt = send(fake)
    expect_json_error(fake.get(f"/_fakemms/api/messages/{mt}/parts/2"), 404, "no part 2")
    expect_json_error(fake.get("/_fakemms/api/messages/123456789012345/parts/0"), 404,
                      "123456789012345")
    # not a part number at all: no route matches
    assert fake.get(f"/_fakemms/api/messages/{mt}/parts/abc").status_code == 404
    assert fake.get(f"/_fakemms/api/messages/{mt}/parts/-1").status_code == 404


def test_unknown_message_is_404(fake):
    expect_json_error(fake.get("/_fakemms/api/messages/999"), 404, "999")


# --- reset and dump ------------------------------------------------------------------------------
def test_reset_forgets_messages_and_counters(make_fake):
    acc = {**ACCOUNT, "max_per_day": 2, "prepaid_credit": 2}
    fake = make_fake({"accounts": [acc], "clock": "virtual", "max_messages": 1})
    send(fake)
    send(fake)
    assert fake.send(om_body()).json()["error"]["code"] == 15301
    r = fake.post("/_fakemms/api/reset")
    assert r.status_code == 200
    assert listing(fake) == []
    health = fake.get("/_fakemms/health").json()
    assert health["messages"] == 0 and health["evicted"] == 0
    send(fake)  # daily and prepaid counters start again; accounts are kept
    assert len(listing(fake)) == 1


def test_dump_is_the_whole_state(fake):
    mt = send(fake)
    dump = fake.get("/_fakemms/api/dump").json()
    assert [a["username"] for a in dump["accounts"]] == ["acme", "beta"]
    (message,) = dump["messages"]
    assert message["id"] == mt
    assert base64.b64decode(message["parts"][0]["base64"]) == b"hello"
    assert base64.b64decode(message["parts"][1]["base64"]) == PNG_1PX
    assert dump["evicted"] == 0
    assert sum(dump["credit_used"].values()) == 1


# --- OpenAPI -------------------------------------------------------------------------------------
FIRST_PART = {
    ("/_fakemms/health", "get"), ("/_fakemms/api/messages", "get"),
    ("/_fakemms/api/messages/{id}", "get"), ("/_fakemms/api/messages/{id}/parts/{n}", "get"),
    ("/_fakemms/api/reset", "post"), ("/_fakemms/api/openapi.json", "get"),
    ("/_fakemms/api/dump", "get"),
}


def test_openapi_lists_every_control_path(fake):
    doc = fake.get("/_fakemms/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert FIRST_PART <= documented
    routes = set()
    for rule in fake.app.url_map.iter_rules():
        if rule.rule.startswith("/_fakemms") and not rule.endpoint.startswith("ui."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            path = path.replace("{message_id}", "{id}").replace("{index}", "{n}")
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented
    params = {p["name"] for op in doc["paths"]["/_fakemms/api/messages"].values()
              for p in op.get("parameters", [])}
    assert {"direction", "account", "number", "status"} <= params


def _resolve(doc: dict, schema: dict) -> dict:
    """The schema with the document's components available to $ref."""
    return {**schema, "components": doc["components"]}


def test_real_answers_match_the_openapi_schemas(fake):
    send(fake)
    doc = fake.get("/_fakemms/api/openapi.json").json()
    refs = re.findall(r'"\$ref": "#/([^"]+)"', str(doc).replace("'", '"'))
    assert refs
    for ref in refs:  # every reference resolves
        node = doc
        for key in ref.split("/"):
            node = node[key]
    schemas = doc["components"]["schemas"]
    listing_schema = (doc["paths"]["/_fakemms/api/messages"]["get"]["responses"]["200"]
                      ["content"]["application/json"]["schema"])
    Draft202012Validator(_resolve(doc, listing_schema)).validate(
        fake.get("/_fakemms/api/messages").json())
    error = fake.get("/_fakemms/api/messages/0")
    Draft202012Validator(_resolve(doc, schemas["Error"])).validate(error.json())


def test_a_message_matches_the_openapi_message_schema(fake):
    send(fake)
    doc = fake.get("/_fakemms/api/openapi.json").json()
    message = fake.get("/_fakemms/api/messages/latest").json()
    Draft202012Validator(_resolve(doc, doc["components"]["schemas"]["Message"])).validate(message)
