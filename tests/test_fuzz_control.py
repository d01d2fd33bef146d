"""The control API fuzzed with schemathesis against the OpenAPI document the server itself
serves (fakemms/control/openapi.py), on one real server on 127.0.0.1. Checks: never a 5xx,
every answer conforms to the document's response schema, no traceback in the server log, and a
refused request stores no message."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fuzzing import FUZZ_CONFIG, FuzzFake, fuzz_fake
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from fakemms.app import create_app

CHECKS = (not_a_server_error, response_schema_conformance)


@pytest.fixture(scope="module")
def server() -> Iterator[FuzzFake]:
    with fuzz_fake() as fake:
        yield fake


def served_document() -> dict:
    """The document as a fake serves it, read once at collection (the operations are the
    test's parameters); the test checks the live server serves the same one."""
    app = create_app(FUZZ_CONFIG)
    try:
        return app.test_client().get("/_fakemms/api/openapi.json").get_json()
    finally:
        app.close()


DOCUMENT = served_document()
# the event stream is left out: it stays open
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/_fakemms/api/events")
# the coverage phase (every boundary of every schema: ~2,000 cases for the scenario bodies
# alone) runs in the long profile; the short run keeps to the examples and random fuzzing
LONG = os.environ.get("FAKEMMS_FUZZ") == "long"
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"] if LONG
                            else ["examples", "fuzzing"])


def test_the_server_serves_the_fuzzed_document(server: FuzzFake) -> None:
    assert server.get("/_fakemms/api/openapi.json").json() == DOCUMENT


# ~25 operations: a third of the profile's examples each keeps the short run short
@schema.parametrize()
@settings(max_examples=max(10, settings.default.max_examples // 3))
def test_control_api(case: schemathesis.Case, server: FuzzFake) -> None:
    before = server.message_count()
    response = case.call(base_url=server.url, timeout=10)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert server.message_count() == before, "a refused request stored a message"
    server.assert_clean()


def test_a_scenario_whose_mo_script_names_no_account_is_refused(server: FuzzFake) -> None:
    """Found by the coverage phase: such a scenario was loaded, and its MO job failed with a
    traceback in the log when due. Now 400 naming the script; nothing is loaded."""
    body = {"name": "ghost", "mo": [{"account": "", "at": 0}]}
    for method in ("PUT", "POST"):
        r = server.http.request(method, server.url + "/_fakemms/api/scenarios", json=body,
                                timeout=10)
        assert r.status_code == 400, r.text
        assert "mo[0].account: no account ''" in r.text
    assert server.get("/_fakemms/api/scenarios").json()["scenarios"] == []
    server.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    server.assert_clean()
