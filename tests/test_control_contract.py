"""Every operation of the control API's OpenAPI document, called over real HTTP on a running
fake, answers as the document says: a documented status, and a body valid under that status's
schema (errors included). A second test fails when an operation of the document is left out
of the tour, so a new route cannot go unchecked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from conftest import ACCOUNT, PNG_1PX, om_body
from jsonschema import Draft202012Validator
from receiver import Receiver

from fakemms.app import create_app
from fakemms.server import ServerThread

REMOTE = "application/vnd.openmarket.remoteContent"


@dataclass
class Tour:
    """Calls operations by their document path and checks each answer against it."""

    url: str
    doc: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)
    called: set[tuple[str, str]] = field(default_factory=set)  # (operationId, status)
    wrong: list[str] = field(default_factory=list)

    def call(self, method: str, template: str, status: int, *, stream: bool = False,
             **kw: Any) -> requests.Response:
        """``template``: the document's path with its parameters filled in by ``kw['path']``.
        The answer must have ``status`` and match the document."""
        values = kw.pop("path", {})
        r = self.http.request(method, self.url + template.format(**values), timeout=10,
                              stream=stream, **kw)
        op = self.doc["paths"][template][method.lower()]
        where = f"{method} {template} -> {r.status_code}"
        self.called.add((op["operationId"], str(r.status_code)))
        if r.status_code != status:
            self.wrong.append(f"{where}: expected {status}: {r.text[:300]}")
            return r
        answer = op["responses"].get(str(status))
        if answer is None:
            self.wrong.append(f"{where}: status not documented")
            return r
        media = r.headers.get("Content-Type", "").split(";")[0]
        if "application/json" in answer["content"]:
            if media != "application/json":
                self.wrong.append(f"{where}: answered {media}, documented JSON")
                return r
            self.check(where, r.json(), answer["content"]["application/json"]["schema"])
        elif media not in answer["content"] and "*/*" not in answer["content"]:
            self.wrong.append(f"{where}: answered {media}, documented {list(answer['content'])}")
        return r

    def check(self, where: str, data: Any, schema: dict[str, Any]) -> None:
        validator = Draft202012Validator({**schema, "components": self.doc["components"]},
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(data):
            path = "/".join(map(str, error.absolute_path))
            self.wrong.append(f"{where}: /{path}: {error.message}")


@pytest.fixture(scope="module")
def tour() -> Iterator[Tour]:
    """A fake whose account sends reports and MOs to a receiver that also serves a picture
    (remote content); every operation called once or more, in an order that gives each list
    something to show."""

    def answer(received):
        if received.path == "/pic.png":
            return 200, PNG_1PX, {"Content-Type": "image/png"}
        return 200, b""

    receiver = Receiver(answer).start()
    account = {**ACCOUNT, "mt_configs": {"config1": {"dlr_url": receiver.url("/dlr")}},
               "mo": {"url": receiver.url("/mo"), "username": "u", "password": "p"}}
    server = ServerThread(create_app({"accounts": [account], "seed": 1,
                                      "clock": "virtual"})).start()
    t = Tour(server.url, requests.get(server.url + "/_fakemms/api/openapi.json",
                                      timeout=10).json())
    try:
        walk(t, receiver.url("/pic.png"))
        yield t
    finally:
        t.http.close()
        server.stop()
        receiver.stop()


def walk(t: Tour, picture_url: str) -> None:
    headers = {"Content-Type": "multipart/mixed; boundary=mimeboundary"}
    sent = t.http.post(t.url + "/mms/v2/send", data=om_body(), auth=("acme", "s3cret"),
                       headers=headers, timeout=10)
    assert sent.status_code == 202, sent.text
    mt = str(sent.json()["mtId"])
    remote = om_body(parts=[({"Content-Type": REMOTE, "Content-Id": "pic.png"},
                             picture_url.encode())])
    assert t.http.post(t.url + "/mms/v2/send", data=remote, auth=("acme", "s3cret"),
                       headers=headers, timeout=10).status_code == 202
    msg, cb = "/_fakemms/api/messages/{id}", "/_fakemms/api/callbacks/{callback_id}"

    t.call("GET", "/_fakemms/health", 200)
    t.call("GET", "/_fakemms/api/openapi.json", 200)
    t.call("POST", "/_fakemms/api/clock/advance", 200, json={"duration": "1h"})
    t.call("POST", "/_fakemms/api/clock/advance", 400, json={"seconds": -5})
    t.call("GET", "/_fakemms/api/messages", 200, params={"direction": "mt", "limit": 5})
    t.call("GET", "/_fakemms/api/messages", 400, params={"limit": "-1"})
    t.call("GET", msg, 200, path={"id": mt})
    t.call("GET", msg, 200, path={"id": "latest"})
    t.call("GET", msg, 404, path={"id": "0"})
    t.call("GET", msg + "/parts/{n}", 200, path={"id": mt, "n": 0})
    t.call("GET", msg + "/parts/{n}", 404, path={"id": mt, "n": 9})

    mo = {"account": "acme", "destination": "88600", "subject": "hi",
          "parts": [{"content_type": "text/plain", "text": "hello"},
                    {"content_type": "image/png", "generate": True}]}
    t.call("POST", "/_fakemms/api/mo", 201, json=mo)
    t.call("POST", "/_fakemms/api/mo", 400, json={**mo, "ccs": 5})
    t.call("POST", "/_fakemms/api/mo", 404, json={**mo, "account": "nobody"})
    t.call("POST", msg + "/reports", 201, path={"id": mt}, json={"status": "Retrieved"})
    t.call("POST", msg + "/reports", 202, path={"id": mt},
           json={"status": "Expired", "after": "2h"})
    t.call("POST", msg + "/reports", 400, path={"id": mt}, json={"status": "Gone"})
    t.call("POST", msg + "/reports", 404, path={"id": "0"}, json={"status": "Expired"})
    t.call("POST", "/_fakemms/api/clock/advance", 200, json={"seconds": 7200})

    callbacks = t.call("GET", "/_fakemms/api/callbacks", 200, params={"kind": "report"})
    assert callbacks.json()["count"] >= 2, callbacks.text
    t.call("GET", "/_fakemms/api/callbacks", 200)
    t.call("GET", "/_fakemms/api/callbacks", 400, params={"state": "lost"})
    t.call("GET", cb, 200, path={"callback_id": callbacks.json()["callbacks"][0]["id"]})
    t.call("GET", cb, 404, path={"callback_id": "cb-none"})
    t.call("GET", msg + "/callbacks", 200, path={"id": mt})
    t.call("GET", msg + "/callbacks", 404, path={"id": "0"})
    fetches = t.call("GET", "/_fakemms/api/fetches", 200)
    assert fetches.json()["count"] == 1, fetches.text

    t.call("GET", "/_fakemms/api/clock", 200)
    t.call("PUT", "/_fakemms/api/clock", 200, json={"mode": "virtual"})
    t.call("PUT", "/_fakemms/api/clock", 400, json={"mode": "sundial"})
    t.call("POST", "/_fakemms/api/clock/pause", 200)
    t.call("POST", "/_fakemms/api/clock/resume", 200)

    scenarios, one = "/_fakemms/api/scenarios", "/_fakemms/api/scenarios/{name}"
    yaml_headers = {"Content-Type": "application/yaml"}
    t.call("PUT", scenarios, 200, data="name: slow\nrules:\n  - name: all\n", headers=yaml_headers)
    t.call("PUT", scenarios, 400, data="name: [unclosed", headers=yaml_headers)
    t.call("POST", scenarios, 201, json=[{"name": "fast"}, {"name": "other"}])
    t.call("POST", scenarios, 201, json={"name": "fast", "description": "again"})
    t.call("POST", scenarios, 400, json={"name": "x", "rules": [{"nom": "typo"}]})
    t.call("POST", scenarios, 415, data=b'{"name": "x"}',
           headers={"Content-Type": "application/merge-patch+json"})
    t.call("GET", scenarios, 200)
    t.call("DELETE", one, 200, path={"name": "fast"})
    t.call("DELETE", one, 404, path={"name": "fast"})
    t.call("DELETE", scenarios, 200)

    accounts, acc = "/_fakemms/api/accounts", "/_fakemms/api/accounts/{username}"
    t.call("GET", accounts, 200)
    t.call("POST", accounts, 201, json={"username": "temp", "password": "p"})
    t.call("POST", accounts, 409, json={"username": "temp", "password": "p"})
    t.call("POST", accounts, 400, json={"username": "temp2"})
    t.call("GET", acc, 200, path={"username": "temp"})
    t.call("GET", acc, 404, path={"username": "nobody"})
    t.call("PATCH", acc, 200, path={"username": "temp"}, data=json.dumps({"tps": 5}),
           headers={"Content-Type": "application/merge-patch+json"})
    t.call("PATCH", acc, 400, path={"username": "temp"}, json={"tps": -1})
    t.call("PATCH", acc, 404, path={"username": "nobody"}, json={"tps": 1})
    t.call("PATCH", acc, 415, path={"username": "temp"}, data="tps=5",
           headers={"Content-Type": "application/x-www-form-urlencoded"})
    t.call("PUT", acc, 200, path={"username": "temp"}, json={"password": "q"})
    t.call("PUT", acc, 400, path={"username": "temp"}, json={"username": "x", "password": "q"})
    t.call("DELETE", acc, 200, path={"username": "temp"})
    t.call("DELETE", acc, 404, path={"username": "temp"})

    events = t.call("GET", "/_fakemms/api/events", 200, stream=True, params={"since": 0})
    with events:
        first = _first_event(events)
    t.check("GET /_fakemms/api/events (an event)", first,
            t.doc["components"]["schemas"]["Event"])
    t.call("GET", "/_fakemms/api/events", 400, params={"since": "x"})

    t.call("GET", "/_fakemms/api/dump", 200)
    t.call("POST", "/_fakemms/api/reset", 200)


def _first_event(response: requests.Response) -> dict[str, Any]:
    for line in response.iter_lines(decode_unicode=True):
        if line and line.startswith("data:"):
            return json.loads(line[5:])
    raise AssertionError("the stream ended before its first event")


def test_every_answer_matches_the_document(tour: Tour) -> None:
    assert tour.wrong == []


def test_the_tour_calls_every_operation_of_the_document(tour: Tour) -> None:
    documented = {op["operationId"] for ops in tour.doc["paths"].values()
                  for op in ops.values()}
    called = {op for op, _ in tour.called}
    assert documented - called == set(), "operations no test calls"
    assert len(documented) >= 30


def test_every_operation_has_an_answer_schema_with_required_fields(tour: Tour) -> None:
    """No answer is a bare ``{"type": "object"}``: each JSON answer names what it carries."""
    schemas = tour.doc["components"]["schemas"]
    loose = []
    for path, ops in tour.doc["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema is None:
                    continue
                target = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema \
                    else schema
                if not target.get("required") and "$ref" not in target:
                    loose.append(f"{method.upper()} {path} {status}")
    assert loose == []
